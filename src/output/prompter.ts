import { UsageError } from '../errors.ts';
import type { IO } from './io.ts';

// Interactive questions, only ever asked at a terminal. Commands ask through this so
// tests can answer with a fake and so nothing prompts in CI.

export interface Choice<T> {
  name: string;
  value: T;
  description?: string;
  checked?: boolean;
}

export interface Prompter {
  input(message: string, options?: { default?: string; validate?: (value: string) => true | string }): Promise<string>;
  password(message: string): Promise<string>;
  confirm(message: string, options?: { default?: boolean }): Promise<boolean>;
  select<T>(message: string, choices: ReadonlyArray<Choice<T>>): Promise<T>;
  checkbox<T>(message: string, choices: ReadonlyArray<Choice<T>>, options?: { required?: boolean }): Promise<T[]>;
}

/** Raised when a command needs an answer but may not prompt; names the flag that would do. */
export function cannotPrompt(what: string): UsageError {
  return new UsageError(`${what} (no interactive terminal to ask on)`);
}

export function createInquirerPrompter(io: IO): Prompter {
  const context = { input: io.stdin, output: io.stderr as NodeJS.WritableStream, clearPromptOnDone: false };
  const load = () => import('@inquirer/prompts');
  return {
    async input(message, options = {}) {
      const { input } = await load();
      return input(
        { message, ...(options.default === undefined ? {} : { default: options.default }), ...(options.validate ? { validate: options.validate } : {}) },
        context,
      );
    },
    async password(message) {
      const { password } = await load();
      return password({ message, mask: '*' }, context);
    },
    async confirm(message, options = {}) {
      const { confirm } = await load();
      return confirm({ message, default: options.default ?? false }, context);
    },
    async select(message, choices) {
      const { select } = await load();
      return select({ message, choices: choices.map((c) => ({ ...c })) }, context);
    },
    async checkbox(message, choices, options = {}) {
      const { checkbox } = await load();
      return checkbox({ message, choices: choices.map((c) => ({ ...c })), required: options.required ?? false, pageSize: 15 }, context);
    },
  };
}
