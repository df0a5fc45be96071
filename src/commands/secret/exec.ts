import { spawn, type ChildProcess } from 'node:child_process';
import { constants } from 'node:os';
import type { Context } from '../../cli/context.ts';
import { InterruptedError } from '../../errors.ts';
import { readSigningSecrets } from '../../secrets/signing-secrets.ts';
import { EXIT_COMMAND_NOT_FOUND, EXIT_COMMAND_NOT_RUNNABLE, PREVIOUS_SECRET_ENV, SECRET_ENV, type SecretExecOptions } from './index.ts';

// Hands the secret to a receiver or a script through its environment only: not argv (visible
// in the process list), not a file, never on our own output.

export async function run(options: SecretExecOptions, context: Context): Promise<number> {
  const secrets = await readSigningSecrets(context, options.id);
  const env: NodeJS.ProcessEnv = { ...context.env, [SECRET_ENV]: secrets.current };
  // A previous secret inherited from our own environment would belong to something else.
  if (secrets.previous === null) delete env[PREVIOUS_SECRET_ENV];
  else env[PREVIOUS_SECRET_ENV] = secrets.previous;
  context.io.debug(
    `running ${options.command} with ${SECRET_ENV} (fingerprint ${secrets.fingerprint}, from ${secrets.location})` +
      (secrets.previous === null ? '' : ` and ${PREVIOUS_SECRET_ENV} (until ${secrets.previousExpiresAt})`),
  );

  let child: ChildProcess | undefined;
  // At a terminal, Ctrl-C and a hangup go from the terminal to every process in the
  // foreground, the command included: passed on again, the command would get each twice
  // (and many servers take a second Ctrl-C as "stop now"). SIGTERM comes to us alone.
  const { io } = context;
  const atTerminal = io.stdinIsTTY || io.stdoutIsTTY || io.stderrIsTTY;
  const forward = (signal: NodeJS.Signals) => {
    if (atTerminal && (signal === 'SIGINT' || signal === 'SIGHUP')) return;
    if (child && child.exitCode === null && child.signalCode === null) child.kill(signal);
  };
  return context.forwardSignals(forward, () => {
    if (context.signal.aborted) throw new InterruptedError('interrupted before the command started');
    return new Promise<number>((resolve) => {
      let started = false;
      try {
        child = spawn(options.command, options.args, { stdio: 'inherit', env });
      } catch (error) {
        resolve(reportSpawnFailure(context, options.command, error));
        return;
      }
      child.once('spawn', () => {
        started = true;
      });
      child.once('error', (error) => {
        if (!started) resolve(reportSpawnFailure(context, options.command, error));
      });
      child.once('exit', (code, signal) => {
        const exitCode = signal !== null ? 128 + (constants.signals[signal] ?? 0) : (code ?? 1);
        context.io.debug(`${options.command} ${signal !== null ? `ended by ${signal}` : `exited with ${code}`}`);
        resolve(exitCode);
      });
    });
  });
}

function reportSpawnFailure(context: Context, command: string, error: unknown): number {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') {
    context.io.error(`command not found: ${command}${command.includes('/') ? '' : ' (not in PATH)'}`);
    return EXIT_COMMAND_NOT_FOUND;
  }
  const reason = code === 'EACCES' || code === 'EPERM' ? 'permission denied' : error instanceof Error ? error.message : String(error);
  context.io.error(`cannot run ${command}: ${reason}`);
  return EXIT_COMMAND_NOT_RUNNABLE;
}
