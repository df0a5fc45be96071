import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { DEAD_LETTER_TTL_SECONDS, paths } from '../../src/domain/contract.ts';
import { idTime } from '../../src/domain/ids.ts';
import { MAX_ATTEMPTS } from '../../src/domain/retry-schedule.ts';
import { checkTimestamp, sign } from '../../src/domain/signature.ts';
import { eventually, startReceiver, startTestEmulator, type TestEmulator, type TestReceiver } from '../helpers/emulator-harness.ts';

async function subscribe(emulator: TestEmulator, receiver: TestReceiver | string, events: string[] = ['*']): Promise<{ id: string; secret: string }> {
  const url = typeof receiver === 'string' ? receiver : receiver.url;
  const answer = await emulator.call('POST', paths.subscriptions(), { body: { name: 'receiver', url, events } });
  assert.equal(answer.status, 201, JSON.stringify(answer.body));
  const secret = answer.body.data.signing_secret as string;
  if (typeof receiver !== 'string') receiver.secrets.push(secret);
  return { id: answer.body.data.id, secret };
}

async function emit(emulator: TestEmulator, eventType: string, extra: Record<string, unknown> = {}): Promise<{ event_id: string; subscriptions: string[] }> {
  const answer = await emulator.call('POST', '/_emulator/events', { body: { event_type: eventType, ...extra } });
  assert.equal(answer.status, 202, JSON.stringify(answer.body));
  return answer.body.data;
}

async function feed(emulator: TestEmulator, id: string, query = ''): Promise<any[]> {
  const answer = await emulator.call('GET', paths.deliveries(id) + query);
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
  return answer.body.data;
}

