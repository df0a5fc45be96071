import { Pool } from 'undici';
import type { ForwardRecord } from './event-log.ts';

// Replays accepted deliveries to the user's own app, off the receiver's answer path: the
// platform already has its 200 by the time a job gets here. A failed forward (non-2xx or
// no answer) is retried with backoff. Jobs held (queued, in flight, or waiting to retry)
// are bounded in number and bytes, so an app that is down cannot grow memory without bound:
// beyond that, new jobs are dropped and counted.

export interface ForwardJob {
  eventId: string | null;
  body: Buffer;
  /** The headers to replay, lower-case names. */
  headers: Record<string, string>;
}

export interface ForwarderOptions {
  url: URL;
  onRecord: (record: ForwardRecord) => void;
  /** Called when a job is dropped or given up on (for example, so a redelivery is not treated as a duplicate). */
  onLost?: (job: ForwardJob) => void;
  /** Attempts in all, the first included. */
  maxAttempts?: number;
  /** Delay before attempt n+1 after attempt n failed. */
  backoffMs?: (failedAttempt: number) => number;
  concurrency?: number;
  maxHeldJobs?: number;
  maxHeldBytes?: number;
  /** Per attempt: time allowed for the answer's headers, and then for its body. */
  timeoutMs?: number;
  now?: () => number;
}

export interface ForwarderStats {
  /** Jobs the app answered 2xx to. */
  delivered: number;
  /** Jobs given up on after every attempt failed (or abandoned at shutdown). */
  failed: number;
  /** Jobs dropped because too many were held. */
  dropped: number;
  /** Attempts after the first. */
  retries: number;
}

interface HeldJob {
  job: ForwardJob;
  attempt: number;
}

export const DEFAULT_FORWARD_ATTEMPTS = 4;

/** 250 ms, 500 ms, 1 s, ... with ±20% jitter so retries of a burst do not arrive together. */
export function defaultBackoff(failedAttempt: number): number {
  const base = 250 * 2 ** (failedAttempt - 1);
  return Math.round(base * (0.8 + Math.random() * 0.4));
}

export class Forwarder {
  readonly stats: ForwarderStats = { delivered: 0, failed: 0, dropped: 0, retries: 0 };
  private readonly pool: Pool;
  private readonly ready: HeldJob[] = [];
  private readonly retryTimers = new Map<NodeJS.Timeout, HeldJob>();
  private active = 0;
  private readonly inFlight = new Set<Promise<void>>();
  private heldJobs = 0;
  private heldBytes = 0;
  private readonly stopping = new AbortController();
  private idleWaiters: Array<() => void> = [];
  private readonly path: string;
  private readonly maxAttempts: number;
  private readonly backoff: (failedAttempt: number) => number;
  private readonly concurrency: number;
  private readonly maxHeldJobs: number;
  private readonly maxHeldBytes: number;
  private readonly now: () => number;

  constructor(private readonly options: ForwarderOptions) {
    this.path = `${options.url.pathname}${options.url.search}`;
    this.maxAttempts = options.maxAttempts ?? DEFAULT_FORWARD_ATTEMPTS;
    this.backoff = options.backoffMs ?? defaultBackoff;
    this.concurrency = options.concurrency ?? 16;
    this.maxHeldJobs = options.maxHeldJobs ?? 10_000;
    this.maxHeldBytes = options.maxHeldBytes ?? 64 * 1024 * 1024;
    this.now = options.now ?? Date.now;
    const timeoutMs = options.timeoutMs ?? 10_000;
    this.pool = new Pool(options.url.origin, {
      connections: this.concurrency,
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
      connectTimeout: Math.min(timeoutMs, 5_000),
    });
  }

  /** Jobs queued, in flight or waiting to be retried. */
  get held(): number {
    return this.heldJobs;
  }

  /** Takes a job unless too many are held; false (and a "dropped" record) when it was dropped. */
  enqueue(job: ForwardJob): boolean {
    if (this.stopping.signal.aborted || this.heldJobs >= this.maxHeldJobs || this.heldBytes + job.body.length > this.maxHeldBytes) {
      this.stats.dropped += 1;
      const error = this.stopping.signal.aborted ? 'shutting down' : `queue full (${this.heldJobs} held)`;
      this.record(job, { outcome: 'dropped', status: null, latency_ms: null, attempt: 0, error });
      this.options.onLost?.(job);
      return false;
    }
    this.heldJobs += 1;
    this.heldBytes += job.body.length;
    this.ready.push({ job, attempt: 1 });
    // Started on a later turn: whatever answers the platform goes out first.
    if (this.ready.length === 1) setImmediate(() => this.pump());
    return true;
  }

