import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Chalk } from 'chalk';
import { request } from 'undici';
import { toListenOptions, type ListenOptions } from '../../src/commands/listen/index.ts';
import { run } from '../../src/commands/listen/run.ts';
import { EventLog, LineWriter, printable, type EventRecord } from '../../src/commands/listen/event-log.ts';
import { importSigningSecret } from '../../src/secrets/signing-secrets.ts';
import { UsageError } from '../../src/errors.ts';
import { makeTestContext } from '../helpers/context.ts';

// `listen` end to end inside the process: options, secrets from the environment or the
// store (and a rotation picked up while running), NDJSON on stdout, the summary on stderr.

const SECRET = 'whsec_listenRunCurrent_0123456789abcdefghijklmno';
const ROTATED = 'whsec_listenRunRotated_ZYXWVUTSRQPONMLKJIHGFEDCB';
const TENANT = 'tnt_01JLISTENRUN00000000000001';
const SUBSCRIPTION = 'whsub_01JLISTENRUN000000000000';

/** POSTs and reads the answer to its end, so no connection is left half-read. */
async function postStatus(url: string, message: { body: string; headers: Record<string, string> }): Promise<number> {
  const response = await request(url, { method: 'POST', body: message.body, headers: message.headers });
  await response.body.dump();
  return response.statusCode;
}

const hmac = (secret: string, body: string) => createHmac('sha256', Buffer.from(secret, 'utf8')).update(body).digest('hex');

function delivery(secret: string, eventId: string, eventType = 'user.signed_up'): { body: string; headers: Record<string, string> } {
  const body = JSON.stringify({
    event_id: eventId,
    event_type: eventType,
    occurred_at: new Date().toISOString(),
    tenant: { id: TENANT, slug: 'acme' },
    data: {},
    delivery: { attempt: 1, subscription_id: SUBSCRIPTION },
  });
  return {
    body,
    headers: {
      'content-type': 'application/json',
      'x-intelliauth-signature': hmac(secret, body),
      'x-intelliauth-event-id': eventId,
      'x-intelliauth-event-type': eventType,
      'x-intelliauth-delivery-attempt': '1',
      'x-intelliauth-timestamp': String(Math.floor(Date.now() / 1000)),
    },
  };
}

function options(overrides: Partial<ListenOptions> = {}): ListenOptions {
  return { ...toListenOptions({ port: '0', secretEnv: 'MY_HOOK_SECRET' }), ...overrides };
}

async function waitFor<T>(probe: () => T | undefined, timeoutMs = 5_000): Promise<T> {
  const started = Date.now();
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() - started > timeoutMs) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

const listeningUrl = (stderr: () => string) => waitFor(() => /listening on (http:\/\/\S+)/.exec(stderr())?.[1]);

let home: string;
before(async () => {
  home = await mkdtemp(join(tmpdir(), 'iaw-listen-run-'));
});
after(() => rm(home, { recursive: true, force: true }));

