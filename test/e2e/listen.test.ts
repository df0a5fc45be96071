import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { request } from 'undici';
import { ROOT, runCli, startEmulatorProcess, tempHome, type CliResult, type EmulatorProcess } from '../helpers/cli.ts';
import { freePort, startListen, type ListenProcess } from '../helpers/listen-process.ts';

// The complete local loop, as a user runs it: an emulator that may deliver to loopback,
// `create` putting the signing secret in a 0600 file, `listen` reading it from there, and
// `trigger` / `redeliver` making the emulator deliver real signed events to it. A second
// loopback server plays the user's app behind --forward-to, failing once. Build first.

interface ListenLine {
  time: string;
  event_id: string | null;
  event_type?: string | null;
  attempt?: number | null;
  verdict?: string;
  status?: number;
  reason?: string;
  forward?: { outcome: string; status: number | null; latency_ms: number | null; attempt: number; max_attempts: number; error?: string };
}


interface App {
  server: Server;
  url: string;
  received: Array<{ body: Buffer; headers: IncomingMessage['headers'] }>;
}

/** The user's own app: answers 500 to the first request, 200 after. */
async function startApp(): Promise<App> {
  const received: App['received'] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      received.push({ body: Buffer.concat(chunks), headers: req.headers });
      res.writeHead(received.length === 1 ? 500 : 200).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/app/hooks`, received };
}

let accessToken: string | undefined;

/** A call to the emulator's API with a client-credentials token (the CLI is exercised elsewhere; this keeps the steps quick). */
async function api(method: 'GET' | 'POST', path: string, json?: unknown): Promise<{ status: number; body: unknown }> {
  if (accessToken === undefined) {
    const token = await request(`${emulator.tenantUrl}/oauth2/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'client_credentials', client_id: emulator.clientId, client_secret: emulator.clientSecret }).toString(),
    });
    accessToken = ((await token.body.json()) as { access_token: string }).access_token;
  }
  const response = await request(`${emulator.tenantUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${accessToken}`, ...(json === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(json === undefined ? {} : { body: JSON.stringify(json) }),
  });
  const text = await response.body.text();
  return { status: response.statusCode, body: text === '' ? null : (JSON.parse(text) as unknown) };
}

const hmac = (secret: string, body: Buffer | string) => createHmac('sha256', Buffer.from(secret, 'utf8')).update(body).digest('hex');

let home: { dir: string; cleanup: () => Promise<void> };
let emulator: EmulatorProcess;
let env: Record<string, string>;
let app: App;
let listen: ListenProcess<ListenLine> | undefined;
const outputs: CliResult[] = [];

async function cli(args: string[]): Promise<CliResult> {
  const result = await runCli(args, { env });
  outputs.push(result);
  assert.equal(result.code, 0, `${args.join(' ')}: ${result.stderr}`);
  return result;
}

before(async () => {
  assert.ok(existsSync(join(ROOT, 'dist', 'main.js')), 'build first: node scripts/build.mjs');
  home = await tempHome('iaw-listen-');
  emulator = await startEmulatorProcess(['--allow-private-targets']);
  env = emulator.env(home.dir);
  app = await startApp();
});

after(async () => {
  if (listen && listen.child.exitCode === null) listen.child.kill('SIGKILL');
  await emulator?.stop();
  app?.server.closeAllConnections();
  await new Promise<void>((resolve) => (app ? app.server.close(() => resolve()) : resolve()));
  await home?.cleanup();
});

