import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { isLoopbackHost, normalizeTenantUrl, resolveCredentials } from '../../src/config/credentials.ts';
import type { ConfigFile } from '../../src/config/config.ts';
import type { SecretStore } from '../../src/secrets/store.ts';
import { AuthError, UsageError } from '../../src/errors.ts';

/** A tiny in-memory SecretStore that counts how often it was opened. */
function fakeStore(entries: Record<string, string> = {}) {
  const secrets = new Map(Object.entries(entries));
  const state = { opened: 0, reads: [] as string[] };
  const store: SecretStore = {
    kind: 'memory',
    describe: () => 'test store',
    probe: async () => undefined,
    get: async (account) => {
      state.reads.push(account);
      return secrets.get(account) ?? null;
    },
    set: async (account, secret) => {
      secrets.set(account, secret);
    },
    delete: async (account) => secrets.delete(account),
  };
  return {
    state,
    factory: async () => {
      state.opened += 1;
      return store;
    },
  };
}

const config: ConfigFile = {
  version: 1,
  active_profile: 'prod',
  profiles: {
    prod: { tenant_url: 'https://acme-corp.intelliauth.io/', client_id: 'app_prod', audience: 'https://api.acme' },
    dev: { tenant_url: 'http://127.0.0.1:8787', client_id: 'app_dev' },
  },
};

const envClient = {
  INTELLIAUTH_TENANT_URL: 'https://env-tenant.intelliauth.io',
  INTELLIAUTH_M2M_CLIENT_ID: 'app_env',
  INTELLIAUTH_M2M_CLIENT_SECRET: 'cs_env',
};

