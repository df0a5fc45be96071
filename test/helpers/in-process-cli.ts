import { EventEmitter } from 'node:events';
import { PassThrough } from 'node:stream';
import { main } from '../../src/main.ts';
import type { IOStreams } from '../../src/output/io.ts';
import { MemorySecretStore } from '../../src/secrets/memory-store.ts';
import type { SecretStore } from '../../src/secrets/store.ts';

// Runs one command line through main() in this process: the same code path as the built
// CLI (argv parsing, context, error reporting, exit codes), without a process per case.
// The secret store is an in-memory fake so no case touches the keychain.

export interface InProcessResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface InProcessOptions {
  env: Record<string, string>;
  stdin?: string | Buffer;
  secretStore?: SecretStore;
  /** The command's clock (context.now); the HTTP layer keeps the real one. */
  now?: () => number;
  /** Where SIGINT/SIGTERM come from: emit on it to interrupt the run (default: none arrive). */
  signals?: EventEmitter;
}

/** An output stream that keeps what was written; a terminal when `isTTY`. */
export class Capture {
  private readonly chunks: Buffer[] = [];
  readonly columns = 120;
  constructor(readonly isTTY = false) {}
  write(chunk: string | Uint8Array): boolean {
    this.chunks.push(typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : Buffer.from(chunk));
    return true;
  }
  // Commands that watch stdout for a reader going away subscribe to its events; a capture never fails.
  on(): this {
    return this;
  }
  once(): this {
    return this;
  }
  off(): this {
    return this;
  }
  text(): string {
    return Buffer.concat(this.chunks).toString('utf8');
  }
}

export async function runInProcess(argv: string[], options: InProcessOptions): Promise<InProcessResult> {
  const stdin = new PassThrough() as PassThrough & { isTTY?: boolean };
  stdin.isTTY = false;
  stdin.end(options.stdin ?? '');
  const stdout = new Capture();
  const stderr = new Capture();
  const store = options.secretStore ?? new MemorySecretStore();
  const code = await main(argv, {
    streams: { stdin, stdout, stderr } satisfies IOStreams,
    env: options.env,
    overrides: { secretStore: async () => store, ...(options.now ? { now: options.now } : {}) },
    // Signals stay with the test runner.
    signals: (options.signals ?? new EventEmitter()) as unknown as Pick<NodeJS.Process, 'on' | 'off'>,
  });
  return { code, stdout: stdout.text(), stderr: stderr.text() };
}

/** Stack-trace lines ("    at fn (file:1:2)") that must never reach a user. */
export const STACK_LINE = /^\s+at\s.+(:\d+:\d+\)?|\(native\)|<anonymous>)\s*$/m;

/** The lines a failing command wrote on stderr, without blank ones. */
export function stderrLines(stderr: string): string[] {
  return stderr.split('\n').filter((line) => line.trim() !== '');
}
