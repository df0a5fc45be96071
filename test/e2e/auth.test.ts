// login, auth status and logout as users run them: the built CLI, an emulator child process
// and the REAL OS keychain (run inside scripts/with-keyring.sh), checked from the outside
// with secret-tool. Needs a build (`node scripts/build.mjs`).

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { cleanEnv, ROOT, runCli, startEmulatorProcess, tempHome, type CliResult, type EmulatorProcess } from '../helpers/cli.ts';
import { requireCommand, requireKeychain, runChild } from '../helpers/keyring.ts';

const TEST_TIMEOUT = { timeout: 60_000 };
const SERVICE = 'intelliauth-webhooks';

let emulator: EmulatorProcess;
const homes: Array<{ dir: string; cleanup: () => Promise<void> }> = [];
const outputs: CliResult[] = [];

before(async () => {
  assert.ok(existsSync(join(ROOT, 'dist', 'main.js')), 'build first: node scripts/build.mjs');
  emulator = await startEmulatorProcess();
});

after(async () => {
  // Whatever a failed test left in the keychain goes; the secret must be nowhere in our output.
  await runChild('secret-tool', ['clear', 'service', SERVICE, 'username', account()]).catch(() => undefined);
  await emulator?.stop();
  await Promise.all(homes.map((home) => home.cleanup()));
  assert.ok(outputs.length > 0, 'the runs were recorded');
  for (const result of outputs) {
    assert.ok(!result.stdout.includes(emulator.clientSecret), `client secret on stdout: ${result.stdout}`);
    assert.ok(!result.stderr.includes(emulator.clientSecret), `client secret on stderr: ${result.stderr}`);
  }
});

function account(): string {
  return `${new URL(emulator.tenantUrl).host}/client/${emulator.clientId}`;
}

async function home(): Promise<{ dir: string; env: Record<string, string> }> {
  const created = await tempHome('iaw-e2e-auth-');
  homes.push(created);
  return { dir: created.dir, env: cleanEnv(created.dir) };
}

async function cli(args: string[], env: Record<string, string>, input?: string): Promise<CliResult> {
  const result = await runCli(args, { env, ...(input === undefined ? {} : { input }) });
  outputs.push(result);
  return result;
}

async function lookup(): Promise<{ code: number | null; secret: string }> {
  const result = await runChild('secret-tool', ['lookup', 'service', SERVICE, 'username', account()]);
  assert.equal(result.killed, false, 'secret-tool hung');
  return { code: result.code, secret: result.stdout };
}

async function filesUnder(dir: string): Promise<string[]> {
  if (!existsSync(dir)) return [];
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((entry) => entry.isFile()).map((entry) => join(entry.parentPath, entry.name));
}

