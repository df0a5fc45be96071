import { Command } from 'commander';
import type { Binder } from '../../cli/command.ts';
import { optionalString } from '../../cli/parse.ts';
import { addSecretDestinationOptions, parseIdempotencyKey, parseSecretDestinationFlags, type SecretStoreChoice } from '../shared/secret-destination.ts';
import { checkDescription, checkName, collect, parseEventsFlags } from '../shared/subscription-flags.ts';


export interface CreateOptions {
  name: string | undefined;
  url: string | undefined;
  /** Parsed selectors; undefined when neither --events nor --all-events was given. */
  events: string[] | undefined;
  description: string | undefined;
  allEvents: boolean;
  /** Where the one-time signing secret goes. */
  secretStore: SecretStoreChoice;
  /** False when the keychain is only the default: at a terminal another store may then be offered. */
  secretStoreExplicit: boolean;
  secretFile: string | undefined;
  force: boolean;
  idempotencyKey: string | undefined;
  yes: boolean;
}

export function createCommand(bind: Binder): Command {
  const command = new Command('create')
    .description('Create a webhook subscription and put its signing secret (shown once by the platform) in a safe place')
    .option('--name <name>', 'subscription name')
    .option('--url <url>', 'receiver URL (public https://; loopback and http:// only on an emulator started with --allow-private-targets)')
    .option('--events <selectors>', 'event selectors, comma-separated or repeated: types (user.signed_up), categories (user.*)', collect)
    .option('--all-events', 'subscribe to * (every event type, including those added later)')
    .option('--description <text>', 'optional description');
  addSecretDestinationOptions(command)
    .option('--force', 'allow a receiver outside the profile\'s allowed_receiver_hosts')
    .option('--idempotency-key <key>', 'reuse a key from an earlier attempt: the platform answers that attempt again instead of creating a second subscription')
    .option('-y, --yes', 'with --secret-store stdout: print the secret even when stdout is a terminal')
    .addHelpText(
      'after',
      [
        '',
        'The signing secret is shown by the platform once. Destinations (--secret-store):',
        '  keychain  the OS keychain (default)',
        '  file      a new 0600 file named by --secret-file',
        '  stdout    the secret alone on stdout, for piping into a secret manager; the summary goes to stderr',
        'The destination is checked before anything is created. If storing still fails afterwards, the secret',
        'is written to a 0600 fallback file in the data directory, its path printed on stderr, and the exit code is 6.',
        '',
        'Examples:',
        '  intelliauth-webhooks create --name orders --url https://hooks.example.com/intelliauth --events user.signed_up,user.deleted',
        '  intelliauth-webhooks create --name audit --url https://audit.example.com/in --all-events --secret-store stdout | vault kv put secret/iaw value=-',
      ].join('\n'),
    );
  return bind(command, (_args, opts): CreateOptions => toCreateOptions(opts), () => import('./run.ts'));
}

export function toCreateOptions(opts: Record<string, unknown>): CreateOptions {
  const allEvents = opts.allEvents === true;
  const events = parseEventsFlags(opts);
  const destination = parseSecretDestinationFlags(opts);
  const idempotencyKey = parseIdempotencyKey(opts.idempotencyKey);
  const name = optionalString(opts.name);
  const description = optionalString(opts.description);
  return {
    name: name === undefined ? undefined : checkName(name),
    url: optionalString(opts.url),
    events,
    description: description === undefined ? undefined : checkDescription(description),
    allEvents,
    ...destination,
    force: opts.force === true,
    idempotencyKey,
    yes: opts.yes === true,
  };
}
