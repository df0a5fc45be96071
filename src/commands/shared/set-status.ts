import type { Context } from '../../cli/context.ts';
import type { SetStatusOptions } from './status-command.ts';

// `pause` and `resume`. Setting the state a subscription already has is not an error, so
// both are safe to repeat.

export async function run(options: SetStatusOptions, context: Context): Promise<void> {
  const api = await context.api();
  const subscription = await api.updateSubscription(options.id, { status: options.status });
  const { io } = context;
  if (context.globals.json) {
    io.printJson(subscription);
    return;
  }
  io.print(subscription.status);
  io.success(
    subscription.status === 'paused'
      ? `${subscription.id} (${subscription.name}) is paused; \`intelliauth-webhooks resume ${subscription.id}\` restarts deliveries`
      : `${subscription.id} (${subscription.name}) is active; deliveries go to ${subscription.url}`,
  );
}