describe('listen options', () => {
  test('defaults', () => {
    const parsed = toListenOptions({});
    assert.deepEqual(parsed.secretSource, { kind: 'env', variable: 'INTELLIAUTH_WEBHOOK_SECRET', named: false });
    assert.equal(parsed.host, '127.0.0.1');
    assert.equal(parsed.port, 3000);
    assert.equal(parsed.path, '/webhooks/intelliauth');
    assert.deepEqual(parsed.events, ['*']);
    assert.equal(parsed.maxSkewSeconds, 300);
    assert.equal(parsed.forwardTo, undefined);
  });

  test('flags', () => {
    const parsed = toListenOptions({ subscription: SUBSCRIPTION, port: '8080', path: '/in', tenantId: TENANT, events: 'user.*, mfa.factor_added', forwardTo: 'http://127.0.0.1:9000/app#x', maxSkew: '2m' });
    assert.deepEqual(parsed.secretSource, { kind: 'subscription', subscriptionId: SUBSCRIPTION });
    assert.deepEqual(parsed.events, ['user.*', 'mfa.factor_added']);
    assert.equal(parsed.forwardTo?.href, 'http://127.0.0.1:9000/app');
    assert.equal(parsed.maxSkewSeconds, 120);
  });

  test('refuses, without echoing it, a secret given where a variable name goes', () => {
    assert.throws(() => toListenOptions({ secretEnv: SECRET }), (error: Error) => error instanceof UsageError && !error.message.includes(SECRET));
  });

  test('one-line usage errors for bad values', () => {
    const cases: Array<[Record<string, unknown>, RegExp]> = [
      [{ port: '70000' }, /--port must be at most 65535/],
      [{ path: 'webhooks' }, /--path must start with \//],
      [{ events: 'user.*,Nope' }, /--events: "Nope" is not a selector/],
      [{ events: ' , ' }, /--events needs at least one selector/],
      [{ forwardTo: 'ftp://127.0.0.1/' }, /--forward-to must use http or https/],
      [{ forwardTo: 'not a url' }, /--forward-to must be an absolute http\(s\) URL/],
      [{ forwardTo: 'http://user:pw@127.0.0.1/' }, /must not carry a user name or password/],
      [{ subscription: 'whsub bad' }, /is not a subscription id/],
    ];
    for (const [opts, message] of cases) assert.throws(() => toListenOptions(opts), (error: Error) => error instanceof UsageError && message.test(error.message));
  });
});

describe('listen event log', () => {
  const record: EventRecord = { time: '2025-06-15T14:26:40.000Z', event_id: 'evt_1', event_type: 'user.signed_up', attempt: 2, verdict: 'accepted', status: 200 };

  test('--json prints one object per line', () => {
    const chunks: string[] = [];
    const log = new EventLog(new LineWriter({ write: (text) => chunks.push(String(text)) > 0 }), { json: true, style: new Chalk({ level: 0 }) });
    log.event(record);
    log.forward({ time: record.time, event_id: 'evt_1', forward: { outcome: 'delivered', status: 200, latency_ms: 3, attempt: 1, max_attempts: 4 } });
    log.flush();
    assert.equal(chunks.length, 1, 'one write for the batch');
    const lines = chunks[0]!.trimEnd().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
    assert.deepEqual(lines[0], record);
    assert.deepEqual(lines[1], { time: record.time, event_id: 'evt_1', forward: { outcome: 'delivered', status: 200, latency_ms: 3, attempt: 1, max_attempts: 4 } });
  });

  test('a stdout whose reader went away drops lines instead of crashing the receiver', () => {
    const stream = new EventEmitter() as EventEmitter & { write: (text: string | Uint8Array) => boolean };
    const written: string[] = [];
    stream.write = (text) => written.push(String(text)) > 0;
    const writer = new LineWriter(stream);
    writer.write('one\n');
    writer.flush();
    stream.emit('error', Object.assign(new Error('write EPIPE'), { code: 'EPIPE' }));
    writer.write('two\n');
    writer.flush();
    assert.deepEqual(written, ['one\n']);
    assert.equal(writer.dropped, 1);
  });

  test('a signed value cannot forge lines or send escape sequences to the terminal', () => {
    const chunks: string[] = [];
    const log = new EventLog(new LineWriter({ write: (text) => chunks.push(String(text)) > 0 }), { json: false, style: new Chalk({ level: 0 }) });
    log.event({ ...record, event_type: 'user.x\u001b[2J\r\n00:00:00  user.deleted  evt_forged  #1  200  accepted', event_id: 'evt_\u202eevil' });
    log.flush();
    const text = chunks.join('');
    assert.equal(text.split('\n').length, 2, 'exactly one line');
    assert.equal(/[\u0000-\u001f\u202e]/.test(text.slice(0, -1)), false);
    assert.match(text, /\\u\{1b\}\[2J\\u\{d\}\\u\{a\}/);
    assert.equal(printable('a'.repeat(50), 10), `${'a'.repeat(9)}…`);
  });
});

describe('listen run', () => {
  test('verifies with the secret from --secret-env, prints NDJSON per delivery and a summary on Ctrl-C', async () => {
    const controller = new AbortController();
    const t = makeTestContext({ env: { MY_HOOK_SECRET: SECRET }, globals: { json: true }, signal: controller.signal });
    const finished = run(options({ tenantId: TENANT, events: ['user.*'] }), t.context);
    const url = await listeningUrl(t.stderr);
    const good = delivery(SECRET, 'evt_run_1');
    const answers = [];
    answers.push(await postStatus(url, good));
    answers.push(await postStatus(url, good));
    const forged = delivery('whsec_not_it', 'evt_run_2');
    answers.push(await postStatus(url, forged));
    const other = delivery(SECRET, 'evt_run_3', 'mfa.factor_added');
    answers.push(await postStatus(url, other));
    assert.deepEqual(answers, [200, 200, 401, 200]);

    controller.abort();
    assert.equal(await finished, 0);
    const lines = t.stdout().trimEnd().split('\n').map((line) => JSON.parse(line) as EventRecord);
    assert.deepEqual(lines.map((l) => [l.event_id, l.verdict]), [['evt_run_1', 'accepted'], ['evt_run_1', 'duplicate'], ['evt_run_2', 'rejected'], ['evt_run_3', 'ignored']]);
    assert.ok(lines.every((l) => typeof l.time === 'string' && l.event_type !== null && l.attempt === 1));
    const summaryLine = t.stderr().trimEnd().split('\n').at(-1)!;
    assert.deepEqual(JSON.parse(summaryLine), {
      summary: { received: 4, verified: 3, accepted: 1, rejected: 1, rejected_by: { signature_mismatch: 1 }, duplicates: 1, ignored: 1, other_requests: 0 },
    });
    assert.equal(`${t.stdout()}${t.stderr()}`.includes(SECRET), false, 'the secret is never printed');
  });

  test('--quiet keeps only where it listens and the summary on stderr', async () => {
    const controller = new AbortController();
    const t = makeTestContext({ env: { MY_HOOK_SECRET: SECRET }, globals: { quiet: true }, signal: controller.signal });
    const finished = run(options({ port: 0 }), t.context);
    const url = await listeningUrl(t.stderr);
    assert.equal(await postStatus(url, delivery(SECRET, 'evt_quiet_1')), 200);
    controller.abort();
    assert.equal(await finished, 0);
    const stderr = t.stderr().trimEnd().split('\n');
    assert.equal(stderr.length, 2, t.stderr());
    assert.match(stderr[0]!, /^listening on http:\/\/127\.0\.0\.1:\d+\//);
    assert.match(stderr[1]!, /^summary: received 1, verified 1, accepted 1, rejected 0, duplicates 0, ignored 0$/);
  });

  test('reads the stored secret of --subscription and picks up a rotation made while running', async () => {
    const controller = new AbortController();
    const env = { INTELLIAUTH_TENANT_URL: 'https://acme-org.example.test', INTELLIAUTH_TOKEN: 'test-token', XDG_DATA_HOME: join(home, 'data'), XDG_CONFIG_HOME: join(home, 'config'), XDG_CACHE_HOME: join(home, 'cache') };
    const t = makeTestContext({ env, signal: controller.signal });
    await importSigningSecret(t.context, SUBSCRIPTION, SECRET);
    const finished = run(options({ secretSource: { kind: 'subscription', subscriptionId: SUBSCRIPTION } }), t.context);
    const url = await listeningUrl(t.stderr);
    const first = delivery(SECRET, 'evt_store_1');
    assert.equal(await postStatus(url, first), 200);

    await importSigningSecret(t.context, SUBSCRIPTION, ROTATED);
    const second = delivery(ROTATED, 'evt_store_2');
    assert.equal(await postStatus(url, second), 200);

    controller.abort();
    assert.equal(await finished, 0);
    const stdout = t.stdout();
    assert.match(stdout, /user\.signed_up\s+evt_store_1\s+#1\s+200\s+accepted/);
    assert.match(stdout, /user\.signed_up\s+evt_store_2\s+#1\s+200\s+accepted/);
    assert.match(t.stderr(), /signing secrets changed in the OS keychain \(whsub_01JLISTENRUN000000000000\)/);
    assert.match(t.stderr(), /summary: received 2, verified 2, accepted 2, rejected 0, duplicates 0, ignored 0/);
    assert.equal(`${stdout}${t.stderr()}`.includes(SECRET) || `${stdout}${t.stderr()}`.includes(ROTATED), false);
  });

  test('without any secret it is a usage error naming the flags', async () => {
    const t = makeTestContext({ env: {} });
    await assert.rejects(run(toListenOptions({ port: '0' }), t.context), (error: Error) => error instanceof UsageError && /no signing secret/.test(error.message) && /--subscription/.test((error as UsageError).hint ?? ''));
  });

  test('a port in use is a usage error', async () => {
    const controller = new AbortController();
    const first = makeTestContext({ env: { MY_HOOK_SECRET: SECRET }, signal: controller.signal });
    const running = run(options(), first.context);
    const url = new URL(await listeningUrl(first.stderr));
    const second = makeTestContext({ env: { MY_HOOK_SECRET: SECRET } });
    await assert.rejects(run(options({ port: Number(url.port) }), second.context), (error: Error) => error instanceof UsageError && /port is in use/.test(error.message));
    controller.abort();
    assert.equal(await running, 0);
  });
});
