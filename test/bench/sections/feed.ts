import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createSubscription, feedLength, startBenchEmulator, trigger, type BenchEmulator } from '../lib/emulator.ts';
import { benchEnv } from '../lib/env.ts';
import { closedLoop } from '../lib/load.ts';
import { cpuMean, interleaved, median, rssMedianMb, runMeasured, wallMedian, type Series } from '../lib/measure.ts';
import { profileArgs } from '../lib/profile.ts';
import { startBenchReceiver } from '../lib/receiver.ts';
import { formatGrowth, mb, ms, rate, type BenchContext, type Figure } from '../lib/report.ts';

// Target 3: `tail-deliveries <id> --no-follow --since 24h --json` over 100,000 delivery
// records at >= 50,000 records/s, peak RSS < 120 MB, and < 10% more RSS than over 10,000.
// The feeds are filled by real deliveries: events triggered through the emulator's API and
// delivered to a loopback receiver answering 202.

const SMALL = 10_000;
const LARGE = 100_000;
const WARMUP = 1;

export async function benchFeed(context: BenchContext): Promise<Figure[]> {
  const small = Math.round(SMALL * context.scale);
  const large = Math.round(LARGE * context.scale);
  const receiver = await startBenchReceiver();
  const emulator = await startBenchEmulator(context.bin, ['--allow-private-targets'], benchEnv(join(context.scratch, 'home-feed-emulator')));
  try {
    const smallFeed = await createSubscription(emulator, 'feed small', receiver.url, ['user.signed_up']);
    const largeFeed = await createSubscription(emulator, 'feed large', receiver.url, ['user.signed_in']);
    context.log(`feed: filling ${small.toLocaleString('en-US')} + ${large.toLocaleString('en-US')} records by real deliveries`);
    const started = performance.timeOrigin + performance.now();
    await closedLoop(small, 16, () => trigger(emulator, 'user.signed_up'));
    await closedLoop(large, 16, () => trigger(emulator, 'user.signed_in'));
    const delivered = await receiver.waitFor(small + large, 900_000);
    const seedSeconds = (delivered.lastAt - started) / 1000;
    await waitForFeed(emulator, smallFeed.id, small);
    await waitForFeed(emulator, largeFeed.id, large);

    const env = emulator.env(benchEnv(join(context.scratch, 'home-feed')));
    const tail = (id: string, nodeFlags: string[] = []) => [process.execPath, ...nodeFlags, context.bin, 'tail-deliveries', id, '--no-follow', '--since', '24h', '--json'];
    const counts = new Map<string, number>();
    const countLines = (label: string) => (chunk: Buffer) => {
      let lines = 0;
      for (let at = chunk.indexOf(10); at !== -1; at = chunk.indexOf(10, at + 1)) lines++;
      counts.set(label, (counts.get(label) ?? 0) + lines);
    };
    // Ten rounds: enough for a median, and each round over the large feed takes seconds.
    const runs = Math.min(context.runs, 10);
    const [smallRun, largeRun] = await interleaved(
      [
        { label: 'small', argv: tail(smallFeed.id), env, onStdout: countLines('small') },
        { label: 'large', argv: tail(largeFeed.id), env, onStdout: countLines('large') },
      ],
      runs,
      WARMUP,
      context.scratch,
    );
    const linesPerRun = (counts.get('large') ?? 0) / (runs + WARMUP);
    if (Math.round(linesPerRun) !== large) throw new Error(`tail printed ${linesPerRun} records per run, expected ${large}`);

    if (context.profileDir !== null) {
      await runMeasured({ argv: tail(largeFeed.id, profileArgs(context.profileDir, 'tail-deliveries')), env }, context.scratch);
    }
    // Diagnostic: the heap still in use after a full collection at exit. If it is the same
    // over both feeds, the RSS growth above is garbage not yet collected, not records kept.
    const liveHeap = ['-r', fileURLToPath(new URL('../lib/live-heap-at-exit.cjs', import.meta.url))];
    const [smallLive, largeLive] = await interleaved(
      [
        { label: 'small, live heap', argv: tail(smallFeed.id, liveHeap), env },
        { label: 'large, live heap', argv: tail(largeFeed.id, liveHeap), env },
      ],
      3,
      0,
      context.scratch,
    );
    const liveLarge = liveHeapMb(largeLive!);
    const liveSmall = liveHeapMb(smallLive!);

    const wall = wallMedian(largeRun!);
    const recordsPerSecond = large / (wall / 1000);
    const cpu = cpuMean(largeRun!);
    const peakLarge = rssMedianMb(largeRun!);
    const peakSmall = rssMedianMb(smallRun!);
    const growth = peakLarge !== null && peakSmall !== null ? peakLarge / peakSmall - 1 : null;
    return [
      {
        name: `3 feed: tail-deliveries --no-follow --json, ${large.toLocaleString('en-US')} records`,
        measured: `${rate(recordsPerSecond, 'records')} (${ms(wall)} per run, start-up included; ${small.toLocaleString('en-US')} records in ${ms(wallMedian(smallRun!))}` +
          (cpu === null ? ')' : `; ${rate(large / (cpu / 1000), 'records')} per CPU-second of tail-deliveries)`),
        target: '≥ 50,000 records/s',
        pass: recordsPerSecond >= 50_000,
      },
      {
        name: '3 feed: peak RSS of tail-deliveries',
        measured: `${mb(peakLarge)} over ${large.toLocaleString('en-US')} records, ${mb(peakSmall)} over ${small.toLocaleString('en-US')}${growth === null ? '' : ` (${formatGrowth(growth)})`}`,
        target: '< 120 MB, < 10% growth',
        pass: peakLarge === null || growth === null ? null : peakLarge < 120 && growth < 0.1,
      },
      {
        name: '3 feed: live heap after a full GC at exit (diagnostic)',
        measured: `${mb(liveLarge)} over ${large.toLocaleString('en-US')} records, ${mb(liveSmall)} over ${small.toLocaleString('en-US')}${liveLarge !== null && liveSmall !== null ? ` (${formatGrowth(liveLarge / liveSmall - 1)})` : ''}`,
        target: 'reported',
        pass: null,
      },
      {
        name: '3 feed: filling the feeds (real deliveries)',
        measured: `${rate((small + large) / seedSeconds, 'deliveries')} (${(small + large).toLocaleString('en-US')} events, 1 subscription each, in ${seedSeconds.toFixed(1)} s)`,
        target: 'reported',
        pass: null,
      },
    ];
  } finally {
    await emulator.stop();
    await receiver.close();
  }
}

/** Median of what live-heap-at-exit.cjs printed, in MB. */
function liveHeapMb(series: Series): number | null {
  const values = series.results.map((run) => /live-heap-bytes (\d+)/.exec(run.stderr)?.[1]).filter((value) => value !== undefined).map(Number);
  return values.length === 0 ? null : median(values) / (1024 * 1024);
}

/** The receiver counts a delivery before the emulator has recorded its outcome: wait for the feed. */
async function waitForFeed(emulator: BenchEmulator, subscriptionId: string, expected: number): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const length = await feedLength(emulator, subscriptionId);
    if (length >= expected) return;
    if (Date.now() > deadline) throw new Error(`feed of ${subscriptionId} holds ${length} records, expected ${expected}`);
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}
