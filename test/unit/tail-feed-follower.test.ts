import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ApiError, UnavailableError } from '../../src/errors.ts';
import type { DeliveryRecord } from '../../src/domain/contract.ts';
import { FeedReader, isTransient, readFeed, readLatest, type FeedNotices, type Sleep } from '../../src/commands/tail-deliveries/feed-follower.ts';
import { FakeFeed } from '../helpers/tail-fake-feed.ts';

interface NoticeLog extends FeedNotices {
  log: string[];
}

function notices(): NoticeLog {
  const log: string[] = [];
  return {
    log,
    unavailable: (reason) => log.push(`unavailable: ${reason}`),
    recovered: () => log.push('recovered'),
    stalled: () => log.push('stalled'),
  };
}

const unavailable = () => new UnavailableError('could not reach http://127.0.0.1:1: connection reset (ECONNRESET) after 5 attempts');
const rateLimited = () => new ApiError({ status: 429, code: 'rate_limited', message: 'too many requests', retryAfterSeconds: 1 });
const serverError = () => new ApiError({ status: 503, code: 'unavailable', message: 'the service is temporarily unavailable' });
const notFound = () => new ApiError({ status: 404, code: 'not_found', message: 'subscription whsub_TEST not found' });

/** Records every wait instead of waiting; an optional hook runs at each wait (e.g. to stop). */
function recordingSleep(hook?: (ms: number) => void): Sleep & { waits: number[] } {
  const waits: number[] = [];
  const sleep: Sleep = async (ms) => {
    waits.push(ms);
    hook?.(ms);
  };
  return Object.assign(sleep, { waits });
}

function reader(feed: FakeFeed, options: { signal?: AbortSignal; sleep?: Sleep; notices?: FeedNotices; stallAfterMs?: number; giveUpWhenStalled?: boolean } = {}): FeedReader {
  return new FeedReader({
    source: feed,
    subscriptionId: feed.subscriptionId,
    signal: options.signal ?? new AbortController().signal,
    notices: options.notices ?? notices(),
    sleep: options.sleep ?? recordingSleep(),
    random: () => 0.5,
    budget: { timeoutMs: 1000, totalTimeoutMs: 2000 },
    ...(options.stallAfterMs !== undefined ? { stallAfterMs: options.stallAfterMs } : {}),
    ...(options.giveUpWhenStalled !== undefined ? { giveUpWhenStalled: options.giveUpWhenStalled } : {}),
  });
}

function ids(records: readonly DeliveryRecord[]): string[] {
  return records.map((record) => record.id);
}

