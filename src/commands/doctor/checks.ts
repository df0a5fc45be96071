// The doctor's checks, each a function of explicit inputs (no Context) so tests can feed
// them fakes. Each returns a verdict with a one-line detail and, when not ok, a fix.

import { readFile, stat } from 'node:fs/promises';
import type { RequestDispatcher } from '../../api/dispatchers.ts';
import { AuthError, CliError, SecretStoreError } from '../../errors.ts';
import { paths as apiPaths, SCOPES, TIMESTAMP_TOLERANCE_SECONDS } from '../../domain/contract.ts';
import { CREDENTIALS_HINT, ENV, chooseProfile, isLoopbackHost, normalizeTenantUrl, type Credentials } from '../../config/credentials.ts';
import { getProfile, type ConfigFile } from '../../config/config.ts';
import type { Env } from '../../cli/context.ts';
import type { SecretStore } from '../../secrets/store.ts';
import type { Http } from '../../api/http.ts';
import { describeTransportError } from '../../api/http.ts';
import { redactUrl } from '../../api/redact.ts';
import { requestClientCredentialsToken } from '../../api/token.ts';

export type CheckStatus = 'ok' | 'warn' | 'fail' | 'skip';

export interface Verdict {
  status: CheckStatus;
  detail: string;
  fix?: string;
}

export const MIN_NODE = [20, 18, 1] as const;
/** Beyond this a receiver's timestamp check starts rejecting deliveries. */
export const CLOCK_FAIL_SECONDS = TIMESTAMP_TOLERANCE_SECONDS;
export const CLOCK_WARN_SECONDS = 30;

const ok = (detail: string): Verdict => ({ status: 'ok', detail });
const warn = (detail: string, fix: string): Verdict => ({ status: 'warn', detail, fix });
const fail = (detail: string, fix: string): Verdict => ({ status: 'fail', detail, fix });
export const skip = (reason: string): Verdict => ({ status: 'skip', detail: reason });

// ---- Node.js ---------------------------------------------------------------------------

export function checkNode(version: string): Verdict {
  const parts = version.replace(/^v/, '').split('.').map((part) => Number.parseInt(part, 10));
  const [major = 0, minor = 0, patch = 0] = parts;
  const shown = `Node.js v${version.replace(/^v/, '')}`;
  const minimum = MIN_NODE.join('.');
  if (compareVersions([major, minor, patch], MIN_NODE) < 0) {
    return warn(`${shown} is older than ${minimum}, the oldest release this tool supports`, `install Node.js ${minimum} or later (an LTS release: 20, 22 or 24)`);
  }
  if (major % 2 === 1) {
    return warn(`${shown} is an odd-numbered release: never LTS, and unsupported after six months`, 'use an LTS release (an even major version: 20, 22 or 24)');
  }
  return ok(shown);
}

function compareVersions(a: readonly number[], b: readonly number[]): number {
  for (let i = 0; i < Math.max(a.length, b.length); i += 1) {
    const difference = (a[i] ?? 0) - (b[i] ?? 0);
    if (difference !== 0) return difference;
  }
  return 0;
}

// ---- Config file and profile -----------------------------------------------------------

export interface ConfigCheckInput {
  configFile: string;
  load: () => Promise<ConfigFile>;
  profileFlag: string | undefined;
  env: Env;
}

export interface ConfigCheckResult {
  verdict: Verdict;
  config?: ConfigFile;
}

