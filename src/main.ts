import { CliError, EXIT_CODES, exitCodeFor, InterruptedError } from './errors.ts';
import { IO, type IOStreams } from './output/io.ts';
import { buildProgram } from './cli/program.ts';
import { createContext } from './cli/create-context.ts';
import type { ContextOverrides, Env } from './cli/context.ts';
import { readGlobalOptions } from './cli/global-options.ts';
import { oneLine, reportCliError } from './cli/report-error.ts';

export interface MainDependencies {
  streams?: IOStreams;
  env?: Env;
  overrides?: ContextOverrides;
  /** Where signals come from; tests pass an EventEmitter. */
  signals?: Pick<NodeJS.Process, 'on' | 'off'>;
}

/** Time a command may take to wind down after the first SIGINT before it is cut short. */
const WIND_DOWN_MS = 10_000;

/** The entry point: runs one command line and resolves to the process exit code. */
export async function main(argv: string[], deps: MainDependencies = {}): Promise<number> {
  const streams = deps.streams ?? { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr };
  const env = deps.env ?? process.env;
  const signals = deps.signals ?? process;
  if (!deps.streams) ignoreClosedPipes();
  let exitCode: number = EXIT_CODES.ok;
  let exitCodeChosen = false;
  let io = new IO(streams, env, { color: argv.includes('--no-color') ? false : undefined, debug: argv.includes('--debug') });

  const interrupts = new Interrupts();
  const onSignal = (signal: NodeJS.Signals) => interrupts.raise(signal, deps.signals === undefined);
  signals.on('SIGINT', onSignal);
  signals.on('SIGTERM', onSignal);

  const program = buildProgram({
    makeContext: (command) => {
      const globals = readGlobalOptions(command.optsWithGlobals());
      io = new IO(streams, env, { color: globals.color, input: globals.input, quiet: globals.quiet, debug: globals.debug });
      return createContext({
        io,
        env,
        globals,
        signal: interrupts.signal,
        uninterruptible: (fn) => interrupts.hold(fn),
        forwardSignals: async (handler, fn) => {
          // SIGHUP is listened to only here: elsewhere it keeps its default (end the process).
          signals.on('SIGHUP', onSignal);
          try {
            return await interrupts.forward(handler, fn);
          } finally {
            signals.off('SIGHUP', onSignal);
          }
        },
        overrides: deps.overrides,
      });
    },
    setExitCode: (code) => {
      exitCode = code;
      exitCodeChosen = true;
    },
    write: { out: (text) => streams.stdout.write(text), err: (text) => streams.stderr.write(text) },
  });

  try {
    await program.parseAsync(argv, { from: 'user' });
    if (interrupts.signal.aborted && !exitCodeChosen) exitCode = EXIT_CODES.interrupted;
  } catch (error) {
    exitCode = report(error, io, interrupts.signal.aborted);
  } finally {
    signals.off('SIGINT', onSignal);
    signals.off('SIGTERM', onSignal);
  }
  return exitCode;
}

/**
 * `intelliauth-webhooks list | head` closes stdout early; that is the reader's choice, not an
 * error worth a stack trace. Commands that must know (handing a secret to stdout) listen too.
 */
function ignoreClosedPipes(): void {
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code !== 'EPIPE') throw error;
    });
  }
}

function report(error: unknown, io: IO, interrupted: boolean): number {
  if (isCommanderError(error)) {
    // commander already printed its message (or the help/version text).
    return exitCodeFor(error);
  }
  if (interrupted && !(error instanceof CliError)) {
    io.error('interrupted');
    return EXIT_CODES.interrupted;
  }
  if (error instanceof CliError) return reportCliError(io, error);
  const message = error instanceof Error ? error.message : String(error);
  io.error(`unexpected error: ${oneLine(message)}`);
  if (io.debugEnabled && error instanceof Error && error.stack) io.debug(error.stack);
  else io.hint('run again with --debug for details, and report it if it persists');
  return EXIT_CODES.unexpected;
}

function isCommanderError(error: unknown): boolean {
  return typeof error === 'object' && error !== null && String((error as { code?: unknown }).code).startsWith('commander.');
}

/**
 * The first SIGINT/SIGTERM aborts the command's signal so it can stop cleanly; if it has not
 * finished shortly after, or on a second signal, the process ends with 130 — except while
 * an uninterruptible step (storing a one-time secret) runs: that step always finishes first.
 * While a command forwards signals (to a child process it waits for), they go to it instead.
 */
class Interrupts {
  private readonly controller = new AbortController();
  private held = 0;
  private exitWhenReleased = false;
  private allowHardExit = true;
  private forwardTo: ((signal: NodeJS.Signals) => void) | undefined;

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  raise(signal: NodeJS.Signals, allowHardExit: boolean): void {
    if (this.forwardTo) {
      this.forwardTo(signal);
      return;
    }
    this.allowHardExit = allowHardExit;
    if (!this.controller.signal.aborted) {
      this.controller.abort(new InterruptedError(`interrupted by ${signal}`));
      if (allowHardExit) setTimeout(() => this.hardExit(), WIND_DOWN_MS).unref();
      return;
    }
    this.hardExit();
  }

  async forward<T>(handler: (signal: NodeJS.Signals) => void, fn: () => Promise<T>): Promise<T> {
    const outer = this.forwardTo;
    this.forwardTo = handler;
    try {
      return await fn();
    } finally {
      this.forwardTo = outer;
    }
  }

  async hold<T>(fn: () => Promise<T>): Promise<T> {
    this.held += 1;
    try {
      return await fn();
    } finally {
      this.held -= 1;
      if (this.held === 0 && this.exitWhenReleased) this.hardExit();
    }
  }

  private hardExit(): void {
    if (!this.allowHardExit) return;
    if (this.held > 0) {
      this.exitWhenReleased = true;
      return;
    }
    process.exit(EXIT_CODES.interrupted);
  }
}
