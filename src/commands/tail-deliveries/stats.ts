// --stats: a summary on stderr. At a terminal it is one line redrawn in place (at most four
// times a second) and cleared while attempts or notices are printed, so it never tears
// through them; without a terminal it is a plain line now and then, and one at the end.

import { formatDuration } from '../../domain/duration.ts';
import type { IO } from '../../output/io.ts';
import type { SlidingWindow, WindowFigures } from './window.ts';

const REDRAW_MS = 250;
const PLAIN_EVERY_MS = 60_000;
const CLEAR_LINE = '\r\u001b[2K';

export interface StatsSource {
  window: SlidingWindow;
  /** Attempts printed since the run started. */
  printed(): number;
  now(): number;
}

export class StatsLine {
  readonly #io: IO;
  readonly #source: StatsSource | undefined;
  readonly #live: boolean;
  /** stdout and stderr share the terminal: clear the line before printing attempts. */
  readonly #sharesTerminal: boolean;
  #timer: ReturnType<typeof setInterval> | undefined;
  #drawn = false;
  #lastDrawAt = 0;
  #lastText = '';

  /** `source` undefined: no --stats; every method is then a plain pass-through. */
  constructor(io: IO, source: StatsSource | undefined) {
    this.#io = io;
    this.#source = source;
    this.#live = source !== undefined && io.stderrIsTTY;
    this.#sharesTerminal = this.#live && io.stdoutIsTTY;
  }

  start(): void {
    if (!this.#source) return;
    this.#timer = setInterval(() => this.#tick(), this.#live ? REDRAW_MS : PLAIN_EVERY_MS);
    this.#timer.unref?.();
    if (this.#live) this.#draw();
  }

  /** Runs `print` (which writes attempts to stdout) without tearing the live line. */
  aroundOutput(print: () => void): void {
    if (!this.#sharesTerminal) {
      print();
      return;
    }
    this.#clear();
    print();
    if (this.#source && this.#source.now() - this.#lastDrawAt >= REDRAW_MS) this.#draw();
  }

  /** Runs `write` (which writes a notice to stderr) on a line of its own. */
  aroundNotice(write: () => void): void {
    if (!this.#live) {
      write();
      return;
    }
    this.#clear();
    write();
    this.#draw();
  }

  /** Stops redrawing; the final summary stays on screen (or is printed once without a terminal). */
  stop(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    if (!this.#source) return;
    if (this.#live) this.#clear();
    this.#io.stderr.write(`${this.#text()}\n`);
  }

  #tick(): void {
    if (this.#live) {
      this.#draw();
      return;
    }
    this.#io.stderr.write(`${this.#text()}\n`);
  }

  #draw(): void {
    const text = this.#text();
    this.#lastDrawAt = this.#source!.now();
    if (this.#drawn && text === this.#lastText) return;
    const columns = this.#io.stderr.columns;
    // One character short of the width, or the terminal wraps and \r no longer returns to it.
    const width = columns !== undefined && columns > 20 ? columns - 1 : 99;
    this.#io.stderr.write(`${CLEAR_LINE}${text.length > width ? text.slice(0, width) : text}`);
    this.#drawn = true;
    this.#lastText = text;
  }

  #clear(): void {
    if (!this.#drawn) return;
    this.#io.stderr.write(CLEAR_LINE);
    this.#drawn = false;
  }

  #text(): string {
    const source = this.#source!;
    return summarize(source.printed(), source.window.figures(source.now()), source.window.windowMs);
  }
}

export function summarize(printed: number, figures: WindowFigures, windowMs: number): string {
  const rate = figures.failureRate === null ? '-' : formatPercent(figures.failureRate * 100);
  const latency = (value: number | null) => (value === null ? '-' : `${value} ms`);
  const capped = figures.overflowed > 0 ? ` (newest ${figures.attempts})` : '';
  return (
    `${printed} printed · last ${formatDuration(windowMs / 1000)}: ${figures.attempts} attempts${capped}, ` +
    `${figures.failures} failed (${rate}) · p50 ${latency(figures.p50)} · p95 ${latency(figures.p95)}`
  );
}

export function formatPercent(percent: number): string {
  return `${percent.toFixed(1)}%`;
}