export async function checkConfig(input: ConfigCheckInput): Promise<ConfigCheckResult> {
  let config: ConfigFile;
  try {
    config = await input.load();
  } catch (error) {
    return { verdict: fail(messageOf(error), hintOf(error) ?? `fix or delete ${input.configFile}; \`intelliauth-webhooks login\` writes a new one`) };
  }
  const exists = await fileExists(input.configFile);
  const choice = chooseProfile({ profile: input.profileFlag }, input.env, config);
  const origin = nonEmpty(input.profileFlag)
    ? '--profile'
    : nonEmpty(input.env[ENV.profile])
      ? ENV.profile
      : config.active_profile !== undefined
        ? 'active_profile in the config'
        : 'the default';
  const names = Object.keys(config.profiles);
  const profile = getProfile(config, choice.name);
  if (!profile) {
    if (choice.explicit) {
      return {
        config,
        verdict: fail(
          `profile "${choice.name}" (from ${origin}) is not in ${exists ? input.configFile : `the config: ${input.configFile} does not exist`}`,
          names.length > 0 ? `use one of: ${names.join(', ')}; or run \`intelliauth-webhooks login --profile ${choice.name}\`` : `run \`intelliauth-webhooks login --profile ${choice.name}\``,
        ),
      };
    }
    const where = exists ? `${input.configFile} has no profile "${choice.name}"` : `no config file at ${input.configFile}`;
    return { config, verdict: ok(`${where}; none is needed when credentials come from the environment`) };
  }
  try {
    normalizeTenantUrl(profile.tenant_url, `profile "${choice.name}"`);
  } catch (error) {
    return { config, verdict: fail(messageOf(error), `fix tenant_url of profile "${choice.name}" in ${input.configFile}, or run \`intelliauth-webhooks login --profile ${choice.name}\``) };
  }
  const count = `${names.length} profile${names.length === 1 ? '' : 's'}`;
  return { config, verdict: ok(`${input.configFile}: ${count}; using "${choice.name}" (${origin}), tenant ${profile.tenant_url}`) };
}

async function fileExists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

// ---- Credentials -----------------------------------------------------------------------

export interface CredentialsCheckResult {
  verdict: Verdict;
  credentials?: Credentials;
  /** The client secret, read once here so the token check does not read the store again. */
  clientSecret?: string;
}

export async function checkCredentials(resolve: () => Promise<Credentials>, describeStore: () => Promise<string>): Promise<CredentialsCheckResult> {
  let credentials: Credentials;
  try {
    credentials = await resolve();
  } catch (error) {
    return { verdict: fail(messageOf(error), hintOf(error) ?? CREDENTIALS_HINT) };
  }
  const tenant = `tenant ${credentials.tenantUrl}`;
  switch (credentials.source) {
    case 'flag-token':
      return { credentials, verdict: ok(`a bearer token from --token, used as is (${tenant})`) };
    case 'env-token':
      return { credentials, verdict: ok(`a bearer token from ${ENV.token}, used as is (${tenant})`) };
    case 'env-client':
    case 'profile': {
      let clientSecret: string;
      const where =
        credentials.source === 'env-client'
          ? `the environment (${ENV.clientId} and ${ENV.clientSecret})`
          : `profile "${credentials.profileName}"`;
      try {
        clientSecret = await credentials.getClientSecret!();
      } catch (error) {
        const reason = error instanceof SecretStoreError ? `cannot read its client secret: ${error.message}` : messageOf(error);
        return {
          credentials,
          verdict: fail(`${where}: ${reason}`, hintOf(error) ?? `run \`intelliauth-webhooks login --profile ${credentials.profileName ?? 'default'}\` again`),
        };
      }
      const secretWhere = credentials.source === 'profile' ? `, client secret in ${await describeStore()}` : '';
      return { credentials, clientSecret, verdict: ok(`${where}: client ${credentials.clientId}${secretWhere} (${tenant})`) };
    }
  }
}

/**
 * The tenant URL to probe when the credentials could not be resolved: the flag, the
 * environment or the profile, whichever is set first.
 */
export function fallbackTenantUrl(flag: string | undefined, env: Env, config: ConfigFile | undefined, profileFlag: string | undefined): string | undefined {
  const candidates: Array<() => string | undefined> = [
    () => flag,
    () => env[ENV.tenantUrl],
    () => (config ? getProfile(config, chooseProfile({ profile: profileFlag }, env, config).name)?.tenant_url : undefined),
  ];
  for (const candidate of candidates) {
    const value = nonEmpty(candidate());
    if (value === undefined) continue;
    try {
      return normalizeTenantUrl(value);
    } catch {
      return undefined;
    }
  }
  return undefined;
}

// ---- OS keychain -----------------------------------------------------------------------

/** Where the credentials in use come from, as far as the keychain is concerned. */
export type CredentialsOrigin = 'profile' | 'environment' | 'none';

export async function checkKeychain(store: SecretStore, origin: CredentialsOrigin): Promise<Verdict> {
  const name = store.describe();
  try {
    await store.probe();
    return ok(`${name}: a test secret was written, read back and deleted`);
  } catch (error) {
    const reason = messageOf(error);
    const hint = hintOf(error) ?? 'use --secret-store file for signing secrets';
    switch (origin) {
      case 'profile':
        return fail(`${reason}; the active profile keeps its client secret there`, hint);
      case 'environment':
        return warn(`${reason}; not needed while credentials come from the environment`, `${hint}; signing secrets then need --secret-store file or stdout`);
      case 'none':
        return warn(`${reason}; \`login\` keeps a profile's client secret there`, `${hint}; or use credentials from the environment (${ENV.clientId} and ${ENV.clientSecret})`);
    }
  }
}

