import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { connect } from 'node:net';
import { Readable } from 'node:stream';
import { request } from 'undici';
import { Receiver, startServer, type AcceptedDelivery, type RunningServer, type StrayRequest } from '../../src/commands/listen/server.ts';
import { SecretKeeper, type LoadedSecrets } from '../../src/commands/listen/secret-keeper.ts';
import type { EventRecord } from '../../src/commands/listen/event-log.ts';

// The receiver behind `listen`, on a real loopback socket, fed deliveries signed here with
// node:crypto (not with src/domain/signature.ts) the way the platform documents it.

const CURRENT = 'whsec_listenUnitCurrent_0123456789abcdefghijklmn';
const PREVIOUS = 'whsec_listenUnitPrevious_ZYXWVUTSRQPONMLKJIHGFEDC';
const OTHER = 'whsec_listenUnitSomebodyElse_aaaaaaaaaaaaaaaaaaaa';
const TENANT = 'tnt_01JLISTEN000000000000000001';
const PATH = '/webhooks/intelliauth';
const MAX_BODY = 4096;

const hmac = (secret: string, body: Buffer | string) => createHmac('sha256', Buffer.from(secret, 'utf8')).update(body).digest('hex');
const nowSeconds = () => Math.floor(Date.now() / 1000);

let counter = 0;
function eventBody(overrides: Record<string, unknown> = {}): string {
  counter += 1;
  return JSON.stringify({
    event_id: `evt_01JLISTEN${String(counter).padStart(16, '0')}`,
    event_type: 'user.signed_up',
    occurred_at: new Date().toISOString(),
    tenant: { id: TENANT, slug: 'acme' },
    actor: { kind: 'user', id: 'usr_1', email: 'zoë@example.com' },
    data: { user_id: 'usr_1' },
    delivery: { attempt: 1, subscription_id: 'whsub_01JLISTEN000000000000000' },
    ...overrides,
  });
}

function deliveryHeaders(body: string | Buffer, options: { secret?: string; previousSecret?: string; timestamp?: number | string } = {}): Record<string, string> {
  const parsed = (() => {
    try {
      return JSON.parse(Buffer.from(body).toString('utf8')) as { event_id?: string; event_type?: string };
    } catch {
      return {};
    }
  })();
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    'x-intelliauth-signature': hmac(options.secret ?? CURRENT, body),
    'x-intelliauth-event-id': String(parsed.event_id ?? 'evt_unknown'),
    'x-intelliauth-event-type': String(parsed.event_type ?? 'unknown'),
    'x-intelliauth-delivery-attempt': '1',
    'x-intelliauth-timestamp': String(options.timestamp ?? nowSeconds()),
  };
  if (options.previousSecret) headers['x-intelliauth-signature-previous'] = hmac(options.previousSecret, body);
  return headers;
}

interface Harness {
  server: RunningServer;
  receiver: Receiver;
  records: EventRecord[];
  accepted: AcceptedDelivery[];
  stray: StrayRequest[];
  url: string;
}

async function startHarness(options: { secrets: SecretKeeper; events?: string[]; tenantId?: string; dedupeCapacity?: number }): Promise<Harness> {
  const records: EventRecord[] = [];
  const accepted: AcceptedDelivery[] = [];
  const stray: StrayRequest[] = [];
  const receiver = new Receiver({
    path: PATH,
    secrets: options.secrets,
    events: options.events ?? ['*'],
    tenantId: options.tenantId,
    maxBodyBytes: MAX_BODY,
    dedupeCapacity: options.dedupeCapacity ?? 10_000,
    onEvent: (record, delivery) => {
      records.push(record);
      if (delivery) accepted.push(delivery);
    },
    onStray: (request) => stray.push(request),
  });
  const server = await startServer(receiver.handle, '127.0.0.1', 0);
  return { server, receiver, records, accepted, stray, url: `http://127.0.0.1:${server.port}` };
}

async function keeperWith(secrets: Partial<LoadedSecrets>, reloadable = false): Promise<SecretKeeper> {
  const keeper = new SecretKeeper(async () => ({ current: CURRENT, previous: null, previousExpiresAtMs: null, description: 'test', ...secrets }), { reloadable });
  await keeper.start();
  return keeper;
}

