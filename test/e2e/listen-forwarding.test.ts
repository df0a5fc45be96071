import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { request } from 'undici';
import { ROOT, runCli, startEmulatorProcess, tempHome, type CliResult, type EmulatorProcess } from '../helpers/cli.ts';
import { freePort, startListen, type ListenProcess } from '../helpers/listen-process.ts';

// `listen --forward-to`, end to end: the built CLI as child processes, an emulator started
// with --allow-private-targets delivering real signed events to `listen`, and loopback
// servers playing the user's app behind --forward-to.
//  1. A slow app (answers the forward after 3 s) must not delay the answer to the platform:
//     the emulator's delivery feed records a quick success while the app still holds the
//     forward, and the forward still reaches the app later with the exact signed bytes.
//  2. Without --json, the forward lines (status, latency, attempt, retry) and the summary's
//     forward counters are printed for people. Build first.

const APP_DELAY_MS = 3_000;


interface AppRequest {
  body: Buffer;
  headers: IncomingMessage['headers'];
  receivedAt: number;
  answeredAt: number | null;
  status: number | null;
}

interface App {
  server: Server;
  url: string;
  received: AppRequest[];
  close(): Promise<void>;
}

/** The user's own app on 127.0.0.1: `respond` decides, per request, the status and how long to wait first. */
async function startApp(respond: (index: number) => { status: number; delayMs: number }): Promise<App> {
  const received: AppRequest[] = [];
  const timers = new Set<NodeJS.Timeout>();
  const server = createServer((req, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const entry: AppRequest = { body: Buffer.concat(chunks), headers: req.headers, receivedAt: Date.now(), answeredAt: null, status: null };
      received.push(entry);
      const { status, delayMs } = respond(received.length - 1);
      const timer = setTimeout(() => {
        timers.delete(timer);
        entry.answeredAt = Date.now();
        entry.status = status;
        res.writeHead(status, { 'content-type': 'text/plain' }).end(status < 300 ? 'ok' : 'boom');
      }, delayMs);
      timers.add(timer);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    server,
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/app/hooks`,
    received,
    close: async () => {
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

type FeedRecord = { event_id: string; attempt: number; outcome: string; http_status: number | null; latency_ms: number; error: string | null };

let accessToken: string | undefined;

/** A call to the emulator's API with a client-credentials token (quicker than a CLI run when polling). */
async function api(method: 'GET' | 'POST', path: string): Promise<{ status: number; body: unknown }> {
  if (accessToken === undefined) {
    const token = await request(`${emulator.tenantUrl}/oauth2/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'client_credentials', client_id: emulator.clientId, client_secret: emulator.clientSecret }).toString(),
    });
    accessToken = ((await token.body.json()) as { access_token: string }).access_token;
  }
  const response = await request(`${emulator.tenantUrl}${path}`, { method, headers: { authorization: `Bearer ${accessToken}` } });
  const text = await response.body.text();
  return { status: response.statusCode, body: text === '' ? null : (JSON.parse(text) as unknown) };
}

/** Polls the platform's delivery feed until it lists an attempt for the event (it records one once the answer is in). */
async function feedRecordFor(subscriptionId: string, eventId: string, timeoutMs: number): Promise<FeedRecord> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const feed = await api('GET', `/api/v1/webhooks/subscriptions/${subscriptionId}/deliveries`);
    assert.equal(feed.status, 200, JSON.stringify(feed.body));
    const found = (feed.body as { data: FeedRecord[] }).data.find((r) => r.event_id === eventId);
    if (found) return found;
    if (Date.now() > deadline) throw new Error(`no delivery of ${eventId} in the feed within ${timeoutMs} ms: ${JSON.stringify(feed.body)}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

const hmac = (secret: string, body: Buffer | string) => createHmac('sha256', Buffer.from(secret, 'utf8')).update(body).digest('hex');
const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

let home: { dir: string; cleanup: () => Promise<void> };
let emulator: EmulatorProcess;
let env: Record<string, string>;
const apps: App[] = [];
const listens: ListenProcess<string>[] = [];

async function cli(args: string[]): Promise<CliResult> {
  const result = await runCli(args, { env });
  assert.equal(result.code, 0, `${args.join(' ')}: ${result.stderr}`);
  return result;
}

/** A subscription for one event type pointing at a free loopback port, its secret in a 0600 file. */
async function createSubscription(name: string, eventType: string): Promise<{ id: string; port: number; url: string; secret: string }> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}/webhooks/intelliauth`;
  const secretFile = join(home.dir, `secret-${name}`);
  const created = JSON.parse((await cli(['create', '--json', '--name', name, '--url', url, '--events', eventType, '--secret-store', 'file', '--secret-file', secretFile])).stdout) as {
    id: string;
  };
  const secret = (await readFile(secretFile, 'utf8')).trim();
  assert.match(secret, /^whsec_/);
  return { id: created.id, port, url, secret };
}