describe('login, auth status and logout with the real keychain', () => {
  test('the full round trip', TEST_TIMEOUT, async (t) => {
    if (!(await requireKeychain(t)) || !requireCommand(t, 'secret-tool')) return;
    const { dir, env } = await home();

    const login = await cli(
      ['login', '--tenant-url', emulator.tenantUrl, '--client-id', emulator.clientId, '--client-secret-stdin', '--json'],
      env,
      `${emulator.clientSecret}\n`,
    );
    assert.equal(login.code, 0, login.stderr);
    const summary = JSON.parse(login.stdout) as Record<string, unknown>;
    assert.equal(summary.profile, 'default');
    assert.equal(summary.tenant_url, emulator.tenantUrl);
    assert.equal(summary.client_id, emulator.clientId);
    assert.deepEqual(summary.scopes, ['webhooks:read', 'webhooks:write']);
    assert.equal(summary.secret_store, 'OS keychain (Secret Service)');
    assert.match(login.stderr, /✓ Logged in to /);

    // The secret is in the keychain, under the documented attributes...
    const stored = await lookup();
    assert.equal(stored.code, 0);
    assert.equal(stored.secret, emulator.clientSecret);
    // ...and in no file the tool wrote (the token cache is encrypted with a key derived from it).
    const written = await filesUnder(dir);
    assert.ok(written.some((file) => file.endsWith('config.json')));
    assert.ok(written.some((file) => file.includes(`${join('intelliauth-webhooks', 'tokens')}`)), 'the token cache was primed');
    for (const file of written) {
      const content = await readFile(file, 'utf8');
      assert.ok(!content.includes(emulator.clientSecret), `client secret in ${file}`);
    }
    const config = JSON.parse(await readFile(join(dir, 'config', 'intelliauth-webhooks', 'config.json'), 'utf8')) as Record<string, unknown>;
    assert.deepEqual(config, { version: 1, profiles: { default: { tenant_url: emulator.tenantUrl, client_id: emulator.clientId } }, active_profile: 'default' });

    // Using the profile: the secret comes back out of the keychain for a token.
    const status = await cli(['auth', 'status', '--json'], env);
    assert.equal(status.code, 0, status.stderr);
    const report = JSON.parse(status.stdout) as { ok: boolean; source: string; profile: string; token: { scopes: string[]; from_cache: boolean }; keychain: { usable: boolean } };
    assert.equal(report.ok, true);
    assert.equal(report.source, 'profile');
    assert.equal(report.profile, 'default');
    assert.deepEqual(report.token.scopes, ['webhooks:read', 'webhooks:write']);
    assert.equal(report.token.from_cache, true, 'login primed the cache');
    assert.equal(report.keychain.usable, true);

    const human = await cli(['auth', 'status'], env);
    assert.equal(human.code, 0, human.stderr);
    assert.match(human.stdout, /^Credentials\tprofile "default" in .*config\.json, client secret in OS keychain \(Secret Service\)$/m);

    const logout = await cli(['logout'], env);
    assert.equal(logout.code, 0, logout.stderr);
    assert.match(logout.stderr, /✓ Logged out of profile "default" .*: removed its client secret from the keychain and 1 cached token/);
    const gone = await lookup();
    assert.notEqual(gone.code, 0, 'secret-tool finds nothing');
    assert.equal(gone.secret, '');

    const again = await cli(['logout', '--json'], env);
    assert.equal(again.code, 0, again.stderr);
    assert.equal((JSON.parse(again.stdout) as { profiles: Array<{ client_secret_removed: boolean }> }).profiles[0]?.client_secret_removed, false);
    assert.match(again.stderr, /nothing to remove/);

    const after = await cli(['auth', 'status', '--json'], env);
    assert.equal(after.code, 3, after.stderr);
    const failed = JSON.parse(after.stdout) as { ok: boolean; reason: string };
    assert.equal(failed.ok, false);
    assert.match(failed.reason, /no client secret stored for profile "default"/);
    assert.match(after.stderr, /^error: no client secret stored for profile "default"/m);
  });

  test('a wrong secret is rejected with exit 3, and nothing reaches the keychain or the config', TEST_TIMEOUT, async (t) => {
    if (!(await requireKeychain(t)) || !requireCommand(t, 'secret-tool')) return;
    const { dir, env } = await home();
    const result = await cli(['login', '--tenant-url', emulator.tenantUrl, '--client-id', emulator.clientId, '--client-secret-stdin'], env, 'cs_definitely_wrong\n');
    assert.equal(result.code, 3);
    assert.match(result.stderr, /^error: login failed: the tenant rejected the client id or secret/m);
    assert.ok(!result.stderr.includes('cs_definitely_wrong'));
    assert.equal((await lookup()).code === 0, false);
    assert.deepEqual(await filesUnder(join(dir, 'config')), []);
  });
});

describe('without a keychain', () => {
  test('login fails at once with a hint to use the environment, writing nothing', TEST_TIMEOUT, async () => {
    const { dir } = await home();
    const env = cleanEnv(dir, { DBUS_SESSION_BUS_ADDRESS: undefined });
    const result = await cli(['login', '--tenant-url', emulator.tenantUrl, '--client-id', emulator.clientId, '--client-secret-stdin'], env, `${emulator.clientSecret}\n`);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /^error: cannot store the client secret, so nothing was saved: the OS keychain is not reachable/m);
    assert.match(result.stderr, /^hint: .*skip login and set INTELLIAUTH_TENANT_URL, INTELLIAUTH_M2M_CLIENT_ID and INTELLIAUTH_M2M_CLIENT_SECRET instead$/m);
    assert.deepEqual(await filesUnder(dir), []);
  });

  test('auth status works from the environment and reports the keychain as unusable', TEST_TIMEOUT, async () => {
    const { dir } = await home();
    const env = emulator.env(dir, { DBUS_SESSION_BUS_ADDRESS: undefined });
    const result = await cli(['auth', 'status', '--json'], env);
    assert.equal(result.code, 0, result.stderr);
    const report = JSON.parse(result.stdout) as { ok: boolean; source: string; keychain: { usable: boolean; reason: string } };
    assert.equal(report.ok, true);
    assert.equal(report.source, 'env-client');
    assert.equal(report.keychain.usable, false);
    assert.match(report.keychain.reason, /not reachable/);
  });
});
