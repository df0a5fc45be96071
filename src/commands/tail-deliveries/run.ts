import { access, constants, mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Context } from '../../cli/context.ts';
import { keepYoungGenerationSmall } from '../../cli/runtime-tuning.ts';
import type { DeliveryRecord } from '../../domain/contract.ts';
import { formatDuration } from '../../domain/duration.ts';
import { idTime } from '../../domain/ids.ts';
import { AlertError, UsageError } from '../../errors.ts';
import type { IO } from '../../output/io.ts';
import { CheckpointWriter, describeFsError, readCheckpoint, type ResumePoint } from './checkpoint.ts';
import { FeedReader, readFeed, readLatest, type DeliveriesSource, type FeedFilters, type FeedNotices } from './feed-follower.ts';
import type { TailOptions } from './index.ts';
import { lineStyleFor, pageFormatter } from './lines.ts';
import { formatPercent, StatsLine } from './stats.ts';
import { SlidingWindow } from './window.ts';

/** Per-attempt and per-call deadlines of a poll: a hung request is abandoned and asked again soon. */
const POLL_ATTEMPT_TIMEOUT_MS = 10_000;
const POLL_TOTAL_TIMEOUT_MS = 20_000;

export interface TailDependencies {
  /** Replaces the API client (tests). */
  source?: DeliveriesSource;
  stallAfterMs?: number;
  minIntervalMs?: number;
  maxIntervalMs?: number;
}

/** Where the printing pass starts and which of the attempts it reads are printed. */
interface Plan {
  start: ResumePoint;
  /** Attempts read first, newest ones (the default start); printed unless --limit 0. */
  latest: DeliveryRecord[];
  /** With a --since later than the window's start: attempts before it only feed the window. */
  printFromMs: number | undefined;
  /** The window also needs the attempts since its start that the printing pass will not read. */
  primeBelow: { id: string; inclusive: boolean } | undefined;
}

