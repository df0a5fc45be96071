import { spawn } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';

// Running a command as a child process and measuring it: wall time as seen from here, and,
// where /usr/bin/time exists, the child's CPU time and peak RSS from the kernel's rusage.
// Without it, peak RSS is read by polling /proc/<pid>/status (VmHWM).

const GNU_TIME = '/usr/bin/time';
export const HAVE_GNU_TIME = existsSync(GNU_TIME);

export interface RunSpec {
  argv: string[];
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Called with each stdout chunk; stdout is drained either way (a pipe, as in a pipeline). */
  onStdout?: (chunk: Buffer) => void;
  timeoutMs?: number;
}

export interface RunResult {
  wallMs: number;
  /** user + system CPU of the command; null without /usr/bin/time. */
  cpuMs: number | null;
  /** Peak resident set size in KiB. */
  maxRssKb: number | null;
  code: number | null;
  stdoutBytes: number;
  stderr: string;
}

let sequence = 0;

export function runMeasured(spec: RunSpec, scratchDir: string): Promise<RunResult> {
  const timeFile = join(scratchDir, `time-${process.pid}-${sequence++}.txt`);
  const argv = HAVE_GNU_TIME ? [GNU_TIME, '-f', '%U %S %M', '-o', timeFile, ...spec.argv] : spec.argv;
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    // Its own process group, so that a timeout ends the command and not only time(1).
    const child = spawn(argv[0]!, argv.slice(1), { env: spec.env ?? process.env, cwd: spec.cwd, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let stdoutBytes = 0;
    let stderr = '';
    let peakKb = 0;
    const poll = HAVE_GNU_TIME ? undefined : setInterval(() => (peakKb = Math.max(peakKb, readPeakRssKb(child.pid) ?? 0)), 10);
    child.stdout.on('data', (chunk: Buffer) => {
      stdoutBytes += chunk.length;
      spec.onStdout?.(chunk);
    });
    child.stderr.on('data', (chunk: Buffer) => {
      if (stderr.length < 64 * 1024) stderr += chunk.toString('utf8');
    });
    const timer = setTimeout(() => process.kill(-child.pid!, 'SIGKILL'), spec.timeoutMs ?? 120_000);
    child.on('error', reject);
    child.on('close', (code) => {
      const wallMs = Number(process.hrtime.bigint() - started) / 1e6;
      clearTimeout(timer);
      if (poll) clearInterval(poll);
      let cpuMs: number | null = null;
      let maxRssKb: number | null = peakKb > 0 ? peakKb : null;
      if (HAVE_GNU_TIME) {
        // The last line: time(1) puts "Command exited with non-zero status N" before it.
        const fields = readFileSync(timeFile, 'utf8').trim().split('\n').pop()!.split(' ').map(Number);
        rmSync(timeFile, { force: true });
        cpuMs = (fields[0]! + fields[1]!) * 1000;
        maxRssKb = fields[2]!;
      }
      resolve({ wallMs, cpuMs, maxRssKb, code, stdoutBytes, stderr });
    });
  });
}

/** VmHWM (peak RSS) of a running process, in KiB. */
export function readPeakRssKb(pid: number | undefined): number | null {
  return readStatusField(pid, 'VmHWM');
}

/** VmRSS (current RSS) of a running process, in KiB. */
export function readRssKb(pid: number | undefined): number | null {
  return readStatusField(pid, 'VmRSS');
}

/** user + system CPU seconds a running process has used so far (from /proc/<pid>/stat, 10 ms steps). */
export function readCpuSeconds(pid: number | undefined): number | null {
  if (pid === undefined) return null;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces) start at state, the third field.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND;
  } catch {
    return null;
  }
}

/** USER_HZ: 100 on every Linux architecture Node runs on. */
const CLOCK_TICKS_PER_SECOND = 100;

function readStatusField(pid: number | undefined, field: string): number | null {
  if (pid === undefined) return null;
  try {
    const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) : null;
  } catch {
    return null;
  }
}

export interface Series {
  label: string;
  results: RunResult[];
}

/**
 * Runs the commands in turn, A B C A B C ..., so that whatever else the machine is doing
 * hits every command alike; the first `warmup` rounds are not kept.
 */
export async function interleaved(specs: Array<{ label: string } & RunSpec>, rounds: number, warmup: number, scratchDir: string): Promise<Series[]> {
  const series: Series[] = specs.map((spec) => ({ label: spec.label, results: [] }));
  for (let round = 0; round < warmup + rounds; round++) {
    for (const [index, spec] of specs.entries()) {
      const result = await runMeasured(spec, scratchDir);
      if (result.code !== 0) throw new Error(`${spec.label} exited with ${result.code}: ${result.stderr.trim().split('\n').slice(-3).join(' | ')}`);
      if (round >= warmup) series[index]!.results.push(result);
    }
  }
  return series;
}

export function median(values: readonly number[]): number {
  return quantile(values, 0.5);
}

/** Nearest-rank quantile. */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank]!;
}

export function mean(values: readonly number[]): number {
  return values.length === 0 ? Number.NaN : values.reduce((sum, value) => sum + value, 0) / values.length;
}

export function wallMedian(series: Series): number {
  return median(series.results.map((r) => r.wallMs));
}

/** CPU time comes in 10 ms steps from rusage via time(1): the mean of many runs is the finer figure. */
export function cpuMean(series: Series): number | null {
  const values = series.results.map((r) => r.cpuMs).filter((v): v is number => v !== null);
  return values.length === 0 ? null : mean(values);
}

export function rssMedianMb(series: Series): number | null {
  const values = series.results.map((r) => r.maxRssKb).filter((v): v is number => v !== null);
  return values.length === 0 ? null : median(values) / 1024;
}