async function post(h: Harness, body: string | Buffer, headers: Record<string, string>, path = PATH): Promise<{ status: number; json: Record<string, unknown>; headers: Record<string, unknown> }> {
  const response = await request(`${h.url}${path}`, { method: 'POST', body, headers });
  const text = await response.body.text();
  return { status: response.statusCode, json: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>), headers: response.headers };
}

/** Sends bytes as they are over a raw socket and returns the raw answer (for what HTTP clients refuse to send). */
function rawExchange(port: number, payload: string | Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => socket.destroy(new Error('no answer within 5 s')), 5_000);
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks).toString('latin1'));
    });
    socket.write(payload);
  });
}

/** Records are emitted right after the answer; give them a turn of the event loop. */
const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('listen receiver: deliveries signed with the current secret', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness({ secrets: await keeperWith({}), tenantId: TENANT, events: ['user.*'] });
  });
  after(() => h.server.close(100));
  beforeEach(() => {
    h.records.length = 0;
    h.accepted.length = 0;
  });

  test('a valid delivery is answered 200 accepted, with the exact bytes and headers handed on', async () => {
    const body = eventBody();
    const headers = deliveryHeaders(body);
    const answer = await post(h, body, headers);
    assert.equal(answer.status, 200);
    assert.deepEqual(answer.json, { status: 'accepted' });
    await settle();
    assert.equal(h.records.length, 1);
    const record = h.records[0]!;
    assert.equal(record.verdict, 'accepted');
    assert.equal(record.event_type, 'user.signed_up');
    assert.equal(record.event_id, JSON.parse(body).event_id);
    assert.equal(record.attempt, 1);
    assert.equal(record.status, 200);
    assert.equal(record.secret, undefined);
    assert.equal(h.accepted.length, 1);
    assert.equal(h.accepted[0]!.rawBody.toString('utf8'), body);
    assert.equal(h.accepted[0]!.headers()['x-intelliauth-signature'], headers['x-intelliauth-signature']);
    assert.equal(h.accepted[0]!.headers()['x-intelliauth-timestamp'], headers['x-intelliauth-timestamp']);
    assert.equal(h.accepted[0]!.headers()['content-type'], 'application/json');
  });

  test('a signature made with another secret is answered 401 invalid_signature and never accepted', async () => {
    const body = eventBody();
    const answer = await post(h, body, deliveryHeaders(body, { secret: OTHER }));
    assert.equal(answer.status, 401);
    assert.equal(answer.json.error, 'invalid_signature');
    assert.equal(answer.json.reason, 'signature_mismatch');
    assert.equal(JSON.stringify(answer.json).includes(CURRENT), false);
    await settle();
    assert.equal(h.records[0]!.verdict, 'rejected');
    assert.equal(h.records[0]!.reason, 'signature_mismatch');
    assert.equal(h.records[0]!.event_id, JSON.parse(body).event_id, 'the unverified header id is shown to help find the event');
    assert.equal(h.accepted.length, 0);
  });

  test('a body changed after signing is answered 401', async () => {
    const body = eventBody();
    const headers = deliveryHeaders(body);
    const answer = await post(h, body.replace('usr_1', 'usr_2'), headers);
    assert.equal(answer.status, 401);
    assert.equal(answer.json.reason, 'signature_mismatch');
  });

  test('an unsigned delivery is answered 401 signature_missing', async () => {
    const body = eventBody();
    const headers = deliveryHeaders(body);
    delete headers['x-intelliauth-signature'];
    const answer = await post(h, body, headers);
    assert.equal(answer.status, 401);
    assert.equal(answer.json.reason, 'signature_missing');
    await settle();
    assert.equal(h.accepted.length, 0);
  });

  test('a timestamp older than 300 s, newer than 300 s or absent is answered 401 invalid_timestamp', async () => {
    const cases: Array<[number | string | null, string]> = [
      [nowSeconds() - 301, 'timestamp_stale'],
      [nowSeconds() + 400, 'timestamp_future'],
      ['1700000000000', 'timestamp_malformed'],
      [null, 'timestamp_missing'],
    ];
    for (const [timestamp, reason] of cases) {
      const body = eventBody();
      const headers = deliveryHeaders(body, timestamp === null ? {} : { timestamp });
      if (timestamp === null) delete headers['x-intelliauth-timestamp'];
      const answer = await post(h, body, headers);
      assert.equal(answer.status, 401, reason);
      assert.equal(answer.json.error, 'invalid_timestamp');
      assert.equal(answer.json.reason, reason);
    }
    await settle();
    assert.deepEqual(h.records.map((r) => r.verdict), ['rejected', 'rejected', 'rejected', 'rejected']);
    assert.equal(h.accepted.length, 0);
  });

  test('the same event_id again is answered 200 and marked duplicate', async () => {
    const body = eventBody();
    const first = await post(h, body, deliveryHeaders(body));
    const redelivery = body.replace('"attempt":1', '"attempt":2');
    const second = await post(h, redelivery, deliveryHeaders(redelivery));
    assert.deepEqual(first.json, { status: 'accepted' });
    assert.equal(second.status, 200);
    assert.deepEqual(second.json, { status: 'duplicate' });
    await settle();
    assert.deepEqual(h.records.map((r) => [r.verdict, r.attempt]), [['accepted', 1], ['duplicate', 2]]);
    assert.equal(h.accepted.length, 1);
  });

  test('an event type outside --events is answered 200 and logged as ignored; test.ping is always handled', async () => {
    const body = eventBody({ event_type: 'mfa.factor_added' });
    const answer = await post(h, body, deliveryHeaders(body));
    assert.equal(answer.status, 200);
    assert.deepEqual(answer.json, { status: 'ignored', reason: 'event_type_not_handled' });
    const ping = eventBody({ event_type: 'test.ping', data: { test: true } });
    assert.deepEqual((await post(h, ping, deliveryHeaders(ping))).json, { status: 'accepted' });
    await settle();
    assert.deepEqual(h.records.map((r) => [r.event_type, r.verdict]), [['mfa.factor_added', 'ignored'], ['test.ping', 'accepted']]);
    assert.equal(h.accepted.length, 1);
  });

  test("another tenant's event is answered 200 (a retry cannot change that) and logged as rejected", async () => {
    const body = eventBody({ tenant: { id: 'tnt_01JOTHER0000000000000000001', slug: 'other' } });
    const answer = await post(h, body, deliveryHeaders(body));
    assert.equal(answer.status, 200);
    assert.deepEqual(answer.json, { status: 'rejected', reason: 'tenant_mismatch' });
    const noTenant = eventBody({ tenant: undefined });
    assert.equal((await post(h, noTenant, deliveryHeaders(noTenant))).status, 200);
    await settle();
    assert.deepEqual(h.records.map((r) => [r.verdict, r.reason]), [['rejected', 'tenant_mismatch'], ['rejected', 'tenant_mismatch']]);
    assert.match(h.records[0]!.message ?? '', /tenant\.id is tnt_01JOTHER0000000000000000001, expected tnt_01JLISTEN/);
    assert.equal(h.accepted.length, 0);
    assert.equal(h.receiver.stats.rejectedBy.tenant_mismatch, 2);
  });

  test('a body over the cap is answered 413, declared or streamed', async () => {
    const big = eventBody({ data: { padding: 'x'.repeat(MAX_BODY) } });
    const declared = await post(h, big, deliveryHeaders(big));
    assert.equal(declared.status, 413);
    assert.equal(declared.json.error, 'payload_too_large');
    // Chunked: no Content-Length, so the cap is enforced while reading.
    const chunks = [Buffer.from(big.slice(0, 2000)), Buffer.from(big.slice(2000))];
    const streamed = await request(`${h.url}${PATH}`, {
      method: 'POST',
      headers: deliveryHeaders(big),
      body: Readable.from(chunks),
    }).then(async (response) => ({ status: response.statusCode, text: await response.body.text() }), (error: Error) => ({ status: 0, text: error.message }));
    assert.ok(streamed.status === 413 || /closed|reset|EPIPE/i.test(streamed.text), `expected 413 or a closed connection, got ${streamed.status} ${streamed.text}`);
    await settle();
    assert.ok(h.records.length >= 1);
    assert.ok(h.records.every((r) => r.verdict === 'rejected' && r.reason === 'body_too_large'));
    assert.equal(h.accepted.length, 0);
  });

  test('garbage is refused: unsigned garbage 401, signed invalid UTF-8 or non-events 400', async () => {
    const garbage = Buffer.from([0xff, 0xfe, 0x00, 0x80, 0x7b]);
    const unsigned = await post(h, garbage, { 'content-type': 'application/json', 'x-intelliauth-signature': 'zz', 'x-intelliauth-timestamp': String(nowSeconds()) });
    assert.equal(unsigned.status, 401);
    assert.equal(unsigned.json.reason, 'signature_malformed');

    const signedBadUtf8 = await post(h, garbage, deliveryHeaders(garbage));
    assert.equal(signedBadUtf8.status, 400);
    assert.equal(signedBadUtf8.json.reason, 'body_not_json');

    const array = '[1,2,3]';
    assert.equal((await post(h, array, deliveryHeaders(array))).json.reason, 'body_not_object');
    const noId = eventBody({ event_id: undefined });
    const missing = await post(h, noId, deliveryHeaders(noId));
    assert.equal(missing.status, 400);
    assert.equal(missing.json.reason, 'not_an_event');
    await settle();
    assert.equal(h.accepted.length, 0);
    assert.ok(h.records.every((r) => r.verdict === 'rejected'));
  });

  test('a signature header sent twice is refused, even when one of the two is right', async () => {
    const body = eventBody();
    const good = hmac(CURRENT, body);
    const bad = hmac(OTHER, body);
    for (const pair of [[good, bad], [bad, good], [good, good]]) {
      const headers: string[] = [];
      for (const [name, value] of Object.entries(deliveryHeaders(body))) if (name !== 'x-intelliauth-signature') headers.push(name, value);
      headers.push('x-intelliauth-signature', pair[0]!, 'x-intelliauth-signature', pair[1]!);
      const response = await request(`${h.url}${PATH}`, { method: 'POST', body, headers });
      const json = (await response.body.json()) as Record<string, unknown>;
      assert.equal(response.statusCode, 401);
      assert.equal(json.reason, 'signature_malformed');
    }
    const twoTimestamps: string[] = [];
    for (const [name, value] of Object.entries(deliveryHeaders(body))) twoTimestamps.push(name, value);
    twoTimestamps.push('x-intelliauth-timestamp', String(nowSeconds() - 1000));
    const response = await request(`${h.url}${PATH}`, { method: 'POST', body, headers: twoTimestamps });
    assert.equal(response.statusCode, 401);
    assert.equal(((await response.body.json()) as Record<string, unknown>).reason, 'timestamp_malformed');
    await settle();
    assert.equal(h.accepted.length, 0);
  });

  test('header injection attempts never get past the HTTP parser', async () => {
    const body = eventBody();
    const headers = deliveryHeaders(body);
    const lines = (extra: string) =>
      `POST ${PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\n${Object.entries(headers)
        .map(([k, v]) => `${k}: ${v}`)
        .join('\r\n')}\r\n${extra}Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`;
    // A bare CR, a NUL, an obsolete folded line, and a second Content-Length (request smuggling).
    const attempts = [
      'X-IntelliAuth-Event-Type: user.signed_up\rX-Injected: 1\r\n',
      'X-IntelliAuth-Event-Type: user\u0000.deleted\r\n',
      'X-Folded: a\r\n  continued\r\n',
      'Content-Length: 5\r\n',
    ];
    for (const extra of attempts) {
      const reply = await rawExchange(h.server.port, Buffer.from(lines(extra), 'latin1'));
      assert.match(reply, /^HTTP\/1\.1 400 /, `expected 400 for ${JSON.stringify(extra)}, got ${JSON.stringify(reply.slice(0, 60))}`);
    }
    await settle();
    assert.equal(h.accepted.length, 0);
    assert.equal(h.records.length, 0);
  });

  test('other paths answer 404 and other methods 405, neither counted as a delivery', async () => {
    const received = h.receiver.stats.received;
    const body = eventBody();
    const wrongPath = await post(h, body, deliveryHeaders(body), '/webhooks/other');
    assert.equal(wrongPath.status, 404);
    const get = await request(`${h.url}${PATH}`, { method: 'GET' });
    await get.body.dump();
    assert.equal(get.statusCode, 405);
    assert.equal(get.headers.allow, 'POST');
    assert.deepEqual(h.stray.slice(-2), [
      { method: 'POST', path: '/webhooks/other', status: 404 },
      { method: 'GET', path: PATH, status: 405 },
    ]);
    assert.equal(h.receiver.stats.received, received);
    // A query string does not change the path.
    assert.equal((await post(h, body, deliveryHeaders(body), `${PATH}?source=tunnel`)).status, 200);
  });
});

