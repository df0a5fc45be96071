import { Command, Option } from 'commander';
import type { Binder } from '../../cli/command.ts';
import { optionalString } from '../../cli/parse.ts';
import { UsageError } from '../../errors.ts';

export interface LoginOptions {
  /** From the global --tenant-url; prompted for at a terminal when absent. */
  tenantUrl: string | undefined;
  /** From the global --profile; absent means INTELLIAUTH_PROFILE, the active profile, or `default`. */
  profile: string | undefined;
  clientId: string | undefined;
  clientSecretStdin: boolean;
  /** undefined keeps the profile's audience; '' removes it. */
  audience: string | undefined;
  /** undefined keeps the profile's list; [] removes it. */
  allowedReceiverHosts: string[] | undefined;
  activate: boolean;
}

export function loginCommand(bind: Binder): Command {
  const command = new Command('login')
    .description('Check an M2M client against a tenant and save it as a profile (client secret in the OS keychain)')
    .option('--client-id <id>', 'client id of the machine-to-machine application')
    .option('--client-secret-stdin', 'read the client secret from the first line of stdin (at a terminal: asked for, hidden)')
    .option('--audience <audience>', 'API audience to request tokens for ("" removes a saved one)')
    .option(
      '--allowed-receiver-hosts <patterns>',
      'comma-separated receiver host patterns (e.g. "*.dev.example.com,localhost") that create and update accept without --force ("" removes the list)',
    )
    .option('--activate', 'make this profile the one commands use without --profile')
    // Only there to explain why it is refused, whatever follows it.
    .addOption(new Option('--client-secret [value]').hideHelp())
    .addHelpText(
      'after',
      [
        '',
        'The tenant and profile come from the global options --tenant-url URL and --profile NAME.',
        'At a terminal, login asks for whatever is missing; without one (or with --no-input or CI set)',
        'it needs --tenant-url, --client-id and --client-secret-stdin. The secret is never taken as a',
        'flag value: flags show in the process list and in shell history.',
        '',
        'The profile written is --profile, else INTELLIAUTH_PROFILE, else the active profile, else "default".',
        'It becomes the active profile when commands have no usable profile yet, or with --activate.',
        'Logging in again keeps the saved audience and receiver hosts unless the flags change them.',
        '',
        'Examples:',
        '  intelliauth-webhooks login',
        '  printf "%s\\n" "$CLIENT_SECRET" | intelliauth-webhooks login --tenant-url https://acme-prod.intelliauth.io \\',
        '      --client-id app_123 --client-secret-stdin --profile prod',
      ].join('\n'),
    );
  return bind(
    command,
    (_args, opts, self): LoginOptions => {
      if (opts.clientSecret !== undefined) {
        // The value is never echoed: it is the secret.
        throw new UsageError('--client-secret is not accepted: a secret passed as a flag shows in the process list and shell history', {
          hint: 'pipe it in with --client-secret-stdin, or leave it out to be asked at a terminal (it may now be in your shell history: consider rotating it)',
        });
      }
      const globals = self.optsWithGlobals();
      return {
        tenantUrl: optionalString(globals.tenantUrl),
        profile: optionalString(globals.profile),
        clientId: opts.clientId === undefined ? undefined : parseClientId(String(opts.clientId)),
        clientSecretStdin: opts.clientSecretStdin === true,
        audience: opts.audience === undefined ? undefined : String(opts.audience).trim(),
        allowedReceiverHosts:
          opts.allowedReceiverHosts === undefined ? undefined : parseHostPatterns(String(opts.allowedReceiverHosts), '--allowed-receiver-hosts'),
        activate: opts.activate === true,
      };
    },
    () => import('./run.ts'),
  );
}

const CLIENT_ID = /^[\x21-\x7e]{1,200}$/;

/** `what` names where the value came from, for the message. */
export function parseClientId(raw: string, what = '--client-id'): string {
  const value = raw.trim();
  if (value === '') throw new UsageError(`${what} is empty`);
  if (!CLIENT_ID.test(value)) {
    throw new UsageError(`${what} must be up to 200 printable characters without spaces`);
  }
  return value;
}

const HOST_LABEL = '[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?';
// An optional port limits a pattern to it, as create and update check it (parseHostPattern).
const PORT = '(:([1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5]))?';
const HOST_PATTERN = new RegExp(`^(\\*\\.)?${HOST_LABEL}(\\.${HOST_LABEL})*${PORT}$`);
const BRACKETED_IPV6 = new RegExp(`^\\[[0-9a-f:.]+\\]${PORT}$`);

/**
 * Receiver host patterns: a host name or IP address, or `*.` followed by a domain for any
 * host below it, with an optional `:port`. Lower-cased; duplicates dropped. An empty text is
 * an empty list.
 */
export function parseHostPatterns(text: string, what: string): string[] {
  const patterns: string[] = [];
  for (const item of text.split(/[\s,]+/)) {
    const pattern = item.trim().toLowerCase().replace(/\.$/, '');
    if (pattern === '') continue;
    if (pattern === '*' || pattern === '*.') {
      throw new UsageError(`${what}: "*" would allow every host`, { hint: 'leave the list empty ("") to allow any receiver' });
    }
    if (pattern.includes('://') || pattern.includes('/')) {
      throw new UsageError(`${what}: "${item}" is a URL; list host names only`, { hint: 'e.g. hooks.example.com or *.dev.example.com' });
    }
    if (!HOST_PATTERN.test(pattern) && !BRACKETED_IPV6.test(pattern)) {
      throw new UsageError(`${what}: "${item}" is not a host name or a *.domain pattern`, {
        hint: 'e.g. hooks.example.com, *.dev.example.com, 127.0.0.1, or 127.0.0.1:3000 for that port only',
      });
    }
    if (!patterns.includes(pattern)) patterns.push(pattern);
  }
  return patterns;
}
