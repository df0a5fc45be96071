import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

// `--profile`: the CLI processes the bench starts run under `node --cpu-prof`, and the top
// self-time functions of each profile are summarised, to show what stands in the way of a
// missed target.

export function profileArgs(root: string | null, label: string): string[] {
  if (root === null) return [];
  const dir = join(root, label);
  mkdirSync(dir, { recursive: true });
  return ['--cpu-prof', '--cpu-prof-dir', dir];
}

interface CpuProfile {
  nodes: Array<{ id: number; callFrame: { functionName: string; url: string; lineNumber: number } }>;
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

/** Self time per function, summed over every profile in `dir`, the top `top` of them. */
export function summariseProfiles(dir: string, top = 12): string[] {
  let files: string[];
  try {
    files = readdirSync(dir).filter((name) => name.endsWith('.cpuprofile'));
  } catch {
    return [];
  }
  if (files.length === 0) return [];
  const selfUs = new Map<string, number>();
  let totalUs = 0;
  for (const file of files) {
    const profile = JSON.parse(readFileSync(join(dir, file), 'utf8')) as CpuProfile;
    const byId = new Map(profile.nodes.map((node) => [node.id, node.callFrame]));
    profile.samples.forEach((id, index) => {
      const frame = byId.get(id)!;
      const us = profile.timeDeltas[index] ?? 0;
      totalUs += us;
      const where = frame.url === '' ? '' : ` ${frame.url.replace(/^file:\/\/.*?\/(node_modules|dist|src)\//, '$1/')}:${frame.lineNumber + 1}`;
      const key = `${frame.functionName || '(anonymous)'}${where}`;
      selfUs.set(key, (selfUs.get(key) ?? 0) + us);
    });
  }
  return [...selfUs]
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([name, us]) => `${((us / totalUs) * 100).toFixed(1).padStart(5)}%  ${(us / 1000 / files.length).toFixed(0).padStart(6)} ms  ${name}`);
}
