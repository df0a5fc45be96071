import type { Context } from '../../cli/context.ts';
import { AuthError, CliError, SecretStoreError, UsageError } from '../../errors.ts';
import { SCOPES } from '../../domain/contract.ts';
import { chooseProfile, ENV, normalizeTenantUrl } from '../../config/credentials.ts';
import { DEFAULT_PROFILE, getProfile, loadConfig, saveConfig, validateProfileName, withProfile, type ConfigFile, type Profile } from '../../config/config.ts';
import { clearTokenCache, writeCachedToken, type CachedToken } from '../../config/token-cache.ts';
import { secretAccounts, type SecretStore } from '../../secrets/store.ts';
import { formatLocalAndUtc } from '../../output/format.ts';
import { VERSION } from '../../version.ts';
import { parseClientId, type LoginOptions } from './index.ts';

const MAX_SECRET_INPUT_BYTES = 64 * 1024;

interface Candidate {
  profileName: string;
  tenantUrl: string;
  clientId: string;
  clientSecret: string;
  audience: string | undefined;
  allowedReceiverHosts: string[] | undefined;
}

export async function run(options: LoginOptions, context: Context): Promise<void> {
  const { io } = context;
  const config = await context.config();
  const profileName = validateProfileName(chooseProfile({ profile: options.profile }, context.env, config).name);
  const existing = getProfile(config, profileName);
  const flagTenant = options.tenantUrl === undefined ? undefined : normalizeTenantUrl(options.tenantUrl, '--tenant-url');

  if (!io.canPrompt()) {
    const missing = [
      flagTenant === undefined ? '--tenant-url' : undefined,
      options.clientId === undefined ? '--client-id' : undefined,
      options.clientSecretStdin ? undefined : '--client-secret-stdin',
    ].filter((flag) => flag !== undefined);
    if (missing.length > 0) {
      throw new UsageError(`login needs ${joinAnd(missing)} (no interactive terminal to ask on)`, {
        hint: 'e.g. printf "%s\\n" "$CLIENT_SECRET" | intelliauth-webhooks login --tenant-url URL --client-id ID --client-secret-stdin',
      });
    }
  }

  // The keychain is checked before anything is asked or sent, so a machine without one
  // fails at once instead of after the user has typed a secret.
  const store = await context.secretStore();
  await store.probe().catch((error: unknown) => {
    throw cannotStore(error);
  });

  const candidate = await gatherCandidate(options, context, profileName, existing, flagTenant);
  io.info(`Checking the client ${candidate.clientId} with ${candidate.tenantUrl} ...`);
  const token = await fetchToken(context, candidate);

  const account = secretAccounts.clientSecret(new URL(candidate.tenantUrl).host, candidate.clientId);
  const profile: Profile = {
    tenant_url: candidate.tenantUrl,
    client_id: candidate.clientId,
    ...(candidate.audience ? { audience: candidate.audience } : {}),
    ...(candidate.allowedReceiverHosts && candidate.allowedReceiverHosts.length > 0 ? { allowed_receiver_hosts: candidate.allowedReceiverHosts } : {}),
  };
  const saved = await context.uninterruptible(() => saveSecretThenProfile(context, store, account, candidate.clientSecret, profileName, profile, options.activate));

  await primeTokenCache(context, candidate, token);
  const replaced = saved.previousProfile ? await forgetReplacedClient(context, store, saved.config, saved.previousProfile, account) : undefined;

  const missingScopes = [SCOPES.read, SCOPES.write].filter((scope) => !token.scope.includes(scope));
  report(context, { candidate, token, profileName, active: saved.active, store, missingScopes, replaced });
}

