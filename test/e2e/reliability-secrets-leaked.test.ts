// Reliability suite 2, "no secret leaked": a scripted session of every command with --debug,
// failing ones included, against an emulator child process and the real keychain (inside
// scripts/with-keyring.sh). Captured: every command's stdout and stderr, every file under the
// session's config, data and cache directories (the encrypted token cache too), the argument
// list of every process on the machine while the session runs (read from /proc, as `ps` shows
// them to anyone), and the emulator's log. Then all of it is scanned for every signing
// secret, client secret and access token the session used, in raw and encoded forms and as
// slices, and for anything shaped like a signing secret or access token.
//
// Allowed, and not scanned: stdout of `secret reveal` and of `--secret-store stdout` (the
// secret is what the user asked for there), the emulator's --json ready line, and the files
// the user named as secret destinations.
// Figure line, printed last: `secrets-leaked: bytes scanned <n>, hits <h>`.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { readCachedToken } from '../../src/config/token-cache.ts';
import { cleanEnv, ROOT, startEmulatorProcess, tempHome, type CliResult, type EmulatorProcess } from '../helpers/cli.ts';
import { signalIfRunning, spawnCli } from '../helpers/cli-process.ts';
import { requireCommand, requireKeychain, requireLinux } from '../helpers/keyring.ts';
import { captureFiles, ProcessListWatcher, scan, type Capture, type KnownSecret } from '../helpers/leak-scan.ts';
import { startReceiver, type ReceivedDelivery, type Receiver } from '../helpers/receiver.ts';
import { fingerprintOf, keychainSecret, platformClient, type PlatformClient } from '../helpers/secret-audit.ts';

const STEP_TIMEOUT_MS = 30_000;
const PARALLEL = 4;
const MISSING_ID = 'whsub_01ZZZZZZZZZZZZZZZZZZZZZZZZ';

let home: { dir: string; cleanup: () => Promise<void> };
let emulator: EmulatorProcess;
let platform: PlatformClient;
let receiver: Receiver;
let watcher: ProcessListWatcher | undefined;
let ready = false;

const captures: Capture[] = [];
const secrets: KnownSecret[] = [];
/** Labels of the commands run, to show the session covered every command. */
const commandsRun = new Set<string>();
let work = '';
let tenantHost = '';

function known(kind: string, value: string | null | undefined): string {
  assert.ok(value, `the session has a ${kind} to scan for`);
  secrets.push({ kind, value });
  return value;
}

before(async () => {
  assert.ok(existsSync(join(ROOT, 'dist', 'main.js')), 'build first: node scripts/build.mjs');
  home = await tempHome('iaw-leak-');
  work = join(home.dir, 'work');
  await mkdir(work);
  await mkdir(join(home.dir, 'tmp'));
  // Fast retries (a dead letter within a second) and quick grace periods.
  emulator = await startEmulatorProcess(['--allow-private-targets', '--plan', 'enterprise', '--time-scale', '100000']);
  tenantHost = new URL(emulator.tenantUrl).host;
  platform = platformClient(emulator);
  receiver = await startReceiver();
  known('client secret', emulator.clientSecret);
});

after(async () => {
  await watcher?.stop();
  await receiver?.close();
  await emulator?.stop();
  await home?.cleanup();
});

// ---- running steps ---------------------------------------------------------------------------

interface Step {
  label: string;
  args: string[];
  /** Exit codes that mean the step did what the session meant it to (failing steps included). */
  expect: number | number[];
  env?: Record<string, string | undefined>;
  input?: string;
  /** stdout is the secret the user asked for (`secret reveal`, `--secret-store stdout`): not scanned. */
  stdoutIsTheSecret?: boolean;
}

/** The session's environment: no credentials in it, so they come from `login` (config + keychain). */
function sessionEnv(extra: Record<string, string | undefined> = {}): Record<string, string> {
  return cleanEnv(home.dir, { TMPDIR: join(home.dir, 'tmp'), ...extra });
}

