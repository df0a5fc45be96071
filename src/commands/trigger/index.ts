import { Command } from 'commander';
import type { Binder } from '../../cli/command.ts';
import { UsageError } from '../../errors.ts';

export interface TriggerOptions {
  eventType: string;
  data: Record<string, unknown> | undefined;
}

export function triggerCommand(bind: Binder): Command {
  const command = new Command('trigger')
    .description('Emit a tenant event on the local emulator, delivered to every matching subscription (emulator only)')
    .argument('<event-type>', 'event type, e.g. user.signed_up')
    .option('--data <json>', 'the event\'s data object (default: a realistic sample for the type)');
  return bind(command, ([eventType], opts): TriggerOptions => ({
    eventType: String(eventType),
    data: opts.data === undefined ? undefined : parseDataObject(String(opts.data)),
  }), () => import('./run.ts'));
}

function parseDataObject(text: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new UsageError(`--data is not valid JSON: ${(error as Error).message}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new UsageError('--data must be a JSON object');
  return value as Record<string, unknown>;
}
