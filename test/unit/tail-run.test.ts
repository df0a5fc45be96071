import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run, type TailDependencies } from '../../src/commands/tail-deliveries/run.ts';
import { toTailOptions } from '../../src/commands/tail-deliveries/index.ts';
import { AlertError, ApiError, exitCodeFor, UsageError } from '../../src/errors.ts';
import type { DeliveryRecord } from '../../src/domain/contract.ts';
import { makeTestContext } from '../helpers/context.ts';
import { FakeFeed } from '../helpers/tail-fake-feed.ts';

const FAST: TailDependencies = { minIntervalMs: 1, maxIntervalMs: 4 };

async function tail(feed: FakeFeed, flags: Record<string, unknown>, init: { json?: boolean; tty?: boolean; signal?: AbortSignal; deps?: TailDependencies; now?: () => number } = {}) {
  const harness = makeTestContext({
    tty: init.tty ?? false,
    globals: { json: init.json ?? true },
    ...(init.signal ? { signal: init.signal } : {}),
    ...(init.now ? { now: init.now } : {}),
  });
  let error: unknown;
  let code: number | undefined;
  try {
    code = await run(toTailOptions(feed.subscriptionId, flags), harness.context, { source: feed, ...FAST, ...(init.deps ?? {}) });
  } catch (caught) {
    error = caught;
  }
  return { code, error, stdout: harness.stdout(), stderr: harness.stderr() };
}

function jsonIds(stdout: string): string[] {
  return stdout
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => (JSON.parse(line) as DeliveryRecord).id);
}

function ids(records: readonly DeliveryRecord[]): string[] {
  return records.map((record) => record.id);
}

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'iaw-tail-run-'));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const secondsAgo = (s: number) => Date.now() - s * 1000;