async function run(step: Step): Promise<CliResult> {
  const args = [...step.args];
  // --debug right after the command words (before any `--`), as a user would type it.
  const end = args.indexOf('--');
  args.splice(end === -1 ? args.length : end, 0, '--debug');
  const result = await spawnCli(args, { env: sessionEnv(step.env), timeoutMs: STEP_TIMEOUT_MS, ...(step.input === undefined ? {} : { input: step.input }) }).result;
  commandsRun.add(commandWords(step.args));
  if (!step.stdoutIsTheSecret) captures.push({ label: `${step.label}: stdout`, text: result.stdout });
  captures.push({ label: `${step.label}: stderr`, text: result.stderr });
  await snapshotFiles(step.label);
  assert.equal(result.killedForTimeout, false, `${step.label} hung`);
  const expected = Array.isArray(step.expect) ? step.expect : [step.expect];
  assert.ok(expected.includes(result.code ?? -1), `${step.label}: exit ${result.code}, expected ${expected.join(' or ')}\n${result.stderr}`);
  return result;
}

function commandWords(args: readonly string[]): string {
  const words: string[] = [];
  for (const arg of args) {
    if (arg.startsWith('-') || /^whsub_|^evt_/.test(arg)) break;
    words.push(arg);
    if (!['secret', 'auth'].includes(arg)) break;
  }
  return words.join(' ');
}

async function runAll(steps: Step[]): Promise<CliResult[]> {
  const results: CliResult[] = new Array(steps.length);
  let next = 0;
  const worker = async () => {
    while (next < steps.length) {
      const index = next++;
      results[index] = await run(steps[index]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(PARALLEL, steps.length) }, worker));
  return results;
}

/**
 * The config, data and cache directories as they are now, and the access tokens in the token
 * cache (decrypted with the client secret, the one way to know what to look for).
 */
async function snapshotFiles(label: string): Promise<void> {
  for (const dir of ['config', 'data', 'cache']) {
    // The fallback directory is a secret store by design (it is empty in this session anyway).
    const files = await captureFiles(join(home.dir, dir), (path) => path.endsWith(join('intelliauth-webhooks', 'fallback')));
    captures.push(...files.map((file) => ({ label: `${file.label} (after ${label})`, text: file.text })));
  }
  const tokens = join(home.dir, 'cache', 'intelliauth-webhooks', 'tokens');
  for (const name of await readdir(tokens).catch(() => [] as string[])) {
    if (!name.endsWith('.json')) continue;
    try {
      const meta = JSON.parse(await readFile(join(tokens, name), 'utf8')) as { tenant_url: string; client_id: string; audience: string | null; scope: string };
      const identity = { tenantUrl: meta.tenant_url, clientId: meta.client_id, audience: meta.audience ?? undefined, scope: meta.scope ? meta.scope.split(' ') : undefined };
      const token = await readCachedToken(tokens, identity, emulator.clientSecret, 0);
      if (token && !secrets.some((secret) => secret.value === token.accessToken)) secrets.push({ kind: 'access token (from the token cache)', value: token.accessToken });
    } catch {
      // being replaced right now: the next snapshot reads it
    }
  }
}

async function storedInKeychain(id: string): Promise<string> {
  return known('signing secret', await keychainSecret(tenantHost, id));
}

async function storedInFile(path: string): Promise<string> {
  return known('signing secret', (await readFile(path, 'utf8')).trimEnd());
}

/** A delivery to `id` that reached the receiver. */
async function deliveryTo(id: string): Promise<ReceivedDelivery> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const found = receiver.deliveries.find((delivery) => (delivery.body.delivery as { subscription_id?: string } | undefined)?.subscription_id === id);
    if (found) return found;
    assert.ok(Date.now() < deadline, `no delivery to ${id} arrived`);
    await sleep(50);
  }
}

// ---- the session -------------------------------------------------------------------------------

const ids = { keychain: '', file: '', stdout: '', dead: '' };
/** Each subscription's current signing secret, as found where the session stored it. */
const current = new Map<string, string>();
const files = { created: '', rotated: '' };
let eventId = '';

