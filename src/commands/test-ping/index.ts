import { Command } from 'commander';
import type { Binder } from '../../cli/command.ts';
import { subscriptionIdArgument } from '../shared/subscription-id.ts';

export interface TestPingOptions {
  id: string;
}

export function testPingCommand(bind: Binder): Command {
  const command = new Command('test-ping')
    .description("Send the platform's test.ping to a subscription's receiver and show how it answered")
    .argument('<id>', 'subscription id (whsub_...)')
    .addHelpText(
      'after',
      [
        '',
        'One synchronous delivery, never retried; the platform waits up to 10 s for the receiver.',
        'Shows the outcome, HTTP status or error kind, latency and the start of the response body.',
        'Exit 7 when the receiver did not answer 2xx, with a hint that fits the cause.',
        'With --json: the delivery record.',
      ].join('\n'),
    );
  return bind(command, ([id]): TestPingOptions => ({ id: subscriptionIdArgument(id) }), () => import('./run.ts'));
}
