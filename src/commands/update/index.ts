import { Command } from 'commander';
import type { Binder } from '../../cli/command.ts';
import { optionalString } from '../../cli/parse.ts';
import { UsageError } from '../../errors.ts';
import { checkDescription, checkName, collect, parseEventsFlags } from '../shared/subscription-flags.ts';

export interface UpdateOptions {
  id: string;
  name: string | undefined;
  url: string | undefined;
  events: string[] | undefined;
  /** null clears the description (`--description ''`). */
  description: string | null | undefined;
  allEvents: boolean;
  force: boolean;
}

export function updateCommand(bind: Binder): Command {
  const command = new Command('update')
    .description('Change the name, receiver URL, events or description of a subscription')
    .argument('<id>', 'subscription id (whsub_...)')
    .option('--name <name>', 'new name')
    .option('--url <url>', 'new receiver URL, checked like in create')
    .option('--events <selectors>', 'new event selectors (replacing the old ones), comma-separated or repeated', collect)
    .option('--all-events', 'subscribe to * (every event type, including those added later)')
    .option('--description <text>', "new description ('' clears it)")
    .option('--force', "allow a receiver outside the profile's allowed_receiver_hosts")
    .addHelpText('after', '\nWithout any change flag, at a terminal, each field is asked for with its current value as the default.');
  return bind(command, ([id], opts): UpdateOptions => toUpdateOptions(String(id), opts), () => import('./run.ts'));
}

export function toUpdateOptions(id: string, opts: Record<string, unknown>): UpdateOptions {
  if (id.trim() === '') throw new UsageError('the subscription id must not be empty');
  const allEvents = opts.allEvents === true;
  const events = parseEventsFlags(opts);
  const name = optionalString(opts.name);
  const description = optionalString(opts.description);
  return {
    id: id.trim(),
    name: name === undefined ? undefined : checkName(name),
    url: optionalString(opts.url),
    events,
    description: description === undefined ? undefined : description === '' ? null : checkDescription(description),
    allEvents,
    force: opts.force === true,
  };
}

export function hasChanges(options: UpdateOptions): boolean {
  return options.name !== undefined || options.url !== undefined || options.events !== undefined || options.description !== undefined;
}
