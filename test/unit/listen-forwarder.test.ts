import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Forwarder, type ForwardJob } from '../../src/commands/listen/forwarder.ts';
import type { ForwardRecord } from '../../src/commands/listen/event-log.ts';

// `listen --forward-to`: replays to the user's app on loopback, retried with backoff,
// bounded when the app is down or stuck.

interface App {
  url: URL;
  requests: Array<{ body: Buffer; headers: IncomingMessage['headers']; path: string }>;
  close(): Promise<void>;
}

async function startApp(respond: (index: number, res: ServerResponse) => void): Promise<App> {
  const requests: App['requests'] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      requests.push({ body: Buffer.concat(chunks), headers: req.headers, path: req.url ?? '' });
      respond(requests.length - 1, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: new URL(`http://127.0.0.1:${port}/hooks/intelliauth?from=listen`),
    requests,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A port that was free a moment ago: nothing listens there. */
async function deadUrl(): Promise<URL> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return new URL(`http://127.0.0.1:${port}/hooks`);
}

const BODY = Buffer.from('{"event_id":"evt_01JFWD0000000000000000001","event_type":"user.signed_up","note":"zoë"}', 'utf8');
const HEADERS = {
  'content-type': 'application/json',
  'x-intelliauth-signature': 'a'.repeat(64),
  'x-intelliauth-event-id': 'evt_01JFWD0000000000000000001',
  'x-intelliauth-event-type': 'user.signed_up',
  'x-intelliauth-delivery-attempt': '1',
  'x-intelliauth-timestamp': '1750000000',
};
const job = (eventId = 'evt_01JFWD0000000000000000001'): ForwardJob => ({ eventId, body: BODY, headers: HEADERS });

function waitUntil(predicate: () => boolean, timeoutMs = 5_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const tick = () => {
      if (predicate()) resolve();
      else if (Date.now() - started > timeoutMs) reject(new Error('condition not met in time'));
      else setTimeout(tick, 5);
    };
    tick();
  });
}

describe('listen forwarder', () => {
  test('an app answering 500 then 200 gets the same bytes and headers twice, and the forward succeeds', async () => {
    const app = await startApp((index, res) => res.writeHead(index === 0 ? 500 : 200).end(index === 0 ? 'boom' : 'ok'));
    const records: ForwardRecord[] = [];
    const lost: ForwardJob[] = [];
    const forwarder = new Forwarder({ url: app.url, onRecord: (r) => records.push(r), onLost: (j) => lost.push(j), backoffMs: () => 20 });
    try {
      assert.equal(forwarder.enqueue(job()), true);
      await waitUntil(() => records.some((r) => r.forward.outcome === 'delivered'));
      assert.deepEqual(
        records.map((r) => [r.forward.outcome, r.forward.status, r.forward.attempt]),
        [['retrying', 500, 1], ['delivered', 200, 2]],
      );
      assert.equal(records[0]!.forward.retry_in_ms, 20);
      assert.equal(records[0]!.event_id, 'evt_01JFWD0000000000000000001');
      assert.ok(records.every((r) => typeof r.forward.latency_ms === 'number' && r.forward.max_attempts === 4));
      assert.equal(app.requests.length, 2);
      for (const request of app.requests) {
        assert.ok(request.body.equals(BODY), 'exact body bytes');
        assert.equal(request.path, '/hooks/intelliauth?from=listen');
        for (const [name, value] of Object.entries(HEADERS)) assert.equal(request.headers[name], value, name);
      }
      assert.deepEqual(forwarder.stats, { delivered: 1, failed: 0, dropped: 0, retries: 1 });
      assert.equal(lost.length, 0);
      assert.deepEqual(await forwarder.drain(1_000), { abandoned: 0 });
    } finally {
      await forwarder.drain(0);
      await app.close();
    }
  });

  test('a dead app is tried maxAttempts times with backoff, then given up on and reported lost', async () => {
    const records: ForwardRecord[] = [];
    const lost: ForwardJob[] = [];
    const delays: number[] = [];
    const forwarder = new Forwarder({
      url: await deadUrl(),
      onRecord: (r) => records.push(r),
      onLost: (j) => lost.push(j),
      maxAttempts: 3,
      backoffMs: (attempt) => {
        delays.push(attempt);
        return 10 * attempt;
      },
    });
    try {
      forwarder.enqueue(job());
      await waitUntil(() => records.some((r) => r.forward.outcome === 'failed'));
      assert.deepEqual(records.map((r) => [r.forward.outcome, r.forward.attempt, r.forward.status]), [
        ['retrying', 1, null],
        ['retrying', 2, null],
        ['failed', 3, null],
      ]);
      assert.ok(records.every((r) => r.forward.error === 'connection refused'), JSON.stringify(records));
      assert.deepEqual(delays, [1, 2]);
      assert.equal(lost.length, 1);
      assert.deepEqual(forwarder.stats, { delivered: 0, failed: 1, dropped: 0, retries: 2 });
      assert.equal(forwarder.held, 0);
    } finally {
      await forwarder.drain(0);
    }
  });

  test('a stuck app cannot make the forwarder hold more than its bound; the rest is dropped and counted', async () => {
    const stuck: ServerResponse[] = [];
    const app = await startApp((_index, res) => stuck.push(res));
    const records: ForwardRecord[] = [];
    const lost: ForwardJob[] = [];
    const forwarder = new Forwarder({ url: app.url, onRecord: (r) => records.push(r), onLost: (j) => lost.push(j), concurrency: 2, maxHeldJobs: 3 });
    try {
      const taken = Array.from({ length: 10 }, (_, i) => forwarder.enqueue(job(`evt_${i}`)));
      assert.deepEqual(taken, [true, true, true, false, false, false, false, false, false, false]);
      assert.equal(forwarder.held, 3);
      assert.equal(forwarder.stats.dropped, 7);
      assert.equal(records.filter((r) => r.forward.outcome === 'dropped').length, 7);
      assert.match(records[0]!.forward.error ?? '', /queue full/);
      await waitUntil(() => stuck.length === 2);
      assert.equal(app.requests.length, 2, 'no more than `concurrency` requests at once');

      // Ctrl-C: what is still held after the wait is abandoned and counted as failed.
      const { abandoned } = await forwarder.drain(50);
      assert.equal(abandoned, 3);
      assert.equal(forwarder.stats.failed, 3);
      assert.equal(forwarder.held, 0);
      assert.equal(lost.length, 10);
      assert.equal(forwarder.enqueue(job('evt_late')), false, 'nothing is taken once stopping');
    } finally {
      await app.close();
    }
  });

  test('drain waits for a forward under way that then succeeds', async () => {
    const app = await startApp((_index, res) => setTimeout(() => res.writeHead(204).end(), 100));
    const records: ForwardRecord[] = [];
    const forwarder = new Forwarder({ url: app.url, onRecord: (r) => records.push(r) });
    try {
      forwarder.enqueue(job());
      await waitUntil(() => app.requests.length === 1);
      assert.deepEqual(await forwarder.drain(5_000), { abandoned: 0 });
      assert.deepEqual(records.map((r) => [r.forward.outcome, r.forward.status]), [['delivered', 204]]);
    } finally {
      await app.close();
    }
  });
});
