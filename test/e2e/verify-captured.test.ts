import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ROOT, cleanEnv, runCli, startEmulatorProcess, tempHome, type CliResult, type EmulatorProcess } from '../helpers/cli.ts';

// Issue 5: `verify` run against deliveries the emulator really sent, not built by hand. The
// emulator (a child process) delivers to a loopback receiver that records each request's raw
// body bytes and raw header lines exactly as they came off the wire; the built CLI then
// verifies those captures as is and altered one way at a time (body, signature, secret,
// timestamp, tenant), and after a rotation with a grace period, with the old secret through
// X-IntelliAuth-Signature-Previous. Per PLATFORM.md Part A the signature is HMAC-SHA256 of the
// raw body only: the timestamp is not signed, so a capture replayed with another timestamp
// still has a matching signature and fails on the timestamp alone.
// Needs a build (`node scripts/build.mjs`).

const EVENT_TYPE = 'user.signed_up';
const OTHER_TENANT = 'tnt_01JVERIFYCAPTUREDOTHERTENANT';
const WRONG_SECRET = 'whsec_verifyCapturedSomebodyElsesSecret_0123456789abc';
const SECRET_VAR = 'IAW_CAPTURED_SECRET';
const T = { timeout: 60_000 };

const fingerprint = (secret: string) => createHash('sha256').update(secret, 'utf8').digest('hex').slice(0, 8);
const nowSeconds = () => Math.floor(Date.now() / 1000);
const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

interface Captured {
  /** The request line, e.g. "POST /webhooks/intelliauth HTTP/1.1". */
  requestLine: string;
  /** Header names and values as received, in order, names in their original case. */
  rawHeaders: string[];
  rawBody: Buffer;
}

interface Capture {
  eventId: string;
  delivery: Captured;
  bodyFile: string;
  headersFile: string;
  /** Header value by lower-case name. */
  header(name: string): string;
}

let home: { dir: string; cleanup: () => Promise<void> };
let emulator: EmulatorProcess;
let receiver: { url: string; captured: Captured[]; close(): Promise<void> };
let env: Record<string, string>;
let subscriptionId: string;
let oldSecret: string;
let fileCounter = 0;
const secrets: string[] = [WRONG_SECRET];
const outputs: CliResult[] = [];

