import type { Context } from '../../cli/context.ts';
import { isLoopbackHost } from '../../config/credentials.ts';
import type { DeliveryRecord } from '../../domain/contract.ts';
import { CheckFailedError } from '../../errors.ts';
import { startSpinner } from '../../output/spinner.ts';
import { printDetails } from '../../output/table.ts';
import { describeLocation, indexEntry } from '../../secrets/signing-secrets.ts';
import { diagnoseFailure, type FailureFacts } from './diagnose.ts';
import type { TestPingOptions } from './index.ts';

// `test-ping`: one synchronous test.ping through the platform (never retried: it is a POST
// without an idempotency key, and the receiver sees each one).

const EXCERPT_SHOWN = 300;

export async function run(options: TestPingOptions, context: Context): Promise<void> {
  const { io } = context;
  const api = await context.api();
  const spinner = startSpinner(io, `sending test.ping to the receiver of ${options.id} (the platform waits up to 10 s)`);
  let record: DeliveryRecord;
  try {
    record = await api.testSubscription(options.id);
  } finally {
    spinner.stop();
  }

  if (context.globals.json) io.printJson(record);
  else await printDetails(io, attemptDetails(record));
  if (record.outcome === 'succeeded') {
    io.success(`the receiver answered ${record.http_status ?? '2xx'} in ${record.latency_ms} ms`);
    return;
  }
  const diagnosis = diagnoseFailure(record, await failureFacts(context, record));
  throw new CheckFailedError(diagnosis.message, { hint: diagnosis.hint });
}

export function attemptDetails(record: DeliveryRecord): Array<readonly [string, string]> {
  const excerpt = record.response_excerpt ?? '';
  return [
    ['outcome', record.outcome],
    ['http status', record.http_status === null ? 'none (no answer)' : String(record.http_status)],
    ['error', record.error ?? 'none'],
    ['latency', `${record.latency_ms} ms`],
    ['event', `${record.event_id} (${record.event_type})`],
    ['delivery', record.id],
    ['response', excerpt === '' ? '(empty)' : excerpt.length > EXCERPT_SHOWN ? `${excerpt.slice(0, EXCERPT_SHOWN)}…` : excerpt],
  ];
}

/** What the hints need; only a rejected signature is worth the extra look-ups. */
async function failureFacts(context: Context, record: DeliveryRecord): Promise<FailureFacts> {
  const facts: FailureFacts = { subscriptionId: record.subscription_id };
  try {
    facts.emulator = isLoopbackHost(new URL((await context.credentials()).tenantUrl).hostname);
  } catch {
    facts.emulator = false;
  }
  if (record.http_status !== 401 && record.http_status !== 403) return facts;
  try {
    facts.platformFingerprint = (await (await context.api()).getSubscription(record.subscription_id)).secret_fingerprint;
  } catch {
    // the hint just goes without it
  }
  try {
    const entry = await indexEntry(context, record.subscription_id);
    facts.stored = entry === null ? null : { fingerprint: entry.fingerprint, location: describeLocation(entry) };
  } catch {
    facts.stored = undefined;
  }
  return facts;
}