async function gatherCandidate(
  options: LoginOptions,
  context: Context,
  profileName: string,
  existing: Profile | undefined,
  flagTenant: string | undefined,
): Promise<Candidate> {
  const canPrompt = context.io.canPrompt();
  const prompter = canPrompt ? await context.prompter() : undefined;

  let tenantUrl = flagTenant;
  if (tenantUrl === undefined) {
    const answer = await prompter!.input('Tenant URL (https://<tenant>-<org>.<domain>)', {
      ...(existing ? { default: existing.tenant_url } : {}),
      validate: (value) => validationMessage(() => normalizeTenantUrl(value, 'tenant URL')),
    });
    tenantUrl = normalizeTenantUrl(answer, 'the tenant URL');
  }

  let clientId = options.clientId;
  if (clientId === undefined) {
    const sameTenant = existing !== undefined && sameOrigin(existing.tenant_url, tenantUrl);
    const answer = await prompter!.input('M2M client id', {
      ...(sameTenant ? { default: existing.client_id } : {}),
      validate: (value) => validationMessage(() => parseClientId(value, 'the client id')),
    });
    clientId = parseClientId(answer, 'the client id');
  }

  // At a terminal the secret is always asked for, hidden: typed onto stdin it would echo.
  const clientSecret = prompter !== undefined ? await askSecret(context) : await readSecretFromStdin(context);

  const audience = options.audience !== undefined ? options.audience || undefined : existing?.audience;
  const allowedReceiverHosts = options.allowedReceiverHosts ?? existing?.allowed_receiver_hosts;
  return { profileName, tenantUrl, clientId, clientSecret, audience, allowedReceiverHosts };
}

async function askSecret(context: Context): Promise<string> {
  const secret = (await (await context.prompter()).password('Client secret (hidden)')).trim();
  if (secret === '') throw new UsageError('no client secret given; nothing was saved');
  return secret;
}

/** Reads up to the first line break only, so a writer that keeps stdin open cannot stall login. */
async function readSecretFromStdin(context: Context): Promise<string> {
  const { io } = context;
  if (io.stdinIsTTY) {
    throw new UsageError('--client-secret-stdin needs the secret piped in (no interactive terminal to ask on)');
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of io.stdin) {
    const buffer = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : Buffer.from(chunk);
    const newline = buffer.indexOf(0x0a);
    chunks.push(newline === -1 ? buffer : buffer.subarray(0, newline));
    size += buffer.length;
    if (newline !== -1) break;
    if (size > MAX_SECRET_INPUT_BYTES) throw new UsageError('--client-secret-stdin: the first line of stdin is longer than 64 KiB');
  }
  const secret = Buffer.concat(chunks).toString('utf8').trim();
  if (secret === '') throw new UsageError('--client-secret-stdin: the first line of stdin is empty');
  return secret;
}

/**
 * Exchanges the candidate credentials for a token directly: the context's token provider
 * would use the credentials already configured, and might answer from the cache.
 */
async function fetchToken(context: Context, candidate: Candidate): Promise<CachedToken> {
  const { createHttp } = await import('../../api/http.ts');
  const { requestClientCredentialsToken } = await import('../../api/token.ts');
  const { io, globals } = context;
  const http = createHttp({
    baseUrl: candidate.tenantUrl,
    env: context.env,
    userAgent: `intelliauth-webhooks/${VERSION} node/${process.versions.node}`,
    ...(globals.timeoutMs === undefined ? {} : { timeoutMs: globals.timeoutMs }),
    ...(globals.debug ? { trace: (line: string) => io.debug(line) } : {}),
  });
  try {
    const obtainedAt = context.now();
    const token = await requestClientCredentialsToken(http, {
      clientId: candidate.clientId,
      clientSecret: candidate.clientSecret,
      audience: candidate.audience,
      now: context.now,
      signal: context.signal,
    });
    return { ...token, obtainedAt };
  } catch (error) {
    if (error instanceof AuthError) {
      throw new AuthError(`login failed: ${error.message}; nothing was saved`, error.hint === undefined ? {} : { hint: error.hint });
    }
    throw error;
  } finally {
    await http.close();
  }
}

