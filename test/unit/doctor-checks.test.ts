import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent } from 'undici';
import {
  bypassesProxy,
  checkClock,
  checkConfig,
  checkCredentials,
  checkKeychain,
  checkNetworkEnvironment,
  checkNode,
  checkTenant,
  checkToken,
  describeTlsError,
  fallbackTenantUrl,
  probeTenant,
} from '../../src/commands/doctor/checks.ts';
import { loadConfig, emptyConfig } from '../../src/config/config.ts';
import { CREDENTIALS_HINT, resolveCredentials, type Credentials } from '../../src/config/credentials.ts';
import { createHttp, type Http } from '../../src/api/http.ts';
import { SecretStoreError } from '../../src/errors.ts';
import { MemorySecretStore } from '../../src/secrets/memory-store.ts';
import { KeychainStore } from '../../src/secrets/keychain.ts';
import { startEmulator } from '../../src/emulator/index.ts';

async function tempDir(t: { after: (fn: () => Promise<void>) => void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'iaw-doctor-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

function listen(server: Server): Promise<string> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(`127.0.0.1:${(server.address() as AddressInfo).port}`)));
}

function close(server: Server): Promise<void> {
  server.closeAllConnections?.();
  return new Promise((resolve) => server.close(() => resolve()));
}

describe('checkNode', () => {
  test('accepts the minimum and later LTS lines', () => {
    assert.equal(checkNode('20.18.1').status, 'ok');
    assert.equal(checkNode('v22.11.0').status, 'ok');
    assert.equal(checkNode('24.0.0').status, 'ok');
  });
  test('warns about old and odd-numbered releases, with a fix', () => {
    const old = checkNode('20.18.0');
    assert.equal(old.status, 'warn');
    assert.match(old.detail, /older than 20\.18\.1/);
    assert.ok(old.fix);
    const odd = checkNode('23.3.0');
    assert.equal(odd.status, 'warn');
    assert.match(odd.detail, /odd-numbered/);
  });
});

describe('checkConfig', () => {
  test('a missing config file is fine: credentials may come from the environment', async (t) => {
    const dir = await tempDir(t);
    const configFile = join(dir, 'config.json');
    const result = await checkConfig({ configFile, load: () => loadConfig(configFile), profileFlag: undefined, env: {} });
    assert.equal(result.verdict.status, 'ok');
    assert.match(result.verdict.detail, /no config file at/);
    assert.deepEqual(result.config, emptyConfig());
  });

  test('a config file that is not JSON fails with the line and a fix', async (t) => {
    const dir = await tempDir(t);
    const configFile = join(dir, 'config.json');
    await writeFile(configFile, '{\n  "version": 1,\n  "profiles": {,\n}\n');
    const result = await checkConfig({ configFile, load: () => loadConfig(configFile), profileFlag: undefined, env: {} });
    assert.equal(result.verdict.status, 'fail');
    assert.match(result.verdict.detail, /not valid JSON \(line 3\)/);
    assert.ok(result.verdict.fix);
    assert.equal(result.config, undefined);
  });

  test('names the profile in use and where the choice came from', async (t) => {
    const dir = await tempDir(t);
    const configFile = join(dir, 'config.json');
    const profiles = { work: { tenant_url: 'https://acme-prod.example.com', client_id: 'app_1' }, lab: { tenant_url: 'http://127.0.0.1:8787', client_id: 'app_2' } };
    await writeFile(configFile, JSON.stringify({ version: 1, active_profile: 'work', profiles }));
    const active = await checkConfig({ configFile, load: () => loadConfig(configFile), profileFlag: undefined, env: {} });
    assert.equal(active.verdict.status, 'ok');
    assert.match(active.verdict.detail, /2 profiles; using "work" \(active_profile in the config\), tenant https:\/\/acme-prod\.example\.com/);
    const fromEnv = await checkConfig({ configFile, load: () => loadConfig(configFile), profileFlag: undefined, env: { INTELLIAUTH_PROFILE: 'lab' } });
    assert.match(fromEnv.verdict.detail, /using "lab" \(INTELLIAUTH_PROFILE\)/);
  });

  test('an explicitly chosen profile that does not exist fails, listing the known ones', async (t) => {
    const dir = await tempDir(t);
    const configFile = join(dir, 'config.json');
    await writeFile(configFile, JSON.stringify({ version: 1, profiles: { work: { tenant_url: 'https://acme-prod.example.com', client_id: 'app_1' } } }));
    const result = await checkConfig({ configFile, load: () => loadConfig(configFile), profileFlag: 'staging', env: {} });
    assert.equal(result.verdict.status, 'fail');
    assert.match(result.verdict.detail, /profile "staging" \(from --profile\) is not in/);
    assert.match(result.verdict.fix ?? '', /use one of: work/);
  });
});