describe('listen receiver: rotation', () => {
  test('during a grace, a delivery signed only with the previous secret is accepted and marked', async () => {
    const h = await startHarness({ secrets: await keeperWith({ current: CURRENT, previous: PREVIOUS, previousExpiresAtMs: Date.now() + 60_000 }) });
    try {
      const body = eventBody();
      const answer = await post(h, body, deliveryHeaders(body, { secret: PREVIOUS }));
      assert.equal(answer.status, 200);
      await settle();
      assert.equal(h.records[0]!.verdict, 'accepted');
      assert.equal(h.records[0]!.secret, 'previous');
    } finally {
      await h.server.close(100);
    }
  });

  test('once the grace has ended, the previous secret no longer verifies', async () => {
    const h = await startHarness({ secrets: await keeperWith({ current: CURRENT, previous: PREVIOUS, previousExpiresAtMs: Date.now() - 1 }) });
    try {
      const body = eventBody();
      assert.equal((await post(h, body, deliveryHeaders(body, { secret: PREVIOUS }))).status, 401);
    } finally {
      await h.server.close(100);
    }
  });

  test('a receiver still holding the old secret verifies X-IntelliAuth-Signature-Previous', async () => {
    const h = await startHarness({ secrets: await keeperWith({ current: PREVIOUS }) });
    try {
      const body = eventBody();
      const answer = await post(h, body, deliveryHeaders(body, { secret: CURRENT, previousSecret: PREVIOUS }));
      assert.equal(answer.status, 200);
      assert.deepEqual(answer.json, { status: 'accepted' });
    } finally {
      await h.server.close(100);
    }
  });

  test('a rotation made while running is picked up on the first mismatch, and re-reads are rate-limited', async () => {
    let stored = PREVIOUS;
    let reads = 0;
    const keeper = new SecretKeeper(
      async () => {
        reads += 1;
        return { current: stored, previous: null, previousExpiresAtMs: null, description: 'test store' };
      },
      { refreshIntervalMs: 3_600_000, mismatchRefreshGapMs: 60_000 },
    );
    await keeper.start();
    const h = await startHarness({ secrets: keeper });
    try {
      stored = CURRENT; // rotated with no grace, by another process
      const body = eventBody();
      const answer = await post(h, body, deliveryHeaders(body, { secret: CURRENT }));
      assert.equal(answer.status, 200, 'verified after re-reading the store');
      assert.equal(reads, 2);
      // Forged requests right after do not each cause a read.
      for (let i = 0; i < 5; i += 1) {
        const forged = eventBody();
        assert.equal((await post(h, forged, deliveryHeaders(forged, { secret: OTHER }))).status, 401);
      }
      assert.equal(reads, 2);
    } finally {
      keeper.stop();
      await h.server.close(100);
    }
  });
});

describe('listen receiver: dedupe memory is bounded', () => {
  test('with room for 2 ids, the oldest is forgotten', async () => {
    const h = await startHarness({ secrets: await keeperWith({}), dedupeCapacity: 2 });
    try {
      const bodies = [eventBody(), eventBody(), eventBody()];
      for (const body of bodies) assert.deepEqual((await post(h, body, deliveryHeaders(body))).json, { status: 'accepted' });
      assert.deepEqual((await post(h, bodies[2]!, deliveryHeaders(bodies[2]!))).json, { status: 'duplicate' });
      assert.deepEqual((await post(h, bodies[0]!, deliveryHeaders(bodies[0]!))).json, { status: 'accepted' }, 'forgotten, so handled again');
      h.receiver.forget(JSON.parse(bodies[2]!).event_id);
      assert.deepEqual((await post(h, bodies[2]!, deliveryHeaders(bodies[2]!))).json, { status: 'accepted' }, 'forget() lets a redelivery through');
    } finally {
      await h.server.close(100);
    }
  });
});
