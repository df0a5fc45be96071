import { randomUUID } from 'node:crypto';
import type { Context } from '../../cli/context.ts';
import { confirmOrRequireYes } from '../../cli/confirm.ts';
import type { RotatedSecret, Subscription } from '../../domain/contract.ts';
import { formatDuration } from '../../domain/duration.ts';
import type { ApiClient } from '../../api/client.ts';
import { ApiError, SecretFallbackError, SecretStoreError, UnavailableError, UsageError } from '../../errors.ts';
import { formatLocalAndUtc } from '../../output/format.ts';
import { printDetails, sanitizeCell } from '../../output/table.ts';
import {
  describeLocation,
  handOffSecret,
  indexEntry,
  preflightDestination,
  type HandOffResult,
  type SecretDestination,
} from '../../secrets/signing-secrets.ts';
import { beforeTheCall, reportedIfInterrupted } from '../shared/one-time-secret-call.ts';
import { resolveSecretDestination } from '../shared/secret-destination.ts';
import type { RotateOptions } from './index.ts';

// `rotate`: the platform shows the new secret once, so it gets the same care as in `create`:
// the destination is checked before the call, the call carries an Idempotency-Key, and the
// secret is handed off with interrupts held back (a fallback file if the store fails).

const NOTHING_CHANGED = 'nothing was changed';

export async function run(options: RotateOptions, context: Context): Promise<number | void> {
  const { destination, api, subscription } = await beforeTheCall(context, NOTHING_CHANGED, () => prepare(options, context));
  const idempotencyKey = options.idempotencyKey ?? randomUUID();
  // From the moment the request leaves, the platform may hand out a secret it shows only
  // once: a signal waits until the secret is stored (or in the fallback file) and the user
  // has been told where. A second signal ends the process as soon as this step returns, so
  // everything worth saying is said inside it.
  return context.uninterruptible(async () => {
    const exitCode = await reportedIfInterrupted(context, () => rotateAndHandOff(context, options, api, subscription, destination, idempotencyKey));
    return typeof exitCode === 'number' ? exitCode : undefined;
  });
}

/** Everything before the rotate call: destination, subscription, confirmation. Changes nothing. */
async function prepare(
  options: RotateOptions,
  context: Context,
): Promise<{ destination: SecretDestination; api: ApiClient; subscription: Subscription }> {
  const { io } = context;
  const destination = await resolveSecretDestination(context, options);
  if (context.globals.json && destination.kind === 'stdout') {
    throw new UsageError('--json cannot be combined with --secret-store stdout: stdout carries the secret alone', {
      hint: 'drop --json (the summary goes to stderr), or store the secret in the keychain or a file',
    });
  }
  // Without a terminal to ask on, refuse before contacting anything.
  if (!options.yes && !io.canPrompt()) await confirmOrRequireYes(context, `Rotate the signing secret of ${options.id}?`, false);
  await preflightDestination(context, destination, options.yes);

  const api = await context.api();
  const subscription = await api.getSubscription(options.id);
  if (!options.yes) {
    await describePlan(context, subscription, options, destination);
    await confirmOrRequireYes(context, `Rotate the signing secret of ${subscription.id} now?`, false);
  }
  return { destination, api, subscription };
}

async function rotateAndHandOff(
  context: Context,
  options: RotateOptions,
  api: ApiClient,
  subscription: Subscription,
  destination: SecretDestination,
  idempotencyKey: string,
): Promise<void> {
  const { io } = context;
  let rotated: RotatedSecret;
  try {
    rotated = await api.rotateSecret(
      subscription.id,
      { grace_period_seconds: options.graceSeconds },
      { idempotencyKey, ignoreInterrupt: true },
    );
  } catch (error) {
    throw withRetryHint(error, options, idempotencyKey);
  }
  let handOff: HandOffResult;
  try {
    handOff = await handOffSecret(context, {
      subscriptionId: subscription.id,
      secret: rotated.signing_secret,
      destination,
      rotation: { previousExpiresAt: rotated.previous_secret_expires_at },
    });
  } catch (error) {
    io.warn(`the secret of ${subscription.id} WAS rotated: deliveries are signed with the new secret now`);
    explainGrace(context, rotated.previous_secret_expires_at);
    if (error instanceof SecretFallbackError) throw error;
    // Not even a fallback file could take it: the same Idempotency-Key gets the same answer,
    // and so the same secret, again once a store works.
    const reason = error instanceof Error ? error.message : String(error);
    throw new SecretStoreError(`the new signing secret of ${subscription.id} could not be stored anywhere (${reason})`, {
      hint: `once a store works, within 24 h, \`${retryCommand(options, idempotencyKey)}\` gets the same new secret again (it does not rotate a second time)`,
      cause: error,
    });
  }

  if (context.globals.json) {
    io.printJson({
      subscription_id: rotated.subscription_id,
      previous_secret_expires_at: rotated.previous_secret_expires_at,
      secret_fingerprint: handOff.location.fingerprint,
      secret_location: {
        store: handOff.location.store,
        ...(handOff.location.path === undefined ? {} : { path: handOff.location.path }),
      },
    });
  } else if (destination.kind !== 'stdout') {
    await printDetails(io, [
      ['subscription', subscription.id],
      ['secret fingerprint', handOff.location.fingerprint],
      ['secret location', handOff.description],
      ['previous secret until', rotated.previous_secret_expires_at ? formatLocalAndUtc(rotated.previous_secret_expires_at) : 'stopped at once (--grace 0)'],
    ]);
  }
  reportNextSteps(context, subscription, rotated, handOff);
  if (context.signal.aborted) {
    io.warn(`interrupted, but only after the secret of ${subscription.id} was rotated; its new signing secret is in ${handOff.description}`);
  }
}

