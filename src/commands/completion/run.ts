import type { Command } from 'commander';
import type { Context } from '../../cli/context.ts';
import { buildProgram } from '../../cli/program.ts';
import { bashScript } from './bash.ts';
import { fishScript } from './fish.ts';
import { describeProgram, type CompletionModel } from './model.ts';
import { zshScript } from './zsh.ts';
import type { CompletionOptions, Shell } from './index.ts';

export async function run(options: CompletionOptions, context: Context): Promise<void> {
  context.io.write(completionScript(options.shell, describeProgram(completionProgram())));
}

export function completionScript(shell: Shell, model: CompletionModel): string {
  switch (shell) {
    case 'bash':
      return bashScript(model);
    case 'zsh':
      return zshScript(model);
    case 'fish':
      return fishScript(model);
  }
}

/** The real command tree, built only to be read: nothing in it ever runs. */
export function completionProgram(): Command {
  return buildProgram({
    makeContext: () => {
      throw new Error('the completion program is not meant to run commands');
    },
    setExitCode: () => undefined,
    write: { out: () => undefined, err: () => undefined },
  });
}
