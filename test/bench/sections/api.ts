import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { paths } from '../../../src/domain/contract.ts';
import { createSubscription, startBenchEmulator } from '../lib/emulator.ts';
import { benchEnv } from '../lib/env.ts';
import { cpuMean, interleaved, runMeasured, wallMedian } from '../lib/measure.ts';
import { profileArgs } from '../lib/profile.ts';
import { ms, ratio, type BenchContext, type Figure } from '../lib/report.ts';

// Target 2: `list --json` against the emulator holding 50 subscriptions, credentials from
// the environment and a cached token, within 2× of bare `node -e ''`; and its ratio to curl
// fetching the same page with the same kind of token.

const SUBSCRIPTIONS = 50;

export async function benchApi(context: BenchContext): Promise<Figure[]> {
  const home = join(context.scratch, 'home-api');
  const emulator = await startBenchEmulator(context.bin, ['--allow-private-targets'], benchEnv(join(context.scratch, 'home-api-emulator')));
  try {
    for (let index = 0; index < SUBSCRIPTIONS; index++) {
      await createSubscription(emulator, `bench ${index}`, `http://127.0.0.1:9/hooks/${index}`, ['user.*']);
    }
    const env = emulator.env(benchEnv(home));
    // The first run fetches a token and caches it; every measured run then reads the cache.
    const first = await runMeasured({ argv: [process.execPath, context.bin, 'list', '--json'], env }, context.scratch);
    if (first.code !== 0) throw new Error(`list --json exited with ${first.code}: ${first.stderr.trim()}`);

    // curl gets the token from a header file, never from its argv.
    const headerFile = join(context.scratch, 'curl-headers');
    writeFileSync(headerFile, `Authorization: Bearer ${await emulator.token()}\n`, { mode: 0o600 });
    const pageUrl = `${emulator.tenantUrl}${paths.subscriptions()}?limit=${SUBSCRIPTIONS}`;
    const curl = ['curl', '-sS', '--fail', '-H', `@${headerFile}`, pageUrl];
    const haveCurl = hasCurl();

    const figures: Figure[] = [];
    for (const [index, node] of [process.execPath, ...context.nodes].entries()) {
      const version = execFileSync(node, ['-p', 'process.versions.node'], { encoding: 'utf8' }).trim();
      context.log(`list --json on Node ${version}`);
      const withCurl = index === 0 && haveCurl;
      const [bare, list, curlRun] = await interleaved(
        [
          { label: "node -e ''", argv: [node, '-e', ''], env },
          { label: 'list --json', argv: [node, context.bin, 'list', '--json'], env },
          ...(withCurl ? [{ label: 'curl', argv: curl, env }] : []),
        ],
        context.runs,
        context.warmup,
        context.scratch,
      );
      if (context.profileDir !== null) {
        await runMeasured({ argv: [node, ...profileArgs(context.profileDir, `list-json-node${version}`), context.bin, 'list', '--json'], env }, context.scratch);
      }
      const wall = wallMedian(list!);
      const base = wallMedian(bare!);
      const cpu = cpuMean(list!);
      const cpuBase = cpuMean(bare!);
      figures.push({
        name: `2 API: list --json, ${SUBSCRIPTIONS} subscriptions, cached token (Node ${version})`,
        measured:
          `${ratio(wall, base)} node -e '' (${ms(wall)} vs ${ms(base)})` +
          (cpu !== null && cpuBase !== null ? `; CPU ${ratio(cpu, cpuBase)} (${ms(cpu)} vs ${ms(cpuBase)})` : ''),
        target: "≤ 2.00× node -e ''",
        pass: wall / base <= 2,
      });
      if (curlRun) {
        const curlWall = wallMedian(curlRun);
        figures.push({
          name: `2 API: list --json vs curl, same page (Node ${version})`,
          measured: `${ratio(wall, curlWall)} curl (${ms(wall)} vs ${ms(curlWall)})`,
          target: 'reported',
          pass: null,
        });
      }
    }
    return figures;
  } finally {
    await emulator.stop();
  }
}

function hasCurl(): boolean {
  try {
    execFileSync('curl', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
