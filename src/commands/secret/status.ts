import type { Context } from '../../cli/context.ts';
import { CheckFailedError, NotFoundError } from '../../errors.ts';
import type { Subscription } from '../../domain/contract.ts';
import { secretFingerprint } from '../../domain/signature.ts';
import { formatLocalAndUtc } from '../../output/format.ts';
import { printDetails } from '../../output/table.ts';
import { describeLocation, indexEntry, readSigningSecrets, type IndexEntry } from '../../secrets/signing-secrets.ts';
import type { SecretStatusOptions } from './index.ts';

export type SecretState = 'match' | 'stale' | 'missing' | 'external' | 'unreadable';

export interface SecretStatusReport {
  id: string;
  state: SecretState;
  /** Where the secret is (or was recorded to be); null when nothing is known. */
  stored_in: { store: 'keychain' | 'file' | 'external'; path?: string; description: string } | null;
  local_fingerprint: string | null;
  platform_fingerprint: string;
  /** The rotated-out secret kept here during its grace period. */
  previous: { fingerprint: string; expires_at: string | null } | null;
  platform_previous_secret_expires_at: string | null;
  /** Why the store could not be read (state unreadable). */
  reason?: string;
}

export async function run(options: SecretStatusOptions, context: Context): Promise<void> {
  const api = await context.api();
  const subscription = await api.getSubscription(options.id);
  const status = await buildReport(context, subscription);
  const { io } = context;

  if (context.globals.json) io.printJson(status);
  else await printDetails(io, reportRows(status));

  const problem = problemOf(status, context.now());
  if (problem) throw new CheckFailedError(problem.message, { hint: problem.hint });
}

async function buildReport(context: Context, subscription: Subscription): Promise<SecretStatusReport> {
  const entry = await indexEntry(context, subscription.id);
  const report = (fields: Omit<SecretStatusReport, 'id' | 'platform_fingerprint' | 'platform_previous_secret_expires_at'>): SecretStatusReport => ({
    id: subscription.id,
    state: fields.state,
    stored_in: fields.stored_in,
    local_fingerprint: fields.local_fingerprint,
    platform_fingerprint: subscription.secret_fingerprint,
    previous: fields.previous,
    platform_previous_secret_expires_at: subscription.previous_secret_expires_at,
    ...(fields.reason === undefined ? {} : { reason: fields.reason }),
  });
  if (entry?.store === 'external') {
    return report({ state: 'external', stored_in: storedIn(entry), local_fingerprint: entry.fingerprint, previous: null });
  }
  try {
    const secrets = await readSigningSecrets(context, subscription.id);
    return report({
      state: secrets.fingerprint === subscription.secret_fingerprint ? 'match' : 'stale',
      stored_in: entry ? storedIn(entry) : { store: 'keychain', description: secrets.location },
      local_fingerprint: secrets.fingerprint,
      previous: secrets.previous === null ? null : { fingerprint: secretFingerprint(secrets.previous), expires_at: secrets.previousExpiresAt },
    });
  } catch (error) {
    if (error instanceof NotFoundError) return report({ state: 'missing', stored_in: null, local_fingerprint: null, previous: null });
    return report({
      state: 'unreadable',
      stored_in: entry ? storedIn(entry) : null,
      local_fingerprint: null,
      previous: null,
      reason: error instanceof Error ? error.message : String(error),
    });
  }
}

function storedIn(entry: IndexEntry): NonNullable<SecretStatusReport['stored_in']> {
  return { store: entry.store, ...(entry.path === undefined ? {} : { path: entry.path }), description: describeLocation(entry) };
}

function reportRows(report: SecretStatusReport): Array<readonly [string, string]> {
  const rows: Array<readonly [string, string]> = [
    ['subscription', report.id],
    ['state', report.state],
    ['stored in', report.stored_in?.description ?? 'nothing stored on this machine'],
    ['local fingerprint', report.local_fingerprint ?? '-'],
    ['platform fingerprint', report.platform_fingerprint],
  ];
  if (report.previous) {
    rows.push(['previous secret', `${report.previous.fingerprint}, kept until ${report.previous.expires_at ? formatLocalAndUtc(report.previous.expires_at) : '-'}`]);
  } else if (report.platform_previous_secret_expires_at) {
    rows.push(['previous secret', `not kept here (the platform also signs with it until ${formatLocalAndUtc(report.platform_previous_secret_expires_at)})`]);
  }
  if (report.reason) rows.push(['reason', report.reason]);
  return rows;
}

function problemOf(report: SecretStatusReport, now: number): { message: string; hint: string } | null {
  const importIt = `\`intelliauth-webhooks secret import ${report.id}\` (reads stdin)`;
  switch (report.state) {
    case 'match':
    case 'external':
      return null;
    case 'missing':
      return {
        message: `no signing secret of ${report.id} is stored on this machine`,
        hint: `import it with ${importIt}, or rotate the secret to get a new one stored here`,
      };
    case 'unreadable':
      return { message: `the signing secret of ${report.id} could not be read: ${report.reason ?? 'unknown reason'}`, hint: 'run `intelliauth-webhooks secret status` again once the store is usable' };
    case 'stale': {
      const graceUntil = report.platform_previous_secret_expires_at;
      const inGrace = graceUntil !== null && Date.parse(graceUntil) > now;
      return {
        message: `the signing secret stored for ${report.id} is stale: fingerprint ${report.local_fingerprint}, the platform signs with ${report.platform_fingerprint}`,
        hint:
          `it was replaced elsewhere (rotated on another machine, or a wrong import): import the current one with ${importIt}, ` +
          `or rotate the secret to get a new one stored here` +
          (inGrace ? `; until ${graceUntil} deliveries also carry a signature made with the previous secret, which may be the one stored here` : ''),
      };
    }
  }
}
