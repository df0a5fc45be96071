import { randomUUID } from 'node:crypto';
import { basename, resolve } from 'node:path';
import type { Context } from '../../cli/context.ts';
import { reportCliError } from '../../cli/report-error.ts';
import type { CreateSubscriptionBody, EventType, Subscription } from '../../domain/contract.ts';
import { anySelectorMatches, selectorKind } from '../../domain/selectors.ts';
import { secretFingerprint } from '../../domain/signature.ts';
import type { ApiClient } from '../../api/client.ts';
import { ApiError, InterruptedError, SecretFallbackError, SecretStoreError, UnavailableError, UsageError } from '../../errors.ts';
import { subscriptionDetails } from '../../output/format.ts';
import { printDetails, sanitizeCell } from '../../output/table.ts';
import { checkSecretFileWritable } from '../../secrets/secret-file.ts';
import {
  describeLocation,
  handOffSecret,
  preflightDestination,
  type SecretDestination,
  type SecretLocation,
} from '../../secrets/signing-secrets.ts';
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
  type ReceiverUrlPolicy,
} from '../shared/subscription-input.ts';
import { beforeTheCall, reportedIfInterrupted } from '../shared/one-time-secret-call.ts';
import type { CreateOptions } from './index.ts';

const NOTHING_CREATED = 'nothing was created';
const MAX_PATH_PROMPTS = 3;

/** Where the secret went, as `--json` shows it. */
export interface SecretLocationJson {
  store: 'keychain' | 'file' | 'stdout';
  path?: string;
  fingerprint: string;
  fallback?: boolean;
}

export async function run(options: CreateOptions, context: Context): Promise<number | void> {
  const { io } = context;
  if (options.secretStore === 'stdout' && context.globals.json) {
    throw new UsageError('--secret-store stdout and --json both want stdout', {
      hint: 'use --secret-store keychain or file with --json, or drop --json (the summary then goes to stderr)',
    });
  }
  const { body, destination, urlPolicy } = await beforeTheCall(context, NOTHING_CREATED, () => prepare(options, context));
  const idempotencyKey = options.idempotencyKey ?? randomUUID();
  const api = await context.api();
  if (context.signal.aborted) throw new InterruptedError(`interrupted; ${NOTHING_CREATED}`);
  // From the moment the request leaves, the platform may hand out a secret it shows only
  // once: a signal waits until the secret is stored (or in the fallback file) and the user
  // has been told what exists now. A second signal ends the process right after that.
  const outcome = await context.uninterruptible(async () => {
    const done = await reportedIfInterrupted(context, () => createAndHandOff(context, api, body, destination, idempotencyKey, urlPolicy));
    if (typeof done === 'number') return done;
    await report(context, done, destination, urlPolicy.localEmulator);
    if (context.signal.aborted) {
      io.warn(`interrupted, but only after ${done.subscription.id} was created; its signing secret is in ${describeLocation(done.location)}`);
      if (done.fallback) {
        // Said here, not by main(): the process may end as soon as this step returns.
        return reportCliError(io, done.fallback);
      }
    }
    return done;
  });
  if (typeof outcome === 'number') return outcome;
  if (outcome.fallback) throw outcome.fallback;
}

interface Prepared {
  body: CreateSubscriptionBody;
  destination: SecretDestination;
  urlPolicy: ReceiverUrlPolicy;
}

