import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { benchEnv } from '../lib/env.ts';
import { cpuMean, interleaved, runMeasured, wallMedian, type Series } from '../lib/measure.ts';
import { profileArgs } from '../lib/profile.ts';
import { ms, ratio, type BenchContext, type Figure } from '../lib/report.ts';

// Target 1: `--version` within 1.25× and `--help` within 1.4× of bare `node -e ''`, each
// run the same way (same Node, same environment, stdout to a pipe), in turn.

export async function benchStartup(context: BenchContext): Promise<Figure[]> {
  const env = benchEnv(join(context.scratch, 'home-startup'));
  const figures: Figure[] = [];
  for (const node of [process.execPath, ...context.nodes]) {
    const version = execFileSync(node, ['-p', 'process.versions.node'], { encoding: 'utf8' }).trim();
    context.log(`start-up on Node ${version}`);
    const [bare, versionRun, helpRun] = await interleaved(
      [
        { label: "node -e ''", argv: [node, '-e', ''], env },
        { label: '--version', argv: [node, context.bin, '--version'], env },
        { label: '--help', argv: [node, context.bin, '--help'], env },
      ],
      context.runs,
      context.warmup,
      context.scratch,
    );
    if (context.profileDir !== null) {
      for (const flag of ['--version', '--help']) {
        for (let round = 0; round < 5; round++) {
          await runMeasured({ argv: [node, ...profileArgs(context.profileDir, `startup${flag}-node${version}`), context.bin, flag], env }, context.scratch);
        }
      }
    }
    figures.push(startupFigure(`1 start-up: --version (Node ${version})`, versionRun!, bare!, 1.25));
    figures.push(startupFigure(`1 start-up: --help (Node ${version})`, helpRun!, bare!, 1.4));
  }
  return figures;
}

function startupFigure(name: string, run: Series, bare: Series, limit: number): Figure {
  const wall = wallMedian(run);
  const base = wallMedian(bare);
  const cpu = cpuMean(run);
  const cpuBase = cpuMean(bare);
  const cpuNote = cpu !== null && cpuBase !== null ? `; CPU ${ratio(cpu, cpuBase)} (${ms(cpu)} vs ${ms(cpuBase)})` : '';
  return {
    name,
    measured: `${ratio(wall, base)} (${ms(wall)} vs ${ms(base)})${cpuNote}`,
    target: `≤ ${limit.toFixed(2)}× node -e ''`,
    pass: wall / base <= limit,
  };
}
