import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run, runChecks, CHECK_TITLES, type CheckReport } from '../../src/commands/doctor/run.ts';
import { CheckFailedError, SecretStoreError, exitCodeFor } from '../../src/errors.ts';
import { MemorySecretStore } from '../../src/secrets/memory-store.ts';
import { startEmulator, type RunningEmulator } from '../../src/emulator/index.ts';
import { makeTestContext, type TestContextOptions } from '../helpers/context.ts';
import { emulatorEnv } from '../helpers/subscriptions.ts';

interface Setup {
  home: string;
  emulator: RunningEmulator;
  env: Record<string, string>;
}

async function setup(t: { after: (fn: () => Promise<void>) => void }): Promise<Setup> {
  const home = await mkdtemp(join(tmpdir(), 'iaw-doctor-run-'));
  const emulator = await startEmulator({ port: 0, log: () => undefined });
  t.after(async () => {
    await emulator.close({ graceMs: 0 });
    await rm(home, { recursive: true, force: true });
  });
  const env = emulatorEnv(emulator, home);
  return { home, emulator, env };
}

function byName(reports: CheckReport[]): Record<string, CheckReport> {
  return Object.fromEntries(reports.map((report) => [report.name, report]));
}

function context(options: TestContextOptions) {
  return makeTestContext({ secretStore: new MemorySecretStore({ description: 'test keychain' }), ...options });
}

