// `create` as users run it: the built CLI as a child process, an emulator child process
// started with --allow-private-targets, the real OS keychain (run the suite through
// scripts/with-keyring.sh), a receiver that verifies signatures, and a scan of every byte
// the CLI printed for the secrets it handled. Needs a build (`node scripts/build.mjs`).

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { BIN, ROOT, runCli, startEmulatorProcess, tempHome, type CliResult, type EmulatorProcess } from '../helpers/cli.ts';
import { requireCommand, requireKeychain, runChild } from '../helpers/keyring.ts';
import { startReceiver } from '../helpers/receiver.ts';

const TEST_TIMEOUT = { timeout: 20_000 };
const SERVICE = 'intelliauth-webhooks';
const fingerprint = (secret: string) => createHash('sha256').update(secret, 'utf8').digest('hex').slice(0, 8);

let emulator: EmulatorProcess;
let home: { dir: string; cleanup: () => Promise<void> };
let tenantHost: string;

/** Outputs that must never contain a signing secret (everything except stdout of --secret-store stdout). */
const scanned: Array<{ label: string; text: string }> = [];
/** Every signing secret the runs handled, as found in the stores afterwards. */
const secrets = new Set<string>();

before(async () => {
  assert.ok(existsSync(join(ROOT, 'dist', 'main.js')), 'build first: node scripts/build.mjs');
  home = await tempHome('iaw-create-e2e-');
  emulator = await startEmulatorProcess(['--allow-private-targets']);
  tenantHost = new URL(emulator.tenantUrl).host;
});

after(async () => {
  await emulator?.stop();
  try {
    assert.ok(secrets.size >= 5, `the scan covers the secrets of several runs (${secrets.size})`);
    assert.ok(scanned.length >= 10, `the scan covers many outputs (${scanned.length})`);
    // The emulator's own log is output too.
    scanned.push({ label: 'emulator log', text: emulator.log() });
    for (const secret of secrets) {
      for (const { label, text } of scanned) assert.equal(text.includes(secret), false, `${label} contains a signing secret`);
    }
  } finally {
    await home.cleanup();
  }
});

function unique(label: string): string {
  return `${label}-${randomBytes(4).toString('hex')}`;
}

async function cli(label: string, args: string[], extra: Record<string, string | undefined> = {}, options: { stdoutIsSecret?: boolean } = {}): Promise<CliResult> {
  const result = await runCli(args, { env: emulator.env(home.dir, extra) });
  assert.equal(emulatorState(), 'running', `the emulator stopped during ${label}`);
  if (!options.stdoutIsSecret) scanned.push({ label: `${label} stdout`, text: result.stdout });
  scanned.push({ label: `${label} stderr`, text: result.stderr });
  return result;
}

function emulatorState(): string {
  const { exitCode, signalCode } = emulator.child;
  return exitCode === null && signalCode === null ? 'running' : `exited (code ${exitCode}, signal ${signalCode}); its log ends:\n${emulator.log().slice(-2000)}`;
}

async function token(): Promise<string> {
  const response = await fetch(`${emulator.tenantUrl}/oauth2/token`, {
    method: 'POST',
    body: new URLSearchParams({ grant_type: 'client_credentials', client_id: emulator.clientId, client_secret: emulator.clientSecret }),
  }).catch((error: unknown) => assert.fail(`the emulator did not answer (${String(error)}); it is ${emulatorState()}`));
  return ((await response.json()) as { access_token: string }).access_token;
}

/** The tenant's subscriptions with this name, straight from the API. */
async function subscriptionsNamed(name: string): Promise<Array<Record<string, any>>> {
  const response = await fetch(`${emulator.tenantUrl}/api/v1/webhooks/subscriptions?limit=100`, { headers: { authorization: `Bearer ${await token()}` } });
  assert.equal(response.status, 200);
  const body = (await response.json()) as { data: Array<Record<string, any>>; meta: { next_cursor: string | null } };
  assert.equal(body.meta.next_cursor, null, 'this suite stays on one page');
  return body.data.filter((sub) => sub.name === name);
}

