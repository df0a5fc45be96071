import { Command } from 'commander';
import type { Binder } from '../../cli/command.ts';
import { subscriptionIdArgument } from '../shared/subscription-id.ts';

export interface GetOptions {
  id: string;
}

export function getCommand(bind: Binder): Command {
  const command = new Command('get')
    .description('Show one subscription (with --json: the subscription object)')
    .argument('<id>', 'subscription id (whsub_...)')
    .addHelpText('after', '\nAt a terminal it also says where the signing secret is stored on this machine.');
  return bind(command, ([id]): GetOptions => ({ id: subscriptionIdArgument(id) }), () => import('./run.ts'));
}
