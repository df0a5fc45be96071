import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { backoffMs, JITTER_FRACTION, MAX_ATTEMPTS, RETRY_DELAYS_SECONDS, retryDelayMs } from '../../src/domain/retry-schedule.ts';

const LOWEST = () => 0;
const MIDDLE = () => 0.5;
const HIGHEST = () => 1 - Number.EPSILON;

describe('the documented retry schedule', () => {
  test('delays are 1 min, 5 min, 30 min, 2 h, 12 h; six attempts', () => {
    assert.deepEqual([...RETRY_DELAYS_SECONDS], [60, 300, 1800, 7200, 43200]);
    assert.equal(MAX_ATTEMPTS, 6);
    assert.equal(JITTER_FRACTION, 0.1);
  });

  test('adds up to 14 h 36 min without jitter', () => {
    const totalMs = [2, 3, 4, 5, 6].reduce((sum, attempt) => sum + retryDelayMs(attempt, MIDDLE)!, 0);
    assert.equal(totalMs, (14 * 3600 + 36 * 60) * 1000);
  });

  test('a random of 0.5 gives the exact delay', () => {
    assert.deepEqual([2, 3, 4, 5, 6].map((attempt) => retryDelayMs(attempt, MIDDLE)), [60_000, 300_000, 1_800_000, 7_200_000, 43_200_000]);
  });

  test('jitter stays within ±10%', () => {
    for (const [index, seconds] of RETRY_DELAYS_SECONDS.entries()) {
      const attempt = index + 2;
      const low = retryDelayMs(attempt, LOWEST)!;
      const high = retryDelayMs(attempt, HIGHEST)!;
      assert.equal(low, seconds * 1000 * 0.9);
      assert.ok(high < seconds * 1000 * 1.1 && high > seconds * 1000 * 1.099, `${attempt}: ${high}`);
      for (let step = 0; step < 100; step += 1) {
        const delay = retryDelayMs(attempt, () => step / 100)!;
        assert.ok(delay >= seconds * 900 && delay < seconds * 1100, `${attempt} at ${step}: ${delay}`);
      }
    }
  });

  test('there is no attempt after the sixth, and none before the second', () => {
    assert.equal(retryDelayMs(7, MIDDLE), null);
    assert.equal(retryDelayMs(100, MIDDLE), null);
    assert.equal(retryDelayMs(1, MIDDLE), null);
    assert.equal(retryDelayMs(0, MIDDLE), null);
    assert.equal(retryDelayMs(-1, MIDDLE), null);
    assert.equal(retryDelayMs(2.5, MIDDLE), null);
    assert.equal(retryDelayMs(Number.NaN, MIDDLE), null);
  });

  test('the time scale divides the delay', () => {
    assert.equal(retryDelayMs(2, MIDDLE, 60), 1000);
    assert.equal(retryDelayMs(6, MIDDLE, 3600), 12_000);
    assert.equal(retryDelayMs(6, LOWEST, 1000), 38_880);
  });

  test('uses Math.random by default and stays in bounds', () => {
    for (let i = 0; i < 50; i += 1) {
      const delay = retryDelayMs(3)!;
      assert.ok(delay >= 270_000 && delay < 330_000, String(delay));
    }
  });
});

describe('backoffMs', () => {
  test('doubles from the base and stays within [ceiling/2, ceiling]', () => {
    for (const [retry, ceiling] of [[1, 200], [2, 400], [3, 800], [4, 1600]] as const) {
      assert.equal(backoffMs(retry, 200, 10_000, LOWEST), ceiling / 2);
      assert.equal(backoffMs(retry, 200, 10_000, HIGHEST), ceiling);
      const value = backoffMs(retry, 200, 10_000);
      assert.ok(value >= ceiling / 2 && value <= ceiling, `${retry}: ${value}`);
    }
  });

  test('is capped', () => {
    assert.equal(backoffMs(20, 200, 5000, HIGHEST), 5000);
    assert.equal(backoffMs(20, 200, 5000, LOWEST), 2500);
  });

  test('treats retry 0 like retry 1', () => {
    assert.equal(backoffMs(0, 200, 10_000, HIGHEST), 200);
  });

  test('returns whole milliseconds', () => {
    assert.ok(Number.isInteger(backoffMs(3, 333, 10_000, () => 0.123)));
  });
});