async function keychainLookup(id: string): Promise<string | null> {
  const result = await runChild('secret-tool', ['lookup', 'service', SERVICE, 'username', `${tenantHost}/${id}`], { killAfterMs: 10_000 });
  assert.equal(result.killed, false, 'secret-tool hung');
  return result.code === 0 ? result.stdout : null;
}

describe('create with the real keychain', () => {
  test('the secret lands in the keychain, and a triggered event arrives verified with it', TEST_TIMEOUT, async (t) => {
    if (!(await requireKeychain(t)) || !requireCommand(t, 'secret-tool')) return;
    let secret = '';
    const receiver = await startReceiver({ secrets: () => [secret] });
    try {
      const name = unique('keychain');
      const result = await cli('keychain create', ['create', '--name', name, '--url', receiver.url, '--events', 'user.signed_up,user.deleted', '--description', 'e2e']);
      assert.equal(result.code, 0, result.stderr);
      const [created] = await subscriptionsNamed(name);
      assert.ok(created);
      assert.match(result.stdout, new RegExp(`^id\\t${created.id}$`, 'm'));
      assert.match(result.stdout, /^signing secret\tthe OS keychain$/m);
      assert.match(result.stdout, new RegExp(`^secret fingerprint\\t${created.secret_fingerprint}$`, 'm'));
      assert.match(result.stderr, new RegExp(`✓ created ${created.id}; its signing secret \\(fingerprint ${created.secret_fingerprint}\\) is in the OS keychain`));

      secret = (await keychainLookup(created.id)) ?? '';
      assert.match(secret, /^whsec_/);
      secrets.add(secret);
      assert.equal(fingerprint(secret), created.secret_fingerprint);

      const triggered = await cli('trigger', ['trigger', 'user.signed_up']);
      assert.equal(triggered.code, 0, triggered.stderr);
      const [delivery] = await receiver.waitFor(1);
      assert.ok(delivery);
      assert.equal(delivery.signatureValid, true, 'signed with the secret from the keychain');
      assert.equal(delivery.body.event_type, 'user.signed_up');
      assert.equal((delivery.body.delivery as { subscription_id: string }).subscription_id, created.id);
    } finally {
      await receiver.close();
    }
  });

  test('--json: the subscription without the secret; --debug traces never show it', TEST_TIMEOUT, async (t) => {
    if (!(await requireKeychain(t)) || !requireCommand(t, 'secret-tool')) return;
    const name = unique('json-debug');
    const result = await cli('json+debug create', ['create', '--name', name, '--url', 'http://127.0.0.1:9/x', '--events', 'user.*', '--json', '--debug']);
    assert.equal(result.code, 0, result.stderr);
    const printed = JSON.parse(result.stdout);
    assert.equal(printed.name, name);
    assert.equal('signing_secret' in printed, false);
    assert.deepEqual(printed.secret_location, { store: 'keychain', fingerprint: printed.secret_fingerprint });
    assert.match(result.stderr, /debug: > POST http:\/\/127\.0\.0\.1:\d+\/api\/v1\/webhooks\/subscriptions/);
    assert.match(result.stderr, /debug: <   body: .*"signing_secret":"\[redacted\]"/);
    assert.match(result.stderr, /debug: >   idempotency-key: [0-9a-f-]{36}/);
    const secret = await keychainLookup(printed.id);
    assert.ok(secret);
    secrets.add(secret);
    assert.equal(fingerprint(secret), printed.secret_fingerprint);
  });

  test('the same --idempotency-key twice makes one subscription', TEST_TIMEOUT, async (t) => {
    if (!(await requireKeychain(t)) || !requireCommand(t, 'secret-tool')) return;
    const name = unique('idempotent');
    const key = `e2e-${randomBytes(8).toString('hex')}`;
    const args = ['create', '--name', name, '--url', 'http://127.0.0.1:9/x', '--events', 'user.signed_up', '--idempotency-key', key, '--json'];
    const first = await cli('idempotent create 1', args);
    const second = await cli('idempotent create 2', args);
    assert.equal(first.code, 0, first.stderr);
    assert.equal(second.code, 0, second.stderr);
    assert.equal(JSON.parse(first.stdout).id, JSON.parse(second.stdout).id);
    const found = await subscriptionsNamed(name);
    assert.equal(found.length, 1);
    const secret = await keychainLookup(found[0]!.id);
    assert.ok(secret);
    secrets.add(secret);
    assert.equal(fingerprint(secret), found[0]!.secret_fingerprint);
  });

  test('with the keychain unavailable (no D-Bus), nothing is created and the error names what would work', TEST_TIMEOUT, async () => {
    const name = unique('no-dbus');
    const result = await cli('no-dbus create', ['create', '--name', name, '--url', 'http://127.0.0.1:9/x', '--events', 'user.signed_up'], {
      DBUS_SESSION_BUS_ADDRESS: 'unix:path=/nonexistent',
    });
    assert.equal(result.code, 2, result.stderr);
    assert.equal(result.stdout, '');
    assert.match(result.stderr, /^error: the OS keychain cannot store the secret: the OS keychain is not reachable: .*; nothing was created$/m);
    assert.match(result.stderr, /^hint: use --secret-store file --secret-file \.\/no-dbus-[0-9a-f]+\.secret \(a new 0600 file can be written there\), or --secret-store stdout piped into your secret manager$/m);
    assert.deepEqual(await subscriptionsNamed(name), []);
  });
});

