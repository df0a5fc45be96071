import type { Command } from 'commander';
import type { Context } from './context.ts';

/** The work half of a command: loaded only when that command runs. */
export interface CommandModule<Options> {
  run(options: Options, context: Context): Promise<number | void>;
}

export type ContextFactory = (command: Command) => Context;

/** What a command definition uses to attach its run() module. */
export type Binder = <Options>(
  command: Command,
  toOptions: (args: unknown[], opts: Record<string, unknown>, command: Command) => Options,
  load: () => Promise<CommandModule<Options>>,
) => Command;

/**
 * Binds a commander definition to its run() without loading it: the definition only turns
 * argv into a typed options object, and the module with the work is imported on use.
 */
export function bindCommand<Options>(
  command: Command,
  toOptions: (args: unknown[], opts: Record<string, unknown>, command: Command) => Options,
  load: () => Promise<CommandModule<Options>>,
  makeContext: ContextFactory,
  setExitCode: (code: number) => void,
): Command {
  return command.action(async (...actionArgs: unknown[]) => {
    const self = actionArgs[actionArgs.length - 1] as Command;
    const positional = actionArgs.slice(0, -2);
    const options = toOptions(positional, self.opts(), self);
    const context = makeContext(self);
    const module = await load();
    const code = await module.run(options, context);
    if (typeof code === 'number') setExitCode(code);
  });
}