/** A loopback receiver that keeps every request byte for byte and answers 202. */
async function startCapturingReceiver(): Promise<typeof receiver> {
  const captured: Captured[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      captured.push({
        requestLine: `${req.method} ${req.url} HTTP/${req.httpVersion}`,
        rawHeaders: [...req.rawHeaders],
        rawBody: Buffer.concat(chunks),
      });
      res.writeHead(202, { 'content-type': 'text/plain' }).end('accepted');
    });
  });
  server.keepAliveTimeout = 1000;
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/webhooks/intelliauth`,
    captured,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/** Replaces every secret this file knows with a marker, for assertion messages. */
function redact(text: string): string {
  let out = text;
  for (const secret of secrets) if (secret !== '') out = out.split(secret).join('[secret]');
  return out;
}

function explain(result: CliResult): string {
  return `exit ${result.code}; stderr: ${redact(result.stderr)}`;
}

async function cli(args: string[], extraEnv: Record<string, string | undefined> = {}): Promise<CliResult> {
  const merged: Record<string, string> = { ...env };
  for (const [key, value] of Object.entries(extraEnv)) {
    if (value === undefined) delete merged[key];
    else merged[key] = value;
  }
  const result = await runCli(args, { env: merged, timeoutMs: 30_000 });
  outputs.push(result);
  return result;
}

/** `verify` with the secret in a named variable (and its _PREVIOUS when given). */
function verify(args: string[], secret: string, previous?: string): Promise<CliResult> {
  return cli(['verify', '--secret-env', SECRET_VAR, ...args], { [SECRET_VAR]: secret, [`${SECRET_VAR}_PREVIOUS`]: previous });
}

async function file(name: string, content: string | Buffer): Promise<string> {
  fileCounter += 1;
  const path = join(home.dir, `${fileCounter}-${name}`);
  await writeFile(path, content);
  return path;
}

async function readSecret(path: string): Promise<string> {
  const secret = (await readFile(path, 'utf8')).trim();
  assert.match(secret, /^whsec_\S+$/, 'the secret file holds one whsec_ secret');
  secrets.push(secret);
  return secret;
}

/** The raw header block as a capture tool would save it: request line, "Name: value" lines, CRLF, a blank line. */
function headerText(delivery: Captured, replace: Record<string, string> = {}): string {
  const lines = [delivery.requestLine];
  for (let i = 0; i < delivery.rawHeaders.length; i += 2) {
    const name = delivery.rawHeaders[i]!;
    const value = replace[name.toLowerCase()] ?? delivery.rawHeaders[i + 1]!;
    lines.push(`${name}: ${value}`);
  }
  return `${lines.join('\r\n')}\r\n\r\n`;
}

/** Triggers one event with the CLI and captures its delivery to our subscription. */
async function captureDelivery(label: string): Promise<Capture> {
  const triggered = await cli(['trigger', EVENT_TYPE, '--json']);
  assert.equal(triggered.code, 0, explain(triggered));
  const emitted = JSON.parse(triggered.stdout) as { event_id: string; subscriptions: string[] };
  assert.match(emitted.event_id, /^evt_/);
  assert.ok(emitted.subscriptions.includes(subscriptionId), 'the event is delivered to the subscription');

  const deadline = Date.now() + 15_000;
  let delivery: Captured | undefined;
  for (;;) {
    delivery = receiver.captured.find((d) => headerOf(d, 'x-intelliauth-event-id') === emitted.event_id);
    if (delivery) break;
    assert.ok(Date.now() < deadline, `the delivery of ${emitted.event_id} did not arrive; emulator log: ${redact(emulator.log().slice(-2000))}`);
    await sleep(20);
  }
  const bodyFile = await file(`${label}-body.json`, delivery.rawBody);
  const headersFile = await file(`${label}-headers.txt`, headerText(delivery));
  const captured = delivery;
  return { eventId: emitted.event_id, delivery, bodyFile, headersFile, header: (name) => headerOf(captured, name) };
}

function headerOf(delivery: Captured, name: string): string {
  const values: string[] = [];
  for (let i = 0; i < delivery.rawHeaders.length; i += 2) {
    if (delivery.rawHeaders[i]!.toLowerCase() === name) values.push(delivery.rawHeaders[i + 1]!);
  }
  assert.ok(values.length <= 1, `${name} is sent once`);
  return values[0] ?? '';
}

/** The body with one byte changed: a digit of event_id, so the JSON stays valid and the length the same. */
function tamperOneByte(body: Buffer): Buffer {
  const copy = Buffer.from(body);
  const at = copy.indexOf('"event_id":"evt_') + '"event_id":"evt_'.length + 5;
  assert.ok(at > 20, 'the body has an event_id');
  const byte = copy[at]!;
  copy[at] = byte === 0x30 ? 0x31 : 0x30; // '0' <-> another digit or letter replaced by '0'
  assert.notDeepEqual(copy, body);
  assert.equal(copy.length, body.length);
  return copy;
}

/** The signature with one hex digit changed. */
function tamperOneHexDigit(signature: string): string {
  const at = 17;
  const digit = signature[at]!;
  const changed = digit === 'a' ? 'b' : 'a';
  return `${signature.slice(0, at)}${changed}${signature.slice(at + 1)}`;
}

const mismatchMessage = (secret: string) =>
  new RegExp(`^error: invalid: X-IntelliAuth-Signature does not match the body \\(secret fingerprint ${fingerprint(secret)}\\)$`, 'm');

before(async () => {
  assert.ok(existsSync(join(ROOT, 'dist', 'main.js')), 'build first: node scripts/build.mjs');
  home = await tempHome('iaw-verify-captured-');
  emulator = await startEmulatorProcess(['--allow-private-targets'], { env: cleanEnv(home.dir), timeoutMs: 30_000 });
  secrets.push(emulator.clientSecret);
  receiver = await startCapturingReceiver();
  env = emulator.env(home.dir);

  const secretFile = join(home.dir, 'current.secret');
  const created = await cli([
    'create', '--name', 'verify-captured', '--url', receiver.url, '--events', EVENT_TYPE,
    '--secret-store', 'file', '--secret-file', secretFile, '--json', '--no-input',
  ]);
  assert.equal(created.code, 0, explain(created));
  const subscription = JSON.parse(created.stdout) as { id: string; secret_fingerprint: string; url: string };
  assert.match(subscription.id, /^whsub_/);
  assert.equal(subscription.url, receiver.url);
  subscriptionId = subscription.id;
  oldSecret = await readSecret(secretFile);
  assert.equal(subscription.secret_fingerprint, fingerprint(oldSecret), 'the stored secret is the one the platform holds');
});

after(async () => {
  // The secrets were in files, the environment and the emulator; none may come back out on stdout or stderr.
  for (const [index, { stdout, stderr }] of outputs.entries()) {
    for (const secret of secrets) {
      assert.equal(stdout.includes(secret), false, `stdout of CLI run #${index} leaks a secret`);
      assert.equal(stderr.includes(secret), false, `stderr of CLI run #${index} leaks a secret`);
    }
  }
  await receiver?.close();
  await emulator?.stop();
  await home?.cleanup();
});