describe('a session of every command with --debug', () => {
  test('log in (a wrong client secret first), check the machine and the credentials', { timeout: 120_000 }, async (t) => {
    if (!requireLinux(t) || !(await requireKeychain(t)) || !requireCommand(t, 'secret-tool')) return;
    watcher = new ProcessListWatcher();
    watcher.start();
    ready = true;
    const loginArgs = ['login', '--tenant-url', emulator.tenantUrl, '--client-id', emulator.clientId, '--client-secret-stdin'];
    const wrong = known('client secret (rejected)', `${emulator.clientSecret.slice(0, 20)}WRONG${emulator.clientSecret.slice(25)}`);
    await run({ label: 'login with a wrong client secret', args: loginArgs, input: `${wrong}\n`, expect: 3 });
    await run({ label: 'login', args: loginArgs, input: `${emulator.clientSecret}\n`, expect: 0 });
    await runAll([
      // The demo runs its own emulator: its secrets are unknown here, so only their shapes are looked for.
      { label: 'demo', args: ['demo'], expect: 0 },
      { label: 'auth status --json', args: ['auth', 'status', '--json'], expect: 0 },
      { label: 'doctor', args: ['doctor'], expect: [0, 7] },
      { label: 'event-types', args: ['event-types', '--json'], expect: 0 },
      { label: 'completion bash', args: ['completion', 'bash'], expect: 0 },
      { label: 'a bad flag', args: ['list', '--no-such-flag'], expect: 2 },
      { label: 'a bad --limit', args: ['list', '--limit', 'many'], expect: 2 },
    ]);
  });

  test('create in every secret-store mode, and creates that are refused', { timeout: 120_000 }, async (t) => {
    if (!ready) return t.skip('no session');
    files.created = join(work, 'file.secret');
    const existing = join(work, 'taken.secret');
    await writeFile(existing, 'not a secret\n', { mode: 0o600 });
    const base = (name: string, url = receiver.url) => ['create', '--name', name, '--url', url, '--events', 'user.signed_up'];
    const [keychain, file, stdout, dead] = await runAll([
      { label: 'create (keychain)', args: [...base('leak-keychain'), '--json'], expect: 0 },
      { label: 'create (file)', args: [...base('leak-file'), '--secret-store', 'file', '--secret-file', files.created, '--json'], expect: 0 },
      { label: 'create (stdout)', args: [...base('leak-stdout'), '--secret-store', 'stdout'], expect: 0, stdoutIsTheSecret: true },
      // Its receiver refuses connections: its event ends dead-lettered.
      { label: 'create (keychain, dead receiver)', args: [...base('leak-dead', 'http://127.0.0.1:9/hooks'), '--json'], expect: 0 },
      { label: 'create over an existing file', args: [...base('leak-refused'), '--secret-file', existing], expect: 2 },
      { label: 'create with a bad URL', args: base('leak-refused', 'ftp://example.com/x'), expect: 2 },
      { label: 'create with an unknown event type', args: ['create', '--name', 'x', '--url', receiver.url, '--events', 'user.nope'], expect: 2 },
      { label: 'create without flags', args: ['create'], expect: 2 },
      { label: 'create with stdout and --json', args: [...base('leak-refused'), '--secret-store', 'stdout', '--json'], expect: 2 },
    ]);
    ids.keychain = JSON.parse(keychain!.stdout).id;
    ids.file = JSON.parse(file!.stdout).id;
    ids.dead = JSON.parse(dead!.stdout).id;
    const stdoutSecret = known('signing secret', stdout!.stdout.trimEnd());
    assert.match(stdoutSecret, /^whsec_/);
    ids.stdout = (await platform.named('leak-stdout'))[0]!.id;
    assert.equal(fingerprintOf(stdoutSecret), (await platform.get(ids.stdout))!.secret_fingerprint);
    current.set(ids.stdout, stdoutSecret);
    current.set(ids.keychain, await storedInKeychain(ids.keychain));
    current.set(ids.dead, await storedInKeychain(ids.dead));
    current.set(ids.file, await storedInFile(files.created));
    assert.deepEqual(await platform.named('leak-refused'), []);
  });

  test('read, change, pause and resume subscriptions; secret status, import, reveal and exec', { timeout: 120_000 }, async (t) => {
    if (!ready) return t.skip('no session');
    const rejected = known('signing secret (rejected)', `whsec_${'A'.repeat(43)}`);
    const [reveal] = await runAll([
      { label: 'secret reveal', args: ['secret', 'reveal', ids.keychain, '--yes'], expect: 0, stdoutIsTheSecret: true },
      { label: 'list', args: ['list'], expect: 0 },
      { label: 'list --json', args: ['list', '--json'], expect: 0 },
      { label: 'get', args: ['get', ids.keychain], expect: 0 },
      { label: 'get a missing id', args: ['get', MISSING_ID], expect: 4 },
      { label: 'get a malformed id', args: ['get', 'not-an-id'], expect: [2, 4] },
      { label: 'update', args: ['update', ids.keychain, '--description', 'leak scan'], expect: 0 },
      { label: 'update a missing id', args: ['update', MISSING_ID, '--name', 'x'], expect: 4 },
      { label: 'secret status (keychain)', args: ['secret', 'status', ids.keychain], expect: 0 },
      { label: 'secret status (file) --json', args: ['secret', 'status', ids.file, '--json'], expect: 0 },
      { label: 'secret status of a missing id', args: ['secret', 'status', MISSING_ID], expect: 4 },
      { label: 'secret import with a wrong secret', args: ['secret', 'import', ids.file], input: `${rejected}\n`, expect: 2 },
      { label: 'secret reveal without --yes', args: ['secret', 'reveal', ids.keychain], expect: 2 },
      {
        label: 'secret exec',
        args: ['secret', 'exec', ids.keychain, '--', 'sh', '-c', 'sleep 0.3; test -n "$INTELLIAUTH_WEBHOOK_SECRET"'],
        expect: 0,
      },
      { label: 'secret exec of a missing command', args: ['secret', 'exec', ids.keychain, '--', 'no-such-command-iaw'], expect: 127 },
    ]);
    assert.equal(reveal!.stdout.trimEnd(), current.get(ids.keychain), 'reveal printed the stored secret');
    await runAll([
      { label: 'secret import', args: ['secret', 'import', ids.stdout], input: `${current.get(ids.stdout)}\n`, expect: 0 },
      { label: 'pause', args: ['pause', ids.file], expect: 0 },
      { label: 'pause a missing id', args: ['pause', MISSING_ID], expect: 4 },
    ]);
    await run({ label: 'resume', args: ['resume', ids.file], expect: 0 });
    await run({ label: 'secret status (imported)', args: ['secret', 'status', ids.stdout], expect: 0 });
  });

  test('deliveries: trigger, test-ping, tail-deliveries, dead-letters, redeliver, verify, listen', { timeout: 120_000 }, async (t) => {
    if (!ready) return t.skip('no session');
    const triggered = await run({ label: 'trigger', args: ['trigger', 'user.signed_up', '--json'], expect: 0 });
    eventId = (JSON.parse(triggered.stdout) as { event_id: string }).event_id;
    const delivery = await deliveryTo(ids.keychain);
    await waitForDeadLetter(ids.dead);

    const body = join(work, 'body.json');
    await writeFile(body, delivery.rawBody);
    const headers = join(work, 'headers.txt');
    const headerLines = Object.entries(delivery.headers)
      .filter(([name]) => name.startsWith('x-intelliauth-'))
      .map(([name, value]) => `${name}: ${String(value)}`);
    await writeFile(headers, `POST /webhooks/intelliauth HTTP/1.1\r\n${headerLines.join('\r\n')}\r\n\r\n`);
    const signature = String(delivery.headers['x-intelliauth-signature']);
    const tampered = join(work, 'tampered.json');
    await writeFile(tampered, Buffer.concat([delivery.rawBody, Buffer.from(' ')]));
    const secret = current.get(ids.keychain)!;

    await runAll([
      { label: 'test-ping', args: ['test-ping', ids.keychain], expect: 0 },
      { label: 'test-ping to a dead receiver', args: ['test-ping', ids.dead], expect: 7 },
      { label: 'tail-deliveries', args: ['tail-deliveries', ids.keychain, '--no-follow'], expect: 0 },
      { label: 'tail-deliveries --json', args: ['tail-deliveries', ids.dead, '--no-follow', '--json', '--stats'], expect: 0 },
      { label: 'tail-deliveries of a missing id', args: ['tail-deliveries', MISSING_ID, '--no-follow'], expect: 4 },
      { label: 'dead-letters', args: ['dead-letters', ids.dead], expect: 0 },
      { label: 'redeliver', args: ['redeliver', ids.keychain, eventId], expect: 0 },
      { label: 'redeliver every dead letter', args: ['redeliver', ids.dead, '--all-dead-letters', '--yes'], expect: 0 },
      { label: 'redeliver a missing event', args: ['redeliver', ids.keychain, 'evt_01ZZZZZZZZZZZZZZZZZZZZZZZZ'], expect: 4 },
      { label: 'verify --subscription', args: ['verify', '--subscription', ids.keychain, '--headers-file', headers, '--body-file', body], expect: 0 },
      { label: 'verify --secret-env', args: ['verify', '--secret-env', 'LEAK_SECRET', '--signature', signature, '--body-file', body], env: { LEAK_SECRET: secret }, expect: 0 },
      { label: 'verify --secret-stdin', args: ['verify', '--secret-stdin', '--signature', signature, '--body-file', body], input: `${secret}\n`, expect: 0 },
      { label: 'verify a tampered body', args: ['verify', '--subscription', ids.keychain, '--headers-file', headers, '--body-file', tampered, '--json'], expect: 7 },
      { label: 'verify with the secret in the default variable', args: ['verify', '--signature', signature, '--body-file', body], env: { INTELLIAUTH_WEBHOOK_SECRET: secret }, expect: 0 },
    ]);
    await listenBriefly(delivery, secret);
  });

  test('rotate in every secret-store mode, and rotations that are refused', { timeout: 120_000 }, async (t) => {
    if (!ready) return t.skip('no session');
    files.rotated = join(work, 'rotated.secret');
    const [, , stdout] = await runAll([
      { label: 'rotate (keychain)', args: ['rotate', ids.keychain, '--yes'], expect: 0 },
      { label: 'rotate (file)', args: ['rotate', ids.file, '--yes', '--grace', '7d', '--secret-file', files.rotated, '--json'], expect: 0 },
      { label: 'rotate (stdout)', args: ['rotate', ids.stdout, '--yes', '--secret-store', 'stdout'], expect: 0, stdoutIsTheSecret: true },
      { label: 'rotate a missing id', args: ['rotate', MISSING_ID, '--yes'], expect: 4 },
      { label: 'rotate without --yes', args: ['rotate', ids.keychain], expect: 2 },
      { label: 'rotate with a bad grace', args: ['rotate', ids.keychain, '--yes', '--grace', '9d'], expect: 2 },
    ]);
    current.set(ids.keychain, await storedInKeychain(ids.keychain));
    current.set(ids.file, await storedInFile(files.rotated));
    current.set(ids.stdout, known('signing secret', stdout!.stdout.trimEnd()));
    await runAll([
      { label: 'secret status after rotate', args: ['secret', 'status', ids.file, '--json'], expect: 0 },
      { label: 'secret exec after rotate', args: ['secret', 'exec', ids.file, '--', 'sh', '-c', 'sleep 0.3; test -n "$INTELLIAUTH_WEBHOOK_SECRET_PREVIOUS"'], expect: 0 },
    ]);
  });

  test('a bearer token from the environment, then delete, secret delete and logout', { timeout: 120_000 }, async (t) => {
    if (!ready) return t.skip('no session');
    const token = known('access token (given in INTELLIAUTH_TOKEN)', await fetchToken());
    const wrongEnvSecret = known('client secret (rejected)', `${emulator.clientSecret.slice(0, 10)}ENVWRONG${emulator.clientSecret.slice(18)}`);
    const envCredentials = (clientSecret: string) => ({
      INTELLIAUTH_TENANT_URL: emulator.tenantUrl,
      INTELLIAUTH_M2M_CLIENT_ID: emulator.clientId,
      INTELLIAUTH_M2M_CLIENT_SECRET: clientSecret,
    });
    await runAll([
      { label: 'list with INTELLIAUTH_TOKEN', args: ['list'], env: { INTELLIAUTH_TOKEN: token, INTELLIAUTH_TENANT_URL: emulator.tenantUrl }, expect: 0 },
      { label: 'auth status with INTELLIAUTH_TOKEN', args: ['auth', 'status'], env: { INTELLIAUTH_TOKEN: token, INTELLIAUTH_TENANT_URL: emulator.tenantUrl }, expect: 0 },
      { label: 'list with a rejected token', args: ['list'], env: { INTELLIAUTH_TOKEN: `${token.slice(0, -4)}AAAA`, INTELLIAUTH_TENANT_URL: emulator.tenantUrl }, expect: 3 },
      { label: 'auth status with client credentials in the environment', args: ['auth', 'status'], env: envCredentials(emulator.clientSecret), expect: 0 },
      { label: 'list with client credentials in the environment', args: ['list', '--json'], env: envCredentials(emulator.clientSecret), expect: 0 },
      { label: 'list with a wrong client secret in the environment', args: ['list'], env: envCredentials(wrongEnvSecret), expect: 3 },
      { label: 'delete', args: ['delete', ids.file, '--yes'], expect: 0 },
      { label: 'delete a missing id', args: ['delete', MISSING_ID, '--yes'], expect: 4 },
      { label: 'secret delete', args: ['secret', 'delete', ids.dead, '--yes'], expect: 0 },
    ]);
    known('access token (rejected)', `${token.slice(0, -4)}AAAA`);
    await run({ label: 'logout', args: ['logout'], expect: 0 });
    await run({ label: 'auth status after logout', args: ['auth', 'status'], expect: 3 });
    await run({ label: 'list after logout', args: ['list'], expect: 3 });
    await run({ label: 'logout --all', args: ['logout', '--all', '--yes'], expect: 0 });
  });

  test('the session ran every command', (t) => {
    if (!ready) return t.skip('no session');
    const expected = [
      'login', 'auth status', 'doctor', 'event-types', 'completion', 'create', 'list', 'get', 'update', 'pause', 'resume',
      'secret status', 'secret import', 'secret reveal', 'secret exec', 'secret delete', 'trigger', 'test-ping', 'tail-deliveries',
      'dead-letters', 'redeliver', 'verify', 'listen', 'rotate', 'delete', 'logout', 'demo',
    ];
    assert.deepEqual(expected.filter((command) => !commandsRun.has(command)), [], 'commands the session did not run');
    assert.ok(emulator.log().includes('POST /oauth2/token'), 'the emulator log was captured');
  });
});

