import type { Context } from '../../cli/context.ts';
import type { EventType, Subscription, UpdateSubscriptionBody } from '../../domain/contract.ts';
import { UsageError } from '../../errors.ts';
import { subscriptionDetails } from '../../output/format.ts';
import { printDetails } from '../../output/table.ts';
import {
  checkEventsAgainstCatalogue,
  checkReceiverUrlOrThrow,
  confirmAllEvents,
  descriptionProblem,
  enforceReceiverHost,
  explainUrlRefusal,
  fetchCatalogue,
  guardPrompt,
  nameProblem,
  promptEvents,
  receiverHostRule,
  receiverUrlPolicy,
  resolveReceiverUrlPolicy,
  receiverUrlPromptProblem,
  type ReceiverHostRule,
  type ReceiverUrlPolicy,
} from '../shared/subscription-input.ts';
import { hasChanges, type UpdateOptions } from './index.ts';

const NOTHING_CHANGED = 'nothing was changed';

export async function run(options: UpdateOptions, context: Context): Promise<void> {
  const { io } = context;
  const interactive = io.canPrompt();
  if (!hasChanges(options) && !interactive) {
    throw new UsageError('nothing to change', {
      hint: 'pass at least one of --name, --url, --events (or --all-events) and --description',
    });
  }
  const credentials = await context.credentials();
  let urlPolicy = receiverUrlPolicy(credentials);
  const hostRule = await receiverHostRule(context, credentials);
  // A URL the platform's rules refuse is checked against a local emulator's own setting.
  const flagUrl = options.url === undefined ? undefined : checkReceiverUrlOrThrow(options.url, urlPolicy);
  if (flagUrl !== undefined || !hasChanges(options)) urlPolicy = await resolveReceiverUrlPolicy(context, urlPolicy, flagUrl);

  const body = hasChanges(options)
    ? await changesFromFlags(context, options, urlPolicy, hostRule)
    : await changesFromPrompts(context, options, urlPolicy, hostRule);
  if (body === null) {
    io.info(`no field changed; ${options.id} was left as it was`);
    return;
  }

  const api = await context.api();
  let updated: Subscription;
  try {
    updated = await api.updateSubscription(options.id, body);
  } catch (error) {
    throw explainUrlRefusal(error, urlPolicy);
  }
  if (context.globals.json) {
    io.printJson(updated);
    return;
  }
  await printDetails(io, subscriptionDetails(updated));
  io.success(`updated ${updated.id}: ${Object.keys(body).join(', ')}`);
}

async function changesFromFlags(
  context: Context,
  options: UpdateOptions,
  urlPolicy: ReceiverUrlPolicy,
  hostRule: ReceiverHostRule | null,
): Promise<UpdateSubscriptionBody> {
  const body: UpdateSubscriptionBody = {};
  if (options.name !== undefined) body.name = options.name;
  if (options.url !== undefined) {
    const url = checkReceiverUrlOrThrow(options.url, urlPolicy);
    enforceReceiverHost(context, url, hostRule, options.force);
    body.url = url.href;
  }
  if (options.events !== undefined) {
    await confirmAllEvents(context, options.events, options.allEvents, NOTHING_CHANGED);
    if (options.events.some((selector) => selector !== '*')) checkEventsAgainstCatalogue(options.events, await fetchCatalogue(context));
    body.events = options.events;
  }
  if (options.description !== undefined) body.description = options.description;
  return body;
}

/** At a terminal without change flags: every field, its current value as the default. */
async function changesFromPrompts(
  context: Context,
  options: UpdateOptions,
  urlPolicy: ReceiverUrlPolicy,
  hostRule: ReceiverHostRule | null,
): Promise<UpdateSubscriptionBody | null> {
  const api = await context.api();
  const current = await api.getSubscription(options.id);
  const catalogue: EventType[] = await fetchCatalogue(context);
  const prompter = await context.prompter();
  const ask = <T>(fn: () => Promise<T>) => guardPrompt(fn, NOTHING_CHANGED);

  const name = (await ask(() => prompter.input('Name', { default: current.name, validate: (value) => nameProblem(value) ?? true }))).trim();
  const urlAnswer = await ask(() =>
    prompter.input('Receiver URL', {
      default: current.url,
      validate: (value) => urlProblem(value, current.url, urlPolicy, hostRule, options.force) ?? true,
    }),
  );
  const events = await promptEvents(context, catalogue, NOTHING_CHANGED, current.events);
  const descriptionAnswer = await ask(() =>
    prompter.input('Description (enter - to clear it)', {
      default: current.description ?? '',
      validate: (value) => descriptionProblem(value) ?? true,
    }),
  );

  const body: UpdateSubscriptionBody = {};
  if (name !== current.name) body.name = name;
  if (urlAnswer.trim() !== current.url) {
    const url = checkReceiverUrlOrThrow(urlAnswer.trim(), urlPolicy);
    if (url.href !== current.url) {
      enforceReceiverHost(context, url, hostRule, options.force);
      body.url = url.href;
    }
  }
  if (!sameSelectors(events, current.events)) {
    await confirmAllEvents(context, events, options.allEvents, NOTHING_CHANGED);
    body.events = events;
  }
  const description = descriptionAnswer.trim() === '-' || descriptionAnswer.trim() === '' ? null : descriptionAnswer.trim();
  if (description !== (current.description ?? null)) body.description = description;
  return Object.keys(body).length === 0 ? null : body;
}

function urlProblem(value: string, currentUrl: string, policy: ReceiverUrlPolicy, rule: ReceiverHostRule | null, force: boolean): string | null {
  return value.trim() === currentUrl ? null : receiverUrlPromptProblem(value, policy, rule, force);
}

function sameSelectors(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && [...a].sort().join('\n') === [...b].sort().join('\n');
}