describe('credential resolution order', () => {
  test('--token wins over everything and takes the tenant from --tenant-url', async () => {
    const store = fakeStore();
    const creds = await resolveCredentials({
      flags: { token: 'tok_flag', tenantUrl: 'https://flag.intelliauth.io/' },
      env: { ...envClient, INTELLIAUTH_TOKEN: 'tok_env' },
      config,
      secretStoreFactory: store.factory,
    });
    assert.equal(creds.source, 'flag-token');
    assert.equal(creds.token, 'tok_flag');
    assert.equal(creds.tenantUrl, 'https://flag.intelliauth.io');
    assert.equal(store.state.opened, 0, 'no secret store for a bearer token');
  });

  test('INTELLIAUTH_TOKEN next; tenant from INTELLIAUTH_TENANT_URL, else from the profile', async () => {
    const store = fakeStore();
    const fromEnv = await resolveCredentials({
      flags: {},
      env: { INTELLIAUTH_TOKEN: 'tok_env', INTELLIAUTH_TENANT_URL: 'https://env-tenant.intelliauth.io' },
      config,
      secretStoreFactory: store.factory,
    });
    assert.deepEqual(fromEnv, { source: 'env-token', tenantUrl: 'https://env-tenant.intelliauth.io', token: 'tok_env' });
    const fromProfile = await resolveCredentials({ flags: {}, env: { INTELLIAUTH_TOKEN: 'tok_env' }, config, secretStoreFactory: store.factory });
    assert.equal(fromProfile.tenantUrl, 'https://acme-corp.intelliauth.io');
  });

  test('a bearer token without any tenant URL is an AuthError with a hint', async () => {
    await assert.rejects(
      resolveCredentials({ flags: { token: 't' }, env: {}, config: { version: 1, profiles: {} }, secretStoreFactory: fakeStore().factory }),
      (error: unknown) => {
        assert.ok(error instanceof AuthError);
        assert.match(error.hint ?? '', /--tenant-url/);
        return true;
      },
    );
  });

  test('environment client credentials beat the profile', async () => {
    const store = fakeStore();
    const creds = await resolveCredentials({
      flags: {},
      env: { ...envClient, INTELLIAUTH_API_AUDIENCE: 'https://aud' },
      config,
      secretStoreFactory: store.factory,
    });
    assert.equal(creds.source, 'env-client');
    assert.equal(creds.tenantUrl, 'https://env-tenant.intelliauth.io');
    assert.equal(creds.clientId, 'app_env');
    assert.equal(creds.audience, 'https://aud');
    assert.equal(await creds.getClientSecret!(), 'cs_env');
    assert.equal(store.state.opened, 0);
  });

  test('--tenant-url overrides the environment tenant', async () => {
    const creds = await resolveCredentials({
      flags: { tenantUrl: 'http://localhost:9000' },
      env: envClient,
      config,
      secretStoreFactory: fakeStore().factory,
    });
    assert.equal(creds.tenantUrl, 'http://localhost:9000');
  });

  test('incomplete environment client credentials name what is missing', async () => {
    await assert.rejects(
      resolveCredentials({
        flags: {},
        env: { INTELLIAUTH_M2M_CLIENT_ID: 'app_env' },
        config,
        secretStoreFactory: fakeStore().factory,
      }),
      (error: unknown) => {
        assert.ok(error instanceof AuthError);
        assert.match(error.message, /INTELLIAUTH_TENANT_URL and INTELLIAUTH_M2M_CLIENT_SECRET not set/);
        return true;
      },
    );
  });

  test('then the active profile, with its secret read lazily from the store', async () => {
    const store = fakeStore({ 'acme-corp.intelliauth.io/client/app_prod': 'cs_prod' });
    const creds = await resolveCredentials({ flags: {}, env: {}, config, secretStoreFactory: store.factory });
    assert.equal(creds.source, 'profile');
    assert.equal(creds.profileName, 'prod');
    assert.equal(creds.tenantUrl, 'https://acme-corp.intelliauth.io');
    assert.equal(creds.clientId, 'app_prod');
    assert.equal(creds.audience, 'https://api.acme');
    assert.equal(store.state.opened, 0, 'the store is opened only when the secret is needed');
    assert.equal(await creds.getClientSecret!(), 'cs_prod');
    assert.deepEqual(store.state.reads, ['acme-corp.intelliauth.io/client/app_prod']);
  });

  test('profile choice: --profile, then INTELLIAUTH_PROFILE, then active_profile, then "default"', async () => {
    const store = fakeStore();
    const pick = async (flags: { profile?: string }, env: Record<string, string>, cfg: ConfigFile = config) =>
      (await resolveCredentials({ flags, env, config: cfg, secretStoreFactory: store.factory })).profileName;
    assert.equal(await pick({ profile: 'dev' }, { INTELLIAUTH_PROFILE: 'prod' }), 'dev');
    assert.equal(await pick({}, { INTELLIAUTH_PROFILE: 'dev' }), 'dev');
    assert.equal(await pick({}, {}), 'prod');
    const noActive: ConfigFile = { version: 1, profiles: { default: { tenant_url: 'https://d.example', client_id: 'c' } } };
    assert.equal(await pick({}, {}, noActive), 'default');
  });

  test('--tenant-url overrides the profile tenant; the secret is still looked up under the profile tenant', async () => {
    const store = fakeStore({ '127.0.0.1:8787/client/app_dev': 'cs_dev' });
    const creds = await resolveCredentials({
      flags: { profile: 'dev', tenantUrl: 'http://127.0.0.1:9999' },
      env: {},
      config,
      secretStoreFactory: store.factory,
    });
    assert.equal(creds.tenantUrl, 'http://127.0.0.1:9999');
    assert.equal(await creds.getClientSecret!(), 'cs_dev');
  });

  test('a named profile that does not exist lists the known ones', async () => {
    await assert.rejects(
      resolveCredentials({ flags: { profile: 'staging' }, env: {}, config, secretStoreFactory: fakeStore().factory, configFile: '/c.json' }),
      (error: unknown) => {
        assert.ok(error instanceof AuthError);
        assert.equal(error.message, 'profile "staging" not found in /c.json');
        assert.match(error.hint ?? '', /prod, dev/);
        return true;
      },
    );
  });

  test('nothing at all -> AuthError with the login / environment hint', async () => {
    await assert.rejects(
      resolveCredentials({ flags: {}, env: {}, config: { version: 1, profiles: {} }, secretStoreFactory: fakeStore().factory }),
      (error: unknown) => {
        assert.ok(error instanceof AuthError);
        assert.equal(error.message, 'no credentials found');
        assert.equal(
          error.hint,
          'run `intelliauth-webhooks login`, or set INTELLIAUTH_TENANT_URL, INTELLIAUTH_M2M_CLIENT_ID and INTELLIAUTH_M2M_CLIENT_SECRET',
        );
        return true;
      },
    );
  });

  test('a profile whose secret is missing from the store', async () => {
    const creds = await resolveCredentials({ flags: {}, env: {}, config, secretStoreFactory: fakeStore().factory });
    await assert.rejects(creds.getClientSecret!(), (error: unknown) => {
      assert.ok(error instanceof AuthError);
      assert.match(error.message, /no client secret stored for profile "prod" in test store/);
      assert.match(error.hint ?? '', /login --profile prod/);
      return true;
    });
  });
});

