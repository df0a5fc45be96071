import type { ChalkInstance } from 'chalk';
import { Chalk } from 'chalk';
import { once } from 'node:events';

// The one place that knows about terminals: whether each stream is a TTY, whether colour
// is on, and whether the tool may prompt. Data goes to stdout; everything else to stderr.

export interface OutStream {
  write(chunk: string | Uint8Array): boolean;
  isTTY?: boolean | undefined;
  columns?: number | undefined;
}

export interface InStream extends NodeJS.ReadableStream {
  isTTY?: boolean | undefined;
}

export interface IOStreams {
  stdin: InStream;
  stdout: OutStream;
  stderr: OutStream;
}

export interface IOSettings {
  /** false when --no-color was given; undefined leaves it to the environment. */
  color?: boolean | undefined;
  /** false when --no-input was given. */
  input?: boolean | undefined;
  quiet?: boolean | undefined;
  debug?: boolean | undefined;
}

type Env = Readonly<Record<string, string | undefined>>;

export class IO {
  readonly stdin: InStream;
  readonly stdout: OutStream;
  readonly stderr: OutStream;
  readonly stdinIsTTY: boolean;
  readonly stdoutIsTTY: boolean;
  readonly stderrIsTTY: boolean;
  readonly quiet: boolean;
  readonly debugEnabled: boolean;
  /** Styles for text written to stdout and to stderr; level 0 when colour is off. */
  readonly out: ChalkInstance;
  readonly err: ChalkInstance;
  private readonly promptingAllowed: boolean;

  constructor(streams: IOStreams, env: Env, settings: IOSettings = {}) {
    this.stdin = streams.stdin;
    this.stdout = streams.stdout;
    this.stderr = streams.stderr;
    this.stdinIsTTY = streams.stdin.isTTY === true;
    this.stdoutIsTTY = streams.stdout.isTTY === true;
    this.stderrIsTTY = streams.stderr.isTTY === true;
    this.quiet = settings.quiet === true;
    this.debugEnabled = settings.debug === true;
    this.out = new Chalk({ level: colourLevel(this.stdoutIsTTY, env, settings.color) });
    this.err = new Chalk({ level: colourLevel(this.stderrIsTTY, env, settings.color) });
    this.promptingAllowed =
      settings.input !== false && !isTruthy(env.CI) && this.stdinIsTTY && this.stderrIsTTY;
  }

  /** True only at an interactive terminal, without --no-input and outside CI. */
  canPrompt(): boolean {
    return this.promptingAllowed;
  }

  /** A line of data on stdout. */
  print(line = ''): void {
    this.stdout.write(`${line}\n`);
  }

  /** Raw data on stdout, as is. */
  write(text: string | Uint8Array): void {
    this.stdout.write(text);
  }

  /**
   * Waits while stdout is a slow pipe, so a command streaming pages does not fetch them
   * faster than they can be written. A reader that went away never drains: 'close' or its
   * error ends the wait too.
   */
  async stdoutDrained(): Promise<void> {
    const stream = this.stdout as Partial<NodeJS.WritableStream> & { writableNeedDrain?: boolean };
    if (stream.writableNeedDrain !== true || typeof stream.once !== 'function') return;
    const emitter = stream as NodeJS.EventEmitter;
    const ac = new AbortController();
    try {
      await Promise.race([once(emitter, 'drain', { signal: ac.signal }), once(emitter, 'close', { signal: ac.signal })]);
    } catch (error) {
      if (!isReaderGone(error)) throw error;
    } finally {
      ac.abort();
    }
  }

  /**
   * Calls onGone when stdout's reader goes away (EPIPE), which is how `| head` ends a
   * stream: not an error, so no command reports it as one. Returns the detach function.
   */
  onStdoutReaderGone(onGone: () => void): () => void {
    const stream = this.stdout as Partial<NodeJS.EventEmitter>;
    if (typeof stream.on !== 'function' || typeof stream.off !== 'function') return () => undefined;
    const listener = (error: unknown) => {
      if (isReaderGone(error)) onGone();
    };
    stream.on('error', listener);
    return () => stream.off!('error', listener);
  }

  /** A JSON document on stdout; one per command, so `--json | jq` works. */
  printJson(value: unknown): void {
    this.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
  }

  /** One JSON object per line (NDJSON). */
  printJsonLine(value: unknown): void {
    this.stdout.write(`${JSON.stringify(value)}\n`);
  }

  /** Progress and summaries for people: stderr, silenced by --quiet. */
  info(line: string): void {
    if (!this.quiet) this.stderr.write(`${line}\n`);
  }

  /** What a --quiet run still needs to be told, such as where a server listens or its final summary: stderr. */
  notice(line: string): void {
    this.stderr.write(`${line}\n`);
  }

  /** Success notes for people: stderr, silenced by --quiet. */
  success(line: string): void {
    if (!this.quiet) this.stderr.write(`${this.err.green('✓')} ${line}\n`);
  }

  warn(line: string): void {
    this.stderr.write(`${this.err.yellow('warning:')} ${line}\n`);
  }

  hint(line: string): void {
    if (!this.quiet) this.stderr.write(`${this.err.dim('hint:')} ${line}\n`);
  }

  error(line: string): void {
    this.stderr.write(`${this.err.red('error:')} ${line}\n`);
  }

  debug(line: string): void {
    if (this.debugEnabled) this.stderr.write(`${this.err.dim(`debug: ${line}`)}\n`);
  }

  terminalWidth(): number {
    return this.stdout.columns ?? 100;
  }
}

function isTruthy(value: string | undefined): boolean {
  return value !== undefined && value !== '' && value !== '0' && value.toLowerCase() !== 'false';
}

function colourLevel(isTTY: boolean, env: Env, flag: boolean | undefined): 0 | 1 | 2 | 3 {
  if (flag === false) return 0;
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return 0;
  const force = env.FORCE_COLOR;
  if (force !== undefined) {
    if (force === '0' || force.toLowerCase() === 'false') return 0;
    if (force === '2') return 2;
    if (force === '3') return 3;
    return 1;
  }
  if (!isTTY || env.TERM === 'dumb') return 0;
  const colorterm = env.COLORTERM ?? '';
  if (colorterm === 'truecolor' || colorterm === '24bit') return 3;
  if ((env.TERM ?? '').includes('256')) return 2;
  return 1;
}

function isReaderGone(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | null)?.code;
  return code === 'EPIPE' || code === 'ERR_STREAM_DESTROYED';
}