interface SavedProfile {
  config: ConfigFile;
  active: boolean;
  /** The profile as it was before, when it existed. */
  previousProfile: Profile | undefined;
}

/**
 * The secret goes first: a profile must never point at a secret that is not there. If the
 * profile then cannot be written, the keychain is put back as it was.
 */
async function saveSecretThenProfile(
  context: Context,
  store: SecretStore,
  account: string,
  secret: string,
  profileName: string,
  profile: Profile,
  activate: boolean,
): Promise<SavedProfile> {
  const previousSecret = await store.get(account).catch(() => null);
  try {
    await store.set(account, secret);
  } catch (error) {
    throw cannotStore(error);
  }
  const file = context.paths.configFile;
  try {
    // Read again: prompts and the token check took a while, and another run may have saved meanwhile.
    const current = await loadConfig(file);
    const usedByDefault = current.active_profile ?? DEFAULT_PROFILE;
    const active = activate || profileName === usedByDefault || getProfile(current, usedByDefault) === undefined;
    const next = withProfile(current, profileName, profile, active && current.active_profile !== profileName);
    await saveConfig(file, next);
    return { config: next, active, previousProfile: getProfile(current, profileName) };
  } catch (error) {
    await (previousSecret === null ? store.delete(account) : store.set(account, previousSecret)).catch(() => undefined);
    if (error instanceof CliError) throw error;
    throw new UsageError(`cannot write the config file ${file}: ${(error as Error).message}`, {
      hint: 'nothing was saved (the keychain entry was put back as it was)',
      cause: error,
    });
  }
}

function cannotStore(error: unknown): SecretStoreError {
  const reason = error instanceof Error ? error.message : String(error);
  const storeHint = error instanceof CliError && error.hint ? error.hint.replace(/[,;]?\s*(otherwise\s+|or\s+)?use --secret-store file\.?/i, '').trim() : '';
  const envHint = `without a usable keychain (CI, containers), skip login and set ${ENV.tenantUrl}, ${ENV.clientId} and ${ENV.clientSecret} instead`;
  return new SecretStoreError(`cannot store the client secret, so nothing was saved: ${reason}`, {
    hint: storeHint ? `${storeHint}; or, ${envHint}` : envHint,
    cause: error,
  });
}

/** Saves the token just obtained, so the next command needs no exchange of its own. */
async function primeTokenCache(context: Context, candidate: Candidate, token: CachedToken): Promise<void> {
  const dir = context.paths.tokenCacheDir;
  const identity = { tenantUrl: candidate.tenantUrl, clientId: candidate.clientId, audience: candidate.audience };
  try {
    // Tokens of this client cached under an older secret can never be read again.
    await clearTokenCache(dir, { tenantUrl: candidate.tenantUrl, clientId: candidate.clientId });
    await writeCachedToken(dir, identity, candidate.clientSecret, token);
  } catch (error) {
    context.io.debug(`token cache not written: ${(error as Error).message}`);
  }
}

/**
 * When the profile pointed at another tenant or client before, its secret would linger in
 * the keychain with nothing referring to it; it goes, unless another profile still uses it.
 */
async function forgetReplacedClient(
  context: Context,
  store: SecretStore,
  config: ConfigFile,
  previous: Profile,
  newAccount: string,
): Promise<string | undefined> {
  let tenantUrl: string;
  try {
    tenantUrl = normalizeTenantUrl(previous.tenant_url);
  } catch {
    return undefined;
  }
  const oldAccount = secretAccounts.clientSecret(new URL(tenantUrl).host, previous.client_id);
  if (oldAccount === newAccount) return undefined;
  const stillUsed = Object.values(config.profiles).some((other) => accountOf(other) === oldAccount);
  if (stillUsed) return undefined;
  try {
    await store.delete(oldAccount);
    await clearTokenCache(context.paths.tokenCacheDir, { tenantUrl, clientId: previous.client_id });
  } catch (error) {
    context.io.warn(`could not remove the previous client's secret (${oldAccount}) from ${store.describe()}: ${(error as Error).message}`);
    return undefined;
  }
  return `client ${previous.client_id} at ${tenantUrl}`;
}

