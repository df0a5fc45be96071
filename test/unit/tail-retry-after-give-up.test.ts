import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ApiError, UnavailableError } from '../../src/errors.ts';
import { FeedReader, type Sleep } from '../../src/commands/tail-deliveries/feed-follower.ts';
import { FakeFeed } from '../helpers/tail-fake-feed.ts';

// Found by the hostile-API suite: `tail-deliveries --no-follow` against a 429 asking for an
// hour slept that hour, although a run that must end gives up after 60 s of silence.

const longWait = () => new ApiError({ status: 429, code: 'rate_limited', message: 'slow down', retryAfterSeconds: 3600 });

function reader(feed: FakeFeed, giveUpWhenStalled: boolean, sleep: Sleep): FeedReader {
  return new FeedReader({
    source: feed,
    subscriptionId: feed.subscriptionId,
    signal: new AbortController().signal,
    notices: { unavailable: () => {}, recovered: () => {}, stalled: () => {} },
    sleep,
    random: () => 0.5,
    stallAfterMs: 60_000,
    giveUpWhenStalled,
  });
}

test('--no-follow gives up at once on a Retry-After longer than it would wait at all', async () => {
  const feed = new FakeFeed();
  feed.faults.set(1, longWait);
  const waits: number[] = [];
  await assert.rejects(
    reader(feed, true, async (ms) => {
      waits.push(ms);
    }).fetch({ order: 'asc' }),
    (error: unknown) => error instanceof UnavailableError && /asks to wait 3600 s/.test(error.message) && error.message.split('\n').length === 1,
  );
  assert.deepEqual(waits, [], 'no sleep through the hour');
});

test('following, the same Retry-After is honoured', async () => {
  const feed = new FakeFeed();
  feed.faults.set(1, longWait);
  const waits: number[] = [];
  const page = await reader(feed, false, async (ms) => {
    waits.push(ms);
  }).fetch({ order: 'asc' });
  assert.ok(page);
  assert.deepEqual(waits, [3_600_000]);
});