// ---- Proxy and CA certificates ---------------------------------------------------------

const PROXY_VARIABLES = ['https_proxy', 'HTTPS_PROXY', 'http_proxy', 'HTTP_PROXY', 'no_proxy', 'NO_PROXY'] as const;

export interface NetworkEnvironment {
  /** Proxy URL that requests to the tenant go through, redacted; undefined when direct. */
  proxyForTenant: string | undefined;
}

export async function checkNetworkEnvironment(env: Env, tenantUrl: string | undefined): Promise<Verdict & NetworkEnvironment> {
  const notes: string[] = [];
  const problems: Verdict[] = [];
  const value = (name: string) => nonEmpty(env[name]);

  const set = PROXY_VARIABLES.filter((name) => value(name) !== undefined);
  const invalid = new Set<string>();
  for (const name of set) {
    if (name.toLowerCase() === 'no_proxy') continue;
    if (!isProxyUrl(value(name)!)) {
      invalid.add(value(name)!);
      problems.push(fail(`${name} is not an http:// or https:// URL`, `set ${name} to a URL such as http://proxy.example:3128, or unset it`));
    }
  }
  for (const [lower, upper] of [['https_proxy', 'HTTPS_PROXY'], ['http_proxy', 'HTTP_PROXY'], ['no_proxy', 'NO_PROXY']] as const) {
    if (value(lower) !== undefined && value(upper) !== undefined && value(lower) !== value(upper)) {
      problems.push(warn(`${lower} and ${upper} differ; ${lower} is the one used`, `give them the same value, or unset ${upper}`));
    }
  }

  const httpsProxy = value('https_proxy') ?? value('HTTPS_PROXY');
  const httpProxy = value('http_proxy') ?? value('HTTP_PROXY');
  const noProxy = value('no_proxy') ?? value('NO_PROXY') ?? '';
  let proxyForTenant: string | undefined;
  const shown = set.filter((name) => !invalid.has(value(name)!));
  if (shown.length > 0) {
    notes.push(shown.map((name) => `${name}=${name.toLowerCase() === 'no_proxy' ? value(name) : safeRedact(value(name)!)}`).join(', '));
  }
  if (tenantUrl !== undefined && (httpsProxy !== undefined || httpProxy !== undefined)) {
    const url = new URL(tenantUrl);
    // undici's EnvHttpProxyAgent: https requests fall back to the http proxy when no https one is set.
    const proxy = url.protocol === 'https:' ? (httpsProxy ?? httpProxy) : httpProxy;
    if (proxy === undefined) {
      notes.push(`requests to ${tenantUrl} go direct (no ${url.protocol === 'https:' ? 'https' : 'http'} proxy set)`);
    } else if (bypassesProxy(url, noProxy)) {
      notes.push(`requests to ${tenantUrl} bypass the proxy (NO_PROXY)`);
    } else if (invalid.has(proxy)) {
      notes.push(`requests to ${tenantUrl} fail: the proxy setting for them is unusable`);
    } else {
      proxyForTenant = safeRedact(proxy);
      if (isLoopbackHost(url.hostname)) {
        problems.push(
          warn(`requests to the loopback address ${tenantUrl} go through the proxy ${proxyForTenant}, which cannot reach this machine's loopback`, 'add localhost,127.0.0.1,::1 to NO_PROXY'),
        );
      } else {
        notes.push(`requests to ${tenantUrl} go through ${proxyForTenant}`);
      }
    }
  }

  const caFile = value('NODE_EXTRA_CA_CERTS');
  if (caFile !== undefined) {
    const ca = await checkCaFile(caFile);
    if (ca.status === 'ok') notes.push(ca.detail);
    else problems.push(ca);
  }
  if (value('NODE_TLS_REJECT_UNAUTHORIZED') === '0') {
    problems.push(
      warn('NODE_TLS_REJECT_UNAUTHORIZED=0 turns off TLS certificate checks: anyone on the path can read the client secret', 'unset NODE_TLS_REJECT_UNAUTHORIZED; for a TLS-inspecting proxy, set NODE_EXTRA_CA_CERTS to its CA certificate instead'),
    );
  }

  if (notes.length === 0 && problems.length === 0) {
    return { ...ok('no proxy variables and no extra CA certificates set; requests go direct'), proxyForTenant };
  }
  const worst = problems.find((p) => p.status === 'fail') ?? problems[0];
  if (!worst) return { ...ok(notes.join('; ')), proxyForTenant };
  const detail = [...problems.map((p) => p.detail), ...notes].join('; ');
  const fix = problems.map((p) => p.fix).join('; ');
  return { status: worst.status, detail, fix, proxyForTenant };
}

