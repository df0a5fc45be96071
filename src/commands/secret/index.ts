import { Command, Option } from 'commander';
import type { Binder } from '../../cli/command.ts';
import { UsageError } from '../../errors.ts';
import { subscriptionIdArgument } from '../shared/subscription-id.ts';
import { parseSecretDestinationFlags, type SecretDestinationFlags } from '../shared/secret-destination.ts';

export const SECRET_ENV = 'INTELLIAUTH_WEBHOOK_SECRET';
export const PREVIOUS_SECRET_ENV = 'INTELLIAUTH_WEBHOOK_SECRET_PREVIOUS';
/** As env(1) and the shells report them: the command could not be found / could not be run. */
export const EXIT_COMMAND_NOT_FOUND = 127;
export const EXIT_COMMAND_NOT_RUNNABLE = 126;

export interface SecretStatusOptions {
  id: string;
}

export interface SecretExecOptions {
  id: string;
  command: string;
  args: string[];
}

export interface SecretImportOptions {
  id: string;
  force: boolean;
  destination: SecretDestinationFlags;
}

export interface SecretDeleteOptions {
  id: string;
  yes: boolean;
}

export interface SecretRevealOptions {
  id: string;
  yes: boolean;
}

export function secretCommand(bind: Binder): Command {
  const secret = new Command('secret').description("A subscription's signing secret on this machine: check, use, import, remove, reveal");

  secret.addCommand(
    bind(
      new Command('status')
        .description("Where the signing secret is stored, and whether it matches the platform's secret_fingerprint")
        .argument('<id>', 'subscription id (whsub_...)')
        .addHelpText(
          'after',
          [
            '',
            'States: match; stale (the stored secret is not the current one: rotated elsewhere, or a wrong import);',
            'missing (nothing stored here); external (handed to stdout at create, kept in your secret manager);',
            'unreadable (the store failed). Exit 0 for match and external, 7 otherwise (the report is printed either way).',
          ].join('\n'),
        ),
      ([id]): SecretStatusOptions => ({ id: subscriptionIdArgument(id) }),
      () => import('./status.ts'),
    ),
  );

  secret.addCommand(
    bind(
      new Command('exec')
        .description(`Run a command with the signing secret in its environment (${SECRET_ENV})`)
        .usage('<id> -- <command> [args...]')
        .argument('<id>', 'subscription id (whsub_...)')
        .argument('<command...>', 'the command to run, after --, and its arguments')
        // So a forgotten -- gets the explanation below rather than "unknown option".
        .allowUnknownOption()
        .addHelpText(
          'after',
          [
            '',
            `The command gets ${SECRET_ENV} and, while a rotated-out secret is still in its grace period,`,
            `${PREVIOUS_SECRET_ENV}. The secret is never printed and never put on a command line.`,
            'It shares this tool\'s stdin, stdout and stderr; SIGINT, SIGTERM and SIGHUP are passed on to it.',
            'Exit code: the command\'s own; 128+N when a signal N ended it; 127 when it cannot be found and 126',
            'when it cannot be run (as env(1) reports them). The -- is required, so options meant for the',
            'command are never taken as this tool\'s.',
            '',
            'Example:',
            '  intelliauth-webhooks secret exec whsub_01J... -- node receiver.js --port 3000',
          ].join('\n'),
        ),
      ([id, commandLine], _opts, command): SecretExecOptions => {
        if (!hasDoubleDashAfter(rawArgs(command), 'exec')) {
          throw new UsageError('put -- before the command to run: secret exec <id> -- <command> [args...]', {
            hint: "without it, the command's own options could be taken as options of intelliauth-webhooks",
          });
        }
        const [program, ...args] = commandLine as string[];
        if (program === undefined || program === '') throw new UsageError('no command to run after --');
        return { id: subscriptionIdArgument(id), command: program, args };
      },
      () => import('./exec.ts'),
    ),
  );

  secret.addCommand(
    bind(
      new Command('import')
        .description('Store a signing secret you hold (read from stdin, or asked for at a terminal) in the OS keychain or a file')
        .argument('<id>', 'subscription id (whsub_...)')
        .addOption(new Option('--secret-store <store>', 'where it goes (default keychain)').choices(['keychain', 'file']))
        .option('--secret-file <path>', 'with --secret-store file: a new file, created with mode 0600 (never overwritten)')
        .option('--force', "store it even when its fingerprint does not match the platform's secret_fingerprint")
        .addHelpText(
          'after',
          [
            '',
            'The first line of stdin is the secret. A secret that does not match the platform would make the',
            'receiver reject every delivery, so it is refused unless --force.',
            '',
            'Example:',
            '  my-secret-manager read webhook-secret | intelliauth-webhooks secret import whsub_01J...',
          ].join('\n'),
        ),
      ([id], opts): SecretImportOptions => ({
        id: subscriptionIdArgument(id),
        force: opts.force === true,
        destination: parseSecretDestinationFlags(opts),
      }),
      () => import('./import.ts'),
    ),
  );

  secret.addCommand(
    bind(
      new Command('delete')
        .description("Remove this machine's stored copies of a subscription's signing secret (the subscription stays)")
        .argument('<id>', 'subscription id (whsub_...)')
        .option('-y, --yes', 'do not ask for confirmation (required without a terminal)'),
      ([id], opts): SecretDeleteOptions => ({ id: subscriptionIdArgument(id), yes: opts.yes === true }),
      () => import('./delete.ts'),
    ),
  );

  secret.addCommand(
    bind(
      new Command('reveal')
        .description('Print the stored signing secret on stdout (asks first; without a terminal needs --yes)')
        .argument('<id>', 'subscription id (whsub_...)')
        .option('-y, --yes', 'do not ask for confirmation (required without a terminal)'),
      ([id], opts): SecretRevealOptions => ({ id: subscriptionIdArgument(id), yes: opts.yes === true }),
      () => import('./reveal.ts'),
    ),
  );

  return secret;
}

/** The whole command line as given; commander drops the -- from the parsed arguments. */
function rawArgs(command: Command): readonly string[] {
  let root = command;
  while (root.parent) root = root.parent;
  return (root as Command & { rawArgs?: string[] }).rawArgs ?? [];
}

function hasDoubleDashAfter(args: readonly string[], word: string): boolean {
  const at = args.indexOf(word);
  return at !== -1 && args.indexOf('--', at + 1) !== -1;
}
