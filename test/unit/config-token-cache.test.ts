import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHttp } from '../../src/api/http.ts';
import {
  TokenProvider,
  clearTokenCache,
  readCachedToken,
  tokenCacheFile,
  tokenCacheKey,
  writeCachedToken,
  type TokenCacheIdentity,
} from '../../src/config/token-cache.ts';
import type { Credentials } from '../../src/config/credentials.ts';
import { AuthError, InterruptedError } from '../../src/errors.ts';
import { ApiClient } from '../../src/api/client.ts';
import { sendJson, startServer, type LoopbackServer } from '../helpers/loopback-server.ts';

let root: string;
before(async () => {
  root = await mkdtemp(join(tmpdir(), 'iaw-tokens-'));
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

let dirCount = 0;
const freshDir = () => join(root, `t${++dirCount}`, 'tokens');

const identity: TokenCacheIdentity = { tenantUrl: 'https://acme.example', clientId: 'app_1', audience: 'https://api', scope: ['webhooks:write', 'webhooks:read'] };
const token = (accessToken: string, obtainedAt: number, lifetimeMs = 3_600_000) => ({
  accessToken,
  expiresAt: obtainedAt + lifetimeMs,
  obtainedAt,
  scope: ['webhooks:read'],
});

describe('token cache files', () => {
  test('the key covers tenant, client, audience and (order-free) scope', () => {
    assert.equal(tokenCacheKey(identity), tokenCacheKey({ ...identity, scope: ['webhooks:read', 'webhooks:write'] }));
    assert.notEqual(tokenCacheKey(identity), tokenCacheKey({ ...identity, audience: undefined }));
    assert.notEqual(tokenCacheKey(identity), tokenCacheKey({ ...identity, clientId: 'app_2' }));
    assert.notEqual(tokenCacheKey(identity), tokenCacheKey({ ...identity, tenantUrl: 'https://other.example' }));
    assert.match(tokenCacheFile('/d', identity), /^\/d\/[0-9a-f]{64}\.json$/);
  });

  test('encrypted at rest: the file never contains the token; 0600 file, 0700 dir', async () => {
    const dir = freshDir();
    const secretToken = 'eyJhbGciOiJSUzI1NiJ9.TOKEN-PAYLOAD-abcdef.signature';
    await writeCachedToken(dir, identity, 'cs_1', token(secretToken, Date.now()));
    const file = tokenCacheFile(dir, identity);
    const text = await readFile(file, 'utf8');
    assert.ok(!text.includes(secretToken));
    assert.ok(!text.includes('TOKEN-PAYLOAD'));
    assert.ok(!text.includes(Buffer.from(secretToken).toString('base64').slice(0, 20)));
    assert.ok(!text.includes('cs_1'));
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    assert.equal((await stat(dir)).mode & 0o777, 0o700);
    assert.equal((await readCachedToken(dir, identity, 'cs_1'))?.accessToken, secretToken);
  });

  test('a different client secret cannot decrypt: a miss', async () => {
    const dir = freshDir();
    await writeCachedToken(dir, identity, 'cs_old', token('t1', Date.now()));
    assert.equal(await readCachedToken(dir, identity, 'cs_new'), null);
  });

  test('corrupt and tampered files are misses', async () => {
    const dir = freshDir();
    await writeCachedToken(dir, identity, 'cs', token('t1', Date.now()));
    const file = tokenCacheFile(dir, identity);
    const parsed = JSON.parse(await readFile(file, 'utf8')) as Record<string, string>;
    await writeFile(file, JSON.stringify({ ...parsed, ciphertext: Buffer.from('junk').toString('base64') }));
    assert.equal(await readCachedToken(dir, identity, 'cs'), null);
    await writeFile(file, '{not json');
    assert.equal(await readCachedToken(dir, identity, 'cs'), null);
    await writeFile(file, '');
    assert.equal(await readCachedToken(dir, identity, 'cs'), null);
  });

  test('a file copied under another identity does not decrypt (bound to its key)', async () => {
    const dir = freshDir();
    await writeCachedToken(dir, identity, 'cs', token('t1', Date.now()));
    const other = { ...identity, audience: 'https://other' };
    await writeFile(tokenCacheFile(dir, other), await readFile(tokenCacheFile(dir, identity)));
    assert.equal(await readCachedToken(dir, other, 'cs'), null);
  });

  test('stale within 60 s of expiry; short-lived tokens use a proportional margin', async () => {
    const dir = freshDir();
    await writeCachedToken(dir, identity, 'cs', token('t1', 0));
    assert.equal((await readCachedToken(dir, identity, 'cs', 3_600_000 - 61_000))?.accessToken, 't1');
    assert.equal(await readCachedToken(dir, identity, 'cs', 3_600_000 - 59_000), null);
    await writeCachedToken(dir, identity, 'cs', token('short', 0, 60_000));
    assert.equal((await readCachedToken(dir, identity, 'cs', 30_000))?.accessToken, 'short');
    assert.equal(await readCachedToken(dir, identity, 'cs', 46_000), null);
  });

  test('clearTokenCache: by tenant and client, or everything', async () => {
    const dir = freshDir();
    await writeCachedToken(dir, identity, 'cs', token('a', Date.now()));
    await writeCachedToken(dir, { ...identity, scope: undefined }, 'cs', token('b', Date.now()));
    await writeCachedToken(dir, { ...identity, clientId: 'app_2' }, 'cs', token('c', Date.now()));
    await writeCachedToken(dir, { ...identity, tenantUrl: 'https://other.example' }, 'cs', token('d', Date.now()));
    assert.equal(await clearTokenCache(dir, { tenantUrl: 'https://acme.example', clientId: 'app_1' }), 2);
    assert.equal((await readdir(dir)).length, 2);
    assert.equal(await clearTokenCache(dir), 2);
    assert.deepEqual(await readdir(dir), []);
    assert.equal(await clearTokenCache(join(root, 'never-created')), 0);
  });
});

describe('TokenProvider', () => {
  let server: LoopbackServer;
  let issued = 0;
  let lifetimeSeconds = 3600;
  before(async () => {
    server = await startServer((req, res) => {
      const form = new URLSearchParams(req.body);
      if (form.get('client_secret') !== 'cs_right' && form.get('client_secret') !== 'cs_rotated') {
        sendJson(res, 401, { error: 'invalid_client', error_description: 'bad client' });
        return;
      }
      issued += 1;
      sendJson(res, 200, { access_token: `at_${issued}`, token_type: 'Bearer', expires_in: lifetimeSeconds, scope: 'webhooks:read webhooks:write' });
    });
  });
  after(async () => {
    await server.close();
  });

  function provider(opts: { dir?: string; secret?: string; now?: () => number; reads?: { n: number } }) {
    const http = createHttp({ baseUrl: server.url, env: {}, sleep: async () => undefined });
    const credentials: Credentials = {
      source: 'profile',
      tenantUrl: server.url,
      clientId: 'app_1',
      profileName: 'default',
      getClientSecret: async () => {
        if (opts.reads) opts.reads.n += 1;
        return opts.secret ?? 'cs_right';
      },
    };
    return {
      http,
      tokens: new TokenProvider({ credentials, http, tokenCacheDir: opts.dir, ...(opts.now ? { now: opts.now } : {}) }),
    };
  }

  test('a bearer token is used as is; nothing to refresh; scopes and expiry unknown', async () => {
    const http = createHttp({ baseUrl: server.url, env: {} });
    const tokens = new TokenProvider({ credentials: { source: 'flag-token', tenantUrl: server.url, token: 'raw' }, http });
    assert.equal(await tokens.getToken(), 'raw');
    assert.equal(tokens.refreshable, false);
    assert.deepEqual(await tokens.status(), { source: 'flag-token', expiresAt: null, scope: null, fromCache: false });
    await http.close();
  });

  test('reused across provider instances through the encrypted cache', async () => {
    const dir = freshDir();
    const before = issued;
    const reads = { n: 0 };
    const first = provider({ dir, reads });
    const t1 = await first.tokens.getToken();
    assert.equal(await first.tokens.getToken(), t1, 'in-memory reuse');
    await first.http.close();
    const second = provider({ dir, reads });
    assert.equal(await second.tokens.getToken(), t1, 'read back from disk');
    const status = await second.tokens.status();
    assert.equal(status.fromCache, true);
    assert.deepEqual(status.scope, ['webhooks:read', 'webhooks:write']);
    assert.equal(issued - before, 1, 'one exchange for two runs');
    assert.equal(reads.n, 2, 'the secret is read once per provider');
    await second.http.close();
  });

  test('refreshed near expiry', async () => {
    const dir = freshDir();
    let clock = 1_000_000;
    const p = provider({ dir, now: () => clock });
    const t1 = await p.tokens.getToken();
    clock += 3_600_000 - 120_000;
    assert.equal(await p.tokens.getToken(), t1);
    clock += 90_000; // now 30 s before expiry
    const t2 = await p.tokens.getToken();
    assert.notEqual(t2, t1);
    const next = provider({ dir, now: () => clock });
    assert.equal(await next.tokens.getToken(), t2, 'the refreshed token replaced the cached one');
    await p.http.close();
    await next.http.close();
  });

  test('a changed client secret misses the cache and fetches anew', async () => {
    const dir = freshDir();
    const a = provider({ dir, secret: 'cs_right' });
    const t1 = await a.tokens.getToken();
    const b = provider({ dir, secret: 'cs_rotated' });
    const t2 = await b.tokens.getToken();
    assert.notEqual(t2, t1);
    assert.equal((await b.tokens.status()).fromCache, false);
    await a.http.close();
    await b.http.close();
  });

  test('invalidate() drops the token from memory and disk', async () => {
    const dir = freshDir();
    const p = provider({ dir });
    const t1 = await p.tokens.getToken();
    await p.tokens.invalidate();
    assert.deepEqual(await readdir(dir), []);
    const t2 = await p.tokens.getToken();
    assert.notEqual(t2, t1);
    assert.equal(p.tokens.refreshable, true);
    await p.http.close();
  });

  test('concurrent callers share one exchange', async () => {
    const before = issued;
    const p = provider({});
    const tokens = await Promise.all([p.tokens.getToken(), p.tokens.getToken(), p.tokens.getToken()]);
    assert.equal(new Set(tokens).size, 1);
    assert.equal(issued - before, 1);
    await p.http.close();
  });

  test('a rejected client secret is an AuthError, and nothing is cached', async () => {
    const dir = freshDir();
    const p = provider({ dir, secret: 'cs_wrong' });
    await assert.rejects(p.tokens.getToken(), AuthError);
    await assert.rejects(readdir(dir), { code: 'ENOENT' });
    await p.http.close();
  });

  test('an unwritable cache directory does not fail the command', async () => {
    const blocker = join(root, 'blocker');
    await writeFile(blocker, 'a file where a directory should be');
    const p = provider({ dir: join(blocker, 'tokens') });
    assert.match(await p.tokens.getToken(), /^at_/);
    await p.http.close();
  });

  test('short-lived tokens are still reused within their life', async () => {
    lifetimeSeconds = 60;
    try {
      const before = issued;
      let clock = 0;
      const p = provider({ now: () => clock });
      const t1 = await p.tokens.getToken();
      clock = 20_000;
      assert.equal(await p.tokens.getToken(), t1);
      assert.equal(issued - before, 1);
      await p.http.close();
    } finally {
      lifetimeSeconds = 3600;
    }
  });
});

describe('TokenProvider interrupted', () => {
  test('an interrupt ends a token request that hangs, for any call of the API client, even one that may not be cut short once sent', async () => {
    // A token endpoint that never answers.
    const hanging = await startServer(() => undefined);
    const http = createHttp({ baseUrl: hanging.url, env: {}, timeoutMs: 20_000, totalTimeoutMs: 60_000 });
    const credentials: Credentials = { source: 'env-client', tenantUrl: hanging.url, clientId: 'app_1', getClientSecret: async () => 'cs_right' };
    const controller = new AbortController();
    const client = new ApiClient({ http, tokenProvider: new TokenProvider({ credentials, http }), signal: controller.signal });
    try {
      const started = Date.now();
      setTimeout(() => controller.abort(), 100);
      await assert.rejects(
        client.createSubscription({ name: 'x', url: 'https://hooks.example.com/x', events: ['user.*'] }, { idempotencyKey: 'k', ignoreInterrupt: true }),
        InterruptedError,
      );
      assert.ok(Date.now() - started < 5_000, `ended ${Date.now() - started} ms after the start`);
      assert.equal(hanging.requests.filter((request) => request.url.includes('/subscriptions')).length, 0, 'the create call was never sent');
    } finally {
      await http.close();
      await hanging.close();
    }
  });
});