async function checkCaFile(path: string): Promise<Verdict> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const reason = code === 'ENOENT' ? 'does not exist' : code === 'EACCES' ? 'is not readable' : code === 'EISDIR' ? 'is a directory' : `cannot be read (${code ?? messageOf(error)})`;
    return fail(`NODE_EXTRA_CA_CERTS=${path} ${reason}: Node ignores it`, 'point NODE_EXTRA_CA_CERTS at a readable PEM file of CA certificates, or unset it');
  }
  const count = text.match(/-----BEGIN CERTIFICATE-----/g)?.length ?? 0;
  if (count === 0) {
    return fail(`NODE_EXTRA_CA_CERTS=${path} holds no PEM certificate: Node ignores it`, 'the file must hold "-----BEGIN CERTIFICATE-----" blocks (convert DER with `openssl x509 -inform der`)');
  }
  return ok(`NODE_EXTRA_CA_CERTS=${path}: ${count} extra CA certificate${count === 1 ? '' : 's'}`);
}

/** NO_PROXY matching as curl and undici do it: `*`, exact hosts, domain suffixes, optional port. */
export function bypassesProxy(url: URL, noProxy: string): boolean {
  const host = url.hostname.toLowerCase().replace(/^\[|\]$/g, '');
  const port = url.port || (url.protocol === 'https:' ? '443' : '80');
  for (const raw of noProxy.split(/[\s,]+/)) {
    const entry = raw.trim().toLowerCase();
    if (entry === '') continue;
    if (entry === '*') return true;
    const { name, entryPort } = splitNoProxyEntry(entry);
    if (entryPort !== undefined && entryPort !== port) continue;
    if (host === name || host.endsWith(`.${name}`)) return true;
  }
  return false;
}

function splitNoProxyEntry(entry: string): { name: string; entryPort: string | undefined } {
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(entry);
  if (bracketed) return { name: bracketed[1]!, entryPort: bracketed[2] };
  // A bare IPv6 address has several colons and no port.
  if ((entry.match(/:/g)?.length ?? 0) > 1) return { name: entry, entryPort: undefined };
  const [host = '', entryPort] = entry.split(':');
  return { name: host.replace(/^\*?\./, ''), entryPort };
}

function isProxyUrl(text: string): boolean {
  try {
    const url = new URL(text);
    return (url.protocol === 'http:' || url.protocol === 'https:') && url.hostname !== '';
  } catch {
    return false;
  }
}

function safeRedact(url: string): string {
  try {
    return redactUrl(url);
  } catch {
    return '(a proxy)';
  }
}

// ---- Tenant reachability and TLS -------------------------------------------------------

export type TenantProbe =
  | { reached: true; status: number; date: string | undefined; location: string | undefined; sentAt: number; answeredAt: number }
  | { reached: false; error: unknown; elapsedMs: number };

/**
 * One unauthenticated GET of the event-type catalogue: any HTTP answer proves the tenant is
 * reachable (and its TLS sound) and brings a Date header for the clock check.
 */
export async function probeTenant(
  tenantUrl: string,
  options: { dispatcher: RequestDispatcher; timeoutMs: number; now: () => number; userAgent: string; signal?: AbortSignal },
): Promise<TenantProbe> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new ProbeTimeoutError(options.timeoutMs)), options.timeoutMs);
  const onAbort = () => controller.abort(options.signal?.reason);
  options.signal?.addEventListener('abort', onAbort, { once: true });
  const sentAt = options.now();
  try {
    const response = await options.dispatcher.request({
      origin: new URL(tenantUrl).origin,
      path: apiPaths.eventTypes(),
      method: 'GET',
      headers: { accept: 'application/json', 'user-agent': options.userAgent },
      signal: controller.signal,
      headersTimeout: options.timeoutMs + 1_000,
      bodyTimeout: options.timeoutMs + 1_000,
    });
    const answeredAt = options.now();
    await response.body.dump();
    return {
      reached: true,
      status: response.statusCode,
      date: headerValue(response.headers.date),
      location: headerValue(response.headers.location),
      sentAt,
      answeredAt,
    };
  } catch (error) {
    const reason = controller.signal.aborted ? controller.signal.reason : error;
    return { reached: false, error: reason, elapsedMs: options.now() - sentAt };
  } finally {
    clearTimeout(timer);
    options.signal?.removeEventListener('abort', onAbort);
  }
}

