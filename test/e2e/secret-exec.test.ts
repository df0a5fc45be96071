import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { paths, TOKEN_PATH, type CreatedSubscription } from '../../src/domain/contract.ts';
import { secretFingerprint } from '../../src/domain/signature.ts';
import { handOffSecret } from '../../src/secrets/signing-secrets.ts';
import type { SecretStatusReport } from '../../src/commands/secret/status.ts';
import { BIN, ROOT, runCli, startEmulatorProcess, tempHome, type CliResult, type EmulatorProcess } from '../helpers/cli.ts';
import { makeTestContext } from '../helpers/context.ts';
import { requireCommand, requireKeychain } from '../helpers/keyring.ts';
import { startPane } from '../helpers/tmux-pane.ts';

// `secret exec|status|import|reveal|delete` as users run them: the built CLI against an
// emulator child process. The exec tests keep the secret in a 0600 file (as
// `create --secret-store file` does), so they need no keychain; the import tests use the
// real one (run through scripts/with-keyring.sh). Needs a build (`node scripts/build.mjs`).

const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex');
// A bound against hangs, not a speed check: each test runs a few CLI processes.
const TEST_TIMEOUT = { timeout: 30_000 };

/** Prints hashes of what it was given, never the secret, then exits with EXIT_WITH. */
const HASHING_CHILD = [
  "const { createHash } = require('node:crypto');",
  "const h = (v) => v === undefined ? 'unset' : createHash('sha256').update(v, 'utf8').digest('hex');",
  "console.log(`current=${h(process.env.INTELLIAUTH_WEBHOOK_SECRET)} previous=${h(process.env.INTELLIAUTH_WEBHOOK_SECRET_PREVIOUS)} args=${process.argv.slice(1).join(',')}`);",
  'process.exit(Number(process.env.EXIT_WITH || 0));',
].join('\n');

/** Says "ready"; on SIGTERM/SIGINT/SIGHUP says which, and exits 42 a little later. */
const TRAPPING_CHILD = [
  "for (const name of ['SIGTERM', 'SIGINT', 'SIGHUP']) process.on(name, () => { console.log(`got ${name}`); setTimeout(() => process.exit(42), 200); });",
  "console.log('ready');",
  'setTimeout(() => process.exit(99), 15000);',
].join('\n');

/** Says "ready"; counts SIGINTs for a moment after the first, says how many, exits 42. */
const COUNTING_CHILD = [
  'let count = 0;',
  "process.on('SIGINT', () => { count += 1; if (count === 1) setTimeout(() => { console.log(`SIGINT x${count}`); process.exit(42); }, 700); });",
  "console.log('ready');",
  'setTimeout(() => process.exit(99), 15000);',
].join('\n');

/** Says "ready" and waits, with default signal handling. */
const PLAIN_CHILD = "console.log('ready'); setTimeout(() => process.exit(99), 15000);";

let home: { dir: string; cleanup: () => Promise<void> };
let emulator: EmulatorProcess;
const outputs: CliResult[] = [];
const secrets: string[] = [];

async function createDirectly(name: string): Promise<CreatedSubscription> {
  const form = new URLSearchParams({ grant_type: 'client_credentials', client_id: emulator.clientId, client_secret: emulator.clientSecret });
  const tokenAnswer = (await (await fetch(emulator.tenantUrl + TOKEN_PATH, { method: 'POST', body: form })).json()) as { access_token: string };
  const response = await fetch(emulator.tenantUrl + paths.subscriptions(), {
    method: 'POST',
    headers: { authorization: `Bearer ${tokenAnswer.access_token}`, 'content-type': 'application/json', 'idempotency-key': `e2e-secret-${name}` },
    body: JSON.stringify({ name, url: `https://hooks.example.com/${name}`, events: ['user.signed_up'] }),
  });
  const body = (await response.json()) as { data: CreatedSubscription };
  assert.equal(response.status, 201, JSON.stringify(body));
  secrets.push(body.data.signing_secret);
  return body.data;
}

async function cli(args: string[], options: { input?: string; env?: Record<string, string> } = {}): Promise<CliResult> {
  const result = await runCli(args, { env: emulator.env(home.dir, options.env ?? {}), ...(options.input === undefined ? {} : { input: options.input }) });
  outputs.push(result);
  return result;
}

