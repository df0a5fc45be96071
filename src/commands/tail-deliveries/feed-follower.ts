// Reading a subscription's delivery feed without ever losing the place: every request
// resumes after the last delivery id handed out, so a failed, rate-limited or cut-off
// request is simply asked again, with neither a gap nor a duplicate. Transient failures
// back off with jitter and are announced once per outage; a feed silent for a minute is
// reported as stalled.

import { setTimeout as delay } from 'node:timers/promises';
import type { CallBudget, Page } from '../../api/client.ts';
import type { DeliveriesQuery, DeliveryOutcome, DeliveryRecord } from '../../domain/contract.ts';
import { LIST_LIMIT } from '../../domain/contract.ts';
import { backoffMs } from '../../domain/retry-schedule.ts';
import { ApiError, InterruptedError, UnavailableError } from '../../errors.ts';
import type { ResumePoint } from './checkpoint.ts';

export const STALL_AFTER_MS = 60_000;
export const POLL_MIN_MS = 250;
export const POLL_MAX_MS = 5_000;
const BACKOFF_BASE_MS = 500;
const BACKOFF_CAP_MS = 10_000;

/** The one API call the follower makes (ApiClient implements it; tests use a fake). */
export interface DeliveriesSource {
  listDeliveries(id: string, query: DeliveriesQuery, budget?: CallBudget): Promise<Page<DeliveryRecord>>;
}

export interface FeedFilters {
  outcome?: DeliveryOutcome | undefined;
  eventType?: string | undefined;
}

export interface FeedNotices {
  /** The first transient failure of an outage. */
  unavailable(reason: string): void;
  /** The first answer after an outage. */
  recovered(downForMs: number): void;
  /** No answer for `silentForMs` (once per outage). */
  stalled(silentForMs: number): void;
}

export type Sleep = (ms: number, signal: AbortSignal) => Promise<void>;

export interface FeedReaderOptions {
  source: DeliveriesSource;
  subscriptionId: string;
  filters?: FeedFilters;
  signal: AbortSignal;
  notices: FeedNotices;
  /** Deadlines for each call, so one poll cannot hang for the client's default minute. */
  budget?: CallBudget;
  /** Stop with UnavailableError once stalled instead of trying on (runs that must end: --no-follow). */
  giveUpWhenStalled?: boolean;
  stallAfterMs?: number;
  backoffBaseMs?: number;
  backoffCapMs?: number;
  now?: () => number;
  random?: () => number;
  sleep?: Sleep;
}

/** Waits ms, or less when the signal fires; never throws for the abort. */
export const abortableSleep: Sleep = async (ms, signal) => {
  if (signal.aborted) return;
  try {
    await delay(ms, undefined, { signal });
  } catch (error) {
    if (!signal.aborted) throw error;
  }
};

/** Worth asking again: the client's own retries ran out on a 5xx, a 429, or the network. */
export function isTransient(error: unknown): boolean {
  if (error instanceof ApiError) return error.status === 429 || error.status >= 500;
  return error instanceof UnavailableError;
}

/** One page at a time, retrying transient failures for as long as it takes (or until interrupted). */
export class FeedReader {
  readonly subscriptionId: string;
  /** Fires on the caller's signal or on close(). */
  readonly signal: AbortSignal;
  readonly #options: FeedReaderOptions;
  readonly #closed = new AbortController();
  readonly #now: () => number;
  readonly #random: () => number;
  readonly #sleep: Sleep;
  readonly #stallAfterMs: number;
  #downSince: number | undefined;
  #stallReported = false;
  #watchdog: ReturnType<typeof setTimeout> | undefined;