export class ProbeTimeoutError extends Error {
  constructor(readonly timeoutMs: number) {
    super(`no answer within ${formatSeconds(timeoutMs)}`);
  }
}

export function checkTenant(tenantUrl: string, probe: TenantProbe, proxy: string | undefined): Verdict {
  const url = new URL(tenantUrl);
  const tls = url.protocol === 'https:' ? 'over TLS, certificate verified' : 'plain http to a loopback emulator: TLS not applicable';
  if (!probe.reached) {
    const via = proxy ? ` (through the proxy ${proxy})` : '';
    const tlsProblem = describeTlsError(probe.error, url.hostname);
    if (tlsProblem) return fail(`${tenantUrl}${via}: ${tlsProblem.detail}`, tlsProblem.fix);
    if (probe.error instanceof ProbeTimeoutError) {
      return fail(`${tenantUrl}${via} did not answer within ${formatSeconds(probe.error.timeoutMs)}`, `check the tenant URL and the network${proxy ? ' and the proxy' : ''}; a slow network needs a larger --timeout`);
    }
    const summary = describeTransportError(probe.error, 0).summary;
    const fix = !isLoopbackHost(url.hostname)
      ? `check the tenant URL, DNS and the network${proxy ? ', and the proxy' : ''}`
      : proxy
        ? 'add localhost,127.0.0.1,::1 to NO_PROXY so requests to this machine skip the proxy'
        : 'is the emulator running? start it with `intelliauth-webhooks emulator` and check the port';
    return fail(`cannot reach ${tenantUrl}${via}: ${summary}`, fix);
  }
  const answered = `${tenantUrl} answered ${probe.status} in ${Math.max(0, probe.answeredAt - probe.sentAt)} ms (${tls})`;
  if (probe.status >= 300 && probe.status < 400) {
    return warn(`${answered} with a redirect${probe.location ? ` to ${redactUrl(probe.location)}` : ''}; the tool does not follow redirects`, 'use the tenant URL the IntelliAuth console shows, with https and no path');
  }
  if (probe.status === 404) {
    return warn(`${answered}: no webhook API at ${apiPaths.eventTypes()}`, 'check the tenant URL: it should be the tenant base URL, with no path');
  }
  if (probe.status >= 500) {
    return warn(`${answered}: the tenant reports a server error`, 'retry later; if it persists, check the IntelliAuth status page');
  }
  return ok(answered);
}