/** Starts `secret exec`, waits for the command's "ready" line, sends `signal` to the CLI process. */
async function execAndSignal(id: string, script: string, signal: NodeJS.Signals): Promise<CliResult> {
  const child = spawn(process.execPath, [BIN, 'secret', 'exec', id, '--', process.execPath, '-e', script], {
    cwd: ROOT,
    env: emulator.env(home.dir),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  const killer = setTimeout(() => child.kill('SIGKILL'), 15_000);
  const closed = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('close', (code, sig) => resolve({ code, signal: sig })));
  const lines = createInterface({ input: child.stdout });
  lines.on('line', (line) => {
    stdout += `${line}\n`;
    if (line === 'ready') child.kill(signal);
  });
  const { code, signal: endedBy } = await closed;
  clearTimeout(killer);
  const result = { code, signal: endedBy, stdout, stderr };
  outputs.push(result);
  return result;
}

before(async () => {
  assert.ok(existsSync(join(ROOT, 'dist', 'main.js')), 'build first: node scripts/build.mjs');
  home = await tempHome('iaw-e2e-secret-');
  emulator = await startEmulatorProcess(['--plan', 'enterprise']);
});

after(async () => {
  await emulator?.stop();
  // `secret reveal` is the one command allowed to print a secret; no other output may hold one.
  assert.ok(outputs.length >= 7);
  for (const { stdout, stderr } of outputs) {
    for (const secret of secrets) {
      assert.equal(stderr.includes(secret), false, `stderr leaks a secret: ${stderr}`);
      if (!stdout.startsWith(`${secret}\n`)) assert.equal(stdout.includes(secret), false, `stdout leaks a secret: ${stdout}`);
    }
  }
  await home?.cleanup();
});

describe('secret exec (secret kept in a 0600 file)', () => {
  let sub: CreatedSubscription;

  before(async () => {
    sub = await createDirectly('exec-file');
    const secretsDir = join(home.dir, 'secrets');
    await mkdir(secretsDir, { recursive: true, mode: 0o700 });
    // What `create --secret-store file` leaves behind: the file, and the index entry pointing at it.
    const { context } = makeTestContext({ env: emulator.env(home.dir) });
    await handOffSecret(context, { subscriptionId: sub.id, secret: sub.signing_secret, destination: { kind: 'file', path: join(secretsDir, `${sub.id}.secret`) } });
  });

  test('secret status --json: stored in the file, fingerprints match', TEST_TIMEOUT, async () => {
    const result = await cli(['secret', 'status', sub.id, '--json']);
    assert.equal(result.code, 0, result.stderr);
    const report = JSON.parse(result.stdout) as SecretStatusReport;
    assert.equal(report.state, 'match');
    assert.equal(report.stored_in?.store, 'file');
    assert.equal(report.stored_in?.path, join(home.dir, 'secrets', `${sub.id}.secret`));
    assert.equal(report.local_fingerprint, secretFingerprint(sub.signing_secret));
    assert.equal(report.platform_fingerprint, sub.secret_fingerprint);
  });

  test('the command sees the secret in its environment, and its exit code is ours', TEST_TIMEOUT, async () => {
    const result = await cli(['secret', 'exec', sub.id, '--', process.execPath, '-e', HASHING_CHILD, 'a', '--json'], {
      env: { EXIT_WITH: '3', INTELLIAUTH_WEBHOOK_SECRET_PREVIOUS: 'inherited' },
    });
    assert.equal(result.code, 3, result.stderr);
    assert.equal(result.stdout, `current=${sha256(sub.signing_secret)} previous=unset args=a,--json\n`);
    assert.equal(result.stderr, '');
  });

  test('SIGTERM is passed to the command, which decides how to end', TEST_TIMEOUT, async () => {
    const result = await execAndSignal(sub.id, TRAPPING_CHILD, 'SIGTERM');
    assert.equal(result.stdout, 'ready\ngot SIGTERM\n');
    assert.equal(result.code, 42, result.stderr);
    assert.equal(result.stderr, '');
  });

  test('SIGINT too', TEST_TIMEOUT, async () => {
    const result = await execAndSignal(sub.id, TRAPPING_CHILD, 'SIGINT');
    assert.equal(result.stdout, 'ready\ngot SIGINT\n');
    assert.equal(result.code, 42, result.stderr);
  });

  test('at a terminal, Ctrl-C reaches the command once, from the terminal, and is not passed on a second time', TEST_TIMEOUT, async (t) => {
    if (!requireCommand(t, 'tmux')) return;
    const pane = await startPane({
      argv: [process.execPath, BIN, 'secret', 'exec', sub.id, '--', process.execPath, '-e', COUNTING_CHILD],
      env: emulator.env(home.dir),
      socketDir: home.dir,
      cwd: ROOT,
    });
    try {
      await pane.waitFor(/^ready$/m);
      await pane.keys('C-c');
      const screen = await pane.waitFor(/EXIT=\d+/);
      // The terminal echoes ^C before the line.
      assert.match(screen, /SIGINT x1$/m, `the command got Ctrl-C exactly once:\n${screen}`);
      assert.match(screen, /EXIT=42/, 'its exit code is ours');
    } finally {
      await pane.close();
    }
  });

  test('a command ended by the forwarded signal: exit 128 + its number', TEST_TIMEOUT, async () => {
    const result = await execAndSignal(sub.id, PLAIN_CHILD, 'SIGTERM');
    assert.equal(result.code, 143, result.stderr);
    assert.equal(result.stderr, '');
  });

  test('no -- before the command: exit 2; unknown command: exit 127 with one line', TEST_TIMEOUT, async () => {
    const noDashes = await cli(['secret', 'exec', sub.id, process.execPath, '-e', HASHING_CHILD]);
    assert.equal(noDashes.code, 2);
    assert.match(noDashes.stderr, /^error: put -- before the command to run/);
    assert.equal(noDashes.stdout, '');
    const unknown = await cli(['secret', 'exec', sub.id, '--', 'iaw-no-such-command-xyz']);
    assert.equal(unknown.code, 127);
    assert.equal(unknown.stderr, 'error: command not found: iaw-no-such-command-xyz (not in PATH)\n');
  });
});

describe('secret import, status, exec, reveal, delete (OS keychain)', () => {
  let sub: CreatedSubscription;
  before(async () => {
    sub = await createDirectly('keychain');
  });

  test('nothing stored for the subscription: exec exits 4, the command never runs', TEST_TIMEOUT, async (t) => {
    if (!(await requireKeychain(t))) return;
    const bare = await createDirectly('exec-bare');
    const result = await cli(['secret', 'exec', bare.id, '--', process.execPath, '-e', HASHING_CHILD]);
    assert.equal(result.code, 4);
    assert.equal(result.stdout, '');
    assert.match(result.stderr, new RegExp(`no signing secret is stored for ${bare.id}`));
  });

  test('import refuses a secret whose fingerprint does not match, and stores the right one', TEST_TIMEOUT, async (t) => {
    if (!(await requireKeychain(t))) return;
    const missing = await cli(['secret', 'status', sub.id, '--json']);
    assert.equal(missing.code, 7);
    assert.equal((JSON.parse(missing.stdout) as SecretStatusReport).state, 'missing');

    const wrong = await cli(['secret', 'import', sub.id], { input: 'whsec_definitelyNotTheRightOne_00000000000\n' });
    assert.equal(wrong.code, 2);
    assert.match(wrong.stderr, /does not match the platform's .*; nothing was stored/);
    assert.equal((await cli(['secret', 'status', sub.id])).code, 7);

    const imported = await cli(['secret', 'import', sub.id, '--json'], { input: `${sub.signing_secret}\n` });
    assert.equal(imported.code, 0, imported.stderr);
    assert.deepEqual(JSON.parse(imported.stdout), { id: sub.id, stored_in: 'keychain', fingerprint: sub.secret_fingerprint, matches_platform: true });

  });

  test('the imported secret: status matches, exec passes it on, reveal prints it only with --yes', TEST_TIMEOUT, async (t) => {
    if (!(await requireKeychain(t))) return;
    const status = await cli(['secret', 'status', sub.id, '--json']);
    assert.equal(status.code, 0, status.stderr);
    assert.equal((JSON.parse(status.stdout) as SecretStatusReport).state, 'match');

    const exec = await cli(['secret', 'exec', sub.id, '--', process.execPath, '-e', HASHING_CHILD]);
    assert.equal(exec.code, 0, exec.stderr);
    assert.equal(exec.stdout, `current=${sha256(sub.signing_secret)} previous=unset args=\n`);

    const refused = await cli(['secret', 'reveal', sub.id]);
    assert.equal(refused.code, 2);
    assert.equal(refused.stdout, '');
    const revealed = await cli(['secret', 'reveal', sub.id, '--yes']);
    assert.equal(revealed.code, 0, revealed.stderr);
    assert.equal(revealed.stdout, `${sub.signing_secret}\n`);
    assert.match(revealed.stderr, /^warning: printing the signing secret/);

  });

  test('secret delete removes it from the keychain', TEST_TIMEOUT, async (t) => {
    if (!(await requireKeychain(t))) return;
    const removed = await cli(['secret', 'delete', sub.id, '--yes', '--json']);
    assert.equal(removed.code, 0, removed.stderr);
    assert.deepEqual(JSON.parse(removed.stdout), { id: sub.id, local_secrets_removed: ['the OS keychain'] });
    assert.equal((await cli(['secret', 'status', sub.id])).code, 7);
  });
});
