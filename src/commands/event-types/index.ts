import { Command } from 'commander';
import type { Binder } from '../../cli/command.ts';

export type EventTypesOptions = Record<string, never>;

export function eventTypesCommand(bind: Binder): Command {
  const command = new Command('event-types').description('List the event types a subscription can select (the platform catalogue)');
  return bind(command, (): EventTypesOptions => ({}), () => import('./run.ts'));
}