/** A precise sentence for a certificate or handshake failure, or null when it is not one. */
export function describeTlsError(error: unknown, host: string): { detail: string; fix: string } | null {
  const code = findCode(error);
  if (code === undefined) return null;
  const trustFix = 'if a proxy or firewall inspects TLS, set NODE_EXTRA_CA_CERTS to its CA certificate (PEM); never turn certificate checks off';
  const known: Record<string, [string, string]> = {
    CERT_HAS_EXPIRED: [`the TLS certificate of ${host} has expired`, `check this machine's clock; otherwise the tenant's certificate needs renewing (contact IntelliAuth support)`],
    CERT_NOT_YET_VALID: [`the TLS certificate of ${host} is not valid yet`, "check this machine's clock and time zone"],
    DEPTH_ZERO_SELF_SIGNED_CERT: [`${host} presented a self-signed TLS certificate`, trustFix],
    SELF_SIGNED_CERT_IN_CHAIN: [`the TLS certificate chain of ${host} ends in a root certificate this machine does not trust`, trustFix],
    UNABLE_TO_GET_ISSUER_CERT_LOCALLY: [`the issuer of ${host}'s TLS certificate is not trusted here`, trustFix],
    UNABLE_TO_GET_ISSUER_CERT: [`the issuer of ${host}'s TLS certificate could not be found`, trustFix],
    UNABLE_TO_VERIFY_LEAF_SIGNATURE: [`the TLS certificate of ${host} could not be verified (an incomplete chain, or an untrusted CA)`, trustFix],
    CERT_SIGNATURE_FAILURE: [`the TLS certificate of ${host} has an invalid signature`, trustFix],
    CERT_REVOKED: [`the TLS certificate of ${host} has been revoked`, 'contact IntelliAuth support'],
    ERR_TLS_CERT_ALTNAME_INVALID: [`the TLS certificate presented does not cover the host name ${host}`, 'check the tenant URL; a proxy that inspects TLS needs its CA in NODE_EXTRA_CA_CERTS'],
    ERR_SSL_WRONG_VERSION_NUMBER: [`the TLS handshake with ${host} failed: the server did not answer in TLS (plain http on that port?)`, 'check the scheme and port of the tenant URL'],
    ERR_SSL_UNSUPPORTED_PROTOCOL: [`${host} offered only a TLS version this Node.js refuses`, 'the tenant must support TLS 1.2 or later'],
    ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION: [`${host} refused every TLS version this Node.js offers`, 'check for a TLS-terminating proxy with an outdated configuration'],
    ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE: [`the TLS handshake with ${host} failed (no common cipher or protocol)`, 'check for a proxy with an outdated TLS configuration'],
  };
  const entry = known[code];
  if (entry) return { detail: `${entry[0]} (${code})`, fix: entry[1] };
  if (code.startsWith('ERR_TLS_') || code.startsWith('ERR_SSL_') || code.includes('CERT')) {
    return { detail: `TLS failure talking to ${host} (${code})`, fix: trustFix };
  }
  return null;
}

function findCode(error: unknown, depth = 0): string | undefined {
  if (depth > 4 || error === null || typeof error !== 'object') return undefined;
  const candidate = (error as { code?: unknown }).code;
  if (typeof candidate === 'string' && candidate !== 'UND_ERR') return candidate;
  return findCode((error as { cause?: unknown }).cause, depth + 1);
}

// ---- Clock skew ------------------------------------------------------------------------

export function checkClock(probe: { date: string | undefined; sentAt: number; answeredAt: number }): Verdict {
  if (probe.date === undefined) {
    return warn('the tenant sent no Date header, so the clock could not be compared', 'compare this clock with a time server yourself (e.g. `timedatectl status`)');
  }
  const tenantTime = Date.parse(probe.date);
  if (Number.isNaN(tenantTime)) {
    return warn(`the tenant's Date header "${probe.date.slice(0, 60)}" is not a date, so the clock could not be compared`, 'compare this clock with a time server yourself (e.g. `timedatectl status`)');
  }
  // The header is whole seconds, stamped somewhere between sending and answering.
  const localTime = (probe.sentAt + probe.answeredAt) / 2;
  const skewSeconds = Math.round((localTime - tenantTime) / 1000);
  const size = Math.abs(skewSeconds);
  const direction = skewSeconds > 0 ? 'ahead of' : 'behind';
  const described = `this clock is ${formatDuration(size)} ${direction} the tenant's`;
  const syncFix = 'synchronise the clock with NTP (e.g. `timedatectl set-ntp true`, or the OS date and time settings)';
  if (size > CLOCK_FAIL_SECONDS) {
    return fail(
      `${described}: more than the ${CLOCK_FAIL_SECONDS} s timestamp window, so a receiver on this machine (listen, verify) rejects every delivery`,
      syncFix,
    );
  }
  if (size > CLOCK_WARN_SECONDS) {
    return warn(`${described}: inside the ${CLOCK_FAIL_SECONDS} s timestamp window, but drifting`, syncFix);
  }
  return ok(`within ${Math.max(1, size)} s of the tenant's (Date header)`);
}

// ---- Token and scopes ------------------------------------------------------------------

export interface TokenCheckInput {
  credentials: Credentials;
  /** For client credentials; absent for a bearer token given as is. */
  clientSecret: string | undefined;
  http: Http;
  signal?: AbortSignal;
}

const REQUIRED_SCOPES = [SCOPES.read, SCOPES.write] as const;

