import { Command } from 'commander';
import type { Binder } from '../../cli/command.ts';
import { subscriptionIdArgument } from '../shared/subscription-id.ts';

export interface DeleteOptions {
  id: string;
  yes: boolean;
}

export function deleteCommand(bind: Binder): Command {
  const command = new Command('delete')
    .description("Delete a subscription, and this machine's stored copies of its signing secret")
    .argument('<id>', 'subscription id (whsub_...)')
    .option('-y, --yes', 'do not ask for confirmation (required without a terminal)')
    .addHelpText(
      'after',
      [
        '',
        'At a terminal it shows the name and URL and asks first; without one it needs --yes.',
        'With --json: {"id", "deleted": true, "local_secrets_removed": [...]}.',
      ].join('\n'),
    );
  return bind(command, ([id], opts): DeleteOptions => ({ id: subscriptionIdArgument(id), yes: opts.yes === true }), () => import('./run.ts'));
}