describe('readFeed (catching up)', () => {
  test('prints every record exactly once and in order through 5xx, 429 and resets', async () => {
    const feed = new FakeFeed();
    feed.add(1050);
    for (const [call, fault] of [[2, unavailable], [3, rateLimited], [5, serverError], [7, unavailable], [8, unavailable], [12, rateLimited]] as const) {
      feed.faults.set(call, fault);
    }
    const log = notices();
    const sleep = recordingSleep();
    const printed: DeliveryRecord[] = [];
    const result = await readFeed(reader(feed, { notices: log, sleep }), { after: null, since: null }, {
      follow: false,
      onPage: (records) => {
        printed.push(...records);
      },
    });
    assert.equal(result.completed, true);
    assert.deepEqual(ids(printed), ids(feed.records));
    assert.equal(result.resume.after, feed.records.at(-1)!.id);
    // One notice per outage (calls 2-3 and 7-8 are one outage each), one recovery each.
    assert.deepEqual(log.log.filter((line) => line.startsWith('unavailable')).length, 4);
    assert.deepEqual(log.log.filter((line) => line === 'recovered').length, 4);
    assert.match(log.log[0]!, /^unavailable: could not reach/);
    // The 429's Retry-After (1 s) is honoured; the other waits are jittered backoff.
    assert.ok(sleep.waits.includes(1000));
    assert.ok(sleep.waits.every((ms) => ms > 0 && ms <= 10_000));
    // Every retry asks for the same place again.
    for (const [call] of feed.faults) {
      assert.deepEqual(feed.queries[call - 1], feed.queries[call], `call ${call + 1} repeats call ${call}`);
    }
    // Each call carries the short poll budget.
    assert.ok(feed.budgets.every((budget) => budget?.totalTimeoutMs === 2000));
  });

  test('starts after the resume point and from since when there is none', async () => {
    const feed = new FakeFeed();
    const base = Date.parse('2026-05-01T00:00:00Z');
    feed.add(30, { at: (n) => base + n * 1000 });
    const printed: DeliveryRecord[] = [];
    await readFeed(reader(feed), { after: feed.records[9]!.id, since: null }, { follow: false, onPage: (r) => void printed.push(...r) });
    assert.deepEqual(ids(printed), ids(feed.records.slice(10)));
    printed.length = 0;
    await readFeed(reader(feed), { after: null, since: new Date(base + 25_000).toISOString() }, { follow: false, onPage: (r) => void printed.push(...r) });
    assert.deepEqual(ids(printed), ids(feed.records.slice(24)));
    assert.equal(feed.queries.at(-1)!.after, undefined);
  });

  test('a server repeating records already handed out causes no duplicate', async () => {
    const feed = new FakeFeed();
    feed.add(350);
    feed.ignoreAfterOn.add(2);
    feed.ignoreAfterOn.add(3);
    const printed: DeliveryRecord[] = [];
    await readFeed(reader(feed), { after: null, since: null }, { follow: false, pageSize: 100, onPage: (r) => void printed.push(...r) });
    assert.deepEqual(ids(printed), ids(feed.records));
  });

  test('non-transient errors end the read with the API error', async () => {
    const feed = new FakeFeed();
    feed.add(10);
    feed.faults.set(1, notFound);
    await assert.rejects(
      readFeed(reader(feed), { after: null, since: null }, { follow: false, onPage: () => undefined }),
      (error: unknown) => error instanceof ApiError && error.status === 404,
    );
    const forbidden = new FakeFeed();
    forbidden.faults.set(1, () => new ApiError({ status: 403, code: 'insufficient_scope', message: 'no' }));
    await assert.rejects(readFeed(reader(forbidden), { after: null, since: null }, { follow: false, onPage: () => undefined }), /no/);
  });

  test('a prefetched page failing while the current one is handled surfaces once, when taken', async () => {
    const feed = new FakeFeed();
    feed.add(250);
    feed.faults.set(2, notFound);
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      const printed: DeliveryRecord[] = [];
      await assert.rejects(
        readFeed(reader(feed), { after: null, since: null }, {
          follow: false,
          pageSize: 100,
          onPage: async (records) => {
            printed.push(...records);
            // Writing to a slow reader: the prefetch of page 2 fails meanwhile.
            await new Promise((resolve) => setTimeout(resolve, 30));
          },
        }),
        (error: unknown) => error instanceof ApiError && error.status === 404,
      );
      assert.deepEqual(ids(printed), ids(feed.records.slice(0, 100)));
      await new Promise((resolve) => setTimeout(resolve, 10));
      assert.deepEqual(unhandled, []);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });

  test('onPage returning false stops before that page moves the resume point', async () => {
    const feed = new FakeFeed();
    feed.add(250);
    let pages = 0;
    const result = await readFeed(reader(feed), { after: null, since: null }, { follow: false, pageSize: 100, onPage: () => ++pages < 2 });
    assert.equal(pages, 2);
    assert.equal(result.resume.after, feed.records[99]!.id);
  });

  test('transient classification', () => {
    assert.equal(isTransient(unavailable()), true);
    assert.equal(isTransient(rateLimited()), true);
    assert.equal(isTransient(serverError()), true);
    assert.equal(isTransient(new ApiError({ status: 500, code: 'internal_error', message: 'x' })), true);
    assert.equal(isTransient(notFound()), false);
    assert.equal(isTransient(new ApiError({ status: 401, code: 'unauthorized', message: 'x' })), false);
    assert.equal(isTransient(new ApiError({ status: 400, code: 'invalid_request', message: 'x' })), false);
    assert.equal(isTransient(new Error('boom')), false);
  });
});

describe('readFeed (following)', () => {
  test('new attempts arriving between polls and faults are printed exactly once, in order', async () => {
    const feed = new FakeFeed();
    feed.add(45);
    const controller = new AbortController();
    // Attempts keep arriving, sometimes during a failing call, sometimes in bursts of pages.
    feed.beforeAnswer = (call) => {
      if (call % 3 === 0) feed.add(7);
      if (call === 10) feed.add(230);
    };
    for (const call of [4, 5, 9, 11, 15, 16, 17, 22]) feed.faults.set(call, call % 2 === 0 ? unavailable : rateLimited);
    const printed: DeliveryRecord[] = [];
    const sleep = recordingSleep(() => {
      if (feed.calls >= 40) controller.abort();
    });
    const result = await readFeed(reader(feed, { signal: controller.signal, sleep }), { after: null, since: null }, {
      follow: true,
      pageSize: 20,
      onPage: (records) => {
        printed.push(...records);
      },
    });
    assert.equal(result.completed, false);
    assert.ok(printed.length > 300, `printed ${printed.length}`);
    const seen = ids(feed.records).slice(0, printed.length);
    assert.deepEqual(ids(printed), seen);
    assert.equal(new Set(ids(printed)).size, printed.length);
    assert.equal(result.resume.after, printed.at(-1)!.id);
  });

  test('polls fast while attempts arrive and backs off to the maximum while idle', async () => {
    const feed = new FakeFeed();
    const controller = new AbortController();
    feed.beforeAnswer = (call) => {
      if (call === 8) feed.add(1);
      if (call >= 12) controller.abort();
    };
    const sleep = recordingSleep();
    await readFeed(reader(feed, { signal: controller.signal, sleep }), { after: null, since: null }, {
      follow: true,
      minIntervalMs: 250,
      maxIntervalMs: 5000,
      onPage: () => undefined,
    });
    // Idle: 500, 1000, ... capped at 5000; the attempt at call 8 brings it back to 250.
    assert.deepEqual(sleep.waits.slice(0, 7), [500, 1000, 2000, 4000, 5000, 5000, 5000]);
    assert.equal(sleep.waits[7], 250);
    assert.equal(sleep.waits[8], 500);
  });

  test('onCaughtUp runs each time the feed is caught up, and may end the run', async () => {
    const feed = new FakeFeed();
    feed.add(120);
    let caughtUp = 0;
    await assert.rejects(
      readFeed(reader(feed), { after: null, since: null }, {
        follow: true,
        onPage: () => undefined,
        onCaughtUp: () => {
          caughtUp += 1;
          if (caughtUp === 3) throw new Error('threshold');
        },
      }),
      /threshold/,
    );
    assert.equal(caughtUp, 3);
  });

  test('an interrupt during a failing call stops without printing anything twice', async () => {
    const feed = new FakeFeed();
    feed.add(5);
    const controller = new AbortController();
    feed.faults.set(2, () => {
      controller.abort();
      return unavailable();
    });
    const printed: DeliveryRecord[] = [];
    const result = await readFeed(reader(feed, { signal: controller.signal }), { after: null, since: null }, {
      follow: true,
      onPage: (records) => void printed.push(...records),
    });
    assert.equal(result.completed, false);
    assert.deepEqual(ids(printed), ids(feed.records));
  });
});