describe('checkCredentials', () => {
  const describeStore = async () => 'fake store';

  test('no credentials at all fails with the login hint', async () => {
    const result = await checkCredentials(
      () => resolveCredentials({ flags: {}, env: {}, config: emptyConfig(), secretStoreFactory: async () => new MemorySecretStore() }),
      describeStore,
    );
    assert.equal(result.verdict.status, 'fail');
    assert.equal(result.verdict.detail, 'no credentials found');
    assert.equal(result.verdict.fix, CREDENTIALS_HINT);
  });

  test('environment client credentials: names the source and hands the secret on, never showing it', async () => {
    const env = { INTELLIAUTH_TENANT_URL: 'http://127.0.0.1:9', INTELLIAUTH_M2M_CLIENT_ID: 'app_env', INTELLIAUTH_M2M_CLIENT_SECRET: 'very-secret-value' };
    const result = await checkCredentials(() => resolveCredentials({ flags: {}, env, config: emptyConfig(), secretStoreFactory: async () => new MemorySecretStore() }), describeStore);
    assert.equal(result.verdict.status, 'ok');
    assert.match(result.verdict.detail, /INTELLIAUTH_M2M_CLIENT_ID and INTELLIAUTH_M2M_CLIENT_SECRET\): client app_env \(tenant http:\/\/127\.0\.0\.1:9\)/);
    assert.equal(result.clientSecret, 'very-secret-value');
    assert.doesNotMatch(JSON.stringify(result.verdict), /very-secret-value/);
  });

  test('a profile whose secret cannot be read from the store fails with the store reason', async () => {
    const store = new MemorySecretStore({
      failOn: { get: new SecretStoreError('the OS keychain is locked: unlocking it was refused', { hint: 'unlock the keyring' }) },
    });
    const config = { version: 1 as const, active_profile: 'work', profiles: { work: { tenant_url: 'https://acme-prod.example.com', client_id: 'app_1' } } };
    const result = await checkCredentials(() => resolveCredentials({ flags: {}, env: {}, config, secretStoreFactory: async () => store }), describeStore);
    assert.equal(result.verdict.status, 'fail');
    assert.match(result.verdict.detail, /profile "work": cannot read its client secret: the OS keychain is locked/);
    assert.equal(result.verdict.fix, 'unlock the keyring');
    assert.equal(result.credentials?.source, 'profile');
  });

  test('a profile with its secret stored is ok and says where the secret lives', async () => {
    const store = new MemorySecretStore({ initial: { 'acme-prod.example.com/client/app_1': 's3cret-s3cret' } });
    const config = { version: 1 as const, active_profile: 'work', profiles: { work: { tenant_url: 'https://acme-prod.example.com', client_id: 'app_1' } } };
    const result = await checkCredentials(() => resolveCredentials({ flags: {}, env: {}, config, secretStoreFactory: async () => store }), describeStore);
    assert.equal(result.verdict.status, 'ok');
    assert.match(result.verdict.detail, /profile "work": client app_1, client secret in fake store/);
  });

  test('a bearer token is reported as used as is', async () => {
    const env = { INTELLIAUTH_TOKEN: 'tok', INTELLIAUTH_TENANT_URL: 'https://acme-prod.example.com' };
    const result = await checkCredentials(() => resolveCredentials({ flags: {}, env, config: emptyConfig(), secretStoreFactory: async () => new MemorySecretStore() }), describeStore);
    assert.equal(result.verdict.status, 'ok');
    assert.match(result.verdict.detail, /bearer token from INTELLIAUTH_TOKEN, used as is/);
  });

  test('fallbackTenantUrl finds the tenant to probe even without credentials', () => {
    const config = { version: 1 as const, profiles: { default: { tenant_url: 'https://acme-prod.example.com/', client_id: 'a' } } };
    assert.equal(fallbackTenantUrl('http://localhost:1234', {}, config, undefined), 'http://localhost:1234');
    assert.equal(fallbackTenantUrl(undefined, { INTELLIAUTH_TENANT_URL: 'https://x.example.com' }, config, undefined), 'https://x.example.com');
    assert.equal(fallbackTenantUrl(undefined, {}, config, undefined), 'https://acme-prod.example.com');
    assert.equal(fallbackTenantUrl(undefined, {}, emptyConfig(), undefined), undefined);
    assert.equal(fallbackTenantUrl('ftp://nope', {}, config, undefined), undefined);
  });
});

