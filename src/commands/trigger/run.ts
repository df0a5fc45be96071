import type { Context } from '../../cli/context.ts';
import type { TriggerOptions } from './index.ts';

export async function run(options: TriggerOptions, context: Context): Promise<void> {
  const api = await context.api();
  const emitted = await api.emitEmulatorEvent({ event_type: options.eventType, ...(options.data ? { data: options.data } : {}) });
  const { io } = context;
  if (context.globals.json) {
    io.printJson(emitted);
    return;
  }
  io.print(emitted.event_id);
  const count = emitted.subscriptions.length;
  io.success(`${options.eventType} emitted as ${emitted.event_id}: ${count === 0 ? 'no active subscription matches it' : `delivering to ${count} subscription${count === 1 ? '' : 's'}`}`);
}
