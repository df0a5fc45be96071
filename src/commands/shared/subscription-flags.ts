// The flag checks `create` and `update` run while parsing argv. They live apart from
// subscription-input.ts so that the command definitions, loaded on every start-up, do not
// pull in the URL rules, the catalogue and the config code that only the commands' work needs.

import { SUBSCRIPTION_LIMITS } from '../../domain/contract.ts';
import { parseSelectorList, selectorKind } from '../../domain/selectors.ts';
import { UsageError } from '../../errors.ts';

/** `--events a,b --events c`: selectors in order, duplicates dropped, syntax checked. */
/** --events and --all-events together: the selectors, ['*'] for --all-events, undefined for neither. */
export function parseEventsFlags(opts: Record<string, unknown>): string[] | undefined {
  const rawEvents = (opts.events as string[] | undefined) ?? [];
  const events = rawEvents.length > 0 ? parseEventsFlag(rawEvents) : undefined;
  if (opts.allEvents !== true) return events;
  if (events !== undefined && !(events.length === 1 && events[0] === '*')) {
    throw new UsageError('--all-events subscribes to every event type; it cannot be combined with other --events', {
      hint: 'drop --all-events, or drop --events',
    });
  }
  return ['*'];
}

export function parseEventsFlag(values: readonly string[], flag = '--events'): string[] {
  const selectors = parseSelectorList(values);
  if (selectors.length === 0) throw new UsageError(`${flag} needs at least one event selector`, { hint: eventsHint() });
  const malformed = selectors.filter((selector) => selectorKind(selector) === null);
  if (malformed.length > 0) {
    throw new UsageError(`${flag}: not event selectors: ${malformed.map((s) => JSON.stringify(s)).join(', ')}`, { hint: eventsHint() });
  }
  if (selectors.length > SUBSCRIPTION_LIMITS.maxSelectors) {
    throw new UsageError(`${flag}: at most ${SUBSCRIPTION_LIMITS.maxSelectors} selectors, got ${selectors.length}`, {
      hint: 'use categories such as user.* instead of listing every type',
    });
  }
  return selectors;
}

function eventsHint(): string {
  return 'use * (everything), a category like user.*, or a type like user.signed_up, separated by commas; `intelliauth-webhooks event-types` lists them';
}

export function nameProblem(name: string): string | null {
  if (name.trim() === '') return 'the name must not be empty';
  if (name.length > SUBSCRIPTION_LIMITS.nameMaxLength) return `the name must be at most ${SUBSCRIPTION_LIMITS.nameMaxLength} characters`;
  return null;
}

export function descriptionProblem(description: string): string | null {
  if (description.length > SUBSCRIPTION_LIMITS.descriptionMaxLength) {
    return `the description must be at most ${SUBSCRIPTION_LIMITS.descriptionMaxLength} characters`;
  }
  return null;
}

export function checkName(name: string, flag = '--name'): string {
  const problem = nameProblem(name);
  if (problem) throw new UsageError(`${flag}: ${problem}`);
  return name.trim();
}

export function checkDescription(description: string, flag = '--description'): string {
  const problem = descriptionProblem(description);
  if (problem) throw new UsageError(`${flag}: ${problem}`);
  return description;
}

/** Repeatable flag values, for commander's option(..., collect, []). */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}