describe('tenant URL rules', () => {
  test('https is normalised (trailing slash, case, default port)', () => {
    assert.equal(normalizeTenantUrl('https://Acme-Corp.IntelliAuth.io/'), 'https://acme-corp.intelliauth.io');
    assert.equal(normalizeTenantUrl('https://acme.example:443'), 'https://acme.example');
    assert.equal(normalizeTenantUrl('  https://acme.example:8443  '), 'https://acme.example:8443');
  });

  test('plain http only for loopback hosts', () => {
    assert.equal(normalizeTenantUrl('http://127.0.0.1:8787/'), 'http://127.0.0.1:8787');
    assert.equal(normalizeTenantUrl('http://127.5.6.7:1'), 'http://127.5.6.7:1');
    assert.equal(normalizeTenantUrl('http://[::1]:8787'), 'http://[::1]:8787');
    assert.equal(normalizeTenantUrl('http://localhost:8787'), 'http://localhost:8787');
    for (const url of ['http://acme.example', 'http://10.0.0.1', 'http://192.168.1.1:80', 'http://localhost.evil.example', 'http://128.0.0.1']) {
      assert.throws(() => normalizeTenantUrl(url), (error: unknown) => error instanceof UsageError && /plain http/.test(error.message), url);
    }
  });

  test('refuses user info, paths, queries, fragments, other schemes and non-URLs', () => {
    assert.throws(() => normalizeTenantUrl('https://u:p@acme.example'), /user name or password/);
    assert.throws(() => normalizeTenantUrl('https://acme.example/api/v1'), /takes no path/);
    assert.throws(() => normalizeTenantUrl('https://acme.example/?x=1'), /no query or fragment/);
    assert.throws(() => normalizeTenantUrl('https://acme.example/#x'), /no query or fragment/);
    assert.throws(() => normalizeTenantUrl('ftp://acme.example'), /ftp: URLs are not supported/);
    assert.throws(() => normalizeTenantUrl('acme.example'), /is not a URL/);
  });

  test('the message names where the URL came from', () => {
    assert.throws(() => normalizeTenantUrl('http://acme.example', 'INTELLIAUTH_TENANT_URL'), /^UsageError: INTELLIAUTH_TENANT_URL: /);
  });

  test('invalid tenant URLs in the environment surface during resolution', async () => {
    await assert.rejects(
      resolveCredentials({
        flags: {},
        env: { ...envClient, INTELLIAUTH_TENANT_URL: 'http://env.example' },
        config,
        secretStoreFactory: fakeStore().factory,
      }),
      UsageError,
    );
  });

  test('isLoopbackHost', () => {
    assert.ok(isLoopbackHost('127.0.0.1'));
    assert.ok(isLoopbackHost('[::1]'));
    assert.ok(isLoopbackHost('LOCALHOST'));
    assert.ok(isLoopbackHost('[::ffff:7f00:1]'));
    assert.ok(!isLoopbackHost('169.254.1.1'));
    assert.ok(!isLoopbackHost('::'));
  });
});