describe('FeedReader stall detection', () => {
  test('a feed silent for the stall time is reported once, and its recovery too', async () => {
    const feed = new FakeFeed();
    feed.add(3);
    feed.beforeAnswer = async (call) => {
      if (call === 1) await new Promise((resolve) => setTimeout(resolve, 120));
    };
    const log = notices();
    const page = await reader(feed, { notices: log, stallAfterMs: 30 }).fetch({ order: 'asc', limit: 10 });
    assert.equal(page?.items.length, 3);
    assert.deepEqual(log.log, ['stalled', 'recovered']);
  });

  test('the outage a recovery reports is at least as long as the silence the stall reported', async () => {
    const feed = new FakeFeed();
    feed.add(2);
    // The first request fails after 100 ms, the retry answers 100 ms later: the stall notice
    // (at 150 ms) and the recovery must count the same silence, from the first request on.
    feed.beforeAnswer = async () => {
      await new Promise((resolve) => setTimeout(resolve, 100));
    };
    feed.faults.set(1, unavailable);
    const durations: Record<string, number> = {};
    const timed: FeedNotices = {
      unavailable: () => undefined,
      stalled: (silentForMs) => void (durations.stalled = silentForMs),
      recovered: (downForMs) => void (durations.recovered = downForMs),
    };
    const page = await reader(feed, { notices: timed, stallAfterMs: 150, sleep: recordingSleep() }).fetch({ order: 'asc', limit: 10 });
    assert.equal(page?.items.length, 2);
    assert.ok(durations.stalled !== undefined && durations.recovered !== undefined, JSON.stringify(durations));
    assert.ok(durations.recovered! >= durations.stalled!, `stalled for ${durations.stalled} ms, then "available again after" ${durations.recovered} ms`);
    assert.ok(durations.recovered! >= 190, `the outage counts from the request that went unanswered: ${durations.recovered} ms`);
  });

  test('without following, a stalled feed ends the run as unavailable', async () => {
    const feed = new FakeFeed();
    let calls = 0;
    feed.beforeAnswer = async () => {
      calls += 1;
      await new Promise((resolve) => setTimeout(resolve, 15));
    };
    for (let call = 1; call <= 100; call += 1) feed.faults.set(call, serverError);
    const log = notices();
    await assert.rejects(
      reader(feed, { notices: log, stallAfterMs: 40, giveUpWhenStalled: true }).fetch({ order: 'asc' }),
      (error: unknown) => error instanceof UnavailableError && /has not answered/.test(error.message),
    );
    assert.ok(calls >= 2 && calls < 100);
    assert.equal(log.log.filter((line) => line.startsWith('unavailable')).length, 1);
  });
});

describe('readLatest', () => {
  test('the newest N attempts, oldest first, across pages', async () => {
    const feed = new FakeFeed();
    feed.add(250);
    const latest = await readLatest(reader(feed), 120);
    assert.deepEqual(ids(latest!), ids(feed.records.slice(130)));
    assert.deepEqual(feed.queries.map((q) => [q.order, q.limit, q.after]), [
      ['desc', 100, undefined],
      ['desc', 20, feed.records[150]!.id],
    ]);
  });

  test('fewer than asked when the feed is short; filters are passed on', async () => {
    const feed = new FakeFeed();
    feed.add(40, { failed: (n) => n % 4 === 0 });
    const latest = await readLatest(reader(feed), 20, { outcome: 'failed' });
    assert.equal(latest!.length, 10);
    assert.ok(latest!.every((record) => record.outcome === 'failed'));
    assert.deepEqual(ids(latest!), ids(feed.records.filter((record) => record.outcome === 'failed')));
    assert.equal((await readLatest(reader(new FakeFeed()), 20))!.length, 0);
  });
});