export async function run(options: TailOptions, context: Context, deps: TailDependencies = {}): Promise<number> {
  const { io } = context;
  keepYoungGenerationSmall();
  const startedAt = context.now();
  const windowMs = options.windowSeconds * 1000;
  const windowStartMs = startedAt - windowMs;
  const filters: FeedFilters = { outcome: options.outcome, eventType: options.eventType };
  const alerting = options.alertFailureRate !== undefined;
  const window = alerting || options.stats ? new SlidingWindow(windowMs) : undefined;

  const saved = options.checkpoint === undefined ? null : await readCheckpoint(options.checkpoint, options.subscriptionId);
  if (options.checkpoint !== undefined) await checkWritable(options.checkpoint);
  const checkpoints = options.checkpoint === undefined ? undefined : new CheckpointWriter(options.checkpoint, context.now);

  const source = deps.source ?? (await context.api());
  // A reader that went away (`| head`) ends the run like Ctrl-C does.
  const stop = new AbortController();
  const signal = AbortSignal.any([context.signal, stop.signal]);
  const detachStdout = io.onStdoutReaderGone(() => stop.abort());

  let printed = 0;
  const stats = new StatsLine(io, options.stats && window ? { window, printed: () => printed, now: context.now } : undefined);
  const reader = new FeedReader({
    source,
    subscriptionId: options.subscriptionId,
    filters,
    signal,
    notices: feedNotices(io, stats),
    budget: {
      timeoutMs: context.globals.timeoutMs ?? POLL_ATTEMPT_TIMEOUT_MS,
      totalTimeoutMs: Math.max(context.globals.timeoutMs ?? 0, POLL_TOTAL_TIMEOUT_MS),
    },
    giveUpWhenStalled: !options.follow,
    ...(deps.stallAfterMs !== undefined ? { stallAfterMs: deps.stallAfterMs } : {}),
    now: context.now,
  });
  const format = pageFormatter(lineStyleFor(io, context.globals.json), io);

  const feedWindow = (records: readonly DeliveryRecord[]) => {
    if (!window) return;
    const now = context.now();
    for (const record of records) window.add(Date.parse(record.attempted_at), record.latency_ms, record.outcome === 'failed', now);
  };

  /** Prints attempts, then moves the resume point (and the checkpoint) past everything read. */
  const handle = async (read: readonly DeliveryRecord[], toPrint: readonly DeliveryRecord[]) => {
    if (toPrint.length > 0) {
      const text = format(toPrint);
      stats.aroundOutput(() => io.write(text));
      printed += toPrint.length;
      await io.stdoutDrained();
    }
    feedWindow(read);
    if (read.length > 0) checkpoints?.save({ subscriptionId: options.subscriptionId, after: read[read.length - 1]!.id, since: null });
  };

  const judge = () => {
    if (!window || options.alertFailureRate === undefined) return;
    const verdict = judgeWindow(window, context.now(), options.alertFailureRate, options.minAttempts);
    if (verdict.alert) throw new AlertError(verdict.message, { hint: `alerting above ${formatPercent(options.alertFailureRate)} over ${formatDuration(options.windowSeconds)}` });
    if (!options.follow) stats.aroundNotice(() => io.info(verdict.message));
  };

  let failure: unknown;
  try {
    stats.start();
    const plan = await makePlan();
    if (plan === null) return 0;
    if (window && plan.primeBelow) {
      const bound = plan.primeBelow;
      const primed = await readFeed(reader, { after: null, since: new Date(windowStartMs).toISOString() }, {
        filters,
        follow: false,
        onPage: (records) => {
          const inside = records.filter((record) => (bound.inclusive ? record.id <= bound.id : record.id < bound.id));
          feedWindow(inside);
          return inside.length === records.length;
        },
      });
      if (!primed.completed) return 0;
    }
    if (plan.latest.length > 0) await handle(plan.latest, options.limit > 0 ? plan.latest : []);
    else if (saved === null && checkpoints) {
      // Nothing to resume after yet: the next run starts where this one would have printed from.
      const since = plan.printFromMs !== undefined ? new Date(plan.printFromMs).toISOString() : plan.start.since;
      checkpoints.save({ subscriptionId: options.subscriptionId, after: null, since });
    }

    if (options.follow && io.stderrIsTTY) io.info(io.err.dim(`following ${options.subscriptionId}; Ctrl-C to stop`));
    const printFrom = plan.printFromMs;
    await readFeed(reader, plan.start, {
      filters,
      follow: options.follow,
      ...(deps.minIntervalMs !== undefined ? { minIntervalMs: deps.minIntervalMs } : {}),
      ...(deps.maxIntervalMs !== undefined ? { maxIntervalMs: deps.maxIntervalMs } : {}),
      onPage: async (records) => {
        await handle(records, printFrom === undefined ? records : records.filter((record) => !(Date.parse(record.attempted_at) < printFrom)));
        return !stop.signal.aborted;
      },
      onCaughtUp: judge,
    });
    if (!options.follow && printed === 0 && io.stderrIsTTY) io.info('no delivery attempts to show');
    return 0;
  } catch (error) {
    failure = error;
    throw error;
  } finally {
    reader.close();
    detachStdout();
    stats.stop();
    await finishCheckpoints(checkpoints, context, failure);
  }

  async function makePlan(): Promise<Plan | null> {
    const plan = (start: ResumePoint, extra: Partial<Plan> = {}): Plan => ({ start, latest: [], printFromMs: undefined, primeBelow: undefined, ...extra });
    // Attempts completed before the window opened cannot be in it (ids carry their creation time).
    const windowMayHold = (id: string) => window !== undefined && !((idTime(id) ?? Number.POSITIVE_INFINITY) < windowStartMs);
    if (saved !== null && saved.after !== null) {
      const primeBelow = windowMayHold(saved.after) ? { id: saved.after, inclusive: true } : undefined;
      return plan({ after: saved.after, since: null }, { primeBelow });
    }
    const sinceMs = saved !== null ? (saved.since === null ? null : Date.parse(saved.since)) : sinceEpochMs(options, startedAt);
    if (saved !== null || sinceMs !== null) {
      if (sinceMs === null) return plan({ after: null, since: null });
      // One pass from the earlier of --since and the window's start serves both.
      const readFrom = window && windowStartMs < sinceMs ? windowStartMs : sinceMs;
      return plan({ after: null, since: new Date(readFrom).toISOString() }, { printFromMs: readFrom < sinceMs ? sinceMs : undefined });
    }
    const latest = await readLatest(reader, Math.max(1, options.limit), filters);
    if (latest === null) return null;
    if (latest.length === 0) return plan({ after: null, since: null });
    const newest = latest[latest.length - 1]!.id;
    // The window needs what came before the first printed attempt (or, printing none, up to the newest).
    const boundary = options.limit > 0 ? { id: latest[0]!.id, inclusive: false } : { id: newest, inclusive: true };
    return plan({ after: newest, since: null }, { latest, primeBelow: windowMayHold(boundary.id) ? boundary : undefined });
  }
}

