// Shared pieces of the generated scripts: the lookup tables every shell's runtime asks
// ("which subcommands does `secret` have", "does `create --secret-store` take a value, and
// which"), expressed as case/switch statements over the command path.

import { allCommands, pathKey, specWords, type CompletionCommand, type CompletionModel, type CompletionOption } from './model.ts';

/** A single-quoted word for bash, zsh and fish alike ('it'\''s' style; fish reads \' inside quotes). */
export function quote(text: string, shell: 'posix' | 'fish' = 'posix'): string {
  if (shell === 'fish') return `'${text.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
  return `'${text.replace(/'/g, `'\\''`)}'`;
}

/** The identifier the generated functions are named after (shell function names allow no dashes everywhere). */
export function functionPrefix(program: string): string {
  return `_${program.replace(/[^A-Za-z0-9_]/g, '_')}`;
}

export function cleanDescription(text: string): string {
  return text.replace(/[\t\r\n]+/g, ' ').trim();
}

export interface DataEntry {
  /**
   * `path|word` key the case statement matches exactly; with `match`, `any-path` matches
   * `*|word` (global options) and `any-index` matches `path|*` (a variadic argument).
   */
  key: string;
  match?: 'any-path' | 'any-index';
  /** Lines to print; null: return 1 (no value / not found). */
  lines: string[] | null;
}

export interface LookupTables {
  /** `path|word` -> canonical subcommand name. */
  resolve: DataEntry[];
  /** path -> subcommands, one per line. */
  subcommands: Array<{ path: string; commands: CompletionCommand[] }>;
  /** path -> options (own, then global). */
  options: Array<{ path: string; options: CompletionOption[] }>;
  /** `path|option` -> value spec words; global options as `*|option` globs, checked last. */
  optionValues: DataEntry[];
  /** `path|index` -> value spec words; `path|*` for a trailing variadic argument. */
  argumentValues: DataEntry[];
}

export function lookupTables(model: CompletionModel): LookupTables {
  const commands = allCommands(model);
  const tables: LookupTables = { resolve: [], subcommands: [], options: [], optionValues: [], argumentValues: [] };
  for (const command of commands) {
    const path = pathKey(command);
    if (command.subcommands.length > 0) {
      tables.subcommands.push({ path, commands: command.subcommands });
      for (const sub of command.subcommands) {
        for (const name of [sub.name, ...sub.aliases]) tables.resolve.push({ key: `${path}|${name}`, lines: [sub.name] });
      }
    }
    tables.options.push({ path, options: [...command.options, ...model.globalOptions] });
    for (const option of command.options) {
      for (const name of option.names) {
        tables.optionValues.push({ key: `${path}|${name}`, lines: option.value ? [specWords(option.value).join(' ')] : null });
      }
    }
    command.arguments.forEach((argument, index) => {
      const words = [specWords(argument.value).join(' ')];
      tables.argumentValues.push({ key: `${path}|${index}`, lines: words });
      if (argument.variadic) tables.argumentValues.push({ key: path, match: 'any-index', lines: words });
    });
  }
  for (const option of model.globalOptions) {
    for (const name of option.names) {
      tables.optionValues.push({ key: name, match: 'any-path', lines: option.value ? [specWords(option.value).join(' ')] : null });
    }
  }
  return tables;
}

/** The key as a case pattern: quoted (so literal) except for the one wildcard. */
export function casePattern(entry: DataEntry, shell: 'posix' | 'fish'): string {
  // fish's `case` treats * as a wildcard even inside quotes, so everything is quoted there.
  if (shell === 'fish') {
    if (entry.match === 'any-path') return quote(`*|${entry.key}`, 'fish');
    if (entry.match === 'any-index') return quote(`${entry.key}|*`, 'fish');
    return quote(entry.key, 'fish');
  }
  if (entry.match === 'any-path') return `*${quote(`|${entry.key}`)}`;
  if (entry.match === 'any-index') return `${quote(`${entry.key}|`)}*`;
  return quote(entry.key);
}

/** A bash/zsh `case` body. */
export function posixCaseArms(entries: DataEntry[], print: (lines: string[]) => string): string {
  return entries
    .map((entry) => {
      const pattern = casePattern(entry, 'posix');
      const body = entry.lines === null ? 'return 1' : print(entry.lines);
      return `    ${pattern}) ${body} ;;`;
    })
    .join('\n');
}