/** Everything before the create call: checks, the secret's destination, prompts. Creates nothing. */
async function prepare(options: CreateOptions, context: Context): Promise<Prepared> {
  const interactive = context.io.canPrompt();
  if (!interactive) requireFlags(options);

  const credentials = await context.credentials();
  let urlPolicy = receiverUrlPolicy(credentials);
  const hostRule = await receiverHostRule(context, credentials);

  // Everything the flags say is checked locally before anything is asked or sent.
  let url: URL | undefined;
  if (options.url !== undefined) {
    url = checkReceiverUrlOrThrow(options.url, urlPolicy);
    enforceReceiverHost(context, url, hostRule, options.force);
  }
  if (options.events !== undefined) await confirmAllEvents(context, options.events, options.allEvents, NOTHING_CREATED);

  const destination = await chooseDestination(context, options, interactive);
  // The first call: a local emulator says whether it takes receivers on this machine.
  urlPolicy = await resolveReceiverUrlPolicy(context, urlPolicy, url);
  if (url !== undefined) url = checkReceiverUrlOrThrow(url.href, urlPolicy);

  let catalogue: EventType[] | undefined;
  const loadCatalogue = async () => (catalogue ??= await fetchCatalogue(context));
  if (options.events !== undefined && options.events.some((selector) => selector !== '*')) {
    checkEventsAgainstCatalogue(options.events, await loadCatalogue());
  }

  let prompted = false;
  const prompter = interactive ? await context.prompter() : undefined;
  let name = options.name;
  if (name === undefined) {
    prompted = true;
    name = (await guardPrompt(() => prompter!.input('Name', { validate: (value) => nameProblem(value) ?? true }), NOTHING_CREATED)).trim();
  }
  if (url === undefined) {
    prompted = true;
    const answer = await guardPrompt(
      () => prompter!.input('Receiver URL', { validate: (value) => receiverUrlPromptProblem(value, urlPolicy, hostRule, options.force) ?? true }),
      NOTHING_CREATED,
    );
    url = checkReceiverUrlOrThrow(answer.trim(), urlPolicy);
    enforceReceiverHost(context, url, hostRule, options.force);
  }
  let events = options.events;
  if (events === undefined) {
    prompted = true;
    events = await promptEvents(context, await loadCatalogue(), NOTHING_CREATED);
    await confirmAllEvents(context, events, options.allEvents, NOTHING_CREATED);
  }
  let description = options.description;
  if (description === undefined && prompted) {
    const answer = await guardPrompt(
      () => prompter!.input('Description (optional)', { validate: (value) => descriptionProblem(value) ?? true }),
      NOTHING_CREATED,
    );
    description = answer.trim() === '' ? undefined : answer.trim();
  }
  const body: CreateSubscriptionBody = { name, url: url.href, events, ...(description === undefined ? {} : { description }) };
  return { body, destination, urlPolicy };
}

function requireFlags(options: CreateOptions): void {
  const missing = [
    options.name === undefined ? '--name' : undefined,
    options.url === undefined ? '--url' : undefined,
    options.events === undefined ? '--events (or --all-events)' : undefined,
  ].filter((flag): flag is string => flag !== undefined);
  if (missing.length === 0) return;
  throw new UsageError(`missing ${joinAnd(missing)} (no interactive terminal to ask on)`, {
    hint: 'e.g. intelliauth-webhooks create --name orders --url https://hooks.example.com/intelliauth --events user.signed_up',
  });
}

function joinAnd(items: readonly string[]): string {
  return items.length <= 1 ? items.join('') : `${items.slice(0, -1).join(', ')} and ${items.at(-1)}`;
}

// ---- the secret's destination, checked before anything is created -------------------------

async function chooseDestination(context: Context, options: CreateOptions, interactive: boolean): Promise<SecretDestination> {
  switch (options.secretStore) {
    case 'stdout': {
      let allowTerminal = options.yes;
      if (context.io.stdoutIsTTY && !allowTerminal && interactive) {
        context.io.warn('--secret-store stdout prints the signing secret on this terminal, where it stays in the scrollback');
        const prompter = await context.prompter();
        allowTerminal = await guardPrompt(() => prompter.confirm('Print the signing secret on this terminal?', { default: false }), NOTHING_CREATED);
        if (!allowTerminal) throw new UsageError(`cancelled; ${NOTHING_CREATED}`, { hint: 'pipe stdout into your secret manager, or use --secret-store keychain' });
      }
      await preflightDestination(context, { kind: 'stdout' }, allowTerminal);
      return { kind: 'stdout' };
    }
    case 'file': {
      if (options.secretFile === undefined) {
        if (!interactive) {
          throw new UsageError('--secret-store file needs --secret-file PATH (a new file) (no interactive terminal to ask on)', {
            hint: 'e.g. --secret-store file --secret-file ./orders.secret',
          });
        }
        return promptForSecretFile(context, options);
      }
      const destination: SecretDestination = { kind: 'file', path: resolve(options.secretFile) };
      try {
        await preflightDestination(context, destination, false);
      } catch (error) {
        throw await withWorkingAlternative(context, error, options, 'file');
      }
      return destination;
    }
    case 'keychain': {
      try {
        await preflightDestination(context, { kind: 'keychain' }, false);
        return { kind: 'keychain' };
      } catch (error) {
        if (options.secretStoreExplicit || !interactive || !(error instanceof SecretStoreError)) {
          throw await withWorkingAlternative(context, error, options, 'keychain');
        }
        context.io.warn(error.message.replace(/; nothing was changed$/, ''));
        const prompter = await context.prompter();
        const choice = await guardPrompt(
          () =>
            prompter.select<'file' | 'cancel'>('The OS keychain cannot take the signing secret. Where should it go?', [
              { name: 'A new file, readable only by you (mode 0600)', value: 'file' },
              { name: 'Cancel (nothing is created)', value: 'cancel' },
            ]),
          NOTHING_CREATED,
        );
        if (choice === 'cancel') throw new UsageError(`cancelled; ${NOTHING_CREATED}`, { hint: error.hint ?? '' });
        return promptForSecretFile(context, options);
      }
    }
  }
}

