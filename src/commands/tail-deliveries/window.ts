// The sliding window behind --alert-failure-rate and --stats: attempts whose attempted_at
// lies in (now - window, now]. Memory is bounded whatever the traffic: a ring of at most
// `capacity` entries in typed arrays, and latency percentiles from a fixed histogram that
// entries are added to and taken out of as they enter and leave the window.

export const DEFAULT_WINDOW_CAPACITY = 100_000;
const INITIAL_RING_SIZE = 1024;

export interface WindowFigures {
  attempts: number;
  failures: number;
  /** Failed attempts over all attempts, 0..1; null while the window is empty. */
  failureRate: number | null;
  p50: number | null;
  p95: number | null;
  /** Entries pushed out early because the window held `capacity` attempts. */
  overflowed: number;
}

export class SlidingWindow {
  readonly windowMs: number;
  readonly capacity: number;
  #times: Float64Array;
  #latencies: Uint32Array;
  #failed: Uint8Array;
  #head = 0;
  #size = 0;
  #failures = 0;
  #overflowed = 0;
  readonly #histogram = new LatencyHistogram();

  constructor(windowMs: number, capacity = DEFAULT_WINDOW_CAPACITY) {
    if (!(windowMs > 0)) throw new RangeError(`window must be positive, got ${windowMs}`);
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`capacity must be a positive integer, got ${capacity}`);
    this.windowMs = windowMs;
    this.capacity = capacity;
    const initial = Math.min(capacity, INITIAL_RING_SIZE);
    this.#times = new Float64Array(initial);
    this.#latencies = new Uint32Array(initial);
    this.#failed = new Uint8Array(initial);
  }

  get size(): number {
    return this.#size;
  }

  /** Adds one attempt; attempts already outside the window ending at `nowMs` are ignored. */
  add(attemptedAtMs: number, latencyMs: number, failed: boolean, nowMs: number): void {
    if (!Number.isFinite(attemptedAtMs) || attemptedAtMs <= nowMs - this.windowMs) return;
    if (this.#size === this.#times.length) {
      if (this.#size < this.capacity) this.#grow();
      else {
        this.#removeOldest();
        this.#overflowed += 1;
      }
    }
    const slot = (this.#head + this.#size) % this.#times.length;
    const latency = clampLatency(latencyMs);
    this.#times[slot] = attemptedAtMs;
    this.#latencies[slot] = latency;
    this.#failed[slot] = failed ? 1 : 0;
    this.#size += 1;
    if (failed) this.#failures += 1;
    this.#histogram.add(latency);
  }

  /**
   * Drops attempts that left the window. Entries leave in arrival order: an attempt that
   * arrived late (a slow delivery completes after quicker, later ones) leaves with its
   * neighbours, at most a delivery timeout late.
   */
  evict(nowMs: number): void {
    const cutoff = nowMs - this.windowMs;
    while (this.#size > 0 && this.#times[this.#head]! <= cutoff) this.#removeOldest();
  }

  figures(nowMs: number): WindowFigures {
    this.evict(nowMs);
    const attempts = this.#size;
    return {
      attempts,
      failures: this.#failures,
      failureRate: attempts === 0 ? null : this.#failures / attempts,
      p50: this.#histogram.percentile(50),
      p95: this.#histogram.percentile(95),
      overflowed: this.#overflowed,
    };
  }

  #removeOldest(): void {
    const head = this.#head;
    if (this.#failed[head] === 1) this.#failures -= 1;
    this.#histogram.remove(this.#latencies[head]!);
    this.#head = (head + 1) % this.#times.length;
    this.#size -= 1;
  }

  #grow(): void {
    const length = Math.min(this.capacity, this.#times.length * 2);
    const times = new Float64Array(length);
    const latencies = new Uint32Array(length);
    const failed = new Uint8Array(length);
    for (let i = 0; i < this.#size; i += 1) {
      const from = (this.#head + i) % this.#times.length;
      times[i] = this.#times[from]!;
      latencies[i] = this.#latencies[from]!;
      failed[i] = this.#failed[from]!;
    }
    this.#times = times;
    this.#latencies = latencies;
    this.#failed = failed;
    this.#head = 0;
  }
}

const EXACT_BELOW_MS = 1024;
/** Above EXACT_BELOW_MS each bucket is 1% wider than the previous: percentiles within 0.5%. */
const GROWTH = 1.01;
const LOG_GROWTH = Math.log(GROWTH);
const MAX_LATENCY_MS = 3_600_000;
const LOG_BUCKETS = Math.ceil(Math.log(MAX_LATENCY_MS / EXACT_BELOW_MS) / LOG_GROWTH) + 1;

function clampLatency(latencyMs: number): number {
  if (!Number.isFinite(latencyMs) || latencyMs <= 0) return 0;
  return Math.min(MAX_LATENCY_MS, Math.round(latencyMs));
}

/** Counts of latencies in fixed buckets: exact milliseconds up to ~1 s, then 1% steps up to an hour. */
export class LatencyHistogram {
  readonly #counts = new Uint32Array(EXACT_BELOW_MS + LOG_BUCKETS);
  #total = 0;

  get total(): number {
    return this.#total;
  }

  add(latencyMs: number): void {
    this.#counts[bucketOf(clampLatency(latencyMs))]! += 1;
    this.#total += 1;
  }

  remove(latencyMs: number): void {
    const bucket = bucketOf(clampLatency(latencyMs));
    if (this.#counts[bucket]! === 0) return;
    this.#counts[bucket]! -= 1;
    this.#total -= 1;
  }

  /** Nearest-rank percentile (the smallest value with at least p% of values at or below it). */
  percentile(p: number): number | null {
    if (this.#total === 0) return null;
    const rank = Math.max(1, Math.ceil((p / 100) * this.#total));
    let seen = 0;
    for (let bucket = 0; bucket < this.#counts.length; bucket += 1) {
      seen += this.#counts[bucket]!;
      if (seen >= rank) return valueOf(bucket);
    }
    return valueOf(this.#counts.length - 1);
  }
}

function bucketOf(latencyMs: number): number {
  if (latencyMs < EXACT_BELOW_MS) return latencyMs;
  const step = Math.floor(Math.log(latencyMs / EXACT_BELOW_MS) / LOG_GROWTH);
  return EXACT_BELOW_MS + Math.min(LOG_BUCKETS - 1, step);
}

function valueOf(bucket: number): number {
  if (bucket < EXACT_BELOW_MS) return bucket;
  // The geometric middle of the bucket.
  return Math.round(EXACT_BELOW_MS * GROWTH ** (bucket - EXACT_BELOW_MS + 0.5));
}