describe('tail-deliveries --no-follow', () => {
  test('--json prints the 20 most recent attempts as NDJSON, oldest first, and nothing else', async () => {
    const feed = new FakeFeed();
    feed.add(75, { at: (n) => secondsAgo(100 - n) });
    const result = await tail(feed, { follow: false });
    assert.equal(result.code, 0);
    assert.deepEqual(jsonIds(result.stdout), ids(feed.records.slice(55)));
    assert.deepEqual(JSON.parse(result.stdout.split('\n')[0]!), feed.records[55]);
    assert.equal(result.stderr, '');
  });

  test('--limit and filters shape the backlog', async () => {
    const feed = new FakeFeed();
    feed.add(60, { failed: (n) => n % 3 === 0, eventType: (n) => (n % 2 === 0 ? 'user.signed_in' : 'mfa.factor_added') });
    const result = await tail(feed, { follow: false, limit: '5', outcome: 'failed', eventType: 'user.*' });
    const expected = feed.records.filter((r) => r.outcome === 'failed' && r.event_type === 'user.signed_in').slice(-5);
    assert.deepEqual(jsonIds(result.stdout), ids(expected));
  });

  test('--since prints every attempt since then, across pages, in order', async () => {
    const feed = new FakeFeed();
    // One attempt every 3 s over the 22.5 minutes before `now`: 201 of them at or after now - 10m.
    const now = Date.parse('2026-05-01T12:00:00Z');
    feed.add(450, { at: (n) => now - (1350 - n * 3) * 1000 });
    const result = await tail(feed, { follow: false, since: '10m' }, { now: () => now });
    assert.deepEqual(jsonIds(result.stdout), ids(feed.records.slice(249)));
  });

  test('tab-separated fields without a terminal, readable lines at one', async () => {
    const feed = new FakeFeed();
    feed.add(2, { failed: (n) => n === 2, at: () => Date.parse('2026-05-01T12:00:00Z'), latency: (n) => n * 100 });
    feed.records[1]!.dead_lettered = true;
    const piped = await tail(feed, { follow: false }, { json: false });
    assert.deepEqual(piped.stdout.split('\n'), [
      '2026-05-01T12:00:00.000Z\tuser.signed_up\tevt_000000000001\t1\tsucceeded\t200\t100\t-\t-',
      '2026-05-01T12:00:00.000Z\tuser.signed_up\tevt_000000000002\t1\tfailed\t500\t200\thttp_status\tdead-lettered',
      '',
    ]);
    const terminal = await tail(feed, { follow: false }, { json: false, tty: true });
    const lines = terminal.stdout.trimEnd().split('\n');
    assert.equal(lines.length, 2);
    assert.match(lines[0]!, /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} {2}user\.signed_up {10}evt_000000000001 {2}#1 {2}✓ 200 {2}\s+100 ms$/);
    assert.match(lines[1]!, /evt_000000000002 {2}#1 {2}✗ 500 {2}\s+200 ms {2}http_status {2}dead-lettered$/);
  });

  test('an unknown subscription ends with the API error (exit 4)', async () => {
    const feed = new FakeFeed();
    feed.faults.set(1, () => new ApiError({ status: 404, code: 'not_found', message: 'subscription whsub_TEST not found' }));
    const result = await tail(feed, { follow: false });
    assert.ok(result.error instanceof ApiError);
    assert.equal(exitCodeFor(result.error), 4);
    assert.equal(result.stdout, '');
  });
});

describe('tail-deliveries --checkpoint', () => {
  test('consecutive runs print each attempt exactly once', async () => {
    await withDir(async (dir) => {
      const file = join(dir, 'tail.cp');
      const feed = new FakeFeed();
      feed.add(50);
      const first = await tail(feed, { follow: false, checkpoint: file });
      assert.deepEqual(jsonIds(first.stdout), ids(feed.records.slice(30)));
      const added = feed.add(237);
      const second = await tail(feed, { follow: false, checkpoint: file, since: '24h', limit: '3' });
      assert.deepEqual(jsonIds(second.stdout), ids(added), 'the checkpoint overrides --since and --limit');
      const third = await tail(feed, { follow: false, checkpoint: file });
      assert.equal(third.stdout, '');
      const last = feed.add(1);
      assert.deepEqual(jsonIds((await tail(feed, { follow: false, checkpoint: file })).stdout), ids(last));
      const saved = JSON.parse(await readFile(file, 'utf8'));
      assert.equal(saved.after, last[0]!.id);
      assert.equal(saved.subscription_id, feed.subscriptionId);
    });
  });

  test('a first run on an empty feed still records where the next run starts', async () => {
    await withDir(async (dir) => {
      const file = join(dir, 'tail.cp');
      const feed = new FakeFeed();
      assert.equal((await tail(feed, { follow: false, checkpoint: file })).stdout, '');
      const added = feed.add(45);
      assert.deepEqual(jsonIds((await tail(feed, { follow: false, checkpoint: file })).stdout), ids(added));
    });
  });

  test('a checkpoint of another subscription is refused before anything is read', async () => {
    await withDir(async (dir) => {
      const file = join(dir, 'tail.cp');
      const feed = new FakeFeed('whsub_ONE');
      feed.add(3);
      await tail(feed, { follow: false, checkpoint: file });
      const other = new FakeFeed('whsub_TWO');
      other.add(3);
      const result = await tail(other, { follow: false, checkpoint: file });
      assert.ok(result.error instanceof UsageError);
      assert.match(result.error.message, /belongs to subscription whsub_ONE, not whsub_TWO/);
      assert.equal(other.calls, 0);
      assert.equal(JSON.parse(await readFile(file, 'utf8')).subscription_id, 'whsub_ONE');
    });
  });
});

describe('tail-deliveries --alert-failure-rate', () => {
  test('--no-follow judges the window ending now: exit 8 above the threshold, 0 below', async () => {
    const failing = new FakeFeed();
    failing.add(40, { at: (n) => secondsAgo(200 - n), failed: (n) => n % 4 === 0 });
    const alert = await tail(failing, { follow: false, alertFailureRate: '20' });
    assert.ok(alert.error instanceof AlertError, String(alert.error));
    assert.equal(exitCodeFor(alert.error), 8);
    assert.equal(alert.error.message, 'failure rate 25.0% (10 of 40 attempts failed) in the last 5m exceeds 20.0%');
    const healthy = await tail(failing, { follow: false, alertFailureRate: '30' });
    assert.equal(healthy.code, 0);
    assert.match(healthy.stderr, /failure rate 25\.0% \(10 of 40 attempts failed\) in the last 5m, within 30\.0%/);
  });

  test('attempts outside the window and below --min-attempts never alert', async () => {
    const feed = new FakeFeed();
    feed.add(50, { at: () => secondsAgo(400), failed: () => true });
    feed.add(5, { at: () => secondsAgo(10), failed: () => true });
    const result = await tail(feed, { follow: false, alertFailureRate: '10' });
    assert.equal(result.code, 0);
    assert.match(result.stderr, /5 attempts in the last 5m, fewer than --min-attempts 10: not judged/);
    assert.ok((await tail(feed, { follow: false, alertFailureRate: '10', minAttempts: '5' })).error instanceof AlertError);
  });

  test('the window also counts attempts the backlog does not print', async () => {
    const feed = new FakeFeed();
    // 80 failures then 20 successes, all within the window: only the successes are printed.
    feed.add(100, { at: (n) => secondsAgo(150 - n), failed: (n) => n <= 80 });
    const result = await tail(feed, { follow: false, alertFailureRate: '50' });
    assert.ok(result.error instanceof AlertError);
    assert.match(result.error.message, /80\.0% \(80 of 100 attempts failed\)/);
    assert.deepEqual(jsonIds(result.stdout), ids(feed.records.slice(80)));
  });

  test('with a recent checkpoint, attempts printed by the previous run still count', async () => {
    await withDir(async (dir) => {
      const file = join(dir, 'tail.cp');
      const feed = new FakeFeed();
      feed.add(30, { at: (n) => secondsAgo(100 - n), failed: () => true });
      await tail(feed, { follow: false, checkpoint: file, limit: '100' });
      feed.add(5, { at: () => secondsAgo(5) });
      const result = await tail(feed, { follow: false, checkpoint: file, alertFailureRate: '50' });
      assert.equal(jsonIds(result.stdout).length, 5);
      assert.ok(result.error instanceof AlertError);
      assert.match(result.error.message, /30 of 35 attempts failed/);
    });
  });

  test('--since later than the window start prints from --since and judges the whole window', async () => {
    const feed = new FakeFeed();
    // One attempt every 2 s over the 2 minutes before `now`; the first 40 failed.
    const now = Date.parse('2026-05-01T12:00:00Z');
    feed.add(60, { at: (n) => now - (122 - n * 2) * 1000, failed: (n) => n <= 40 });
    const result = await tail(feed, { follow: false, since: '1m', alertFailureRate: '50' }, { now: () => now });
    assert.ok(result.error instanceof AlertError);
    assert.match(result.error.message, /40 of 60 attempts failed/);
    // Attempts 31 (exactly a minute before) to 60.
    assert.deepEqual(jsonIds(result.stdout), ids(feed.records.slice(30)));
  });

  test('following, it exits 8 as soon as failures push the rate over', async () => {
    const feed = new FakeFeed();
    feed.add(30, { at: () => secondsAgo(30) });
    feed.beforeAnswer = (call) => {
      if (call > 3 && call < 10) feed.add(5, { failed: () => true });
    };
    const result = await tail(feed, { alertFailureRate: '25' });
    assert.ok(result.error instanceof AlertError, String(result.error));
    // 30 successes: the rate first exceeds 25% at 15 failures (33.3%), after three batches of 5.
    assert.match(result.error.message, /33\.3% \(15 of 45 attempts failed\)/);
    assert.equal(jsonIds(result.stdout).length, 35);
  });
});

describe('tail-deliveries following', () => {
  test('prints new attempts as they arrive until interrupted, then exits 0', async () => {
    const feed = new FakeFeed();
    feed.add(25);
    const controller = new AbortController();
    feed.beforeAnswer = (call) => {
      if (call % 2 === 0) feed.add(call);
      if (call >= 30) controller.abort();
    };
    const result = await tail(feed, {}, { signal: controller.signal });
    assert.equal(result.code, 0);
    const printed = jsonIds(result.stdout);
    assert.deepEqual(printed, ids(feed.records.slice(5, 5 + printed.length)));
    assert.ok(printed.length > 200);
  });

  test('a feed outage is announced once on stderr, and so is its end; nothing is lost', async () => {
    const feed = new FakeFeed();
    feed.add(150);
    feed.faults.set(2, () => new ApiError({ status: 503, code: 'unavailable', message: 'the API still answered 503 after 5 attempts' }));
    feed.faults.set(3, () => new ApiError({ status: 429, code: 'rate_limited', message: 'too many requests', retryAfterSeconds: 0 }));
    const result = await tail(feed, { follow: false, since: '1h' });
    assert.equal(result.code, 0);
    assert.deepEqual(jsonIds(result.stdout), ids(feed.records));
    assert.equal(result.stderr.match(/feed unavailable, retrying/g)?.length, 1, result.stderr);
    assert.match(result.stderr, /warning: feed unavailable, retrying \(the API still answered 503 after 5 attempts\)\n/);
    assert.equal(result.stderr.match(/feed available again after \d+s\n/g)?.length, 1, result.stderr);
  });

  test('--limit 0 prints no backlog, only what arrives', async () => {
    const feed = new FakeFeed();
    feed.add(30);
    assert.equal((await tail(feed, { follow: false, limit: '0' })).stdout, '');
    const controller = new AbortController();
    let added: DeliveryRecord[] = [];
    const before = feed.calls;
    // Call 1 finds the newest attempt (not printed); new ones arrive before call 3.
    feed.beforeAnswer = (call) => {
      if (call - before === 3) added = feed.add(4);
      if (call - before === 6) controller.abort();
    };
    const result = await tail(feed, { limit: '0' }, { signal: controller.signal });
    assert.equal(result.code, 0);
    assert.deepEqual(jsonIds(result.stdout), ids(added));
  });

  test('a reader of stdout that goes away (EPIPE) ends the run quietly with 0', async () => {
    const feed = new FakeFeed();
    feed.add(5);
    const harness = makeTestContext({ globals: { json: true } });
    const stdout = harness.context.io.stdout as unknown as NodeJS.EventEmitter;
    feed.beforeAnswer = (call) => {
      if (call === 4) stdout.emit('error', Object.assign(new Error('write EPIPE'), { code: 'EPIPE' }));
    };
    const code = await run(toTailOptions(feed.subscriptionId, {}), harness.context, { source: feed, ...FAST });
    assert.equal(code, 0);
    assert.equal(stdout.listenerCount('error'), 0);
    assert.equal(jsonIds(harness.stdout()).length, 5);
  });

  test('--stats without a terminal prints the summary on stderr at the end', async () => {
    const feed = new FakeFeed();
    feed.add(12, { failed: (n) => n <= 3, latency: (n) => n * 10 });
    const result = await tail(feed, { follow: false, stats: true, limit: '100' });
    assert.equal(result.code, 0);
    assert.equal(result.stderr, '12 printed · last 5m: 12 attempts, 3 failed (25.0%) · p50 60 ms · p95 120 ms\n');
  });

  test('--stats at a terminal redraws one line in place and leaves the final summary', async () => {
    const feed = new FakeFeed();
    feed.add(4);
    const result = await tail(feed, { follow: false, stats: true }, { tty: true, json: false });
    assert.match(result.stderr, /\r\u001b\[2K/);
    assert.match(result.stderr, /4 printed · last 5m: 4 attempts, 0 failed \(0\.0%\) · p50 10 ms · p95 10 ms\n$/);
    assert.equal(result.stdout.trimEnd().split('\n').length, 4);
  });
});
