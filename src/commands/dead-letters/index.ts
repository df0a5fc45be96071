import { Command } from 'commander';
import type { Binder } from '../../cli/command.ts';
import { subscriptionIdArgument } from '../shared/subscription-id.ts';

export interface DeadLettersOptions {
  id: string;
}

export function deadLettersCommand(bind: Binder): Command {
  const command = new Command('dead-letters')
    .description('List the events of a subscription that failed every delivery attempt, with their last error and expiry')
    .argument('<id>', 'subscription id (whsub_...)')
    .addHelpText(
      'after',
      [
        '',
        'An event is dead-lettered after its sixth failed attempt and can be replayed for 7 days',
        '(`intelliauth-webhooks redeliver <id> <event-id>...` or `--all-dead-letters`).',
        'Without a terminal, rows are tab-separated with ISO 8601 times. With --json: the array of dead letters.',
      ].join('\n'),
    );
  return bind(command, ([id]): DeadLettersOptions => ({ id: subscriptionIdArgument(id) }), () => import('./run.ts'));
}