  constructor(options: FeedReaderOptions) {
    this.#options = options;
    this.subscriptionId = options.subscriptionId;
    this.signal = AbortSignal.any([options.signal, this.#closed.signal]);
    this.#now = options.now ?? Date.now;
    this.#random = options.random ?? Math.random;
    this.#sleep = options.sleep ?? abortableSleep;
    this.#stallAfterMs = options.stallAfterMs ?? STALL_AFTER_MS;
  }

  get sleep(): Sleep {
    return this.#sleep;
  }

  /** The page for `query`, or null when interrupted. Non-transient errors (401, 403, 404, 400) are thrown. */
  async fetch(query: DeliveriesQuery): Promise<Page<DeliveryRecord> | null> {
    const { source, budget } = this.#options;
    // Silence is measured from this request on: time spent writing pages to a slow reader of
    // stdout, or sleeping between idle polls, is not the feed's fault.
    const startedAt = this.#now();
    let failures = 0;
    this.#armWatchdog(startedAt);
    try {
      for (;;) {
        if (this.signal.aborted) return null;
        try {
          const page = await source.listDeliveries(this.subscriptionId, query, budget);
          this.#answered();
          return page;
        } catch (error) {
          if (this.signal.aborted || error instanceof InterruptedError) return null;
          if (!isTransient(error)) throw error;
          failures += 1;
          this.#failed(error, startedAt);
          const silentFor = this.#now() - startedAt;
          if (this.#options.giveUpWhenStalled && silentFor >= this.#stallAfterMs) {
            throw new UnavailableError(`the delivery feed has not answered for ${Math.round(silentFor / 1000)} s; giving up`, {
              cause: error,
              hint: 'run again later: with --checkpoint the next run starts where this one stopped',
            });
          }
          const backoff = backoffMs(failures, this.#options.backoffBaseMs ?? BACKOFF_BASE_MS, this.#options.backoffCapMs ?? BACKOFF_CAP_MS, this.#random);
          const asked = error instanceof ApiError && error.retryAfterSeconds !== undefined ? error.retryAfterSeconds * 1000 : 0;
          // A run that must end cannot sleep through a Retry-After longer than it would wait at all.
          if (this.#options.giveUpWhenStalled && silentFor + asked >= this.#stallAfterMs) {
            throw new UnavailableError(`the API asks to wait ${Math.round(asked / 1000)} s before reading the delivery feed again; giving up`, {
              cause: error,
              hint: 'run again later: with --checkpoint the next run starts where this one stopped',
            });
          }
          await this.#sleep(Math.max(backoff, asked), this.signal);
        }
      }
    } finally {
      this.#disarmWatchdog();
    }
  }

  /** Ends any fetch still retrying and stops the stall timer. */
  close(): void {
    this.#closed.abort();
    this.#disarmWatchdog();
  }

  /** The outage is counted from the request that failed, as the stall notice counts it. */
  #failed(error: unknown, silentSince: number): void {
    if (this.#downSince !== undefined) return;
    this.#downSince = silentSince;
    this.#options.notices.unavailable(oneLine(error instanceof Error ? error.message : String(error)));
  }

  #answered(): void {
    if (this.#downSince !== undefined) this.#options.notices.recovered(this.#now() - this.#downSince);
    this.#downSince = undefined;
    this.#stallReported = false;
  }

  #armWatchdog(startedAt: number): void {
    if (this.#stallReported) return;
    this.#watchdog = setTimeout(() => {
      this.#watchdog = undefined;
      this.#stallReported = true;
      this.#downSince ??= startedAt;
      this.#options.notices.stalled(this.#now() - startedAt);
    }, this.#stallAfterMs);
    this.#watchdog.unref?.();
  }

  #disarmWatchdog(): void {
    if (this.#watchdog === undefined) return;
    clearTimeout(this.#watchdog);
    this.#watchdog = undefined;
  }
}

export interface ReadOptions {
  filters?: FeedFilters;
  pageSize?: number;
  /** Keep polling once caught up, until the signal fires. */
  follow: boolean;
  minIntervalMs?: number;
  maxIntervalMs?: number;
  /**
   * Gets each page, in order, before the next page is handed out; returning false stops the
   * read there (the resume point then stays where it was before that page).
   */
  onPage(records: DeliveryRecord[]): Promise<boolean | void> | boolean | void;
  /** Called whenever a poll finds nothing more to read (may throw to end the run). */
  onCaughtUp?(): Promise<void> | void;
}

export interface ReadResult {
  resume: ResumePoint;
  /** False when the read ended because the signal fired. */
  completed: boolean;
}

/**
 * Reads the feed oldest first from `start`: pages back to back while the feed has more,
 * then (when following) polls, fast while attempts arrive and backing off to
 * maxIntervalMs while idle. The next page is requested while the current one is handled.
 */
export async function readFeed(reader: FeedReader, start: ResumePoint, options: ReadOptions): Promise<ReadResult> {
  const pageSize = options.pageSize ?? LIST_LIMIT.max;
  const minInterval = options.minIntervalMs ?? POLL_MIN_MS;
  const maxInterval = options.maxIntervalMs ?? POLL_MAX_MS;
  let resume: ResumePoint = { ...start };
  let interval = minInterval;
  const queryAfter = (point: ResumePoint): DeliveriesQuery => ({
    ...filterQuery(options.filters),
    order: 'asc',
    limit: pageSize,
    ...(point.after !== null ? { after: point.after } : point.since !== null ? { since: point.since } : {}),
  });

  // Settled promises: a prefetched page that fails while the current one is handled must not
  // be an unhandled rejection; its error is raised when the page is taken.
  let pending = settle(reader.fetch(queryAfter(resume)));
  for (;;) {
    const outcome = await pending;
    if (!outcome.ok) throw outcome.error;
    const page = outcome.value;
    if (page === null) return { resume, completed: false };
    // A server that repeats what it already handed out must not make us print it twice.
    const fresh = resume.after === null ? page.items : page.items.filter((record) => record.id > resume.after!);
    const more = page.nextCursor !== null && page.items.length > 0;
    const next: ResumePoint = fresh.length > 0 ? { after: fresh[fresh.length - 1]!.id, since: null } : resume;
    if (more) pending = settle(reader.fetch(queryAfter(next)));
    if (fresh.length > 0) {
      const keepGoing = await options.onPage(fresh);
      if (keepGoing === false) return { resume, completed: true };
      resume = next;
      interval = minInterval;
    }
    if (more) continue;
    await options.onCaughtUp?.();
    if (!options.follow) return { resume, completed: true };
    if (fresh.length === 0) interval = Math.min(maxInterval, interval * 2);
    await reader.sleep(interval, reader.signal);
    if (reader.signal.aborted) return { resume, completed: false };
    pending = settle(reader.fetch(queryAfter(resume)));
  }
}

type Settled<T> = { ok: true; value: T } | { ok: false; error: unknown };

function settle<T>(promise: Promise<T>): Promise<Settled<T>> {
  return promise.then(
    (value) => ({ ok: true, value }),
    (error: unknown) => ({ ok: false, error }),
  );
}

/** The newest `count` (at least 1) attempts, oldest first; null when interrupted. */
export async function readLatest(reader: FeedReader, count: number, filters?: FeedFilters): Promise<DeliveryRecord[] | null> {
  const newestFirst: DeliveryRecord[] = [];
  let before: string | undefined;
  while (newestFirst.length < count) {
    const want = Math.min(LIST_LIMIT.max, count - newestFirst.length);
    // In newest-first order `after` continues with older attempts.
    const page = await reader.fetch({ ...filterQuery(filters), order: 'desc', limit: want, ...(before !== undefined ? { after: before } : {}) });
    if (page === null) return null;
    const fresh = before === undefined ? page.items : page.items.filter((record) => record.id < before!);
    newestFirst.push(...fresh.slice(0, count - newestFirst.length));
    if (fresh.length === 0 || page.nextCursor === null) break;
    before = newestFirst[newestFirst.length - 1]!.id;
  }
  return newestFirst.reverse();
}

function filterQuery(filters: FeedFilters | undefined): DeliveriesQuery {
  return {
    ...(filters?.outcome !== undefined ? { outcome: filters.outcome } : {}),
    ...(filters?.eventType !== undefined ? { event_type: filters.eventType } : {}),
  };
}

function oneLine(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > 200 ? `${flat.slice(0, 197)}...` : flat;
}