before(async () => {
  assert.ok(existsSync(join(ROOT, 'dist', 'main.js')), 'build first: node scripts/build.mjs');
  home = await tempHome('iaw-listen-fwd-');
  emulator = await startEmulatorProcess(['--allow-private-targets']);
  env = emulator.env(home.dir);
});

after(async () => {
  for (const listen of listens) if (listen.child.exitCode === null && listen.child.signalCode === null) listen.child.kill('SIGKILL');
  await emulator?.stop();
  for (const app of apps) await app.close();
  await home?.cleanup();
});

describe('listen --forward-to: forwarding to the user app', () => {
  test('a slow app does not delay the answer to the platform; the forward still arrives, byte for byte', { timeout: 60_000 }, async () => {
    const sub = await createSubscription('slow app', 'user.signed_up');
    const app = await startApp(() => ({ status: 200, delayMs: APP_DELAY_MS }));
    apps.push(app);
    const listen = await startListen(
      ['--subscription', sub.id, '--port', String(sub.port), '--json', '--events', 'user.signed_up', '--tenant-id', emulator.tenantId, '--forward-to', app.url],
      env,
    );
    listens.push(listen);
    assert.equal(listen.url, sub.url);

    const eventId = (JSON.parse((await cli(['trigger', 'user.signed_up', '--json'])).stdout) as { event_id: string }).event_id;
    const parsed = () => listen.lines.map((text) => JSON.parse(text) as Record<string, unknown> & { event_id: string | null });

    // The platform's feed: the attempt succeeded quickly, while the app was still sitting on the forward.
    const record = await feedRecordFor(sub.id, eventId, 20_000);
    const appAnsweredWhenFeedHadIt = app.received.some((r) => r.answeredAt !== null);
    assert.deepEqual([record.outcome, record.http_status, record.attempt, record.error], ['succeeded', 200, 1, null], JSON.stringify(record));
    assert.ok(record.latency_ms < 1000, `the platform waited ${record.latency_ms} ms for its answer (the app takes ${APP_DELAY_MS} ms)`);
    assert.equal(appAnsweredWhenFeedHadIt, false, 'the platform had its answer before the app answered the forward');

    const accepted = JSON.parse(await listen.waitForLine((text) => text.includes(eventId) && text.includes('"verdict"'))) as { verdict: string; status: number };
    assert.deepEqual([accepted.verdict, accepted.status], ['accepted', 200]);

    // The same, as a user checks it: `tail-deliveries --no-follow --json`.
    const tailed = (await cli(['tail-deliveries', sub.id, '--no-follow', '--json'])).stdout
      .split('\n')
      .filter((line) => line.trim() !== '')
      .map((line) => JSON.parse(line) as FeedRecord)
      .filter((r) => r.event_id === eventId);
    assert.equal(tailed.length, 1, JSON.stringify(tailed));
    assert.equal(tailed[0]!.outcome, 'succeeded');
    assert.ok(tailed[0]!.latency_ms < 1000, `tail-deliveries shows ${tailed[0]!.latency_ms} ms`);

    // The forward did arrive, and was answered only after the app's delay.
    const deliveredLine = await listen.waitForLine((text) => {
      const line = JSON.parse(text) as { event_id: string | null; forward?: { outcome: string } };
      return line.event_id === eventId && line.forward?.outcome === 'delivered';
    }, 20_000);
    const { forward } = JSON.parse(deliveredLine) as { forward: { status: number; latency_ms: number; attempt: number } };
    assert.equal(forward.status, 200);
    assert.equal(forward.attempt, 1);
    assert.ok(forward.latency_ms >= APP_DELAY_MS - 200, `the forward took ${forward.latency_ms} ms; the app holds it ${APP_DELAY_MS} ms`);
    assert.equal(
      parsed().filter((line) => line.event_id === eventId && 'forward' in line).length,
      1,
      'one forward attempt, no retry',
    );

    assert.equal(app.received.length, 1);
    const [got] = app.received;
    assert.equal(got!.status, 200);
    assert.ok(got!.answeredAt! - got!.receivedAt >= APP_DELAY_MS - 50);
    assert.equal(got!.headers['x-intelliauth-signature'], hmac(sub.secret, got!.body), 'the exact signed bytes reach the app');
    assert.equal(got!.headers['x-intelliauth-event-id'], eventId);
    assert.equal(got!.headers['content-type'], 'application/json');
    assert.match(String(got!.headers['x-intelliauth-timestamp']), /^\d+$/);
    const event = JSON.parse(got!.body.toString('utf8')) as { event_id: string; event_type: string; tenant: { id: string } };
    assert.deepEqual([event.event_id, event.event_type, event.tenant.id], [eventId, 'user.signed_up', emulator.tenantId]);

    listen.child.kill('SIGINT');
    assert.equal(await listen.exited, 0, listen.stderr());
    const { summary } = JSON.parse(listen.stderr().trimEnd().split('\n').at(-1)!) as { summary: Record<string, unknown> };
    assert.deepEqual(
      [summary.received, summary.accepted, summary.forwarded, summary.forward_retries, summary.forward_failures, summary.forward_dropped],
      [1, 1, 1, 0, 0, 0],
      JSON.stringify(summary),
    );
  });

  test('human output shows each forward attempt with its status, latency and retry, and the summary counts them', { timeout: 60_000 }, async () => {
    const sub = await createSubscription('flaky app', 'user.deleted');
    const app = await startApp((index) => ({ status: index === 0 ? 500 : 200, delayMs: 0 }));
    apps.push(app);
    const listen = await startListen(
      ['--subscription', sub.id, '--port', String(sub.port), '--events', 'user.deleted', '--tenant-id', emulator.tenantId, '--forward-to', app.url],
      env,
    );
    listens.push(listen);

    const eventId = (JSON.parse((await cli(['trigger', 'user.deleted', '--json'])).stdout) as { event_id: string }).event_id;
    const id = escape(eventId);

    // stdout: the delivery, then the failed forward with its retry, then the successful one.
    const eventLine = await listen.waitForLine((line) => line.includes(eventId) && !line.includes('forward'));
    assert.match(eventLine, new RegExp(`^\\d\\d:\\d\\d:\\d\\d  user\\.deleted\\s+${id}\\s+#1\\s+200  accepted$`));

    const failed = await listen.waitForLine((line) => line.includes(`forward ${eventId} HTTP 500`));
    const failedMatch = new RegExp(`^\\d\\d:\\d\\d:\\d\\d  -> forward ${id} HTTP 500 in \\d+ ms \\(attempt 1/(\\d+), retrying in \\d+ ms\\)$`).exec(failed);
    assert.ok(failedMatch, `first forward line: ${JSON.stringify(failed)}`);
    const maxAttempts = failedMatch[1]!;
    assert.ok(Number(maxAttempts) >= 2, failed);

    const delivered = await listen.waitForLine((line) => line.includes(`forward ${eventId} HTTP 200`), 15_000);
    assert.match(delivered, new RegExp(`^\\d\\d:\\d\\d:\\d\\d  -> forward ${id} HTTP 200 in \\d+ ms \\(attempt 2/${maxAttempts}\\)$`));
    assert.ok(listen.lines.indexOf(failed) < listen.lines.indexOf(delivered), 'the retry comes after the failure');
    assert.equal(listen.lines.length, 3, `stdout: ${JSON.stringify(listen.lines)}`);
    assert.ok(listen.lines.every((line) => !line.startsWith('{')), 'human lines, not JSON');
    assert.equal(listen.stderr().includes('-> forward'), false, 'forward lines go to stdout, not stderr');

    assert.equal(app.received.length, 2);
    assert.ok(app.received[0]!.body.equals(app.received[1]!.body), 'the retry carries the same bytes');
    assert.equal(app.received[1]!.headers['x-intelliauth-signature'], hmac(sub.secret, app.received[1]!.body));

    listen.child.kill('SIGINT');
    assert.equal(await listen.exited, 0, listen.stderr());
    const summaryLine = listen.stderr().trimEnd().split('\n').at(-1)!;
    assert.match(summaryLine, /^summary: received 1, verified 1, accepted 1, rejected 0, duplicates 0, ignored 0; /);
    assert.match(summaryLine, /\bforwarded 1, forward failures 0, forward retries 1, forward dropped 0$/);
  });

});
