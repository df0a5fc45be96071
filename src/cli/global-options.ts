import { Option, type Command } from 'commander';
import { parseNumber } from './parse.ts';

/** Options every command accepts, before or after the command name. */
export interface GlobalOptions {
  json: boolean;
  profile: string | undefined;
  tenantUrl: string | undefined;
  token: string | undefined;
  /** false with --no-input; prompting is also off without a TTY or when CI is set. */
  input: boolean;
  /** false with --no-color. */
  color: boolean | undefined;
  debug: boolean;
  quiet: boolean;
  timeoutMs: number | undefined;
}

export function addGlobalOptions(program: Command): Command {
  return program
    .option('--json', 'print machine-readable JSON on stdout')
    .option('--profile <name>', 'configuration profile to use (env: INTELLIAUTH_PROFILE)')
    .option('--tenant-url <url>', 'tenant base URL, overriding the profile or environment')
    .addOption(
      new Option('--token <token>', 'use this bearer token as is (prefer INTELLIAUTH_TOKEN: flags show in the process list)').hideHelp(),
    )
    .option('--no-input', 'never prompt (also implied without a terminal or when CI is set)')
    .option('--no-color', 'disable colour (also NO_COLOR; FORCE_COLOR forces it)')
    .option('--timeout <seconds>', 'per-request deadline in seconds (default 30)')
    .option('--debug', 'trace API requests on stderr, with secrets redacted')
    .option('-q, --quiet', 'print only data and errors');
}

export function readGlobalOptions(raw: Record<string, unknown>): GlobalOptions {
  const timeout = raw.timeout === undefined ? undefined : parseNumber('--timeout', raw.timeout, { min: 0.001 });
  return {
    json: raw.json === true,
    profile: typeof raw.profile === 'string' ? raw.profile : undefined,
    tenantUrl: typeof raw.tenantUrl === 'string' ? raw.tenantUrl : undefined,
    token: typeof raw.token === 'string' ? raw.token : undefined,
    input: raw.input !== false,
    color: raw.color === false ? false : undefined,
    debug: raw.debug === true,
    quiet: raw.quiet === true,
    timeoutMs: timeout === undefined ? undefined : timeout * 1000,
  };
}
