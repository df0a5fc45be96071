import type { Context } from '../../cli/context.ts';
import { ApiError, AuthError, CliError, SecretStoreError } from '../../errors.ts';
import { SCOPES } from '../../domain/contract.ts';
import { ENV, type CredentialSource, type Credentials } from '../../config/credentials.ts';
import { printDetails } from '../../output/table.ts';
import { formatLocalAndUtc } from '../../output/format.ts';
import type { AuthStatusOptions } from './index.ts';

interface TokenReport {
  type: 'client_credentials' | 'bearer';
  /** null for a bearer token given as is: the tool cannot know them. */
  scopes: string[] | null;
  expires_at: string | null;
  from_cache: boolean;
  missing_scopes: string[] | null;
  /** Bearer tokens only: the API accepted it on a read (a rejected one fails the status). */
  accepted?: boolean;
  note?: string;
}

interface KeychainReport {
  usable: boolean;
  backend: string | null;
  reason: string | null;
}

interface StatusReport {
  ok: boolean;
  reason: string | null;
  hint: string | null;
  tenant_url: string | null;
  client_id: string | null;
  audience: string | null;
  profile: string | null;
  source: CredentialSource | null;
  source_description: string | null;
  token: TokenReport | null;
  keychain: KeychainReport;
}

const BEARER_NOTE = 'a bearer token given as is: its scopes and expiry are unknown to the tool';

export async function run(_options: AuthStatusOptions, context: Context): Promise<void> {
  const report: StatusReport = {
    ok: false,
    reason: null,
    hint: null,
    tenant_url: null,
    client_id: null,
    audience: null,
    profile: null,
    source: null,
    source_description: null,
    token: null,
    keychain: { usable: false, backend: null, reason: null },
  };
  let failure: unknown;
  try {
    const credentials = await context.credentials();
    report.tenant_url = credentials.tenantUrl;
    report.client_id = credentials.clientId ?? null;
    report.audience = credentials.audience ?? null;
    report.profile = credentials.profileName ?? null;
    report.source = credentials.source;
    report.source_description = await describeSource(context, credentials);
    report.token = await tokenReport(context);
  } catch (error) {
    failure = asStatusFailure(error, report);
  }
  report.keychain = await probeKeychain(context);
  report.ok = failure === undefined;
  if (failure instanceof CliError) {
    report.reason = failure.message;
    report.hint = failure.hint ?? null;
  } else if (failure !== undefined) {
    report.reason = failure instanceof Error ? failure.message : String(failure);
  }

  if (context.globals.json) context.io.printJson(report);
  else await printReport(context, report);
  if (failure !== undefined) throw failure;
  if (report.token?.missing_scopes && report.token.missing_scopes.length > 0) {
    context.io.warn(`the token lacks ${report.token.missing_scopes.join(' and ')}: commands that need ${report.token.missing_scopes.length === 1 ? 'it' : 'them'} will be refused`);
  }
}

async function tokenReport(context: Context): Promise<TokenReport> {
  const provider = await context.tokenProvider();
  const status = await provider.status();
  if (status.scope === null || status.expiresAt === null) {
    const lacksRead = await bearerLacksRead(context);
    return { type: 'bearer', scopes: null, expires_at: null, from_cache: false, missing_scopes: lacksRead ? [SCOPES.read] : null, accepted: true, note: BEARER_NOTE };
  }
  return {
    type: 'client_credentials',
    scopes: status.scope,
    expires_at: new Date(status.expiresAt).toISOString(),
    from_cache: status.fromCache,
    missing_scopes: [SCOPES.read, SCOPES.write].filter((scope) => !status.scope!.includes(scope)),
  };
}

/**
 * A bearer token cannot be inspected, only tried: one read tells a rejected (expired,
 * revoked) token from a working one. A 403 still proves it genuine, just without read access.
 */
async function bearerLacksRead(context: Context): Promise<boolean> {
  try {
    await (await context.api()).listEventTypes();
    return false;
  } catch (error) {
    if (error instanceof ApiError && error.status === 403) return true;
    // A 401 is an ApiError with exit code 3 already, and the client's message says why.
    throw error;
  }
}

/** Reading the profile's secret from an unusable keychain leaves no usable credentials: exit 3. */
function asStatusFailure(error: unknown, report: StatusReport): unknown {
  if (error instanceof SecretStoreError) {
    const where = report.profile ? ` of profile "${report.profile}"` : '';
    return new AuthError(`no usable credentials: cannot read the client secret${where}: ${error.message}`, {
      hint: `make the keychain usable, or set ${ENV.tenantUrl}, ${ENV.clientId} and ${ENV.clientSecret}`,
      cause: error,
    });
  }
  return error;
}

async function describeSource(context: Context, credentials: Credentials): Promise<string> {
  const tenantNote = context.globals.tenantUrl !== undefined ? '; tenant from --tenant-url' : '';
  switch (credentials.source) {
    case 'flag-token':
      return `the --token flag (${BEARER_NOTE})${tenantNote}`;
    case 'env-token':
      return `the environment: ${ENV.token} (${BEARER_NOTE})${tenantNote}`;
    case 'env-client':
      return `the environment: ${ENV.clientId} and ${ENV.clientSecret}${tenantNote}`;
    case 'profile': {
      const store = await context.secretStore();
      return `profile "${credentials.profileName}" in ${context.paths.configFile}, client secret in ${store.describe()}${tenantNote}`;
    }
  }
}

async function probeKeychain(context: Context): Promise<KeychainReport> {
  let backend: string | null = null;
  try {
    const store = await context.secretStore();
    backend = store.describe();
    await store.probe();
    return { usable: true, backend, reason: null };
  } catch (error) {
    return { usable: false, backend, reason: error instanceof Error ? error.message : String(error) };
  }
}

async function printReport(context: Context, report: StatusReport): Promise<void> {
  const rows: Array<readonly [string, string]> = [];
  if (report.tenant_url) rows.push(['Tenant', report.tenant_url]);
  if (report.client_id) rows.push(['Client id', report.client_id]);
  if (report.audience) rows.push(['Audience', report.audience]);
  if (report.source_description) rows.push(['Credentials', report.source_description]);
  const token = report.token;
  if (token?.type === 'client_credentials') {
    rows.push(['Scopes', token.scopes && token.scopes.length > 0 ? token.scopes.join(' ') : '(none)']);
    rows.push(['Expires', `${formatLocalAndUtc(token.expires_at!)}, ${untilText(Date.parse(token.expires_at!) - context.now())}`]);
    rows.push(['Token', token.from_cache ? 'reused from the token cache' : 'newly obtained (now cached)']);
  } else if (token?.type === 'bearer') {
    rows.push(['Scopes', 'unknown (bearer token given as is)']);
    rows.push(['Expires', 'unknown (bearer token given as is)']);
    rows.push(['Token', 'accepted by the API']);
  } else {
    rows.push(['Token', `none: ${report.reason ?? 'no credentials'}`]);
  }
  const keychain = report.keychain;
  rows.push(['Keychain', keychain.usable ? `usable (${keychain.backend})` : `not usable: ${keychain.reason ?? 'unknown reason'}`]);
  await printDetails(context.io, rows);
}

function untilText(ms: number): string {
  if (ms <= 0) return 'expired';
  const minutes = Math.round(ms / 60_000);
  if (minutes < 1) return 'in less than a minute';
  if (minutes < 120) return `in ${minutes} min`;
  return `in ${Math.round(minutes / 60)} h`;
}