function accountOf(profile: Profile): string | undefined {
  try {
    return secretAccounts.clientSecret(new URL(normalizeTenantUrl(profile.tenant_url)).host, profile.client_id);
  } catch {
    return undefined;
  }
}

function report(
  context: Context,
  result: {
    candidate: Candidate;
    token: CachedToken;
    profileName: string;
    active: boolean;
    store: SecretStore;
    missingScopes: string[];
    replaced: string | undefined;
  },
): void {
  const { io, globals } = context;
  const { candidate, token, profileName, active, store, missingScopes } = result;
  const expiresAt = new Date(token.expiresAt).toISOString();
  if (globals.json) {
    io.printJson({
      profile: profileName,
      tenant_url: candidate.tenantUrl,
      client_id: candidate.clientId,
      audience: candidate.audience ?? null,
      scopes: token.scope,
      missing_scopes: missingScopes,
      expires_at: expiresAt,
      active,
      secret_store: store.describe(),
    });
  }
  io.success(`Logged in to ${candidate.tenantUrl} as client ${candidate.clientId}: profile "${profileName}"${active ? ' (active)' : ''} saved`);
  io.info(`  scopes: ${token.scope.length > 0 ? token.scope.join(' ') : '(none)'}; token valid until ${formatLocalAndUtc(expiresAt)}`);
  io.info(`  client secret in ${store.describe()}; settings in ${context.paths.configFile}`);
  if (candidate.allowedReceiverHosts && candidate.allowedReceiverHosts.length > 0) {
    io.info(`  receivers allowed without --force: ${candidate.allowedReceiverHosts.join(', ')}`);
  }
  if (result.replaced) io.info(`  removed the stored secret of the profile's previous ${result.replaced}`);
  warnAboutScopes(context, missingScopes);
  if (!active) {
    io.hint(`commands use another profile by default: pass --profile ${profileName}, set ${ENV.profile}=${profileName}, or log in again with --activate`);
  }
  const overriding = [ENV.token, ENV.clientId, ENV.clientSecret].filter((name) => (context.env[name] ?? '').trim() !== '');
  if (overriding.length > 0) {
    io.warn(`${joinAnd(overriding)} ${overriding.length === 1 ? 'is' : 'are'} set: commands use the credentials in the environment, not this profile, until unset`);
  }
}

function warnAboutScopes(context: Context, missing: string[]): void {
  const { io } = context;
  if (missing.length === 0) return;
  if (missing.length === 2) {
    io.warn(`the client was granted neither ${SCOPES.read} nor ${SCOPES.write}: every webhook command will be refused`);
  } else if (missing[0] === SCOPES.write) {
    io.warn(`the client was not granted ${SCOPES.write}: read-only; create, update, pause, resume, delete and secret rotation will be refused`);
  } else {
    io.warn(`the client was not granted ${SCOPES.read}: list, get, event-types and delivery history will be refused`);
  }
  io.hint("add the scopes to the M2M application's allowed scopes in the IntelliAuth console, then run login again");
}

function validationMessage(check: () => unknown): true | string {
  try {
    check();
    return true;
  } catch (error) {
    if (!(error instanceof CliError)) throw error;
    return error.hint ? `${error.message} (${error.hint})` : error.message;
  }
}

function sameOrigin(a: string, b: string): boolean {
  try {
    return normalizeTenantUrl(a) === normalizeTenantUrl(b);
  } catch {
    return false;
  }
}

function joinAnd(items: readonly string[]): string {
  if (items.length <= 1) return items.join('');
  return `${items.slice(0, -1).join(', ')} and ${items.at(-1)}`;
}