describe('verify against a delivery captured from the emulator', () => {
  let capture: Capture;

  before(async () => {
    capture = await captureDelivery('first');
    // What the capture holds, checked independently of the CLI.
    assert.match(capture.delivery.requestLine, /^POST \/webhooks\/intelliauth HTTP\/1\.[01]$/);
    assert.match(capture.header('x-intelliauth-signature'), /^[0-9a-f]{64}$/);
    assert.match(capture.header('x-intelliauth-timestamp'), /^\d{10}$/);
    assert.equal(capture.header('x-intelliauth-signature-previous'), '', 'no previous signature before any rotation');
    assert.equal(capture.header('x-intelliauth-event-type'), EVENT_TYPE);
    assert.equal(capture.header('x-intelliauth-delivery-attempt'), '1');
  });

  test('as captured, through --headers-file: valid (exit 0), with event, tenant and timestamp reported', T, async () => {
    const result = await verify(['--headers-file', capture.headersFile, '--body-file', capture.bodyFile, '--tenant-id', emulator.tenantId], oldSecret);
    assert.equal(result.code, 0, explain(result));
    assert.equal(result.stdout, `valid: signature matches (current secret ${fingerprint(oldSecret)}, X-IntelliAuth-Signature)\n`);
    assert.match(
      result.stderr,
      new RegExp(`event ${capture.eventId} ${escape(EVENT_TYPE)}, tenant ${emulator.tenantId} \\(as expected\\), attempt 1`),
    );
    assert.match(result.stderr, /timestamp (?:is \d+ s old|matches this clock) \(limit 300 s\)/);
    assert.doesNotMatch(result.stderr, /warn|overrides/i, 'the headers agree with the body');
  });

  test('as captured, through --signature/--timestamp and the body on stdin: valid', T, async () => {
    const result = await runCli(
      ['verify', '--signature', capture.header('x-intelliauth-signature'), '--timestamp', capture.header('x-intelliauth-timestamp')],
      { env: { ...env, INTELLIAUTH_WEBHOOK_SECRET: oldSecret }, input: capture.delivery.rawBody },
    );
    outputs.push(result);
    assert.equal(result.code, 0, explain(result));
    assert.equal(result.stdout, `valid: signature matches (current secret ${fingerprint(oldSecret)}, X-IntelliAuth-Signature)\n`);
    assert.match(result.stderr, /tenant \S+ \(not checked: pass --tenant-id\)/);
  });

  test('as captured, --json: the valid verdict object', T, async () => {
    const result = await verify(['--json', '--headers-file', capture.headersFile, '--body-file', capture.bodyFile, '--tenant-id', emulator.tenantId], oldSecret);
    assert.equal(result.code, 0, explain(result));
    const verdict = JSON.parse(result.stdout) as Record<string, any>;
    assert.deepEqual(Object.keys(verdict).sort(), ['event', 'header', 'matchedWith', 'secretFingerprints', 'timestampSkewSeconds', 'valid']);
    assert.equal(verdict.valid, true);
    assert.equal(verdict.matchedWith, 'current');
    assert.equal(verdict.header, 'signature');
    assert.ok(Number.isInteger(verdict.timestampSkewSeconds) && verdict.timestampSkewSeconds >= 0 && verdict.timestampSkewSeconds <= 300, 'skew within the window');
    const body = JSON.parse(capture.delivery.rawBody.toString('utf8')) as Record<string, any>;
    assert.deepEqual(verdict.event, {
      eventId: capture.eventId,
      eventType: EVENT_TYPE,
      occurredAt: body.occurred_at,
      tenantId: emulator.tenantId,
      tenantSlug: body.tenant.slug,
      attempt: 1,
      subscriptionId,
    });
    assert.equal('payload' in verdict.event, false, 'the payload is left out');
    assert.deepEqual(verdict.secretFingerprints, { current: fingerprint(oldSecret), previous: null });
  });

  test('the body with one byte changed: signature mismatch (exit 7)', T, async () => {
    const tampered = await file('tampered-body.json', tamperOneByte(capture.delivery.rawBody));
    const result = await verify(['--headers-file', capture.headersFile, '--body-file', tampered], oldSecret);
    assert.equal(result.code, 7, explain(result));
    assert.equal(result.stdout, '');
    assert.match(result.stderr, mismatchMessage(oldSecret));
    assert.match(
      result.stderr,
      new RegExp(`^hint: check that the body is the exact raw bytes received \\(${capture.delivery.rawBody.length} bytes: not re-serialised JSON`, 'm'),
    );
    assert.doesNotMatch(result.stderr, /ends with a newline/, 'a delivery body has no trailing newline');
  });

  test('the body with one byte changed, --json: the invalid verdict object', T, async () => {
    const tampered = await file('tampered-body.json', tamperOneByte(capture.delivery.rawBody));
    const result = await verify(['--json', '--headers-file', capture.headersFile, '--body-file', tampered], oldSecret);
    assert.equal(result.code, 7, explain(result));
    assert.deepEqual(JSON.parse(result.stdout), {
      valid: false,
      reason: 'signature_mismatch',
      message: `X-IntelliAuth-Signature does not match the body (secret fingerprint ${fingerprint(oldSecret)})`,
      secretFingerprints: { current: fingerprint(oldSecret), previous: null },
    });
    assert.match(result.stderr, /^error: invalid: X-IntelliAuth-Signature does not match the body/m);
  });

  test('the signature with one hex digit changed: signature mismatch (exit 7)', T, async () => {
    const signature = capture.header('x-intelliauth-signature');
    const headers = await file('tampered-signature.txt', headerText(capture.delivery, { 'x-intelliauth-signature': tamperOneHexDigit(signature) }));
    const result = await verify(['--headers-file', headers, '--body-file', capture.bodyFile, '--tenant-id', emulator.tenantId], oldSecret);
    assert.equal(result.code, 7, explain(result));
    assert.match(result.stderr, mismatchMessage(oldSecret));

    // The same through the flag, which overrides the file and says so.
    const viaFlag = await verify(['--headers-file', capture.headersFile, '--body-file', capture.bodyFile, '--signature', tamperOneHexDigit(signature)], oldSecret);
    assert.equal(viaFlag.code, 7, explain(viaFlag));
    assert.match(viaFlag.stderr, /--signature overrides the value in /);
    assert.match(viaFlag.stderr, mismatchMessage(oldSecret));
  });

  test('the right delivery with a wrong secret: mismatch naming the wrong secret by fingerprint only (exit 7)', T, async () => {
    const result = await verify(['--headers-file', capture.headersFile, '--body-file', capture.bodyFile, '--tenant-id', emulator.tenantId], WRONG_SECRET);
    assert.equal(result.code, 7, explain(result));
    assert.match(result.stderr, mismatchMessage(WRONG_SECRET));
    assert.match(
      result.stderr,
      new RegExp(`and that the secret in ${SECRET_VAR} \\(fingerprint ${fingerprint(WRONG_SECRET)}\\) is the subscription's: compare with its secret_fingerprint`),
    );
    assert.doesNotMatch(result.stderr, new RegExp(fingerprint(oldSecret)), 'only the secret held is named');
  });

  test('the captured timestamp, once older than --max-skew: stale (exit 7), the signature still matching', T, async () => {
    const stamped = Number(capture.header('x-intelliauth-timestamp'));
    while (nowSeconds() < stamped + 2) await sleep(100);
    const result = await verify(['--headers-file', capture.headersFile, '--body-file', capture.bodyFile, '--max-skew', '1'], oldSecret);
    assert.equal(result.code, 7, explain(result));
    assert.match(result.stderr, /^error: invalid: timestamp is \d+ s old \(limit 1 s\)$/m);
    const age = Number(/timestamp is (\d+) s old/.exec(result.stderr)![1]);
    assert.ok(age >= 2 && age <= 60, `age ${age} s`);
    assert.match(result.stderr, /^hint: the signature matches; the delivery was sent more than 1 s ago: a replay or an old capture/m);
  });

  test('the capture replayed with a timestamp 1000 s in the past: stale (exit 7)', T, async () => {
    // The timestamp is not signed (PLATFORM.md): only the timestamp check stops a replay.
    const past = String(Number(capture.header('x-intelliauth-timestamp')) - 1000);
    const headers = await file('stale-headers.txt', headerText(capture.delivery, { 'x-intelliauth-timestamp': past }));
    const result = await verify(['--headers-file', headers, '--body-file', capture.bodyFile, '--tenant-id', emulator.tenantId], oldSecret);
    assert.equal(result.code, 7, explain(result));
    assert.match(result.stderr, /^error: invalid: timestamp is 10\d\d s old \(limit 300 s\)$/m);
    assert.match(result.stderr, /^hint: the signature matches; the delivery was sent more than 300 s ago/m);

    const json = await verify(['--json', '--headers-file', headers, '--body-file', capture.bodyFile], oldSecret);
    assert.equal(json.code, 7, explain(json));
    const verdict = JSON.parse(json.stdout) as Record<string, unknown>;
    assert.deepEqual(Object.keys(verdict).sort(), ['message', 'reason', 'secretFingerprints', 'valid']);
    assert.equal(verdict.valid, false);
    assert.equal(verdict.reason, 'timestamp_stale');
    assert.match(String(verdict.message), /^timestamp is 10\d\d s old \(limit 300 s\)$/);
  });

  test('the capture with a timestamp 1000 s in the future: rejected (exit 7)', T, async () => {
    const future = String(Number(capture.header('x-intelliauth-timestamp')) + 1000);
    const result = await verify(['--headers-file', capture.headersFile, '--body-file', capture.bodyFile, '--timestamp', future], oldSecret);
    assert.equal(result.code, 7, explain(result));
    assert.match(result.stderr, /--timestamp overrides the value in /);
    assert.match(result.stderr, /^error: invalid: timestamp is (?:9\d\d|1000) s in the future \(limit 300 s\)$/m);
    assert.match(result.stderr, /^hint: the signature matches; the sender's clock or this one is off/m);

    const json = await verify(['--json', '--headers-file', capture.headersFile, '--body-file', capture.bodyFile, '--timestamp', future], oldSecret);
    assert.equal(json.code, 7, explain(json));
    const verdict = JSON.parse(json.stdout) as Record<string, unknown>;
    assert.equal(verdict.reason, 'timestamp_future');
  });

  test('a wrong --tenant-id: tenant mismatch (exit 7)', T, async () => {
    const result = await verify(['--headers-file', capture.headersFile, '--body-file', capture.bodyFile, '--tenant-id', OTHER_TENANT], oldSecret);
    assert.equal(result.code, 7, explain(result));
    assert.match(result.stderr, new RegExp(`^error: invalid: tenant\\.id is ${emulator.tenantId}, expected ${OTHER_TENANT}$`, 'm'));
    assert.match(result.stderr, /^hint: the signature matches, but the event is not for the expected tenant: a receiver ignores it \(and answers 2xx\)/m);

    const json = await verify(['--json', '--headers-file', capture.headersFile, '--body-file', capture.bodyFile, '--tenant-id', OTHER_TENANT], oldSecret);
    assert.equal(json.code, 7, explain(json));
    assert.deepEqual(JSON.parse(json.stdout), {
      valid: false,
      reason: 'tenant_mismatch',
      message: `tenant.id is ${emulator.tenantId}, expected ${OTHER_TENANT}`,
      secretFingerprints: { current: fingerprint(oldSecret), previous: null },
    });
  });
});

describe('verify against deliveries captured during a rotation grace period', () => {
  let newSecret: string;
  let before_: Capture;
  let during: Capture;

  before(async () => {
    before_ = await captureDelivery('pre-rotation');
    const newFile = join(home.dir, 'new.secret');
    const rotated = await cli(['rotate', subscriptionId, '--grace', '10m', '--secret-store', 'file', '--secret-file', newFile, '--yes']);
    assert.equal(rotated.code, 0, explain(rotated));
    newSecret = await readSecret(newFile);
    assert.notEqual(fingerprint(newSecret), fingerprint(oldSecret));
    during = await captureDelivery('during-grace');
    assert.match(during.header('x-intelliauth-signature'), /^[0-9a-f]{64}$/);
    assert.match(during.header('x-intelliauth-signature-previous'), /^[0-9a-f]{64}$/, 'the delivery carries the previous signature during the grace');
    assert.notEqual(during.header('x-intelliauth-signature'), during.header('x-intelliauth-signature-previous'));
  });

  test('the old secret verifies the Previous header of the raw capture (--headers-file), with a hint to switch', T, async () => {
    const result = await verify(['--headers-file', during.headersFile, '--body-file', during.bodyFile, '--tenant-id', emulator.tenantId], oldSecret);
    assert.equal(result.code, 0, explain(result));
    assert.equal(result.stdout, `valid: signature matches (current secret ${fingerprint(oldSecret)}, X-IntelliAuth-Signature-Previous)\n`);
    assert.match(
      result.stderr,
      new RegExp(`^hint: the secret used \\(${fingerprint(oldSecret)}\\) is the platform's previous one, valid only until its grace period ends: switch the receiver to the new secret$`, 'm'),
    );
  });

  test('the old secret verifies --previous-signature given as a flag; --json shows header signature-previous', T, async () => {
    const result = await verify(
      [
        '--json', '--body-file', during.bodyFile,
        '--signature', during.header('x-intelliauth-signature'),
        '--previous-signature', during.header('x-intelliauth-signature-previous'),
        '--timestamp', during.header('x-intelliauth-timestamp'),
      ],
      oldSecret,
    );
    assert.equal(result.code, 0, explain(result));
    const verdict = JSON.parse(result.stdout) as Record<string, any>;
    assert.equal(verdict.valid, true);
    assert.equal(verdict.matchedWith, 'current');
    assert.equal(verdict.header, 'signature-previous');
    assert.equal(verdict.event.eventId, during.eventId);
    assert.deepEqual(verdict.secretFingerprints, { current: fingerprint(oldSecret), previous: null });
  });

  test('the old secret does not verify the main header alone (exit 7)', T, async () => {
    const result = await verify(['--body-file', during.bodyFile, '--signature', during.header('x-intelliauth-signature')], oldSecret);
    assert.equal(result.code, 7, explain(result));
    assert.match(result.stderr, mismatchMessage(oldSecret));
  });

  test('the new secret verifies the main header of the same capture', T, async () => {
    const result = await verify(['--headers-file', during.headersFile, '--body-file', during.bodyFile, '--tenant-id', emulator.tenantId], newSecret);
    assert.equal(result.code, 0, explain(result));
    assert.equal(result.stdout, `valid: signature matches (current secret ${fingerprint(newSecret)}, X-IntelliAuth-Signature)\n`);
    assert.doesNotMatch(result.stderr, /hint:/);
  });

  test('a tampered body fails both headers, naming both (exit 7)', T, async () => {
    const tampered = await file('grace-tampered-body.json', tamperOneByte(during.delivery.rawBody));
    const result = await verify(['--json', '--headers-file', during.headersFile, '--body-file', tampered], oldSecret);
    assert.equal(result.code, 7, explain(result));
    const verdict = JSON.parse(result.stdout) as Record<string, unknown>;
    assert.equal(verdict.reason, 'signature_mismatch');
    // Both headers are named, with the fingerprint of the secret held (not the exact sentence: its wording is not asserted here).
    assert.match(String(verdict.message), /^neither X-IntelliAuth-Signature nor X-IntelliAuth-Signature-Previous /);
    assert.match(String(verdict.message), new RegExp(`\\(secret fingerprint ${fingerprint(oldSecret)}\\)$`));
  });

  test('a delivery captured before the rotation verifies with the old secret held as _PREVIOUS', T, async () => {
    const result = await verify(['--headers-file', before_.headersFile, '--body-file', before_.bodyFile, '--tenant-id', emulator.tenantId], newSecret, oldSecret);
    assert.equal(result.code, 0, explain(result));
    assert.equal(result.stdout, `valid: signature matches (previous secret ${fingerprint(oldSecret)}, X-IntelliAuth-Signature)\n`);
    assert.match(result.stderr, new RegExp(`^hint: signed with the secret held as previous \\(${fingerprint(oldSecret)}\\), not the current one`, 'm'));
  });

  test('--subscription uses the secrets the CLI stored at create and rotate', T, async () => {
    const result = await cli(['verify', '--json', '--subscription', subscriptionId, '--headers-file', during.headersFile, '--body-file', during.bodyFile, '--tenant-id', emulator.tenantId]);
    assert.equal(result.code, 0, explain(result));
    const verdict = JSON.parse(result.stdout) as Record<string, any>;
    assert.equal(verdict.valid, true);
    assert.equal(verdict.matchedWith, 'current');
    assert.equal(verdict.header, 'signature');
    assert.deepEqual(verdict.secretFingerprints, { current: fingerprint(newSecret), previous: fingerprint(oldSecret) });

    const tampered = await file('grace-tampered-signature.txt', headerText(during.delivery, {
      'x-intelliauth-signature': tamperOneHexDigit(during.header('x-intelliauth-signature')),
      'x-intelliauth-signature-previous': tamperOneHexDigit(during.header('x-intelliauth-signature-previous')),
    }));
    const invalid = await cli(['verify', '--subscription', subscriptionId, '--headers-file', tampered, '--body-file', during.bodyFile]);
    assert.equal(invalid.code, 7, explain(invalid));
    assert.match(invalid.stderr, new RegExp(`secret fingerprints current ${fingerprint(newSecret)}, previous ${fingerprint(oldSecret)}\\)$`, 'm'));
  });
});
