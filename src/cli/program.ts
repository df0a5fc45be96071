import { Command, CommanderError } from 'commander';
import { EXIT_CODE_HELP } from '../errors.ts';
import { addGlobalOptions } from './global-options.ts';
import { bindCommand, type Binder, type ContextFactory } from './command.ts';
import { COMMANDS } from '../commands/index.ts';
import { VERSION } from '../version.ts';

export interface ProgramDependencies {
  makeContext: ContextFactory;
  setExitCode: (code: number) => void;
  write: { out: (text: string) => void; err: (text: string) => void };
}

export function buildProgram(deps: ProgramDependencies): Command {
  const program = new Command('intelliauth-webhooks')
    .description('Manage IntelliAuth webhook subscriptions, their signing secrets and deliveries; run a local emulator of the platform.')
    .version(VERSION, '-V, --version')
    .showSuggestionAfterError(true)
    .configureOutput({ writeOut: deps.write.out, writeErr: deps.write.err })
    .exitOverride();
  addGlobalOptions(program);

  const bind: Binder = (command, toOptions, load) =>
    bindCommand(command, toOptions, load, deps.makeContext, deps.setExitCode);
  for (const define of COMMANDS) {
    program.addCommand(inheritSettings(define(bind), deps));
  }

  program.addHelpText('after', `\nExit codes:\n${EXIT_CODE_HELP.map(([code, text]) => `  ${String(code).padStart(3)}  ${text}`).join('\n')}\n`);
  return program;
}

/** addCommand() does not copy output and exit settings down, so apply them to the whole tree. */
function inheritSettings(command: Command, deps: ProgramDependencies): Command {
  command.configureOutput({ writeOut: deps.write.out, writeErr: deps.write.err }).exitOverride().showSuggestionAfterError(true);
  for (const sub of command.commands) inheritSettings(sub, deps);
  return command;
}

export { CommanderError };