describe('emulator deliveries', () => {
  let emulator: TestEmulator;
  let receiver: TestReceiver;
  before(async () => {
    emulator = await startTestEmulator({ allowPrivateTargets: true, timeScale: 100_000 });
    receiver = await startReceiver();
  });
  after(async () => {
    await emulator.close();
    await receiver.close();
  });

  test('a delivery carries the documented body and headers, signed over the raw bytes', async () => {
    const sub = await subscribe(emulator, receiver, ['user.*']);
    const before = receiver.received.length;
    const emitted = await emit(emulator, 'user.signed_up', { actor: { kind: 'admin', id: 'usr_admin', email: 'admin@example.com' } });
    assert.deepEqual(emitted.subscriptions, [sub.id]);
    const [delivery] = (await receiver.waitFor(before + 1)).slice(before);
    assert.equal(delivery!.signedWith, sub.secret);
    assert.equal(delivery!.headers['x-intelliauth-signature'], sign(sub.secret, delivery!.raw));
    assert.equal(delivery!.headers['x-intelliauth-signature-previous'], undefined);
    assert.equal(delivery!.headers['x-intelliauth-event-id'], emitted.event_id);
    assert.equal(delivery!.headers['x-intelliauth-event-type'], 'user.signed_up');
    assert.equal(delivery!.headers['x-intelliauth-delivery-attempt'], '1');
    assert.equal(checkTimestamp(delivery!.headers['x-intelliauth-timestamp'] as string).ok, true);
    assert.match(String(delivery!.headers['content-type']), /^application\/json/);
    assert.match(String(delivery!.headers['user-agent']), /IntelliAuth/);
    const body = delivery!.json;
    assert.deepEqual(Object.keys(body), ['event_id', 'event_type', 'occurred_at', 'tenant', 'actor', 'data', 'delivery']);
    assert.equal(body.tenant.id, emulator.tenantId);
    assert.equal(body.tenant.slug, emulator.tenantSlug);
    assert.deepEqual(body.actor, { kind: 'admin', id: 'usr_admin', email: 'admin@example.com' });
    assert.deepEqual(body.delivery, { attempt: 1, subscription_id: sub.id });
    assert.equal(typeof body.data.user_id, 'string', 'sample data by default');

    const none = await emit(emulator, 'mfa.factor_added');
    assert.deepEqual(none.subscriptions, [], 'selectors decide the fan-out');
  });

  test('test call: one synchronous test.ping, recorded in the feed, never retried', async () => {
    const sub = await subscribe(emulator, receiver, ['user.deleted']);
    const answer = await emulator.call('POST', paths.test(sub.id), { body: {} });
    assert.equal(answer.status, 200);
    const record = answer.body.data;
    assert.equal(record.event_type, 'test.ping');
    assert.equal(record.outcome, 'succeeded');
    assert.equal(record.http_status, 202);
    assert.equal(record.attempt, 1);
    assert.equal(record.next_attempt_at, null);
    const delivered = receiver.received.find((item) => item.json.event_id === record.event_id)!;
    assert.equal(delivered.json.data.test, true);
    assert.equal(delivered.signedWith, sub.secret);
    assert.deepEqual((await feed(emulator, sub.id)).map((item) => item.id), [record.id]);

    receiver.respond = () => ({ status: 500, body: 'receiver exploded: ' + 'x'.repeat(3000) });
    try {
      const failed = await emulator.call('POST', paths.test(sub.id));
      assert.equal(failed.body.data.outcome, 'failed');
      assert.equal(failed.body.data.error, 'http_status');
      assert.equal(failed.body.data.http_status, 500);
      assert.equal(failed.body.data.next_attempt_at, null);
      assert.equal(failed.body.data.dead_lettered, false);
      assert.equal(Buffer.byteLength(failed.body.data.response_excerpt), 1024);
      assert.match(failed.body.data.response_excerpt, /^receiver exploded: x+$/);
      const count = receiver.received.filter((item) => item.json.event_id === failed.body.data.event_id).length;
      await new Promise((resolve) => setTimeout(resolve, 100));
      assert.equal(receiver.received.filter((item) => item.json.event_id === failed.body.data.event_id).length, count, 'not retried');
    } finally {
      receiver.respond = () => ({ status: 202 });
    }
    assert.equal((await emulator.call('POST', paths.test('whsub_nope'))).status, 404);
  });

  test('retries follow the schedule, then the event is dead-lettered and can be redelivered', async () => {
    const failing = await startReceiver();
    failing.respond = () => ({ status: 503, body: 'down' });
    try {
      const sub = await subscribe(emulator, failing, ['user.disabled']);
      const { event_id } = await emit(emulator, 'user.disabled');
      const deliveries = await failing.waitFor(MAX_ATTEMPTS);
      assert.deepEqual(deliveries.map((item) => item.headers['x-intelliauth-delivery-attempt']), ['1', '2', '3', '4', '5', '6']);
      assert.deepEqual(deliveries.map((item) => item.json.delivery.attempt), [1, 2, 3, 4, 5, 6]);
      assert.ok(deliveries.every((item) => item.json.event_id === event_id && item.signedWith === sub.secret));
      assert.equal(new Set(deliveries.map((item) => item.headers['x-intelliauth-signature'])).size, 6, 'the signature changes per attempt');

      const records = await eventually(async () => {
        const list = await feed(emulator, sub.id);
        return list.length === MAX_ATTEMPTS ? list : undefined;
      }, 5000, 'six records');
      assert.ok(records.every((record) => record.outcome === 'failed' && record.http_status === 503 && record.error === 'http_status'));
      assert.ok(records.slice(0, 5).every((record) => record.next_attempt_at !== null && !record.dead_lettered));
      assert.equal(records[5].next_attempt_at, null);
      assert.equal(records[5].dead_lettered, true);
      // Each next_attempt_at is the documented delay (scaled, ±10%) after the attempt ended;
      // the attempt's own duration and a busy event loop may add a little on top.
      const expected = [60, 300, 1800, 7200, 43_200].map((seconds) => (seconds * 1000) / 100_000);
      for (let i = 0; i < 5; i += 1) {
        const gap = Date.parse(records[i].next_attempt_at) - Date.parse(records[i].attempted_at);
        assert.ok(gap >= expected[i]! * 0.9 - 1 && gap <= expected[i]! * 1.1 + records[i].latency_ms + 100, `gap ${i}: ${gap} vs ${expected[i]}`);
      }

      const letters = await emulator.call('GET', paths.deadLetters(sub.id));
      assert.equal(letters.status, 200);
      assert.equal(letters.body.data.length, 1);
      const letter = letters.body.data[0];
      assert.equal(letter.event_id, event_id);
      assert.equal(letter.attempts, 6);
      assert.equal(letter.last_error, 'http_status');
      assert.equal(letter.last_http_status, 503);
      const ttl = Date.parse(letter.expires_at) - Date.parse(letter.dead_lettered_at);
      assert.ok(Math.abs(ttl - (DEAD_LETTER_TTL_SECONDS * 1000) / 100_000) < 5);

      failing.respond = () => ({ status: 200 });
      const redelivered = await emulator.call('POST', paths.redeliver(sub.id, event_id));
      assert.equal(redelivered.status, 202);
      assert.deepEqual(redelivered.body.data, { event_id, subscription_id: sub.id, status: 'scheduled' });
      const [replay] = (await failing.waitFor(MAX_ATTEMPTS + 1)).slice(MAX_ATTEMPTS);
      assert.equal(replay!.json.event_id, event_id);
      assert.equal(replay!.json.delivery.attempt, 1, 'a new attempt series');
      assert.deepEqual((await emulator.call('GET', paths.deadLetters(sub.id))).body.data, []);
      await eventually(async () => (await feed(emulator, sub.id)).at(-1)?.outcome === 'succeeded', 3000, 'the redelivery record');

      // A delivered event can be replayed too; an unknown one is 404.
      assert.equal((await emulator.call('POST', paths.redeliver(sub.id, event_id))).status, 202);
      await failing.waitFor(MAX_ATTEMPTS + 2);
      const unknown = await emulator.call('POST', paths.redeliver(sub.id, 'evt_01ARZ3NDEKTSV4RRFFQ69G5FAV'));
      assert.equal(unknown.status, 404);
      assert.equal(unknown.body.error, 'not_found');
    } finally {
      await failing.close();
    }
  });

  test('dead letters expire after 7 days (scaled) and are purged', async () => {
    const fast = await startTestEmulator({ allowPrivateTargets: true, timeScale: 1_000_000 });
    const failing = await startReceiver();
    failing.respond = () => ({ status: 500 });
    try {
      const sub = await subscribe(fast, failing);
      await emit(fast, 'user.updated');
      await eventually(async () => (await fast.call('GET', paths.deadLetters(sub.id))).body.data.length === 1, 5000, 'the dead letter');
      await eventually(async () => (await fast.call('GET', paths.deadLetters(sub.id))).body.data.length === 0, 5000, 'expiry');
    } finally {
      await fast.close();
      await failing.close();
    }
  });

  test('the feed: filters, order, and `after` as a resume point with next_cursor', async () => {
    const slow = await startTestEmulator({ allowPrivateTargets: true }); // real retry delays: no retry runs during the test
    const mixed = await startReceiver();
    mixed.respond = (delivery) => ({ status: delivery.json.event_type === 'user.deleted' ? 500 : 204 });
    try {
      const sub = await subscribe(slow, mixed, ['user.*']);
      const types = ['user.signed_in', 'user.deleted', 'user.signed_in', 'user.updated', 'user.deleted', 'user.signed_out', 'user.signed_in'];
      for (const [index, type] of types.entries()) {
        await emit(slow, type);
        await mixed.waitFor(index + 1);
      }
      const all = await eventually(async () => {
        const list = await feed(slow, sub.id, '?limit=100');
        return list.length === types.length ? list : undefined;
      }, 5000, 'the feed');
      assert.deepEqual(all.map((record) => record.event_type), types);
      const ids = all.map((record) => record.id);
      assert.deepEqual([...ids].sort(), ids, 'ids sort in time order');
      assert.ok(ids.every((id) => idTime(id) !== null));

      const failed = await feed(slow, sub.id, '?outcome=failed');
      assert.deepEqual(failed.map((record) => record.event_type), ['user.deleted', 'user.deleted']);
      assert.ok(failed.every((record) => record.next_attempt_at !== null));
      assert.equal((await feed(slow, sub.id, '?outcome=succeeded')).length, 5);
      assert.equal((await feed(slow, sub.id, '?event_type=user.signed_in')).length, 3);
      assert.equal((await feed(slow, sub.id, '?event_type=user.*')).length, 7);
      assert.equal((await feed(slow, sub.id, '?event_type=mfa.*')).length, 0);
      const desc = await feed(slow, sub.id, '?order=desc');
      assert.deepEqual(desc.map((record) => record.id), [...ids].reverse());
      assert.deepEqual((await feed(slow, sub.id, `?after=${ids[4]}`)).map((record) => record.id), ids.slice(5));
      assert.equal((await feed(slow, sub.id, `?since=${encodeURIComponent(new Date(Date.now() + 60_000).toISOString())}`)).length, 0);
      assert.equal((await feed(slow, sub.id, `?since=${encodeURIComponent(all[0].attempted_at)}`)).length, 7);

      for (const order of ['asc', 'desc']) {
        const pages: string[][] = [];
        let cursor: string | null = null;
        do {
          const query: string = `?order=${order}&limit=3${cursor ? `&after=${cursor}` : ''}`;
          const page = await slow.call('GET', paths.deliveries(sub.id) + query);
          assert.equal(page.body.meta.limit, 3);
          pages.push(page.body.data.map((record: { id: string }) => record.id));
          cursor = page.body.meta.next_cursor;
        } while (cursor !== null);
        assert.deepEqual(pages.flat(), order === 'asc' ? ids : [...ids].reverse());
        assert.deepEqual(pages.map((page) => page.length), [3, 3, 1]);
      }

      for (const bad of ['?outcome=maybe', '?order=up', '?after=nope', '?since=yesterday', '?event_type=Bad Type', '?limit=0']) {
        const answer = await slow.call('GET', paths.deliveries(sub.id) + bad);
        assert.equal(answer.status, 400, bad);
        assert.equal(answer.body.error, 'invalid_request');
      }
      assert.equal((await slow.call('GET', paths.deliveries('whsub_missing'))).status, 404);
    } finally {
      await slow.close();
      await mixed.close();
    }
  });

  test('rotation: both signatures during the grace period, only the new one after; a second rotation ends the first grace', async () => {
    const scaled = await startTestEmulator({ allowPrivateTargets: true, timeScale: 1000 });
    const rotating = await startReceiver();
    try {
      const sub = await subscribe(scaled, rotating);
      const first = await scaled.call('POST', paths.rotateSecret(sub.id), { body: { grace_period_seconds: 600 } }); // 600 ms here
      const secondSecret = first.body.data.signing_secret as string;
      rotating.secrets.push(secondSecret);
      await emit(scaled, 'user.updated');
      const [during] = await rotating.waitFor(1);
      assert.equal(during!.signedWith, secondSecret);
      assert.equal(during!.previousSignedWith, sub.secret);

      const second = await scaled.call('POST', paths.rotateSecret(sub.id), { body: { grace_period_seconds: 600 } });
      const thirdSecret = second.body.data.signing_secret as string;
      rotating.secrets.push(thirdSecret);
      await emit(scaled, 'user.updated');
      const [again] = (await rotating.waitFor(2)).slice(1);
      assert.equal(again!.signedWith, thirdSecret);
      assert.equal(again!.previousSignedWith, secondSecret, 'the first secret no longer signs');

      const expiresAt = Date.parse(second.body.data.previous_secret_expires_at);
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, expiresAt - Date.now()) + 20));
      const shown = await scaled.call('GET', paths.subscription(sub.id));
      assert.equal(shown.body.data.previous_secret_expires_at, null);
      await emit(scaled, 'user.updated');
      const [afterGrace] = (await rotating.waitFor(3)).slice(2);
      assert.equal(afterGrace!.signedWith, thirdSecret);
      assert.equal(afterGrace!.headers['x-intelliauth-signature-previous'], undefined);
    } finally {
      await scaled.close();
      await rotating.close();
    }
  });

  test('a paused subscription gets no new events and holds its retries until resumed', async () => {
    const scaled = await startTestEmulator({ allowPrivateTargets: true, timeScale: 200 }); // first retry after ~300 ms
    const flaky = await startReceiver();
    let failures = 1;
    flaky.respond = () => ({ status: failures-- > 0 ? 500 : 200 });
    try {
      const sub = await subscribe(scaled, flaky);
      await emit(scaled, 'user.signed_in');
      await flaky.waitFor(1);
      assert.equal((await scaled.call('PATCH', paths.subscription(sub.id), { body: { status: 'paused' } })).status, 200);
      assert.deepEqual((await emit(scaled, 'user.signed_in')).subscriptions, []);
      await new Promise((resolve) => setTimeout(resolve, 700));
      assert.equal(flaky.received.length, 1, 'the retry is held while paused');
      assert.equal((await scaled.call('PATCH', paths.subscription(sub.id), { body: { status: 'active' } })).status, 200);
      const [retry] = (await flaky.waitFor(2, 3000)).slice(1);
      assert.equal(retry!.json.delivery.attempt, 2);
    } finally {
      await scaled.close();
      await flaky.close();
    }
  });

  test('deleting a subscription stops its pending deliveries', async () => {
    const scaled = await startTestEmulator({ allowPrivateTargets: true, timeScale: 200 });
    const failing = await startReceiver();
    failing.respond = () => ({ status: 500 });
    try {
      const sub = await subscribe(scaled, failing);
      await emit(scaled, 'user.signed_in');
      await failing.waitFor(1);
      assert.equal((await scaled.call('DELETE', paths.subscription(sub.id))).status, 204);
      await new Promise((resolve) => setTimeout(resolve, 700));
      assert.equal(failing.received.length, 1);
    } finally {
      await scaled.close();
      await failing.close();
    }
  });

  test('failure kinds: redirect, timeout, refused connection, no address', async () => {
    const quick = await startTestEmulator({ allowPrivateTargets: true, deliveryTimeoutMs: 300, resolve: { 'nowhere.test': [] } });
    const odd = await startReceiver();
    odd.respond = (delivery) => (delivery.path.endsWith('/redirect') ? { status: 302 } : { status: 200, delayMs: 1000 });
    const closed = await startReceiver();
    await closed.close();
    try {
      const cases: Array<[string, Record<string, unknown>]> = [
        [`${odd.url}/redirect`, { error: 'http_status', http_status: 302 }],
        [`${odd.url}/slow`, { error: 'timeout', http_status: null }],
        [closed.url, { error: 'connection', http_status: null }],
        ['http://nowhere.test/hook', { error: 'dns', http_status: null }],
      ];
      for (const [url, expected] of cases) {
        const sub = await subscribe(quick, url);
        const answer = await quick.call('POST', paths.test(sub.id));
        assert.equal(answer.body.data.outcome, 'failed', url);
        for (const [key, value] of Object.entries(expected)) assert.equal(answer.body.data[key], value, `${url}: ${key}`);
      }
    } finally {
      await quick.close();
      await odd.close();
    }
  });

  test('DNS rebinding: a name resolving to a refused address fails the attempt with url_not_allowed', async () => {
    const strict = await startTestEmulator({ timeScale: 100_000, resolve: { 'rebind.example': ['127.0.0.1'], 'mixed.example': ['93.184.216.34', '10.0.0.1'] } });
    try {
      const sub = await subscribe(strict, 'https://rebind.example/hooks');
      const tested = await strict.call('POST', paths.test(sub.id));
      assert.equal(tested.body.data.outcome, 'failed');
      assert.equal(tested.body.data.error, 'url_not_allowed');
      assert.equal(tested.body.data.http_status, null);
      const mixed = await subscribe(strict, 'https://mixed.example/hooks');
      assert.equal((await strict.call('POST', paths.test(mixed.id))).body.data.error, 'url_not_allowed', 'any refused address refuses the name');

      await emit(strict, 'user.signed_up');
      const records = await eventually(async () => {
        const list = await feed(strict, sub.id, '?event_type=user.signed_up');
        return list.length === MAX_ATTEMPTS ? list : undefined;
      }, 5000, 'the retries');
      assert.ok(records.every((record) => record.error === 'url_not_allowed'));
      assert.equal(records.at(-1).dead_lettered, true);
      const logged = strict.logs.find((entry) => entry.kind === 'delivery' && entry.error === 'url_not_allowed');
      assert.match(logged!.message, /127\.0\.0\.1/);
    } finally {
      await strict.close();
    }
  });

  test('resolve overrides pin the connection to the given address (Host header kept)', async () => {
    const pinned = await startTestEmulator({ allowPrivateTargets: true, resolve: { 'receiver.test': ['127.0.0.1'] } });
    try {
      const sub = await subscribe(pinned, `http://receiver.test:${receiver.port}/pinned`);
      const before = receiver.received.length;
      const answer = await pinned.call('POST', paths.test(sub.id));
      assert.equal(answer.body.data.outcome, 'succeeded', JSON.stringify(answer.body.data));
      const [delivery] = (await receiver.waitFor(before + 1)).slice(before);
      assert.equal(delivery!.headers.host, `receiver.test:${receiver.port}`);
    } finally {
      await pinned.close();
    }
  });

  test('the feed keeps at most feedLimit records per subscription, dropping the oldest', async () => {
    const bounded = await startTestEmulator({ allowPrivateTargets: true, feedLimit: 5 });
    try {
      const sub = await subscribe(bounded, receiver, ['user.signed_in']);
      const before = receiver.received.length;
      const ids: string[] = [];
      for (let i = 0; i < 8; i += 1) ids.push((await emit(bounded, 'user.signed_in')).event_id);
      await receiver.waitFor(before + 8);
      const kept = await eventually(async () => {
        const list = await feed(bounded, sub.id);
        return list.length === 5 && list.at(-1)?.event_id === ids[7] ? list : undefined;
      }, 5000, 'the bounded feed');
      assert.deepEqual(new Set(kept.map((record) => record.event_id)).size, 5);
      assert.equal((await bounded.call('POST', paths.redeliver(sub.id, ids.find((id) => !kept.some((record) => record.event_id === id))!))).status, 404,
        'an event that left the feed is forgotten');
    } finally {
      await bounded.close();
    }
  });

  test('a self-signed receiver certificate fails with error tls', async (t) => {
    let dir: string | undefined;
    try {
      dir = mkdtempSync(join(tmpdir(), 'emu-tls-'));
      execFileSync('openssl', [
        'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
        '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1',
        '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'),
      ], { stdio: 'ignore' });
    } catch {
      t.skip('the openssl command is not available to make a certificate');
      if (dir) rmSync(dir, { recursive: true, force: true });
      return;
    }
    const tlsReceiver = await startReceiver({ tls: { key: readFileSync(join(dir, 'key.pem'), 'utf8'), cert: readFileSync(join(dir, 'cert.pem'), 'utf8') } });
    try {
      const sub = await subscribe(emulator, tlsReceiver);
      const answer = await emulator.call('POST', paths.test(sub.id));
      assert.equal(answer.body.data.outcome, 'failed');
      assert.equal(answer.body.data.error, 'tls');
      assert.equal(tlsReceiver.received.length, 0);
    } finally {
      await tlsReceiver.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
