import { spawn, type ChildProcess } from 'node:child_process';
import { BIN, ROOT, type CliResult } from './cli.ts';

// The built CLI as a child process the test keeps a handle on while it runs: to signal it at
// a chosen moment, or to watch its process tree from outside.

export interface RunningCli {
  child: ChildProcess;
  pid: number;
  /** Settles when the process has exited and its output is closed. */
  result: Promise<CliResult & { killedForTimeout: boolean }>;
}

export interface SpawnCliOptions {
  env: Record<string, string>;
  input?: string | Buffer;
  /** SIGKILL after this long (default 30 s): a hang fails the test instead of stalling it. */
  timeoutMs?: number;
  cwd?: string;
}

export function spawnCli(args: string[], options: SpawnCliOptions): RunningCli {
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd: options.cwd ?? ROOT,
    env: options.env,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout!.on('data', (chunk: Buffer) => out.push(chunk));
  child.stderr!.on('data', (chunk: Buffer) => err.push(chunk));
  child.stdin!.on('error', () => {});
  child.stdin!.end(options.input ?? '');
  let killedForTimeout = false;
  const timer = setTimeout(() => {
    killedForTimeout = true;
    child.kill('SIGKILL');
  }, options.timeoutMs ?? 30_000);
  const result = new Promise<CliResult & { killedForTimeout: boolean }>((resolve, reject) => {
    const finish = (code: number | null, signal: NodeJS.Signals | null) => {
      clearTimeout(timer);
      resolve({
        code,
        signal,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
        killedForTimeout,
      });
    };
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once('exit', (code, signal) => {
      // Output is complete once the pipes close; a process the CLI left behind (holding
      // them open) must not hold the test too, so wait for that only briefly.
      let settled = false;
      const grace = setTimeout(() => {
        settled = true;
        child.stdout!.destroy();
        child.stderr!.destroy();
        finish(code, signal);
      }, 2_000);
      child.once('close', () => {
        if (settled) return;
        clearTimeout(grace);
        finish(code, signal);
      });
    });
  });
  return { child, pid: child.pid ?? -1, result };
}

/** Sends `signal` unless the process is gone already (a late signal must not throw). */
export function signalIfRunning(child: ChildProcess | undefined, signal: NodeJS.Signals): boolean {
  if (!child || child.exitCode !== null || child.signalCode !== null) return false;
  return child.kill(signal);
}