function sinceEpochMs(options: TailOptions, startedAt: number): number | null {
  if (options.since === undefined) return null;
  return options.since.kind === 'ago' ? startedAt - options.since.seconds * 1000 : options.since.epochMs;
}

export interface Verdict {
  alert: boolean;
  message: string;
}

/** The failure rate over the window ending now against the threshold; never alerts below minAttempts. */
export function judgeWindow(window: SlidingWindow, nowMs: number, thresholdPercent: number, minAttempts: number): Verdict {
  const figures = window.figures(nowMs);
  const span = `the last ${formatDuration(window.windowMs / 1000)}`;
  if (figures.attempts < minAttempts) {
    return {
      alert: false,
      message: `${figures.attempts} attempt${figures.attempts === 1 ? '' : 's'} in ${span}, fewer than --min-attempts ${minAttempts}: not judged`,
    };
  }
  const percent = (figures.failureRate ?? 0) * 100;
  const figuresText = `failure rate ${formatPercent(percent)} (${figures.failures} of ${figures.attempts} attempts failed) in ${span}`;
  return percent > thresholdPercent
    ? { alert: true, message: `${figuresText} exceeds ${formatPercent(thresholdPercent)}` }
    : { alert: false, message: `${figuresText}, within ${formatPercent(thresholdPercent)}` };
}

function feedNotices(io: IO, stats: StatsLine): FeedNotices {
  return {
    unavailable: (reason) => stats.aroundNotice(() => io.warn(`feed unavailable, retrying (${reason})`)),
    recovered: (downForMs) => stats.aroundNotice(() => io.info(`feed available again after ${formatDuration(Math.max(1, Math.round(downForMs / 1000)))}`)),
    stalled: (silentForMs) =>
      stats.aroundNotice(() => io.warn(`feed stalled: no answer for ${formatDuration(Math.round(silentForMs / 1000))}; still trying`)),
  };
}

async function checkWritable(file: string): Promise<void> {
  const dir = dirname(file);
  try {
    await mkdir(dir, { recursive: true });
    await access(dir, constants.W_OK);
  } catch (error) {
    throw new UsageError(`cannot write the checkpoint ${file}: ${describeFsError(error)}`);
  }
}

async function finishCheckpoints(checkpoints: CheckpointWriter | undefined, context: Context, failure: unknown): Promise<void> {
  if (!checkpoints) return;
  try {
    // A second Ctrl-C must not cut the last save short: the next run would repeat a batch.
    await context.uninterruptible(() => checkpoints.flush());
  } catch (error) {
    // The run's own error (an alert) matters more; the checkpoint problem is still said.
    if (failure === undefined) throw error;
    context.io.warn((error as Error).message);
  }
}

