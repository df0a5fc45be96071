import { PassThrough } from 'node:stream';
import { createContext } from '../../src/cli/create-context.ts';
import type { Context, Env } from '../../src/cli/context.ts';
import { readGlobalOptions, type GlobalOptions } from '../../src/cli/global-options.ts';
import { IO } from '../../src/output/io.ts';
import type { Choice, Prompter } from '../../src/output/prompter.ts';
import { MemorySecretStore } from '../../src/secrets/memory-store.ts';
import type { SecretStore } from '../../src/secrets/store.ts';

// A Context for unit tests of run(): captured stdout/stderr, TTY on or off, an in-memory
// secret store and scripted prompt answers, with everything else real.

class CapturedStream extends PassThrough {
  chunks: string[] = [];
  isTTY: boolean;
  columns = 120;
  constructor(isTTY: boolean) {
    super();
    this.isTTY = isTTY;
  }
  override write(chunk: unknown, ...rest: unknown[]): boolean {
    this.chunks.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk as Uint8Array).toString('utf8'));
    void rest;
    return true;
  }
  text(): string {
    return this.chunks.join('');
  }
}

export interface ScriptedAnswer {
  /** Substring of the prompt's message this answer is for; checked so tests fail on surprises. */
  match: string;
  answer: unknown;
}

export interface TestContextOptions {
  env?: Env;
  tty?: boolean;
  globals?: Partial<GlobalOptions>;
  secretStore?: SecretStore;
  answers?: ScriptedAnswer[];
  stdin?: string;
  now?: () => number;
  signal?: AbortSignal;
}

export interface TestContext {
  context: Context;
  stdout: () => string;
  stderr: () => string;
  secretStore: SecretStore;
  /** Prompts shown, in order, with their choices where there were any. */
  prompts: Array<{ kind: string; message: string; choices?: string[] }>;
}

export function makeTestContext(options: TestContextOptions = {}): TestContext {
  const tty = options.tty ?? false;
  const stdout = new CapturedStream(tty);
  const stderr = new CapturedStream(tty);
  const stdin = new PassThrough() as PassThrough & { isTTY?: boolean };
  stdin.isTTY = tty;
  stdin.end(options.stdin ?? '');
  const env: Env = { NO_COLOR: '1', ...(options.env ?? {}) };
  const globals: GlobalOptions = { ...readGlobalOptions({}), ...(options.globals ?? {}) };
  const io = new IO({ stdin, stdout, stderr }, env, { color: globals.color, input: globals.input, quiet: globals.quiet, debug: globals.debug });
  const secretStore = options.secretStore ?? new MemorySecretStore();
  const answers = [...(options.answers ?? [])];
  const prompts: TestContext['prompts'] = [];
  const next = (kind: string, message: string, choices?: ReadonlyArray<Choice<unknown>>): unknown => {
    prompts.push({ kind, message, ...(choices ? { choices: choices.map((c) => String(c.value)) } : {}) });
    const answer = answers.shift();
    if (!answer) throw new Error(`unexpected ${kind} prompt: ${message}`);
    if (!message.includes(answer.match)) throw new Error(`prompt "${message}" answered with the answer meant for "${answer.match}"`);
    return answer.answer;
  };
  const prompter: Prompter = {
    input: async (message) => String(next('input', message)),
    password: async (message) => String(next('password', message)),
    confirm: async (message) => Boolean(next('confirm', message)),
    select: async <T>(message: string, choices: ReadonlyArray<Choice<T>>) => next('select', message, choices) as T,
    checkbox: async <T>(message: string, choices: ReadonlyArray<Choice<T>>) => next('checkbox', message, choices) as T[],
  };
  const context = createContext({
    io,
    env,
    globals,
    signal: options.signal ?? new AbortController().signal,
    uninterruptible: (fn) => fn(),
    overrides: { secretStore: async () => secretStore, prompter: async () => prompter, ...(options.now ? { now: options.now } : {}) },
  });
  return { context, stdout: () => stdout.text(), stderr: () => stderr.text(), secretStore, prompts };
}
