import { join } from 'node:path';
import { createSubscription, startBenchEmulator } from '../lib/emulator.ts';
import { benchEnv } from '../lib/env.ts';
import { closedLoop } from '../lib/load.ts';
import { interleaved, rssMedianMb, runMeasured, wallMedian } from '../lib/measure.ts';
import { profileArgs } from '../lib/profile.ts';
import { mb, ms, rate, type BenchContext, type Figure } from '../lib/report.ts';

// Target 4: `list --all --json` over 10,000 subscriptions (emulator --plan enterprise) with
// peak RSS under 120 MB.

const SUBSCRIPTIONS = 10_000;

export async function benchListing(context: BenchContext): Promise<Figure[]> {
  const count = Math.round(SUBSCRIPTIONS * context.scale);
  const emulator = await startBenchEmulator(context.bin, ['--allow-private-targets', '--plan', 'enterprise'], benchEnv(join(context.scratch, 'home-listing-emulator')));
  try {
    context.log(`listing: creating ${count.toLocaleString('en-US')} subscriptions`);
    await closedLoop(count, 16, (index) => createSubscription(emulator, `bench ${index}`, `http://127.0.0.1:9/hooks/${index}`, ['user.*']).then(() => undefined));
    const env = emulator.env(benchEnv(join(context.scratch, 'home-listing')));
    const argv = [process.execPath, context.bin, 'list', '--all', '--json'];

    // One run to check the output is the whole listing (and to cache the token).
    const chunks: Buffer[] = [];
    const check = await runMeasured({ argv, env, onStdout: (chunk) => chunks.push(chunk) }, context.scratch);
    const listed = (JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown[]).length;
    if (check.code !== 0 || listed !== count) throw new Error(`list --all --json exited with ${check.code} and listed ${listed} of ${count}`);

    const runs = Math.min(context.runs, 10);
    const [listAll] = await interleaved([{ label: 'list --all --json', argv, env }], runs, 1, context.scratch);
    if (context.profileDir !== null) {
      await runMeasured({ argv: [process.execPath, ...profileArgs(context.profileDir, 'list-all'), ...argv.slice(1)], env }, context.scratch);
    }
    const peak = rssMedianMb(listAll!);
    const wall = wallMedian(listAll!);
    return [
      {
        name: `4 listing: list --all --json, ${count.toLocaleString('en-US')} subscriptions`,
        measured: `peak RSS ${mb(peak)}; ${ms(wall)} per run (${rate(count / (wall / 1000), 'subscriptions')})`,
        target: 'peak RSS < 120 MB',
        pass: peak === null ? null : peak < 120,
      },
    ];
  } finally {
    await emulator.stop();
  }
}