describe('listen: create, listen, trigger as one local loop', () => {
  // The steps share one emulator, subscription and listen process, in order.
  let subscriptionId: string;
  let secret: string;
  let receiverUrl: string;
  let signedUpId: string;

  test('create stores the secret, listen reads it, and a triggered event is accepted', async () => {
    const port = await freePort();
    receiverUrl = `http://127.0.0.1:${port}/webhooks/intelliauth`;
    const secretFile = join(home.dir, 'signing-secret');
    const created = JSON.parse((await cli(['create', '--json', '--name', 'listen e2e', '--url', receiverUrl, '--all-events', '--secret-store', 'file', '--secret-file', secretFile])).stdout) as { id: string };
    subscriptionId = created.id;
    secret = (await readFile(secretFile, 'utf8')).trim();
    assert.match(secret, /^whsec_/);

    listen = await startListen(
      ['--subscription', subscriptionId, '--port', String(port), '--json', '--events', 'user.signed_up', '--tenant-id', emulator.tenantId, '--forward-to', app.url],
      env,
      (text) => JSON.parse(text) as ListenLine,
    );
    assert.equal(listen.url, receiverUrl);

    signedUpId = (JSON.parse((await cli(['trigger', 'user.signed_up', '--json'])).stdout) as { event_id: string }).event_id;
    const accepted = await listen.waitForLine((l) => l.event_id === signedUpId && l.verdict !== undefined);
    assert.equal(accepted.verdict, 'accepted');
    assert.equal(accepted.event_type, 'user.signed_up');
    assert.equal(accepted.attempt, 1);
    assert.equal(accepted.status, 200);
  });

  test('the accepted delivery is forwarded to the app, which fails once and gets it again', async () => {
    const firstForward = await listen!.waitForLine((l) => l.event_id === signedUpId && l.forward?.attempt === 1);
    assert.deepEqual([firstForward.forward!.outcome, firstForward.forward!.status], ['retrying', 500]);
    const delivered = await listen!.waitForLine((l) => l.event_id === signedUpId && l.forward?.outcome === 'delivered');
    assert.equal(delivered.forward!.status, 200);
    assert.equal(delivered.forward!.attempt, 2);
    assert.equal(typeof delivered.forward!.latency_ms, 'number');
    assert.equal(app.received.length, 2);
    for (const { body, headers } of app.received) {
      assert.equal(headers['x-intelliauth-signature'], hmac(secret, body), 'the exact signed bytes reach the app');
      assert.equal(headers['x-intelliauth-event-id'], signedUpId);
      assert.equal(headers['content-type'], 'application/json');
      assert.match(String(headers['x-intelliauth-timestamp']), /^\d+$/);
    }
  });

  test('a redelivered event is answered 200, marked duplicate and not forwarded again', async () => {
    const redeliver = await api('POST', `/api/v1/webhooks/subscriptions/${subscriptionId}/events/${signedUpId}/redeliver`);
    assert.ok(redeliver.status >= 200 && redeliver.status < 300, `redeliver answered ${redeliver.status}`);
    const duplicate = await listen!.waitForLine((l) => l.event_id === signedUpId && l.verdict === 'duplicate');
    assert.equal(duplicate.status, 200);
  });

  test('a delivery with a bad signature sent by the test is answered 401 and listed as rejected', async () => {
    const body = JSON.stringify({ event_id: 'evt_forged_by_the_test', event_type: 'user.deleted', occurred_at: new Date().toISOString(), tenant: { id: emulator.tenantId, slug: 'x' }, data: {} });
    const forged = await request(receiverUrl, {
      method: 'POST',
      body,
      headers: {
        'content-type': 'application/json',
        'x-intelliauth-signature': hmac('whsec_not_the_secret', body),
        'x-intelliauth-event-id': 'evt_forged_by_the_test',
        'x-intelliauth-event-type': 'user.deleted',
        'x-intelliauth-timestamp': String(Math.floor(Date.now() / 1000)),
      },
    });
    assert.equal(forged.statusCode, 401);
    assert.equal(((await forged.body.json()) as { error: string }).error, 'invalid_signature');
    const rejected = await listen!.waitForLine((l) => l.event_id === 'evt_forged_by_the_test');
    assert.deepEqual([rejected.verdict, rejected.reason, rejected.status], ['rejected', 'signature_mismatch', 401]);
  });

  test('an event type outside --events is answered 200 (no retries) and logged as ignored', async () => {
    const emitted = await api('POST', '/_emulator/events', { event_type: 'mfa.factor_added' });
    const eventId = (emitted.body as { data: { event_id: string } }).data.event_id;
    const ignored = await listen!.waitForLine((l) => l.event_id === eventId);
    assert.deepEqual([ignored.verdict, ignored.status, ignored.event_type], ['ignored', 200, 'mfa.factor_added']);

    // The platform's feed agrees: every delivery it made got a 2xx. (It records an attempt once
    // the answer is in, which may be a moment after listen has logged it.)
    type FeedRecord = { event_id: string; outcome: string; http_status: number | null };
    let records: FeedRecord[] = [];
    for (let poll = 0; poll < 100 && records.length < 3; poll += 1) {
      if (poll > 0) await new Promise((resolve) => setTimeout(resolve, 50));
      records = ((await api('GET', `/api/v1/webhooks/subscriptions/${subscriptionId}/deliveries`)).body as { data: FeedRecord[] }).data;
    }
    assert.equal(records.length, 3, JSON.stringify(records));
    assert.ok(records.every((r) => r.outcome === 'succeeded' && r.http_status === 200), JSON.stringify(records));
  });

  test('Ctrl-C stops cleanly with exit 0 and a summary on stderr; nothing printed the secret', async () => {
    listen!.child.kill('SIGINT');
    assert.equal(await listen!.exited, 0, listen!.stderr());
    const summaryLine = listen!.stderr().trimEnd().split('\n').at(-1)!;
    const { summary } = JSON.parse(summaryLine) as { summary: Record<string, unknown> };
    assert.deepEqual(summary, {
      received: 4,
      verified: 3,
      accepted: 1,
      rejected: 1,
      rejected_by: { signature_mismatch: 1 },
      duplicates: 1,
      ignored: 1,
      other_requests: 0,
      forwarded: 1,
      forward_failures: 0,
      forward_retries: 1,
      forward_dropped: 0,
    });
    assert.equal(listen!.lines.length, 4 + 2, 'stdout holds only the four events and two forward attempts');

    for (const text of [listen!.stderr(), JSON.stringify(listen!.lines), ...outputs.map((o) => o.stdout + o.stderr)]) {
      assert.equal(text.includes(secret), false, 'the signing secret is never printed');
    }
  });
});