async function waitForDeadLetter(id: string): Promise<void> {
  const deadline = Date.now() + 15_000;
  const token = await fetchToken();
  for (;;) {
    const response = await fetch(`${emulator.tenantUrl}/api/v1/webhooks/subscriptions/${id}/dead-letters`, { headers: { authorization: `Bearer ${token}` } });
    const body = (await response.json()) as { data: unknown[] };
    if (body.data.length > 0) return;
    assert.ok(Date.now() < deadline, 'the event to the dead receiver was dead-lettered');
    await sleep(100);
  }
}

async function fetchToken(): Promise<string> {
  const response = await fetch(`${emulator.tenantUrl}/oauth2/token`, {
    method: 'POST',
    body: new URLSearchParams({ grant_type: 'client_credentials', client_id: emulator.clientId, client_secret: emulator.clientSecret }),
  });
  return ((await response.json()) as { access_token: string }).access_token;
}

/** `listen` for a moment: one delivery signed with the stored secret, one unsigned, then SIGINT. */
async function listenBriefly(delivery: ReceivedDelivery, secret: string): Promise<void> {
  const label = 'listen';
  const running = spawnCli(['listen', '--subscription', ids.keychain, '--port', '0', '--debug'], { env: sessionEnv(), timeoutMs: STEP_TIMEOUT_MS });
  commandsRun.add('listen');
  let stderr = '';
  running.child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  const deadline = Date.now() + 10_000;
  let url: string | undefined;
  while (!(url = /listening on (http:\/\/\S+)/.exec(stderr)?.[1])) {
    assert.ok(Date.now() < deadline && running.child.exitCode === null, `listen did not start: ${stderr}`);
    await sleep(50);
  }
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(delivery.headers)) if (name.startsWith('x-intelliauth-') && typeof value === 'string') headers[name] = value;
  headers['content-type'] = 'application/json';
  headers['x-intelliauth-signature'] = createHmac('sha256', secret).update(delivery.rawBody).digest('hex');
  delete headers['x-intelliauth-signature-previous'];
  const accepted = await fetch(url, { method: 'POST', headers, body: delivery.rawBody });
  assert.equal(accepted.status, 200, 'listen accepted the signed delivery');
  const { 'x-intelliauth-signature': _signature, ...unsigned } = headers;
  const refused = await fetch(url, { method: 'POST', headers: unsigned, body: delivery.rawBody });
  assert.equal(refused.status, 401, 'listen refused the unsigned delivery');
  signalIfRunning(running.child, 'SIGINT');
  const result = await running.result;
  captures.push({ label: `${label}: stdout`, text: result.stdout }, { label: `${label}: stderr`, text: result.stderr });
  assert.equal(result.killedForTimeout, false, 'listen stopped on SIGINT');
  assert.ok([0, 130].includes(result.code ?? -1), `listen exit ${result.code}: ${result.stderr}`);
}