describe('doctor run', () => {
  test('a working setup: every check ok, in order, printed as a list with fixes only where needed', async (t) => {
    const { env } = await setup(t);
    const harness = context({ env });
    await run({}, harness.context);
    const lines = harness.stdout().trimEnd().split('\n');
    assert.deepEqual(
      lines.map((line) => line.slice(2, 2 + 'Tenant reachability and TLS'.length).trim()),
      Object.values(CHECK_TITLES),
    );
    for (const line of lines) assert.ok(line.startsWith('✓ '), line);
    assert.doesNotMatch(harness.stdout(), /fix:/);
    assert.match(harness.stderr(), /8 ok, 0 warnings, 0 failed/);
    assert.doesNotMatch(harness.stdout() + harness.stderr(), new RegExp(env.INTELLIAUTH_M2M_CLIENT_SECRET));
  });

  test('--json with a wrong client secret: the document first, then exit 7 for the token check', async (t) => {
    const { env } = await setup(t);
    const harness = context({ env: { ...env, INTELLIAUTH_M2M_CLIENT_SECRET: 'wrong-secret' }, globals: { json: true } });
    await assert.rejects(run({}, harness.context), (error: unknown) => {
      assert.ok(error instanceof CheckFailedError);
      assert.equal(exitCodeFor(error), 7);
      assert.match(error.message, /1 check failed: token/);
      return true;
    });
    const document = JSON.parse(harness.stdout()) as { ok: boolean; checks: CheckReport[] };
    assert.equal(document.ok, false);
    assert.deepEqual(document.checks.map((check) => check.name), Object.keys(CHECK_TITLES));
    const token = byName(document.checks).token!;
    assert.equal(token.status, 'fail');
    assert.match(token.detail, /the tenant rejected the client id or secret/);
    assert.ok(token.fix);
    assert.deepEqual(Object.keys(token).sort(), ['detail', 'fix', 'name', 'status']);
    assert.doesNotMatch(harness.stdout(), /wrong-secret/);
  });

  test('a clock ten minutes off the tenant fails the clock check', async (t) => {
    const { env } = await setup(t);
    const harness = context({ env, now: () => Date.now() + 10 * 60_000 });
    await assert.rejects(run({}, harness.context), CheckFailedError);
    assert.match(harness.stdout(), /✗ Clock skew +this clock is 10 min \d+ s ahead of the tenant's: more than the 300 s timestamp window/);
  });

  test('an unreachable tenant fails, and the clock and token checks are skipped with the reason', async (t) => {
    const { env } = await setup(t);
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const reports = byName(await runChecks(context({ env: { ...env, INTELLIAUTH_TENANT_URL: `http://127.0.0.1:${port}` } }).context));
    assert.equal(reports.tenant!.status, 'fail');
    assert.match(reports.tenant!.detail, /connection refused/);
    assert.deepEqual([reports.clock!.status, reports.clock!.detail], ['skip', 'the tenant was not reached']);
    assert.deepEqual([reports.token!.status, reports.token!.detail], ['skip', 'the tenant was not reached']);
  });

  test('an unreadable config file fails, and the credentials check is skipped', async (t) => {
    const { env } = await setup(t);
    await mkdir(join(env.XDG_CONFIG_HOME, 'intelliauth-webhooks'), { recursive: true });
    await writeFile(join(env.XDG_CONFIG_HOME, 'intelliauth-webhooks', 'config.json'), '{ nope');
    const reports = byName(await runChecks(context({ env }).context));
    assert.equal(reports.config!.status, 'fail');
    assert.match(reports.config!.detail, /is not valid JSON/);
    assert.equal(reports.credentials!.status, 'skip');
    // Still probed: the tenant URL comes from the environment.
    assert.equal(reports.tenant!.status, 'ok');
    assert.equal(reports.token!.status, 'skip');
  });

  test('a profile whose keychain is unusable: credentials and keychain fail, the token check is skipped', async (t) => {
    const { env, emulator } = await setup(t);
    const configDir = join(env.XDG_CONFIG_HOME, 'intelliauth-webhooks');
    await mkdir(configDir, { recursive: true });
    await writeFile(
      join(configDir, 'config.json'),
      JSON.stringify({ version: 1, active_profile: 'lab', profiles: { lab: { tenant_url: emulator.tenantUrl, client_id: emulator.clientId } } }),
    );
    const unusable = new SecretStoreError('the OS keychain is not reachable: no Secret Service is running', { hint: 'start gnome-keyring' });
    const store = new MemorySecretStore({ description: 'OS keychain (Secret Service)', failOn: { probe: unusable, get: unusable } });
    const profileEnv = { HOME: env.HOME, XDG_CONFIG_HOME: env.XDG_CONFIG_HOME, XDG_CACHE_HOME: env.XDG_CACHE_HOME, XDG_DATA_HOME: env.XDG_DATA_HOME };
    const reports = byName(await runChecks(makeTestContext({ env: profileEnv, secretStore: store }).context));
    assert.equal(reports.config!.status, 'ok');
    assert.match(reports.config!.detail, /using "lab"/);
    assert.equal(reports.credentials!.status, 'fail');
    assert.match(reports.credentials!.detail, /profile "lab": cannot read its client secret/);
    assert.equal(reports.keychain!.status, 'fail');
    assert.match(reports.keychain!.detail, /the active profile keeps its client secret there/);
    assert.equal(reports.tenant!.status, 'ok');
    assert.deepEqual([reports.token!.status, reports.token!.detail], ['skip', 'the client secret could not be read (see above)']);
  });

  test('no credentials and no tenant: the network checks are skipped, and the credentials fix is the login hint', async (t) => {
    const { env } = await setup(t);
    const bare = { HOME: env.HOME, XDG_CONFIG_HOME: env.XDG_CONFIG_HOME, XDG_CACHE_HOME: env.XDG_CACHE_HOME, XDG_DATA_HOME: env.XDG_DATA_HOME };
    const harness = context({ env: bare });
    await assert.rejects(run({}, harness.context), /1 check failed: credentials/);
    const out = harness.stdout();
    assert.match(out, /✗ Credentials +no credentials found\n +fix: run `intelliauth-webhooks login`/);
    assert.match(out, /- Tenant reachability and TLS +skipped: no tenant URL known/);
    assert.match(out, /- Token and scopes +skipped: no tenant URL known/);
  });
});
