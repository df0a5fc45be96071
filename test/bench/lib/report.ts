// What each section hands back, and the markdown the bench prints at the end.

export interface Figure {
  /** The target number and a short name, e.g. "1 start-up: --version". */
  name: string;
  /** What was measured, with the absolute numbers behind a ratio. */
  measured: string;
  /** The target, e.g. "≤ 1.25× node -e ''". */
  target: string;
  /** null: reported for information, no target. */
  pass: boolean | null;
}

export interface BenchContext {
  /** bin/intelliauth-webhooks.cjs of the snapshot the bench runs. */
  bin: string;
  /** Scratch directory (homes, time(1) output). */
  scratch: string;
  /** Measured rounds for timed commands (after `warmup` rounds). */
  runs: number;
  warmup: number;
  /** Scale for record and delivery counts (1 = the numbers). */
  scale: number;
  /** Extra Node binaries to measure start-up with. */
  nodes: string[];
  /** With --profile: where the CLI processes write their CPU profiles (null: no profiling). */
  profileDir: string | null;
  log(line: string): void;
}

export function ratio(value: number, base: number): string {
  return `${(value / base).toFixed(2)}×`;
}

export function ms(value: number): string {
  return `${value < 10 ? value.toFixed(1) : Math.round(value)} ms`;
}

export function mb(value: number | null): string {
  return value === null ? 'n/a' : `${value.toFixed(1)} MB`;
}

export function rate(value: number, unit: string): string {
  return `${Math.round(value).toLocaleString('en-US')} ${unit}/s`;
}

export function verdict(pass: boolean | null): string {
  if (pass === null) return 'info';
  return pass ? 'PASS' : 'FAIL';
}

export function markdownTable(figures: readonly Figure[]): string {
  const rows = figures.map((figure) => `| ${figure.name} | ${figure.measured} | ${figure.target} | ${verdict(figure.pass)} |`);
  return ['| Figure | Measured | Target | Result |', '|---|---|---|---|', ...rows].join('\n');
}

/** A relative change, e.g. +7.2%. */
export function formatGrowth(growth: number): string {
  return `${growth >= 0 ? '+' : ''}${(growth * 100).toFixed(1)}%`;
}
