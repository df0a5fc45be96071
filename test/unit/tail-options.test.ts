import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { resolve } from 'node:path';
import { parseSince, toTailOptions } from '../../src/commands/tail-deliveries/index.ts';
import { UsageError } from '../../src/errors.ts';

describe('--since', () => {
  test('durations are relative to the start of the run', () => {
    assert.deepEqual(parseSince('15m'), { kind: 'ago', seconds: 900 });
    assert.deepEqual(parseSince('24h'), { kind: 'ago', seconds: 86_400 });
    assert.deepEqual(parseSince('1h30m'), { kind: 'ago', seconds: 5400 });
    assert.deepEqual(parseSince('90'), { kind: 'ago', seconds: 90 });
    assert.deepEqual(parseSince('0'), { kind: 'ago', seconds: 0 });
  });

  test('ISO 8601 timestamps are absolute', () => {
    assert.deepEqual(parseSince('2026-05-01T12:00:00Z'), { kind: 'at', epochMs: Date.parse('2026-05-01T12:00:00Z') });
    assert.deepEqual(parseSince('2026-05-01T12:00:00.250+02:00'), { kind: 'at', epochMs: Date.parse('2026-05-01T10:00:00.250Z') });
    assert.deepEqual(parseSince('2026-05-01 12:00Z'), { kind: 'at', epochMs: Date.parse('2026-05-01T12:00:00Z') });
    assert.deepEqual(parseSince('2026-05-01'), { kind: 'at', epochMs: Date.parse('2026-05-01T00:00:00Z') });
  });

  test('anything else is a usage error naming the flag and the forms', () => {
    for (const garbage of ['yesterday', '15 minutes', '-5m', '2026-13-45T99:00:00Z', '2026-05-01T12', 'm15', '', '12:00']) {
      assert.throws(() => parseSince(garbage), (error: unknown) => {
        assert.ok(error instanceof UsageError, garbage);
        assert.match(error.message, /^--since must be a duration like 15m or 24h, or a timestamp like 2026-05-01T12:00:00Z, got "/);
        return true;
      });
    }
  });
});

describe('tail-deliveries options', () => {
  test('defaults', () => {
    assert.deepEqual(toTailOptions('whsub_A', {}), {
      subscriptionId: 'whsub_A',
      since: undefined,
      outcome: undefined,
      eventType: undefined,
      follow: true,
      checkpoint: undefined,
      limit: 20,
      alertFailureRate: undefined,
      windowSeconds: 300,
      minAttempts: 10,
      stats: false,
    });
  });

  test('every flag', () => {
    const options = toTailOptions('whsub_A', {
      since: '2h',
      outcome: 'failed',
      eventType: 'user.*',
      follow: false,
      checkpoint: 'state/tail.cp',
      limit: '0',
      window: '10m',
      stats: true,
    });
    assert.deepEqual(options.since, { kind: 'ago', seconds: 7200 });
    assert.equal(options.outcome, 'failed');
    assert.equal(options.eventType, 'user.*');
    assert.equal(options.follow, false);
    assert.equal(options.checkpoint, resolve('state/tail.cp'));
    assert.equal(options.limit, 0);
    assert.equal(options.windowSeconds, 600);
    assert.equal(options.stats, true);
    const alerting = toTailOptions('whsub_A', { alertFailureRate: '12.5%', minAttempts: '3', window: '90s' });
    assert.deepEqual([alerting.alertFailureRate, alerting.minAttempts, alerting.windowSeconds], [12.5, 3, 90]);
    assert.equal(toTailOptions('whsub_A', { eventType: '*' }).eventType, undefined);
  });

  test('refusals', () => {
    const refused: Array<[Record<string, unknown>, RegExp]> = [
      [{ limit: '1001' }, /--limit must be at most 1000/],
      [{ limit: '-1' }, /--limit must be a whole number|at least 0/],
      [{ eventType: 'User Signed Up' }, /--event-type must be an event type or selector/],
      [{ alertFailureRate: 'lots' }, /--alert-failure-rate must be a percentage/],
      [{ alertFailureRate: '100' }, /from 0 to below 100/],
      [{ alertFailureRate: '10', outcome: 'failed' }, /needs both outcomes/],
      [{ window: '5m' }, /--window applies only with --alert-failure-rate or --stats/],
      [{ minAttempts: '5' }, /--min-attempts applies only with --alert-failure-rate/],
      [{ alertFailureRate: '10', minAttempts: '0' }, /--min-attempts must be at least 1/],
      [{ alertFailureRate: '10', window: 'forever' }, /--window must be a duration/],
      [{ outcome: 'maybe' }, /--outcome must be succeeded or failed/],
      [{ checkpoint: ' ' }, /--checkpoint needs a file name/],
    ];
    for (const [opts, message] of refused) {
      assert.throws(() => toTailOptions('whsub_A', opts), (error: unknown) => error instanceof UsageError && message.test(error.message), JSON.stringify(opts));
    }
    assert.throws(() => toTailOptions('whsub A', {}), UsageError);
  });
});
