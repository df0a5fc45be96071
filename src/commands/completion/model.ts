// The command tree as shell completion sees it, read from the commander program itself so
// a new command, option or choice shows up in the completion scripts without anyone
// touching this module. Only what commander cannot say (which values take file names, the
// event catalogue, values that are checked in code rather than declared as choices) comes
// from the small tables below.

import type { Argument, Command, Option } from 'commander';
import { EVENT_CATALOGUE } from '../../domain/catalogue.ts';

/** What a value position completes to. */
export type ValueSpec =
  | { kind: 'choices'; values: string[] }
  /** Comma-separated list of these values. */
  | { kind: 'list'; values: string[] }
  | { kind: 'file' }
  | { kind: 'directory' }
  /** Names of environment variables. */
  | { kind: 'env' }
  /** A command to run, then its own arguments (after `--`). */
  | { kind: 'command' }
  /** Free text: nothing to offer. */
  | { kind: 'any' };

export interface CompletionOption {
  /** Every spelling, short first: ['-q', '--quiet']. */
  names: string[];
  description: string;
  /** null for a flag that takes no value. */
  value: ValueSpec | null;
}

export interface CompletionArgument {
  name: string;
  variadic: boolean;
  value: ValueSpec;
}

export interface CompletionCommand {
  name: string;
  aliases: string[];
  description: string;
  /** Names from the program down to this command, without the program's own name. */
  path: string[];
  /** This command's own options (global ones are in CompletionModel.globalOptions). */
  options: CompletionOption[];
  arguments: CompletionArgument[];
  subcommands: CompletionCommand[];
}

export interface CompletionModel {
  program: string;
  root: CompletionCommand;
  /** Accepted before or after any command name. */
  globalOptions: CompletionOption[];
}

const EVENT_TYPES = EVENT_CATALOGUE.map((event) => event.type);
const EVENT_SELECTORS = ['*', ...new Set(EVENT_TYPES.map((type) => `${type.slice(0, type.indexOf('.'))}.*`)), ...EVENT_TYPES];

/** Values of options that are checked in code rather than declared with .choices(). */
const KNOWN_OPTION_VALUES: Readonly<Record<string, ValueSpec>> = {
  '--outcome': { kind: 'choices', values: ['succeeded', 'failed'] },
  '--secret-store': { kind: 'choices', values: ['keychain', 'file', 'stdout'] },
  '--plan': { kind: 'choices', values: ['starter', 'pro', 'enterprise'] },
  '--events': { kind: 'list', values: EVENT_SELECTORS },
  '--scopes': { kind: 'list', values: ['webhooks:read', 'webhooks:write'] },
  '--secret-env': { kind: 'env' },
  '--host': { kind: 'choices', values: ['127.0.0.1', '::1', 'localhost', '0.0.0.0'] },
};

/** Options whose value is a path, whatever their placeholder says. */
const FILE_OPTIONS = new Set(['--secret-file', '--state', '--checkpoint', '--body-file', '--headers-file', '--output', '--out']);
const DIRECTORY_OPTIONS = new Set(['--dir', '--directory']);
/** Placeholders (`<file>`, `<path>`) that name a path. */
const FILE_PLACEHOLDERS = /^(file|path|filename)$/i;
const DIRECTORY_PLACEHOLDERS = /^(dir|directory)$/i;

/** Values of positional arguments, by argument name. */
const KNOWN_ARGUMENT_VALUES: Readonly<Record<string, ValueSpec>> = {
  'event-type': { kind: 'choices', values: EVENT_TYPES },
  command: { kind: 'command' },
  file: { kind: 'file' },
  path: { kind: 'file' },
};

const HELP_OPTION: CompletionOption = { names: ['-h', '--help'], description: 'display help for command', value: null };

export function describeProgram(program: Command): CompletionModel {
  const globalOptions = visibleOptions(program).filter((option) => !option.names.includes('--version'));
  const root = describeCommand(program, []);
  return { program: program.name(), root, globalOptions: [...globalOptions, HELP_OPTION] };
}

function describeCommand(command: Command, path: string[]): CompletionCommand {
  const subcommands = command.commands
    .filter((sub) => !isHidden(sub))
    .map((sub) => describeCommand(sub, [...path, sub.name()]));
  if (subcommands.length > 0) {
    // commander answers `help [command]` on every command that has subcommands.
    subcommands.push({
      name: 'help',
      aliases: [],
      description: 'display help for command',
      path: [...path, 'help'],
      options: [],
      arguments: [{ name: 'command', variadic: false, value: { kind: 'choices', values: subcommands.map((sub) => sub.name) } }],
      subcommands: [],
    });
  }
  return {
    name: command.name(),
    aliases: command.aliases(),
    description: firstLine(command.description()),
    path,
    // The program's own options are the global ones; listed once, in the model.
    options: path.length === 0 ? visibleOptions(command).filter((option) => option.names.includes('--version')) : visibleOptions(command),
    arguments: command.registeredArguments.map(describeArgument),
    subcommands,
  };
}

function visibleOptions(command: Command): CompletionOption[] {
  return command.options.filter((option) => !option.hidden).map(describeOption);
}

function describeOption(option: Option): CompletionOption {
  const names = [option.short, option.long].filter((name): name is string => typeof name === 'string');
  return { names, description: firstLine(option.description), value: optionValue(option) };
}

function optionValue(option: Option): ValueSpec | null {
  if (!option.required && !option.optional) return null;
  if (option.argChoices && option.argChoices.length > 0) return { kind: 'choices', values: [...option.argChoices] };
  const long = option.long ?? '';
  const known = KNOWN_OPTION_VALUES[long];
  if (known) return known;
  const placeholder = /[<[]([^>\]]+)[>\]]/.exec(option.flags)?.[1]?.replace(/\.\.\.$/, '') ?? '';
  if (FILE_OPTIONS.has(long) || long.endsWith('-file') || FILE_PLACEHOLDERS.test(placeholder)) return { kind: 'file' };
  if (DIRECTORY_OPTIONS.has(long) || long.endsWith('-dir') || DIRECTORY_PLACEHOLDERS.test(placeholder)) return { kind: 'directory' };
  return { kind: 'any' };
}

function describeArgument(argument: Argument): CompletionArgument {
  const name = argument.name();
  const value: ValueSpec =
    argument.argChoices && argument.argChoices.length > 0
      ? { kind: 'choices', values: [...argument.argChoices] }
      : (KNOWN_ARGUMENT_VALUES[name] ?? { kind: 'any' });
  return { name, variadic: argument.variadic, value };
}

function isHidden(command: Command): boolean {
  // commander keeps the flag private; `.command(name, { hidden: true })` sets it.
  return (command as unknown as { _hidden?: boolean })._hidden === true;
}

function firstLine(text: string | undefined): string {
  return (text ?? '').split('\n')[0]!.trim();
}

/** Every command in the tree, the root first, parents before their subcommands. */
export function allCommands(model: CompletionModel): CompletionCommand[] {
  const out: CompletionCommand[] = [];
  const visit = (command: CompletionCommand) => {
    out.push(command);
    command.subcommands.forEach(visit);
  };
  visit(model.root);
  return out;
}

/** The key a command is filed under in the generated scripts: its path joined with spaces. */
export function pathKey(command: CompletionCommand): string {
  return command.path.join(' ');
}

/** The value spec as one word list, the form every script's runtime reads. */
export function specWords(spec: ValueSpec): string[] {
  switch (spec.kind) {
    case 'choices':
    case 'list':
      return [spec.kind, ...spec.values];
    default:
      return [spec.kind];
  }
}