describe('checkKeychain', () => {
  const broken = () =>
    new MemorySecretStore({
      description: 'OS keychain (Secret Service)',
      failOn: { probe: new SecretStoreError('the OS keychain is not reachable: no Secret Service is running', { hint: 'start gnome-keyring' }) },
    });

  test('a working store is ok', async () => {
    const verdict = await checkKeychain(new MemorySecretStore({ description: 'test store' }), 'environment');
    assert.equal(verdict.status, 'ok');
    assert.match(verdict.detail, /test store: a test secret was written, read back and deleted/);
  });

  test('an unusable keychain fails when the profile keeps its secret there', async () => {
    const verdict = await checkKeychain(broken(), 'profile');
    assert.equal(verdict.status, 'fail');
    assert.match(verdict.detail, /no Secret Service is running; the active profile keeps its client secret there/);
    assert.equal(verdict.fix, 'start gnome-keyring');
  });

  test('an unusable keychain only warns when credentials come from the environment, or there are none', async () => {
    const env = await checkKeychain(broken(), 'environment');
    assert.equal(env.status, 'warn');
    assert.match(env.detail, /not needed while credentials come from the environment/);
    assert.match(env.fix ?? '', /--secret-store file/);
    const none = await checkKeychain(broken(), 'none');
    assert.equal(none.status, 'warn');
    assert.match(none.detail, /`login` keeps a profile's client secret there/);
  });

  test('a real keychain store with a bus that does not exist gives the precise reason, promptly', { skip: process.platform !== 'linux' }, async () => {
    const store = new KeychainStore({ env: { DBUS_SESSION_BUS_ADDRESS: 'unix:path=/nonexistent/bus' }, timeoutMs: 3000 });
    const verdict = await checkKeychain(store, 'environment');
    assert.equal(verdict.status, 'warn');
    assert.match(verdict.detail, /cannot connect to the D-Bus session bus \(\/nonexistent\/bus: no such socket/);
  });
});

describe('checkNetworkEnvironment', () => {
  test('nothing set: requests go direct', async () => {
    const verdict = await checkNetworkEnvironment({}, 'https://acme-prod.example.com');
    assert.equal(verdict.status, 'ok');
    assert.match(verdict.detail, /no proxy variables/);
    assert.equal(verdict.proxyForTenant, undefined);
  });

  test('names the proxy in effect, with its password redacted', async () => {
    const verdict = await checkNetworkEnvironment({ HTTPS_PROXY: 'http://alice:pa55word@proxy.corp:3128' }, 'https://acme-prod.example.com');
    assert.equal(verdict.status, 'ok');
    assert.match(verdict.detail, /requests to https:\/\/acme-prod\.example\.com go through http:\/\/.*@proxy\.corp:3128/);
    assert.doesNotMatch(verdict.detail, /pa55word/);
    assert.ok(verdict.proxyForTenant);
  });

  test('warns when the loopback emulator would be reached through the proxy', async () => {
    const through = await checkNetworkEnvironment({ http_proxy: 'http://proxy.corp:3128' }, 'http://127.0.0.1:8787');
    assert.equal(through.status, 'warn');
    assert.match(through.fix ?? '', /NO_PROXY/);
    const bypassed = await checkNetworkEnvironment({ http_proxy: 'http://proxy.corp:3128', NO_PROXY: 'localhost,127.0.0.1' }, 'http://127.0.0.1:8787');
    assert.equal(bypassed.status, 'ok');
    assert.match(bypassed.detail, /bypass the proxy/);
  });

  test('a proxy variable that is not a URL fails; differing spellings warn', async () => {
    const bad = await checkNetworkEnvironment({ HTTPS_PROXY: 'proxy.corp:3128 oops' }, 'https://acme-prod.example.com');
    assert.equal(bad.status, 'fail');
    assert.match(bad.detail, /HTTPS_PROXY is not an http:\/\/ or https:\/\/ URL/);
    assert.doesNotMatch(bad.detail, /go through/);
    const differ = await checkNetworkEnvironment({ https_proxy: 'http://a.corp:1', HTTPS_PROXY: 'http://b.corp:1' }, 'https://acme-prod.example.com');
    assert.equal(differ.status, 'warn');
    assert.match(differ.detail, /https_proxy and HTTPS_PROXY differ; https_proxy is the one used/);
  });

  test('NODE_EXTRA_CA_CERTS must exist and hold PEM certificates', async (t) => {
    const dir = await tempDir(t);
    const missing = await checkNetworkEnvironment({ NODE_EXTRA_CA_CERTS: join(dir, 'nope.pem') }, undefined);
    assert.equal(missing.status, 'fail');
    assert.match(missing.detail, /does not exist: Node ignores it/);
    await writeFile(join(dir, 'empty.pem'), 'not a certificate\n');
    const empty = await checkNetworkEnvironment({ NODE_EXTRA_CA_CERTS: join(dir, 'empty.pem') }, undefined);
    assert.equal(empty.status, 'fail');
    assert.match(empty.detail, /holds no PEM certificate/);
    const block = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
    await writeFile(join(dir, 'two.pem'), block + block);
    const two = await checkNetworkEnvironment({ NODE_EXTRA_CA_CERTS: join(dir, 'two.pem') }, undefined);
    assert.equal(two.status, 'ok');
    assert.match(two.detail, /2 extra CA certificates/);
  });

  test('turning TLS verification off is a warning', async () => {
    const verdict = await checkNetworkEnvironment({ NODE_TLS_REJECT_UNAUTHORIZED: '0' }, 'https://acme-prod.example.com');
    assert.equal(verdict.status, 'warn');
    assert.match(verdict.fix ?? '', /NODE_EXTRA_CA_CERTS/);
  });

  test('bypassesProxy follows the usual NO_PROXY rules', () => {
    const url = new URL('https://api.acme.example.com');
    assert.equal(bypassesProxy(url, '*'), true);
    assert.equal(bypassesProxy(url, 'example.com'), true);
    assert.equal(bypassesProxy(url, '.example.com'), true);
    assert.equal(bypassesProxy(url, 'example.com:443'), true);
    assert.equal(bypassesProxy(url, 'example.com:8443'), false);
    assert.equal(bypassesProxy(url, 'other.com, ample.com'), false);
    assert.equal(bypassesProxy(new URL('http://[::1]:8787'), '::1'), true);
  });
});

describe('probeTenant and checkTenant', () => {
  const options = (dispatcher: Agent, timeoutMs = 3000) => ({ dispatcher, timeoutMs, now: Date.now, userAgent: 'test' });

  test('an answering loopback emulator: reachable, TLS not applicable, Date header kept', async (t) => {
    const server = createServer((_req, res) => {
      res.writeHead(401, { 'content-type': 'application/json' }).end('{"error":"unauthorized"}');
    });
    const host = await listen(server);
    const agent = new Agent();
    t.after(async () => {
      await agent.close();
      await close(server);
    });
    const probe = await probeTenant(`http://${host}`, options(agent));
    assert.equal(probe.reached, true);
    assert.ok(probe.reached && probe.date !== undefined);
    const verdict = checkTenant(`http://${host}`, probe, undefined);
    assert.equal(verdict.status, 'ok');
    assert.match(verdict.detail, /answered 401 in \d+ ms \(plain http to a loopback emulator: TLS not applicable\)/);
  });

  test('a closed port: connection refused, and the fix points at the emulator', async (t) => {
    const server = createServer();
    const host = await listen(server);
    await close(server);
    const agent = new Agent();
    t.after(() => agent.close());
    const probe = await probeTenant(`http://${host}`, options(agent));
    assert.equal(probe.reached, false);
    const verdict = checkTenant(`http://${host}`, probe, undefined);
    assert.equal(verdict.status, 'fail');
    assert.match(verdict.detail, /cannot reach http:\/\/127\.0\.0\.1:\d+: connection refused \(ECONNREFUSED\)/);
    assert.match(verdict.fix ?? '', /emulator/);
  });

  test('a tenant that never answers is given up on after the timeout', async (t) => {
    const server = createServer(() => {
      // never answers
    });
    const host = await listen(server);
    const agent = new Agent();
    t.after(async () => {
      await agent.close();
      await close(server);
    });
    const probe = await probeTenant(`http://${host}`, options(agent, 200));
    const verdict = checkTenant(`http://${host}`, probe, undefined);
    assert.equal(verdict.status, 'fail');
    assert.match(verdict.detail, /did not answer within 0\.2 s/);
  });

  test('404 and 5xx answers are warnings naming the problem', () => {
    const answered = (status: number) => ({ reached: true as const, status, date: undefined, location: undefined, sentAt: 0, answeredAt: 5 });
    const notFound = checkTenant('https://acme-prod.example.com', answered(404), undefined);
    assert.equal(notFound.status, 'warn');
    assert.match(notFound.detail, /no webhook API at \/api\/v1\/webhooks\/event-types/);
    const down = checkTenant('https://acme-prod.example.com', answered(503), undefined);
    assert.equal(down.status, 'warn');
    assert.match(down.detail, /answered 503 in \d+ ms \(over TLS, certificate verified\)/);
    const redirect = checkTenant('https://acme-prod.example.com', { ...answered(301), location: 'https://elsewhere.example.com/' }, undefined);
    assert.equal(redirect.status, 'warn');
    assert.match(redirect.detail, /redirect to https:\/\/elsewhere\.example\.com\//);
  });

  test('TLS failures are named precisely', () => {
    const cases: Array<[string, RegExp]> = [
      ['CERT_HAS_EXPIRED', /certificate of acme\.example\.com has expired/],
      ['DEPTH_ZERO_SELF_SIGNED_CERT', /self-signed/],
      ['SELF_SIGNED_CERT_IN_CHAIN', /root certificate this machine does not trust/],
      ['UNABLE_TO_GET_ISSUER_CERT_LOCALLY', /issuer .* is not trusted here/],
      ['ERR_TLS_CERT_ALTNAME_INVALID', /does not cover the host name acme\.example\.com/],
      ['ERR_SSL_WRONG_VERSION_NUMBER', /did not answer in TLS/],
    ];
    for (const [code, pattern] of cases) {
      const wrapped = Object.assign(new Error('fetch failed'), { cause: Object.assign(new Error('x'), { code }) });
      const described = describeTlsError(wrapped, 'acme.example.com');
      assert.ok(described, code);
      assert.match(described.detail, pattern);
      assert.match(described.detail, new RegExp(`\\(${code}\\)`));
    }
    assert.equal(describeTlsError(Object.assign(new Error('x'), { code: 'ECONNREFUSED' }), 'h'), null);
    assert.match(describeTlsError(Object.assign(new Error('x'), { code: 'SELF_SIGNED_CERT_IN_CHAIN' }), 'h')!.fix, /NODE_EXTRA_CA_CERTS/);
  });

  test('a real self-signed https tenant fails with the TLS reason; trusting its CA makes it pass', async (t) => {
    if (spawnSync('openssl', ['version'], { stdio: 'ignore' }).status !== 0) {
      t.skip('openssl is not installed');
      return;
    }
    const dir = await tempDir(t);
    const made = spawnSync('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
      '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1',
      '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'),
    ], { stdio: 'ignore' });
    assert.equal(made.status, 0);
    const [key, cert] = await Promise.all([readFile(join(dir, 'key.pem')), readFile(join(dir, 'cert.pem'))]);
    const server = createHttpsServer({ key, cert }, (_req: IncomingMessage, res: ServerResponse) => {
      res.writeHead(401, { 'content-type': 'application/json' }).end('{"error":"unauthorized"}');
    });
    const host = await listen(server as unknown as Server);
    const untrusting = new Agent();
    const trusting = new Agent({ connect: { ca: cert } });
    t.after(async () => {
      await untrusting.close();
      await trusting.close();
      await close(server as unknown as Server);
    });
    const url = `https://${host}`;
    const refused = checkTenant(url, await probeTenant(url, options(untrusting)), undefined);
    assert.equal(refused.status, 'fail');
    assert.match(refused.detail, /127\.0\.0\.1 presented a self-signed TLS certificate \(DEPTH_ZERO_SELF_SIGNED_CERT\)/);
    const accepted = checkTenant(url, await probeTenant(url, options(trusting)), undefined);
    assert.equal(accepted.status, 'ok');
    assert.match(accepted.detail, /over TLS, certificate verified/);
  });
});

describe('checkClock', () => {
  const at = (tenant: number, local: number) => ({ date: new Date(tenant).toUTCString(), sentAt: local - 20, answeredAt: local + 20 });
  const now = Date.UTC(2025, 0, 15, 12, 0, 0);

  test('a clock in step is ok', () => {
    const verdict = checkClock(at(now, now));
    assert.equal(verdict.status, 'ok');
    assert.match(verdict.detail, /within 1 s of the tenant's/);
  });

  test('more than 30 s off warns, more than 300 s fails and says why', () => {
    const drifting = checkClock(at(now, now + 45_000));
    assert.equal(drifting.status, 'warn');
    assert.match(drifting.detail, /45 s ahead of the tenant's/);
    const broken = checkClock(at(now, now - 600_000));
    assert.equal(broken.status, 'fail');
    assert.match(broken.detail, /10 min 0 s behind the tenant's: more than the 300 s timestamp window/);
    assert.match(broken.fix ?? '', /NTP/);
  });

  test('without a usable Date header the clock cannot be compared: a warning', () => {
    assert.equal(checkClock({ date: undefined, sentAt: now, answeredAt: now }).status, 'warn');
    const garbage = checkClock({ date: 'yesterday-ish', sentAt: now, answeredAt: now });
    assert.equal(garbage.status, 'warn');
    assert.match(garbage.detail, /is not a date/);
  });
});

describe('checkToken', () => {
  async function emulator(t: { after: (fn: () => Promise<void>) => void }, scopes?: string[]) {
    const running = await startEmulator({ port: 0, ...(scopes ? { scopes } : {}), log: () => undefined });
    const http = createHttp({ baseUrl: running.tenantUrl, env: {}, maxAttempts: 1, timeoutMs: 5000 });
    t.after(async () => {
      await http.close();
      await running.close({ graceMs: 0 });
    });
    const credentials: Credentials = { source: 'env-client', tenantUrl: running.tenantUrl, clientId: running.clientId, getClientSecret: async () => running.clientSecret };
    return { running, http, credentials };
  }

  test('a working client: both scopes granted and the API accepts the token', async (t) => {
    const { running, http, credentials } = await emulator(t);
    const verdict = await checkToken({ credentials, clientSecret: running.clientSecret, http });
    assert.equal(verdict.status, 'ok');
    assert.equal(verdict.detail, 'token granted webhooks:read webhooks:write; the webhook API accepted it');
  });

  test('a wrong client secret fails: the tenant rejected the client id or secret', async (t) => {
    const { http, credentials } = await emulator(t);
    const verdict = await checkToken({ credentials, clientSecret: 'not-the-secret', http });
    assert.equal(verdict.status, 'fail');
    assert.match(verdict.detail, /the tenant rejected the client id or secret/);
    assert.doesNotMatch(JSON.stringify(verdict), /not-the-secret/);
    assert.ok(verdict.fix);
  });

  test('a client without webhooks:write gets a warning naming the missing scope', async (t) => {
    const { running, http, credentials } = await emulator(t, ['webhooks:read']);
    const verdict = await checkToken({ credentials, clientSecret: running.clientSecret, http });
    assert.equal(verdict.status, 'warn');
    assert.match(verdict.detail, /token granted webhooks:read; it lacks webhooks:write/);
    assert.match(verdict.fix ?? '', /allow webhooks:write for the M2M application/);
  });

  test('a token with neither scope fails, naming both', async () => {
    const fake: Http = {
      baseUrl: 'https://acme-prod.example.com',
      request: async <T>() => ({ status: 200, data: { access_token: 'opaque', token_type: 'Bearer', expires_in: 3600, scope: 'openid' } as T, meta: undefined, requestId: undefined, attempts: 1 }),
      close: async () => undefined,
    };
    const credentials: Credentials = { source: 'env-client', tenantUrl: fake.baseUrl, clientId: 'app_1' };
    const verdict = await checkToken({ credentials, clientSecret: 'x', http: fake });
    assert.equal(verdict.status, 'fail');
    assert.match(verdict.detail, /neither webhooks:read nor webhooks:write/);
    assert.match(verdict.fix ?? '', /allow webhooks:read and webhooks:write/);
  });

  test('a bearer token is tried against the API: accepted, or rejected', async (t) => {
    const { running, http } = await emulator(t);
    const tokenHttp = createHttp({ baseUrl: running.tenantUrl, env: {}, maxAttempts: 1 });
    t.after(() => tokenHttp.close());
    const issued = await tokenHttp.request<{ access_token: string }>({
      method: 'POST',
      path: '/oauth2/token',
      form: { grant_type: 'client_credentials', client_id: running.clientId, client_secret: running.clientSecret },
      expect: 'raw',
    });
    const good = await checkToken({ credentials: { source: 'env-token', tenantUrl: running.tenantUrl, token: issued.data.access_token }, clientSecret: undefined, http });
    assert.equal(good.status, 'ok');
    assert.match(good.detail, /accepted by the webhook API/);
    const bad = await checkToken({ credentials: { source: 'env-token', tenantUrl: running.tenantUrl, token: 'garbage-token' }, clientSecret: undefined, http });
    assert.equal(bad.status, 'fail');
    assert.match(bad.detail, /rejected the bearer token/);
  });
});