  /**
   * Waits up to timeoutMs for every held job to finish (retries included), then abandons the
   * rest, each counted as failed. Takes no new jobs from the moment it is called.
   */
  async drain(timeoutMs: number): Promise<{ abandoned: number }> {
    this.stopping.abort();
    if (this.heldJobs > 0) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        new Promise<void>((resolve) => this.idleWaiters.push(resolve)),
        new Promise<void>((resolve) => {
          timer = setTimeout(resolve, timeoutMs);
        }),
      ]);
      clearTimeout(timer);
    }
    const abandoned = this.abandonAll();
    // Cuts requests still in flight; each then reports itself as failed.
    await this.pool.destroy().catch(() => undefined);
    await Promise.allSettled([...this.inFlight]);
    return { abandoned };
  }

  private abandonAll(): number {
    const left: HeldJob[] = [...this.ready.splice(0), ...this.retryTimers.values()];
    for (const timer of this.retryTimers.keys()) clearTimeout(timer);
    this.retryTimers.clear();
    for (const held of left) {
      this.stats.failed += 1;
      this.record(held.job, { outcome: 'failed', status: null, latency_ms: null, attempt: held.attempt, error: 'abandoned at shutdown' });
      this.release(held);
    }
    return left.length + this.active;
  }

  private pump(): void {
    while (this.active < this.concurrency && this.ready.length > 0) {
      const held = this.ready.shift()!;
      this.active += 1;
      const running: Promise<void> = this.attempt(held).finally(() => {
        this.active -= 1;
        this.inFlight.delete(running);
        this.pump();
      });
      this.inFlight.add(running);
    }
  }

  private async attempt(held: HeldJob): Promise<void> {
    const started = performance.now();
    let status: number | null = null;
    let error: string | undefined;
    try {
      const response = await this.pool.request({
        path: this.path,
        method: 'POST',
        headers: held.job.headers,
        body: held.job.body,
      });
      status = response.statusCode;
      await response.body.dump({ limit: 64 * 1024 }).catch(() => undefined);
    } catch (caught) {
      error = this.stopping.signal.aborted ? 'abandoned at shutdown' : describeNetworkError(caught);
    }
    const latency = Math.round(performance.now() - started);
    if (status !== null && status >= 200 && status < 300) {
      this.stats.delivered += 1;
      this.record(held.job, { outcome: 'delivered', status, latency_ms: latency, attempt: held.attempt });
      this.release(held);
      return;
    }
    const failure = error === undefined ? {} : { error };
    if (held.attempt < this.maxAttempts && !this.stopping.signal.aborted) {
      const delay = this.backoff(held.attempt);
      this.record(held.job, { outcome: 'retrying', status, latency_ms: latency, attempt: held.attempt, ...failure, retry_in_ms: delay });
      this.stats.retries += 1;
      const next: HeldJob = { job: held.job, attempt: held.attempt + 1 };
      const timer = setTimeout(() => {
        this.retryTimers.delete(timer);
        this.ready.push(next);
        this.pump();
      }, delay);
      this.retryTimers.set(timer, next);
      return;
    }
    this.stats.failed += 1;
    this.record(held.job, { outcome: 'failed', status, latency_ms: latency, attempt: held.attempt, ...failure });
    this.release(held);
  }

  private release(held: HeldJob): void {
    const { job } = held;
    this.heldJobs -= 1;
    this.heldBytes -= job.body.length;
    if (this.heldJobs === 0) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const resolve of waiters) resolve();
    }
  }

  private record(job: ForwardJob, forward: Omit<ForwardRecord['forward'], 'max_attempts'>): void {
    if (forward.outcome === 'failed') this.options.onLost?.(job);
    this.options.onRecord({
      time: new Date(this.now()).toISOString(),
      event_id: job.eventId,
      forward: { ...forward, max_attempts: this.maxAttempts },
    });
  }
}

const NETWORK_ERRORS: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  EPIPE: 'connection closed',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'host lookup failed',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  UND_ERR_CONNECT_TIMEOUT: 'connect timeout',
  UND_ERR_HEADERS_TIMEOUT: 'no answer in time',
  UND_ERR_BODY_TIMEOUT: 'answer body too slow',
  UND_ERR_SOCKET: 'connection closed',
};

function describeNetworkError(error: unknown): string {
  for (let cause: unknown = error, depth = 0; cause && depth < 4; cause = (cause as { cause?: unknown }).cause, depth += 1) {
    const code = (cause as { code?: unknown }).code;
    if (typeof code === 'string') return NETWORK_ERRORS[code] ?? code;
  }
  return error instanceof Error ? error.message.slice(0, 200) : 'request failed';
}