test('the scan finds a planted secret in every form it looks for', () => {
  const secret = { kind: 'signing secret', value: `whsec_${'k7Qx2Lm9'.repeat(5)}abc` };
  const planted = [
    secret.value,
    Buffer.from(secret.value).toString('base64'),
    Buffer.from(secret.value).toString('hex').toUpperCase(),
    encodeURIComponent(`${secret.value}/`).slice(0, -3),
    `${secret.value.slice(0, 24)}...`,
  ];
  for (const text of planted) {
    const found = scan([{ label: 'planted', text: `before ${text} after` }], [{ ...secret, value: `${secret.value}X` }, secret]);
    assert.ok(found.hits.length > 0, `found in ${text.slice(0, 10)}...`);
  }
  assert.equal(scan([{ label: 'clean', text: 'fingerprint 1a2b3c4d, [redacted]' }], [secret]).hits.length, 0);
});

// ---- the scan and the figure, last ---------------------------------------------------------------

test('figure: secrets leaked', async (t) => {
  if (!ready) return t.skip('no session (needs Linux and the OS keychain)');
  await watcher!.stop();
  const session = watcher!.sessionCommandLines();
  assert.ok(session.some((line) => line.includes('secret exec')), 'the process watcher saw the session\'s commands');
  assert.ok(session.some((line) => line.startsWith('sh -c') && line.includes('INTELLIAUTH_WEBHOOK_SECRET')), 'and the children they started');
  captures.push({ label: 'argument lists of the session\'s processes (/proc/*/cmdline)', text: session.join('\n') });
  // Other programs on the machine may carry strings shaped like secrets (test fixtures): only the session's values count there.
  captures.push({ label: 'argument lists of every process on the machine', text: watcher!.commandLines().join('\n'), shapes: false });
  captures.push({ label: 'emulator log (stderr)', text: emulator.log() });
  await snapshotFiles('the session');
  const kinds = new Set(secrets.map((secret) => secret.kind));
  for (const kind of ['client secret', 'signing secret', 'access token (from the token cache)', 'access token (given in INTELLIAUTH_TOKEN)']) {
    assert.ok(kinds.has(kind), `the scan knows a ${kind}`);
  }
  const result = scan(captures, secrets);
  const report = result.hits.map((hit) => `${hit.kind} (${hit.form}) in ${hit.label}`);
  const counts = new Map<string, number>();
  for (const secret of new Map(secrets.map((entry) => [entry.value, entry])).values()) counts.set(secret.kind, (counts.get(secret.kind) ?? 0) + 1);
  t.diagnostic(`scanned ${result.captures} distinct captures (${commandsRun.size} commands run) for ${[...counts].map(([kind, n]) => `${n} ${kind}`).join(', ')}`);
  t.diagnostic(`secrets-leaked: bytes scanned ${result.bytes}, hits ${result.hits.length}`);
  assert.deepEqual(report, [], 'no secret in any output, file, process argument list or log');
});