async function promptForSecretFile(context: Context, options: CreateOptions): Promise<SecretDestination> {
  const prompter = await context.prompter();
  const suggestion = `./${fileNameFor(options.name)}`;
  for (let attempt = 1; ; attempt += 1) {
    const answer = await guardPrompt(
      () => prompter.input('File for the signing secret (a new file, mode 0600)', { default: suggestion, validate: (value) => (value.trim() === '' ? 'enter a path' : true) }),
      NOTHING_CREATED,
    );
    const destination: SecretDestination = { kind: 'file', path: resolve(answer.trim()) };
    try {
      await preflightDestination(context, destination, false);
      return destination;
    } catch (error) {
      if (!(error instanceof SecretStoreError) || attempt >= MAX_PATH_PROMPTS) throw error;
      context.io.warn(error.message.replace(/; nothing was changed$/, ''));
    }
  }
}

function fileNameFor(name: string | undefined): string {
  const slug = (name ?? 'webhook')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 60);
  return `${slug === '' ? 'webhook' : slug}.secret`;
}

/**
 * A refused destination's error, with a hint naming a destination that was just checked
 * and would work here, so the user's next attempt succeeds.
 */
async function withWorkingAlternative(context: Context, error: unknown, options: CreateOptions, refused: 'keychain' | 'file'): Promise<unknown> {
  if (!(error instanceof SecretStoreError)) return error;
  const alternatives: string[] = [];
  if (refused === 'file') {
    const keychainWorks = await preflightDestination(context, { kind: 'keychain' }, false).then(() => true, () => false);
    if (keychainWorks) alternatives.push('--secret-store keychain (the OS keychain answered a check just now)');
  } else {
    const candidate = resolve(fileNameFor(options.name));
    const fileWorks = await checkSecretFileWritable(candidate).then(() => true, () => false);
    if (fileWorks) alternatives.push(`--secret-store file --secret-file ./${basename(candidate)} (a new 0600 file can be written there)`);
  }
  alternatives.push('--secret-store stdout piped into your secret manager');
  return new SecretStoreError(error.message.replace(/; nothing was changed$/, `; ${NOTHING_CREATED}`), {
    hint: `use ${alternatives.join(', or ')}`,
    cause: error,
  });
}

// ---- create, then store the secret: one step a signal cannot cut ---------------------------

interface CreateOutcome {
  subscription: Subscription;
  location: SecretLocation;
  fallback: SecretFallbackError | undefined;
}

async function createAndHandOff(
  context: Context,
  api: ApiClient,
  body: CreateSubscriptionBody,
  destination: SecretDestination,
  idempotencyKey: string,
  urlPolicy: ReceiverUrlPolicy,
): Promise<CreateOutcome> {
  let created;
  try {
    created = await api.createSubscription(body, { idempotencyKey, ignoreInterrupt: true });
  } catch (error) {
    throw explainCreateFailure(explainUrlRefusal(error, urlPolicy), idempotencyKey);
  }
  const { signing_secret: secret, ...rest } = created;
  const subscription = rest as Subscription;
  if (typeof secret !== 'string' || secret === '') {
    throw new ApiError({
      status: 502,
      code: 'invalid_response',
      message: `the API created ${subscription.id} but its answer carried no signing secret`,
      hint: 'rotate the secret of this subscription to get a new one, or delete it and create it again',
    });
  }
  if (subscription.secret_fingerprint && subscription.secret_fingerprint !== secretFingerprint(secret)) {
    context.io.warn(`the secret's fingerprint does not match the secret_fingerprint ${subscription.secret_fingerprint} the API reported`);
  }
  try {
    const handedOff = await handOffSecret(context, { subscriptionId: subscription.id, secret, destination });
    return { subscription, location: handedOff.location, fallback: undefined };
  } catch (error) {
    if (error instanceof SecretFallbackError) {
      const location: SecretLocation = { store: 'file', path: error.fallbackPath, fingerprint: secretFingerprint(secret), fallback: true };
      return { subscription, location, fallback: error };
    }
    throw await undoUnstorable(api, subscription.id, error);
  }
}