async function describePlan(context: Context, subscription: Subscription, options: RotateOptions, destination: SecretDestination): Promise<void> {
  const { io } = context;
  io.info(`Rotating the signing secret of ${subscription.id} "${sanitizeCell(subscription.name)}" (${sanitizeCell(subscription.url)}).`);
  io.info('  Deliveries are signed with the new secret from the moment of rotation.');
  if (options.graceSeconds > 0) {
    const until = new Date(context.now() + options.graceSeconds * 1000).toISOString();
    io.info(
      `  For ${formatDuration(options.graceSeconds)} (until about ${formatLocalAndUtc(until)}) they also carry ` +
        'X-IntelliAuth-Signature-Previous, made with the current secret; the receiver must have the new secret by then.',
    );
  } else {
    io.warn('--grace 0: the current secret stops at once; the receiver rejects deliveries until it has the new secret');
  }
  const running = subscription.previous_secret_expires_at;
  if (running !== null && Date.parse(running) > context.now()) {
    io.warn(`the grace period of an earlier rotation (until ${formatLocalAndUtc(running)}) ends now: that older secret stops signing`);
  }
  io.info(`  The new secret goes to ${describeDestination(destination)}.`);
  if (!options.secretStoreExplicit) {
    const entry = await indexEntry(context, subscription.id).catch(() => null);
    if (entry?.store === 'file') {
      io.info(`  (The current secret is in ${describeLocation(entry)}; pass --secret-store file --secret-file PATH to keep using files.)`);
    }
  }
}

function describeDestination(destination: SecretDestination): string {
  switch (destination.kind) {
    case 'keychain':
      return 'the OS keychain';
    case 'file':
      return `a new 0600 file ${destination.path}`;
    case 'stdout':
      return 'stdout (not stored on this machine)';
  }
}

function explainGrace(context: Context, previousExpiresAt: string | null): void {
  const { io } = context;
  if (previousExpiresAt === null) {
    io.info('The previous secret stopped at once (--grace 0): the receiver needs the new secret now; deliveries it rejects are retried.');
    return;
  }
  io.info(`Until ${formatLocalAndUtc(previousExpiresAt)} deliveries also carry X-IntelliAuth-Signature-Previous, signed with the previous secret.`);
  io.info('Update the receiver to the new secret before then: afterwards only the new secret verifies.');
}

function reportNextSteps(context: Context, subscription: Subscription, rotated: RotatedSecret, handOff: HandOffResult): void {
  const { io } = context;
  io.success(`rotated the signing secret of ${subscription.id}; the new one (fingerprint ${handOff.location.fingerprint}) is in ${handOff.description}`);
  io.info('Deliveries are signed with the new secret from now on.');
  explainGrace(context, rotated.previous_secret_expires_at);
  if (handOff.location.store === 'external') {
    io.hint('give the receiver the new secret from your secret manager (it reads INTELLIAUTH_WEBHOOK_SECRET)');
    return;
  }
  const both = rotated.previous_secret_expires_at === null ? 'the new secret' : 'the new secret and, until then, the previous one';
  io.hint(`run the receiver with ${both}: intelliauth-webhooks secret exec ${subscription.id} -- <your receiver command>`);
}

function retryCommand(options: RotateOptions, key: string): string {
  return `intelliauth-webhooks rotate ${options.id} --grace ${options.graceSeconds}s --idempotency-key ${key}`;
}

/**
 * When the call's outcome is unknown (the platform may have rotated and its answer was lost),
 * the same Idempotency-Key gets that answer, and the secret in it, again.
 */
function withRetryHint(error: unknown, options: RotateOptions, key: string): unknown {
  const hint = `the platform may have rotated anyway; within 24 h, \`${retryCommand(options, key)}\` (with the same --secret-store) gets that answer, and the new secret, again`;
  if (error instanceof UnavailableError) return new UnavailableError(error.message, { hint, cause: error });
  if (error instanceof ApiError && (error.status >= 500 || error.status === 429)) {
    return error.withHint(hint);
  }
  return error;
}
