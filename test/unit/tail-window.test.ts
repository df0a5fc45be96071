import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { LatencyHistogram, SlidingWindow } from '../../src/commands/tail-deliveries/window.ts';
import { judgeWindow } from '../../src/commands/tail-deliveries/run.ts';
import { summarize } from '../../src/commands/tail-deliveries/stats.ts';

const T0 = Date.parse('2026-05-01T12:00:00Z');

/** Exact nearest-rank percentile. */
function exactPercentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.max(1, Math.ceil((p / 100) * sorted.length)) - 1]!;
}

function seeded(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state * 1664525 + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

describe('SlidingWindow', () => {
  test('counts attempts and failures inside the window and forgets those that leave it', () => {
    const window = new SlidingWindow(60_000);
    for (let i = 0; i < 10; i += 1) window.add(T0 + i * 1000, 100, i % 2 === 0, T0 + 10_000);
    let figures = window.figures(T0 + 10_000);
    assert.equal(figures.attempts, 10);
    assert.equal(figures.failures, 5);
    assert.equal(figures.failureRate, 0.5);
    // At T0+64.5s the attempts at T0..T0+4s have left (window is (now-60s, now]).
    figures = window.figures(T0 + 64_500);
    assert.equal(figures.attempts, 5);
    assert.equal(figures.failures, 2);
    assert.equal(figures.failureRate, 0.4);
    figures = window.figures(T0 + 200_000);
    assert.deepEqual([figures.attempts, figures.failures, figures.failureRate, figures.p50, figures.p95], [0, 0, null, null, null]);
  });

  test('attempts already outside the window are not added', () => {
    const window = new SlidingWindow(60_000);
    window.add(T0 - 60_000, 5, true, T0);
    window.add(T0 - 120_000, 5, true, T0);
    window.add(Number.NaN, 5, true, T0);
    window.add(T0 - 59_999, 5, false, T0);
    assert.equal(window.figures(T0).attempts, 1);
    assert.equal(window.figures(T0).failures, 0);
  });

  test('holds at most its capacity, dropping the oldest, and says so', () => {
    const window = new SlidingWindow(3_600_000, 1000);
    for (let i = 0; i < 2500; i += 1) window.add(T0 + i, i < 2000 ? 1 : 2, i >= 2000, T0 + 3000);
    const figures = window.figures(T0 + 3000);
    assert.equal(window.size, 1000);
    assert.equal(figures.attempts, 1000);
    assert.equal(figures.failures, 500);
    assert.equal(figures.overflowed, 1500);
    assert.equal(figures.p50, 1);
    assert.equal(figures.p95, 2);
  });

  test('grows its ring without disturbing the order of entries', () => {
    const window = new SlidingWindow(10_000, 100_000);
    // Wrap the ring before it grows: add, evict half, add more.
    for (let i = 0; i < 1000; i += 1) window.add(T0 + i, i, false, T0 + i);
    window.evict(T0 + 10_500);
    assert.equal(window.size, 499);
    for (let i = 1000; i < 5000; i += 1) window.add(T0 + i, i, i % 10 === 0, T0 + i);
    const figures = window.figures(T0 + 5000);
    assert.equal(figures.attempts, 4499);
    assert.equal(figures.failures, 400);
    window.evict(T0 + 14_000);
    assert.equal(window.figures(T0 + 14_000).attempts, 999);
  });

  test('p50 and p95 over the window are within 0.5% of the exact values', () => {
    const random = seeded(42);
    const window = new SlidingWindow(3_600_000);
    const latencies: number[] = [];
    for (let i = 0; i < 20_000; i += 1) {
      // Mostly fast, with a slow tail up to 10 s.
      const latency = random() < 0.9 ? Math.round(20 + random() * 300) : Math.round(1000 + random() * 9000);
      latencies.push(latency);
      window.add(T0 + i, latency, false, T0 + 20_000);
    }
    const figures = window.figures(T0 + 20_000);
    for (const [p, value] of [[50, figures.p50], [95, figures.p95]] as const) {
      const exact = exactPercentile(latencies, p);
      assert.ok(value !== null && Math.abs(value - exact) <= Math.max(1, exact * 0.005), `p${p}: ${value} vs exact ${exact}`);
    }
  });

  test('percentiles follow the window as old latencies leave it', () => {
    const window = new SlidingWindow(1000);
    for (let i = 0; i < 100; i += 1) window.add(T0 + i, 5000, false, T0 + 100);
    const slow = window.figures(T0 + 100).p50!;
    assert.ok(Math.abs(slow - 5000) <= 25, `p50 ${slow}`);
    for (let i = 0; i < 100; i += 1) window.add(T0 + 1000 + i, 10, false, T0 + 1100);
    // The slow ones are gone at T0+1100 (all at or before T0+100).
    assert.deepEqual([window.figures(T0 + 1100).p50, window.figures(T0 + 1100).p95], [10, 10]);
  });
});

describe('LatencyHistogram', () => {
  test('exact below a second, nearest rank', () => {
    const histogram = new LatencyHistogram();
    for (const value of [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]) histogram.add(value);
    assert.equal(histogram.percentile(50), 5);
    assert.equal(histogram.percentile(95), 10);
    assert.equal(histogram.percentile(10), 1);
    histogram.remove(10);
    assert.equal(histogram.percentile(95), 9);
    assert.equal(histogram.total, 9);
  });

  test('negative, fractional and huge latencies are clamped, not lost', () => {
    const histogram = new LatencyHistogram();
    histogram.add(-5);
    histogram.add(2.4);
    histogram.add(10 * 3_600_000);
    assert.equal(histogram.total, 3);
    assert.equal(histogram.percentile(1), 0);
    assert.equal(histogram.percentile(50), 2);
    assert.ok(Math.abs(histogram.percentile(100)! - 3_600_000) / 3_600_000 < 0.01);
  });
});

describe('judgeWindow', () => {
  test('alerts only above the threshold and with at least the minimum attempts', () => {
    const window = new SlidingWindow(300_000);
    for (let i = 0; i < 9; i += 1) window.add(T0 + i, 10, true, T0 + 10);
    let verdict = judgeWindow(window, T0 + 10, 10, 10);
    assert.equal(verdict.alert, false);
    assert.match(verdict.message, /9 attempts in the last 5m, fewer than --min-attempts 10: not judged/);
    window.add(T0 + 9, 10, false, T0 + 10);
    verdict = judgeWindow(window, T0 + 10, 10, 10);
    assert.equal(verdict.alert, true);
    assert.equal(verdict.message, 'failure rate 90.0% (9 of 10 attempts failed) in the last 5m exceeds 10.0%');
    // Exactly at the threshold does not exceed it.
    assert.equal(judgeWindow(window, T0 + 10, 90, 10).alert, false);
    assert.match(judgeWindow(window, T0 + 10, 95, 1).message, /within 95\.0%/);
  });
});

describe('summarize', () => {
  test('the --stats line', () => {
    const window = new SlidingWindow(300_000);
    for (let i = 0; i < 4; i += 1) window.add(T0 + i, (i + 1) * 100, i === 0, T0 + 10);
    assert.equal(summarize(12, window.figures(T0 + 10), 300_000), '12 printed · last 5m: 4 attempts, 1 failed (25.0%) · p50 200 ms · p95 400 ms');
    assert.equal(summarize(0, new SlidingWindow(60_000).figures(T0), 60_000), '0 printed · last 1m: 0 attempts, 0 failed (-) · p50 - · p95 -');
  });
});
