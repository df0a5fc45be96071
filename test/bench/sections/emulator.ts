import { join } from 'node:path';
import { createSubscription, startBenchEmulator, trigger } from '../lib/emulator.ts';
import { benchEnv } from '../lib/env.ts';
import { closedLoop, openLoop } from '../lib/load.ts';
import { quantile, readCpuSeconds, readRssKb } from '../lib/measure.ts';
import { profileArgs } from '../lib/profile.ts';
import { startBenchReceiver } from '../lib/receiver.ts';
import { formatGrowth, mb, ms, rate, type BenchContext, type Figure } from '../lib/report.ts';

// Target 5: signed deliveries per second to a loopback receiver answering 202 at once; p99
// from trigger to receiver at a fixed 500 events/s; memory flat over 200,000 deliveries.

const SUBSCRIPTIONS = 10;
/** Records kept per subscription: the ten feeds are full after 20,000 deliveries. */
const FEED_LIMIT = 2_000;
const TOTAL_DELIVERIES = 200_000;
const MEMORY_CHECKPOINT = 50_000;
const MAX_BACKLOG = 2_000;
const LATENCY_RATE = 500;
const LATENCY_SECONDS = 10;

export async function benchEmulator(context: BenchContext): Promise<Figure[]> {
  const total = Math.round(TOTAL_DELIVERIES * context.scale);
  const checkpoint = Math.round(MEMORY_CHECKPOINT * context.scale);
  const events = Math.ceil(total / SUBSCRIPTIONS);
  const receiver = await startBenchReceiver();
  const emulator = await startBenchEmulator(context.bin, ['--allow-private-targets', '--feed-limit', String(FEED_LIMIT)], benchEnv(join(context.scratch, 'home-emulator')), profileArgs(context.profileDir, 'emulator'));
  try {
    for (let index = 0; index < SUBSCRIPTIONS; index++) await createSubscription(emulator, `bench ${index}`, receiver.url, ['user.*']);

    context.log(`emulator: ${events.toLocaleString('en-US')} events to ${SUBSCRIPTIONS} subscriptions = ${total.toLocaleString('en-US')} deliveries`);
    let rssAtCheckpointKb: number | null = null;
    let delivered = 0;
    let watching = true;
    const watcher = (async () => {
      while (watching) {
        delivered = (await receiver.stats()).count;
        if (rssAtCheckpointKb === null && delivered >= checkpoint) rssAtCheckpointKb = readRssKb(emulator.child.pid);
        await sleep(20);
      }
    })();
    // The sender stays at most MAX_BACKLOG deliveries ahead of the receiver: enough to keep
    // every delivery slot busy, and the memory compared is then the emulator's own, not a
    // queue of events accepted faster than they can be delivered.
    let sent = 0;
    const cpuBefore = readCpuSeconds(emulator.child.pid);
    const started = performance.timeOrigin + performance.now();
    await closedLoop(events, 16, async () => {
      while (sent * SUBSCRIPTIONS - delivered > MAX_BACKLOG) await sleep(2);
      sent++;
      await trigger(emulator, 'user.signed_in');
    });
    const done = await receiver.waitFor(total, 600_000);
    watching = false;
    await watcher;
    const rssAtEndKb = readRssKb(emulator.child.pid);
    const cpuSeconds = cpuBefore === null ? null : readCpuSeconds(emulator.child.pid)! - cpuBefore;
    const seconds = (done.lastAt - started) / 1000;
    const throughput = done.count / seconds;
    const growth = rssAtCheckpointKb !== null && rssAtEndKb !== null ? rssAtEndKb / rssAtCheckpointKb - 1 : null;

    context.log(`emulator: latency at ${LATENCY_RATE} events/s for ${LATENCY_SECONDS * context.scale} s`);
    await createSubscription(emulator, 'bench latency', receiver.url, ['mfa.factor_added']);
    await receiver.reset();
    const latencyEvents = Math.round(LATENCY_RATE * LATENCY_SECONDS * context.scale);
    await openLoop(latencyEvents, LATENCY_RATE, () => trigger(emulator, 'mfa.factor_added', { bench_sent_at: performance.timeOrigin + performance.now() }));
    const latency = await receiver.waitFor(latencyEvents, 60_000);
    const p50 = quantile(latency.latencies, 0.5);
    const p99 = quantile(latency.latencies, 0.99);

    return [
      {
        name: '5 emulator: delivery throughput',
        measured:
          `${rate(throughput, 'deliveries')} (${done.count.toLocaleString('en-US')} in ${seconds.toFixed(1)} s, ${SUBSCRIPTIONS} subscriptions` +
          (cpuSeconds === null ? ')' : `; ${rate(done.count / cpuSeconds, 'deliveries')} per CPU-second of the emulator)`),
        target: '≥ 2,000 deliveries/s',
        pass: throughput >= 2000,
      },
      {
        name: `5 emulator: trigger → receiver latency at ${LATENCY_RATE}/s`,
        measured: `p99 ${ms(p99)}, p50 ${ms(p50)} (${latency.latencies.length.toLocaleString('en-US')} events, open loop)`,
        target: 'p99 < 50 ms',
        pass: p99 < 50,
      },
      {
        name: '5 emulator: memory over deliveries',
        measured:
          growth === null
            ? 'n/a'
            : `RSS ${mb(rssAtCheckpointKb! / 1024)} after ${checkpoint.toLocaleString('en-US')}, ${mb(rssAtEndKb! / 1024)} after ${done.count.toLocaleString('en-US')} (${formatGrowth(growth)}; --feed-limit ${FEED_LIMIT})`,
        target: 'flat (< 10% growth)',
        pass: growth === null ? null : growth < 0.1,
      },
    ];
  } finally {
    await emulator.stop();
    await receiver.close();
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