export async function checkToken(input: TokenCheckInput): Promise<Verdict> {
  const { credentials, http } = input;
  if (credentials.token !== undefined) return checkBearerToken(credentials.token, http, input.signal);
  if (input.clientSecret === undefined || credentials.clientId === undefined) return skip('no client credentials to exchange');

  let token;
  try {
    token = await requestClientCredentialsToken(http, {
      clientId: credentials.clientId,
      clientSecret: input.clientSecret,
      audience: credentials.audience,
      ...(input.signal ? { signal: input.signal } : {}),
    });
  } catch (error) {
    return fail(`no token: ${messageOf(error)}`, hintOf(error) ?? 'check the tenant URL and the client credentials');
  }
  const missing = REQUIRED_SCOPES.filter((scope) => !token.scope.includes(scope));
  const granted = token.scope.length > 0 ? token.scope.join(' ') : 'no scopes';
  const scopeFix = (names: readonly string[]) => `allow ${names.join(' and ')} for the M2M application ${credentials.clientId} in the IntelliAuth console, then run doctor again`;
  if (missing.length === REQUIRED_SCOPES.length) {
    return fail(`the tenant issued a token with ${granted}: neither ${SCOPES.read} nor ${SCOPES.write}, so every webhook call is refused`, scopeFix(missing));
  }

  const accepted = await tryApi(http, token.accessToken, input.signal);
  if (accepted.status === 401) {
    return fail(`the tenant issued a token, but the webhook API refused it: ${accepted.message}`, `check the audience (${ENV.audience} or the profile's audience)`);
  }
  if (accepted.status === 'error') {
    return fail(`the tenant issued a token, but the webhook API could not be asked about it: ${accepted.message}`, 'run doctor again; if it persists, use --debug');
  }
  if (accepted.status === 403 && missing.length === 0) {
    return warn(`token granted ${granted}, but the webhook API still refused it (403): ${accepted.message}`, `check the permissions of the M2M application ${credentials.clientId} in the IntelliAuth console`);
  }
  if (missing.length > 0) {
    const consequence = missing.includes(SCOPES.write)
      ? 'creating, changing, rotating, testing and deleting subscriptions is refused'
      : 'listing and reading subscriptions and deliveries is refused';
    return warn(`token granted ${granted}; it lacks ${missing.join(' and ')}: ${consequence}`, scopeFix(missing));
  }
  return ok(`token granted ${granted}; the webhook API accepted it`);
}

async function checkBearerToken(token: string, http: Http, signal: AbortSignal | undefined): Promise<Verdict> {
  const answer = await tryApi(http, token, signal);
  if (answer.status === 'ok') return ok('the bearer token given was accepted by the webhook API (its scopes cannot be read: it is used as is)');
  if (answer.status === 403) {
    return warn(`the bearer token is genuine, but lacks ${SCOPES.read}: ${answer.message}`, `issue a token with ${SCOPES.read} and ${SCOPES.write}, or use client credentials (\`intelliauth-webhooks login\`)`);
  }
  if (answer.status === 401) {
    return fail(`the webhook API rejected the bearer token: ${answer.message}`, `it may have expired: issue a new one, or use client credentials (\`intelliauth-webhooks login\`)`);
  }
  return fail(`the bearer token could not be tried: ${answer.message}`, 'run doctor again; if it persists, use --debug');
}

type ApiAnswer = { status: 'ok' } | { status: 401 | 403 | 'error'; message: string };

async function tryApi(http: Http, token: string, signal: AbortSignal | undefined): Promise<ApiAnswer> {
  try {
    await http.request({ method: 'GET', path: apiPaths.eventTypes(), headers: { authorization: `Bearer ${token}` }, ...(signal ? { signal } : {}) });
    return { status: 'ok' };
  } catch (error) {
    const status = (error as { status?: unknown }).status;
    if (status === 401 || status === 403) return { status, message: messageOf(error) };
    if (error instanceof AuthError) return { status: 401, message: error.message };
    return { status: 'error', message: messageOf(error) };
  }
}

// ---- helpers ---------------------------------------------------------------------------

export function formatSeconds(milliseconds: number): string {
  const seconds = milliseconds / 1000;
  return `${Number.isInteger(seconds) ? seconds : seconds.toFixed(1)} s`;
}

function formatDuration(seconds: number): string {
  if (seconds < 120) return `${seconds} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 120) return `${minutes} min ${seconds % 60} s`;
  const hours = Math.floor(minutes / 60);
  return `${hours} h ${minutes % 60} min`;
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function hintOf(error: unknown): string | undefined {
  return error instanceof CliError ? error.hint : undefined;
}

function nonEmpty(value: string | undefined): string | undefined {
  const trimmed = value?.trim();
  return trimmed ? trimmed : undefined;
}
