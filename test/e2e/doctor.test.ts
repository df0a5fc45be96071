// `doctor` as users run it: the built CLI in a child process against an emulator child
// process (or a fake tenant), with a real keychain when run inside scripts/with-keyring.sh.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { runCli, startEmulatorProcess, tempHome, cleanEnv, type EmulatorProcess } from '../helpers/cli.ts';
import { requireKeychain } from '../helpers/keyring.ts';

interface Report {
  ok: boolean;
  checks: Array<{ name: string; status: string; detail: string; fix?: string }>;
}

function parse(stdout: string): Report {
  return JSON.parse(stdout) as Report;
}

function check(report: Report, name: string) {
  const found = report.checks.find((entry) => entry.name === name);
  assert.ok(found, `no ${name} check in ${JSON.stringify(report)}`);
  return found;
}

const CHECKS = ['node', 'config', 'credentials', 'keychain', 'proxy', 'tenant', 'clock', 'token'];

describe('doctor (e2e)', () => {
  let emulator: EmulatorProcess;
  let home: { dir: string; cleanup: () => Promise<void> };

  before(async () => {
    home = await tempHome('iaw-doctor-e2e-');
    emulator = await startEmulatorProcess();
  });
  after(async () => {
    await emulator?.stop();
    await home?.cleanup();
  });

  test('a working setup with a real keychain: every check ok, exit 0', async (t) => {
    if (!(await requireKeychain(t))) return;
    const result = await runCli(['doctor', '--json'], { env: emulator.env(home.dir), timeoutMs: 20_000 });
    assert.equal(result.code, 0, result.stderr);
    const report = parse(result.stdout);
    assert.equal(report.ok, true);
    assert.deepEqual(report.checks.map((entry) => entry.name), CHECKS);
    for (const entry of report.checks) assert.equal(entry.status, 'ok', `${entry.name}: ${entry.detail}`);
    assert.match(check(report, 'tenant').detail, /TLS not applicable/);
    assert.match(check(report, 'token').detail, /webhooks:read webhooks:write/);
    assert.doesNotMatch(result.stdout + result.stderr, new RegExp(emulator.clientSecret));
  });

  test('no keychain: the keychain check is not ok and names the reason, without hanging', async () => {
    const env = emulator.env(home.dir, { DBUS_SESSION_BUS_ADDRESS: 'unix:path=/nonexistent' });
    const result = await runCli(['doctor'], { env, timeoutMs: 20_000 });
    assert.notEqual(result.code, null, 'doctor was killed: the keychain probe was not bounded');
    // Credentials come from the environment, so an unusable keychain is a warning, not a failure.
    assert.equal(result.code, 0, result.stdout + result.stderr);
    assert.match(result.stdout, /^! OS keychain +the OS keychain is not reachable: cannot connect to the D-Bus session bus \(\/nonexistent: no such socket/m);
    assert.match(result.stdout, /^ +fix: .*--secret-store file/m);
    assert.match(result.stdout, /^✓ Token and scopes /m);
  });

  test('a wrong client secret: the token check fails and doctor exits 7', async () => {
    const env = emulator.env(home.dir, { INTELLIAUTH_M2M_CLIENT_SECRET: 'definitely-not-the-secret' });
    const result = await runCli(['doctor', '--json'], { env, timeoutMs: 20_000 });
    assert.equal(result.code, 7, result.stderr);
    const report = parse(result.stdout);
    assert.equal(report.ok, false);
    const token = check(report, 'token');
    assert.equal(token.status, 'fail');
    assert.match(token.detail, /the tenant rejected the client id or secret/);
    assert.match(result.stderr, /error: 1 check failed: token/);
    assert.doesNotMatch(result.stdout + result.stderr, /definitely-not-the-secret/);
  });

  test('a tenant whose clock is ten minutes behind: the clock check fails', async (t) => {
    const tenant = await startSkewedTenant(-10 * 60_000);
    t.after(() => {
      tenant.server.closeAllConnections();
      return new Promise<void>((resolve) => tenant.server.close(() => resolve()));
    });
    const env = cleanEnv(home.dir, {
      INTELLIAUTH_TENANT_URL: tenant.url,
      INTELLIAUTH_M2M_CLIENT_ID: 'app_fake',
      INTELLIAUTH_M2M_CLIENT_SECRET: 'fake-secret',
    });
    const result = await runCli(['doctor', '--json'], { env, timeoutMs: 20_000 });
    assert.equal(result.code, 7, result.stderr);
    const report = parse(result.stdout);
    const clock = check(report, 'clock');
    assert.equal(clock.status, 'fail');
    assert.match(clock.detail, /this clock is 10 min \d+ s ahead of the tenant's: more than the 300 s timestamp window/);
    assert.ok(clock.fix);
    assert.equal(check(report, 'tenant').status, 'ok');
    assert.equal(check(report, 'token').status, 'ok');
    assert.match(result.stderr, /1 check failed: clock/);
  });
});

/** A loopback stand-in for a tenant: a token endpoint and the catalogue, with a Date header offset by skewMs. */
async function startSkewedTenant(skewMs: number): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    const date = new Date(Date.now() + skewMs).toUTCString();
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json', date }).end(JSON.stringify(body));
    };
    req.resume();
    req.on('end', () => {
      if (req.method === 'POST' && req.url === '/oauth2/token') {
        send(200, { access_token: 'fake-access-token', token_type: 'Bearer', expires_in: 3600, scope: 'webhooks:read webhooks:write' });
      } else if (req.method === 'GET' && req.url === '/api/v1/webhooks/event-types') {
        if (req.headers.authorization === 'Bearer fake-access-token') send(200, { data: [] });
        else send(401, { error: 'unauthorized', message: 'a bearer token is required' });
      } else {
        send(404, { error: 'not_found', message: 'no such route' });
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}
