import { Command } from 'commander';
import type { Binder } from '../../cli/command.ts';
import type { SubscriptionStatus } from '../../domain/contract.ts';
import { subscriptionIdArgument } from './subscription-id.ts';

// The definition shared by `pause` and `resume`: one PATCH of the status (./set-status.ts).

export interface SetStatusOptions {
  id: string;
  status: SubscriptionStatus;
}

export function statusCommand(bind: Binder, name: 'pause' | 'resume'): Command {
  const status: SubscriptionStatus = name === 'pause' ? 'paused' : 'active';
  const command = new Command(name)
    .description(
      name === 'pause'
        ? 'Pause a subscription: nothing is delivered to it until it is resumed'
        : 'Resume a paused subscription: deliveries to it start again',
    )
    .argument('<id>', 'subscription id (whsub_...)')
    .addHelpText('after', `\nSafe to repeat. Prints the new status on stdout (with --json: the subscription object).`);
  return bind(command, ([id]): SetStatusOptions => ({ id: subscriptionIdArgument(id), status }), () => import('./set-status.ts'));
}