/** After a failed POST: was anything created? Say how to find out without making a second one. */
function explainCreateFailure(error: unknown, idempotencyKey: string): unknown {
  // The request itself ignores signals; only getting a token before it can be cut short.
  if (error instanceof InterruptedError) return new InterruptedError(`${error.message}; ${NOTHING_CREATED}`);
  if (error instanceof ApiError && error.code === 'idempotency_conflict') {
    return error.withHint(`--idempotency-key ${idempotencyKey} was used before with other values: repeat that exact command to get its answer, or use a new key`);
  }
  // A 429 can end a series of retries whose earlier attempts reached the platform (an answer
  // lost on the wire): the outcome is as unknown as after a 5xx.
  const unknownOutcome = error instanceof UnavailableError || (error instanceof ApiError && (error.status >= 500 || error.status === 429));
  if (!unknownOutcome) return error;
  const hint = `the subscription may or may not exist now: run the same command again with --idempotency-key ${idempotencyKey} to get the platform's answer (and the secret) without creating a second one`;
  if (error instanceof ApiError) {
    return error.withHint(hint);
  }
  return new UnavailableError((error as UnavailableError).message, { hint, cause: error });
}

/**
 * Neither the chosen store nor any fallback file could take the secret, so the new
 * subscription could never be verified by anyone: delete it again rather than leave it.
 */
async function undoUnstorable(api: ApiClient, subscriptionId: string, error: unknown): Promise<SecretStoreError> {
  const reason = error instanceof Error ? error.message : String(error);
  try {
    await api.deleteSubscription(subscriptionId);
  } catch {
    return new SecretStoreError(`the signing secret of ${subscriptionId} could not be stored anywhere (${reason}), and deleting the subscription failed`, {
      hint: `delete it with \`intelliauth-webhooks delete ${subscriptionId} --yes\`, fix the secret store, and create it again`,
    });
  }
  return new SecretStoreError(`the signing secret could not be stored anywhere (${reason}); the subscription ${subscriptionId} was deleted again, so ${NOTHING_CREATED}`, {
    hint: 'fix the keychain or free some disk space, then run create again',
  });
}

// ---- output ----------------------------------------------------------------------------------

export function secretLocationJson(location: SecretLocation): SecretLocationJson {
  return {
    store: location.store === 'external' ? 'stdout' : location.store,
    ...(location.path === undefined ? {} : { path: location.path }),
    fingerprint: location.fingerprint,
    ...(location.fallback ? { fallback: true } : {}),
  };
}

async function report(context: Context, outcome: CreateOutcome, destination: SecretDestination, emulator: boolean): Promise<void> {
  const { io } = context;
  const { subscription, location } = outcome;
  if (context.globals.json) {
    io.printJson({ ...subscription, secret_location: secretLocationJson(location) });
  } else {
    const pairs: Array<readonly [string, string]> = [...subscriptionDetails(subscription), ['signing secret', describeLocation(location)]];
    // With the secret on stdout, stdout carries nothing else.
    if (destination.kind === 'stdout') detailsToStderr(context, pairs);
    else await printDetails(io, pairs);
  }
  if (outcome.fallback) return;
  io.success(`created ${subscription.id}; its signing secret (fingerprint ${location.fingerprint}) is in ${describeLocation(location)}`);
  if (location.store === 'external') {
    io.hint(`the secret is not stored locally; to use \`secret exec\`, pipe it into \`intelliauth-webhooks secret import ${subscription.id}\``);
    return;
  }
  io.hint(`run your receiver with the secret in INTELLIAUTH_WEBHOOK_SECRET: intelliauth-webhooks secret exec ${subscription.id} -- <your receiver command>`);
  const sample = sampleEventType(subscription.events);
  if (emulator && sample !== undefined) io.hint(`then send it an event from the emulator: intelliauth-webhooks trigger ${sample}`);
}

function sampleEventType(events: readonly string[]): string | undefined {
  const typed = events.find((selector) => selectorKind(selector) === 'type');
  if (typed !== undefined) return typed;
  return anySelectorMatches(events, 'user.signed_up') ? 'user.signed_up' : undefined;
}

function detailsToStderr(context: Context, pairs: ReadonlyArray<readonly [string, string]>): void {
  const width = Math.max(...pairs.map(([key]) => key.length));
  for (const [key, value] of pairs) context.io.info(`${key.padEnd(width)}  ${sanitizeCell(value)}`);
}
