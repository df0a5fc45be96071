import { Command } from 'commander';
import type { Binder } from '../../cli/command.ts';
import { parseDuration } from '../../cli/parse.ts';
import { GRACE_PERIOD_SECONDS } from '../../domain/contract.ts';
import { UsageError } from '../../errors.ts';
import {
  addSecretDestinationOptions,
  parseIdempotencyKey,
  parseSecretDestinationFlags,
  type SecretDestinationFlags,
} from '../shared/secret-destination.ts';
import { subscriptionIdArgument } from '../shared/subscription-id.ts';

export interface RotateOptions extends SecretDestinationFlags {
  id: string;
  /** How long deliveries also carry the signature made with the secret being replaced. */
  graceSeconds: number;
  idempotencyKey: string | undefined;
  yes: boolean;
}

export function rotateCommand(bind: Binder): Command {
  const command = new Command('rotate')
    .description('Replace the signing secret of a subscription, keeping the old one valid for a grace period')
    .argument('<id>', 'subscription id (whsub_...)')
    .option('--grace <duration>', 'how long the previous secret keeps signing too: 24h, 90m, 0 (max 7d; 0 for a leaked secret)', '24h');
  addSecretDestinationOptions(command)
    .option('--idempotency-key <key>', 'reuse the key of an earlier attempt whose answer was lost: the platform answers it again instead of rotating twice')
    .option('-y, --yes', 'do not ask for confirmation (required without a terminal); with --secret-store stdout, print on a terminal too')
    .addHelpText(
      'after',
      [
        '',
        'From the moment of rotation deliveries are signed with the new secret; until the grace period ends',
        'they also carry X-IntelliAuth-Signature-Previous, signed with the old one, so the receiver can switch',
        'over without losing deliveries. This machine keeps the old secret until then, so',
        '`secret exec <id> -- <receiver>` gives the receiver both.',
        '',
        'The new secret goes where --secret-store says (keychain, a new 0600 file, or stdout alone); the',
        'destination is checked first. If storing fails after the platform answered, the secret is written',
        'to a 0600 fallback file and the exit code is 6.',
        'With --json: {"subscription_id", "previous_secret_expires_at", "secret_fingerprint", "secret_location"}.',
        '',
        'Examples:',
        '  intelliauth-webhooks rotate whsub_01J... --grace 2h',
        '  intelliauth-webhooks rotate whsub_01J... --grace 0 --yes      # the secret leaked: stop it now',
      ].join('\n'),
    );
  return bind(command, ([id], opts): RotateOptions => toRotateOptions(id, opts), () => import('./run.ts'));
}

export function toRotateOptions(id: unknown, opts: Record<string, unknown>): RotateOptions {
  return {
    id: subscriptionIdArgument(id),
    graceSeconds: parseGrace(opts.grace ?? '24h'),
    ...parseSecretDestinationFlags(opts),
    idempotencyKey: parseIdempotencyKey(opts.idempotencyKey),
    yes: opts.yes === true,
  };
}

export function parseGrace(value: unknown): number {
  const seconds = parseDuration('--grace', value);
  if (seconds > GRACE_PERIOD_SECONDS.max) {
    throw new UsageError(`--grace must be at most 7d (${GRACE_PERIOD_SECONDS.max} s), got "${String(value)}"`);
  }
  if (!Number.isInteger(seconds)) throw new UsageError(`--grace must be a whole number of seconds, got "${String(value)}"`);
  return seconds;
}