describe('create with other destinations', () => {
  test('--secret-store file: a new 0600 file; an existing file is refused before anything is created', TEST_TIMEOUT, async () => {
    const path = join(home.dir, `${unique('secret')}.txt`);
    const name = unique('file');
    const result = await cli('file create', ['create', '--name', name, '--url', 'http://127.0.0.1:9/x', '--events', 'user.signed_up', '--secret-store', 'file', '--secret-file', path]);
    assert.equal(result.code, 0, result.stderr);
    const [created] = await subscriptionsNamed(name);
    assert.equal((await stat(path)).mode & 0o777, 0o600);
    const content = await readFile(path, 'utf8');
    assert.match(content, /^whsec_\S+\n$/);
    secrets.add(content.trimEnd());
    assert.equal(fingerprint(content.trimEnd()), created!.secret_fingerprint);

    const otherName = unique('file-again');
    const again = await cli('file create over existing', ['create', '--name', otherName, '--url', 'http://127.0.0.1:9/x', '--events', 'user.signed_up', '--secret-file', path]);
    assert.equal(again.code, 2);
    assert.match(again.stderr, new RegExp(`error: cannot write the secret to ${path}: refusing to overwrite existing file ${path}; nothing was created`));
    assert.equal(await readFile(path, 'utf8'), content, 'untouched');
    assert.deepEqual(await subscriptionsNamed(otherName), []);
  });

  test('--secret-store stdout: stdout is exactly the secret and a newline', TEST_TIMEOUT, async () => {
    const name = unique('stdout');
    const result = await cli('stdout create', ['create', '--name', name, '--url', 'http://127.0.0.1:9/x', '--events', 'user.signed_up', '--secret-store', 'stdout'], {}, { stdoutIsSecret: true });
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^whsec_[A-Za-z0-9_-]+\n$/);
    const secret = result.stdout.slice(0, -1);
    secrets.add(secret);
    const [created] = await subscriptionsNamed(name);
    assert.equal(fingerprint(secret), created!.secret_fingerprint);
    assert.match(result.stderr, new RegExp(`^id +${created!.id}$`, 'm'));
    assert.match(result.stderr, /^signing secret +stdout \(not stored locally\)$/m);
  });

  test('--secret-store stdout whose reader is gone: the secret goes to a 0600 fallback file, exit 6', TEST_TIMEOUT, async () => {
    const name = unique('epipe');
    const dataHome = join(home.dir, 'data');
    const result = await new Promise<{ code: number | null; stderr: string }>((resolve, reject) => {
      const child = spawn(process.execPath, [BIN, 'create', '--name', name, '--url', 'http://127.0.0.1:9/x', '--events', 'user.signed_up', '--secret-store', 'stdout'], {
        cwd: ROOT,
        env: emulator.env(home.dir),
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      // Nobody reads stdout: the secret's write fails with EPIPE.
      child.stdout.destroy();
      let stderr = '';
      child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      child.once('error', reject);
      child.once('close', (code) => {
        clearTimeout(timer);
        resolve({ code, stderr });
      });
    });
    scanned.push({ label: 'epipe stderr', text: result.stderr });
    assert.equal(result.code, 6, result.stderr);
    const [created] = await subscriptionsNamed(name);
    assert.ok(created, 'the subscription exists');
    const fallbackDir = join(dataHome, 'intelliauth-webhooks', 'fallback');
    const file = (await readdir(fallbackDir)).find((entry) => entry.startsWith(created.id));
    assert.ok(file, 'a fallback file for this subscription');
    const path = join(fallbackDir, file);
    assert.match(result.stderr, new RegExp(`error: storing the signing secret failed \\(writing it to stdout failed: the reading end of the pipe closed \\(EPIPE\\)\\); it was saved to ${path} \\(mode 0600\\)`));
    assert.match(result.stderr, new RegExp(`^id +${created.id}$`, 'm'), 'the summary still tells what was created');
    assert.equal((await stat(path)).mode & 0o777, 0o600);
    const secret = (await readFile(path, 'utf8')).trimEnd();
    secrets.add(secret);
    assert.equal(fingerprint(secret), created.secret_fingerprint);
  });

  test('usage errors: missing flags, * without --all-events, an unknown type, --json with stdout', TEST_TIMEOUT, async () => {
    const name = unique('refused');
    const cases: Array<[string[], RegExp]> = [
      [['create', '--url', 'http://127.0.0.1:9/x'], /^error: missing --name and --events \(or --all-events\) \(no interactive terminal to ask on\)$/m],
      [['create', '--name', name, '--url', 'http://127.0.0.1:9/x', '--events', '*'], /refusing without --all-events$/m],
      [['create', '--name', name, '--url', 'http://127.0.0.1:9/x', '--events', 'user.signedup'], /^error: --events: unknown event type user\.signedup \(did you mean user\.signed_up\?\)$/m],
      [['create', '--name', name, '--url', 'http://127.0.0.1:9/x', '--all-events', '--secret-store', 'stdout', '--json'], /--secret-store stdout and --json both want stdout/],
    ];
    for (const [args, expected] of cases) {
      const result = await cli(`refused ${args.join(' ')}`, args);
      assert.equal(result.code, 2, result.stderr);
      assert.equal(result.stdout, '');
      assert.match(result.stderr, expected);
    }
    assert.deepEqual(await subscriptionsNamed(name), []);
  });

  test('against a real https tenant, a private receiver is refused locally with the precise reason', TEST_TIMEOUT, async () => {
    // A proxy on a closed loopback port: should anything try to reach the tenant, it fails here.
    const result = await runCli(['create', '--name', 'x', '--url', 'https://10.0.0.5/hooks', '--events', 'user.signed_up', '--secret-store', 'stdout'], {
      env: emulator.env(home.dir, {
        INTELLIAUTH_TENANT_URL: 'https://acme-corp.intelliauth.io',
        INTELLIAUTH_M2M_CLIENT_ID: undefined,
        INTELLIAUTH_M2M_CLIENT_SECRET: undefined,
        INTELLIAUTH_TOKEN: 'e2e-unused-token',
        HTTPS_PROXY: 'http://127.0.0.1:9',
        HTTP_PROXY: 'http://127.0.0.1:9',
      }),
    });
    scanned.push({ label: 'strict tenant stderr', text: result.stderr });
    assert.equal(result.code, 2);
    assert.equal(result.stdout, '');
    assert.match(result.stderr, /^error: --url: receiver URL refused: 10\.0\.0\.5 is a private RFC 1918 address$/m);
  });
});

describe('create and signals', () => {
  test('SIGINT twice while the create request is in flight: the secret is still stored and the outcome reported', TEST_TIMEOUT, async () => {
    const secret = `whsec_${randomBytes(24).toString('base64url')}`;
    secrets.add(secret);
    const id = 'whsub_01JSIGNAL000000000000000001';
    let child: ReturnType<typeof spawn> | undefined;
    // A tenant that answers the create call only after the CLI has been interrupted twice.
    const server = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        res.setHeader('content-type', 'application/json');
        if (req.url === '/oauth2/token') {
          res.end(JSON.stringify({ access_token: 'tok', token_type: 'Bearer', expires_in: 3600, scope: 'webhooks:read webhooks:write' }));
        } else if (req.method === 'GET') {
          res.end(JSON.stringify({ data: [{ type: 'user.signed_up', category: 'user', description: 'd' }], meta: {} }));
        } else {
          child?.kill('SIGINT');
          setTimeout(() => child?.kill('SIGINT'), 100);
          setTimeout(() => {
            const now = new Date().toISOString();
            res.statusCode = 201;
            res.end(JSON.stringify({
              data: {
                id, name: 'sig', url: 'http://127.0.0.1:9/x', events: ['user.signed_up'], description: null, status: 'active',
                created_at: now, updated_at: now, secret_fingerprint: fingerprint(secret), previous_secret_expires_at: null, signing_secret: secret,
              },
            }));
          }, 600);
        }
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const tenantUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const path = join(home.dir, `${unique('signal')}.secret`);
    try {
      const result = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
        child = spawn(process.execPath, [BIN, 'create', '--name', 'sig', '--url', 'http://127.0.0.1:9/x', '--events', 'user.signed_up', '--secret-file', path], {
          cwd: ROOT,
          env: emulator.env(home.dir, { INTELLIAUTH_TENANT_URL: tenantUrl, INTELLIAUTH_M2M_CLIENT_ID: 'app_sig', INTELLIAUTH_M2M_CLIENT_SECRET: 'unused' }),
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        let stdout = '';
        let stderr = '';
        child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
        child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
        const timer = setTimeout(() => child?.kill('SIGKILL'), 15_000);
        child.once('error', reject);
        child.once('close', (code) => {
          clearTimeout(timer);
          resolve({ code, stdout, stderr });
        });
      });
      scanned.push({ label: 'signal stdout', text: result.stdout }, { label: 'signal stderr', text: result.stderr });
      assert.equal(result.code, 130, result.stderr);
      assert.equal(await readFile(path, 'utf8'), `${secret}\n`, 'the secret was stored despite the signals');
      assert.equal((await stat(path)).mode & 0o777, 0o600);
      assert.match(result.stdout, new RegExp(`^id\\t${id}$`, 'm'), 'the summary was printed before the process ended');
      assert.match(result.stderr, new RegExp(`warning: interrupted, but only after ${id} was created; its signing secret is in file ${path}`));
    } finally {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});

describe('update', () => {
  test('changes a subscription and prints it as JSON', TEST_TIMEOUT, async () => {
    const name = unique('to-update');
    const path = join(home.dir, `${unique('upd')}.secret`);
    const created = await cli('update setup', ['create', '--name', name, '--url', 'http://127.0.0.1:9/x', '--events', 'user.signed_up', '--secret-file', path, '--json']);
    assert.equal(created.code, 0, created.stderr);
    secrets.add((await readFile(path, 'utf8')).trimEnd());
    const id = JSON.parse(created.stdout).id as string;
    const renamed = `${name}-renamed`;
    const result = await cli('update', ['update', id, '--name', renamed, '--events', 'user.*,mfa.factor_added', '--json']);
    assert.equal(result.code, 0, result.stderr);
    const printed = JSON.parse(result.stdout);
    assert.equal(printed.id, id);
    assert.equal(printed.name, renamed);
    assert.deepEqual(printed.events, ['user.*', 'mfa.factor_added']);
    const nothing = await cli('update nothing', ['update', id]);
    assert.equal(nothing.code, 2);
    assert.match(nothing.stderr, /^error: nothing to change$/m);
    const missing = await cli('update missing', ['update', 'whsub_01ZZZZZZZZZZZZZZZZZZZZZZZZ', '--name', 'x']);
    assert.equal(missing.code, 4);
    assert.match(missing.stderr, /subscription whsub_01ZZZZZZZZZZZZZZZZZZZZZZZZ not found/);
  });
});

// Files written by the runs above hold secrets too; make sure the scan knew about them all.
test('the secret files found on disk are all in the scan', async () => {
  const files = (await readdir(home.dir)).filter((entry) => entry.endsWith('.txt') || entry.endsWith('.secret'));
  for (const file of files) {
    const content = (await readFile(join(home.dir, file), 'utf8')).trimEnd();
    if (content.startsWith('whsec_')) assert.ok(secrets.has(content), `${file} was scanned for`);
  }
});
