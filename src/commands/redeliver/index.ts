import { Command } from 'commander';
import type { Binder } from '../../cli/command.ts';
import { UsageError } from '../../errors.ts';
import { subscriptionIdArgument } from '../shared/subscription-id.ts';

export interface RedeliverOptions {
  id: string;
  /** Distinct, in the order given; empty with --all-dead-letters. */
  eventIds: string[];
  allDeadLetters: boolean;
  yes: boolean;
}

export function redeliverCommand(bind: Binder): Command {
  const command = new Command('redeliver')
    .description('Replay events to a subscription (dead-lettered or not): each starts a new series of attempts')
    .argument('<id>', 'subscription id (whsub_...)')
    .argument('[event-ids...]', 'event ids (evt_...) to replay')
    .option('--all-dead-letters', 'replay every dead-lettered event of the subscription')
    .option('-y, --yes', 'with --all-dead-letters at a terminal: do not ask first')
    .addHelpText(
      'after',
      [
        '',
        'Prints one line per event: "scheduled", or "failed" and why. With --json: an array of',
        '{"event_id", "ok", "error"?}. If any event fails, the failed ones are named on stderr and the',
        'exit code is that of the first failure (4: not found, 5: API unavailable, 3: credentials, ...).',
        '',
        'Examples:',
        '  intelliauth-webhooks redeliver whsub_01J... evt_01J... evt_01K...',
        '  intelliauth-webhooks redeliver whsub_01J... --all-dead-letters',
      ].join('\n'),
    );
  return bind(
    command,
    ([id, eventIds], opts): RedeliverOptions => toRedeliverOptions(id, eventIds, opts),
    () => import('./run.ts'),
  );
}

export function toRedeliverOptions(id: unknown, rawEventIds: unknown, opts: Record<string, unknown>): RedeliverOptions {
  const allDeadLetters = opts.allDeadLetters === true;
  const eventIds = [...new Set((Array.isArray(rawEventIds) ? rawEventIds : []).map((value) => eventIdArgument(value)))];
  if (allDeadLetters && eventIds.length > 0) {
    throw new UsageError('give event ids or --all-dead-letters, not both');
  }
  if (!allDeadLetters && eventIds.length === 0) {
    throw new UsageError('name the events to replay, or pass --all-dead-letters', {
      hint: 'event ids (evt_...) appear in `dead-letters` and `tail-deliveries`',
    });
  }
  return { id: subscriptionIdArgument(id), eventIds, allDeadLetters, yes: opts.yes === true };
}

function eventIdArgument(value: unknown): string {
  const id = String(value ?? '').trim();
  if (id === '' || /[\s/?#]/.test(id)) throw new UsageError(`"${id}" is not an event id`, { hint: 'event ids look like evt_01J...' });
  return id;
}
