import type { DeadLetter, DeliveryRecord } from '../domain/contract.ts';
import { DEAD_LETTER_TTL_SECONDS, DELIVERY_HEADERS, ID_PREFIX } from '../domain/contract.ts';
import { newId } from '../domain/ids.ts';
import { retryDelayMs } from '../domain/retry-schedule.ts';
import { sign } from '../domain/signature.ts';
import { Deque } from './deque.ts';
import { MinHeap } from './heap.ts';
import type { EmulatorLogEntry } from './log.ts';
import { previousSecretInGrace, type Op, type PendingAttempt, type StoredEvent, type StoredSubscription, type TenantState } from './state.ts';
import type { AttemptResult, Transport } from './transport.ts';

// The delivery engine. Timed work (attempts not yet due, dead-letter expiries) sits in one
// min-heap with one timer armed for the earliest item. Due attempts wait in per-subscription
// ready queues served round-robin, within a global and a per-subscription in-flight bound.
// The engine learns about new pending attempts and dead letters by observing committed ops.
//
// A paused subscription keeps its pending retries: when one comes due it is held, and
// resuming the subscription makes every held attempt due at once. New events skip it.

export const MAX_IN_FLIGHT = 64;
export const MAX_IN_FLIGHT_PER_SUBSCRIPTION = 16;
/** setTimeout's largest delay. */
const MAX_TIMER_MS = 2_147_483_647;

type TimedJob = { kind: 'attempt'; attempt: PendingAttempt } | { kind: 'expire'; letter: DeadLetter };

export interface EngineDeps {
  state: TenantState;
  transport: Transport;
  /** Applies ops to the state, lets the engine observe them, and journals them. */
  commit: (ops: Op[], durable: boolean) => Promise<void> | undefined;
  timeScale: number;
  random: () => number;
  /** Absent when nobody listens, so no entry is built. */
  log: ((entry: EmulatorLogEntry) => void) | undefined;
}

export class DeliveryEngine {
  private readonly heap = new MinHeap<TimedJob>();
  private timer: NodeJS.Timeout | null = null;
  private timerAt = Number.POSITIVE_INFINITY;
  private readonly ready = new Map<string, Deque<PendingAttempt>>();
  private readonly rotation = new Deque<string>();
  private readonly inRotation = new Set<string>();
  private readonly held = new Map<string, PendingAttempt[]>();
  private readonly inFlightBySubscription = new Map<string, number>();
  private readonly inFlight = new Set<Promise<void>>();
  private abandoned = false;
  /** Parsed receiver URLs; stored subscriptions are replaced, never changed, on update. */
  private readonly urls = new WeakMap<StoredSubscription, URL>();
  private inFlightCount = 0;
  private stopped = false;

  constructor(private readonly deps: EngineDeps) {}

  /** Schedules everything the loaded state holds. */
  start(): void {
    for (const attempt of this.deps.state.allPending()) this.schedule(attempt);
    for (const letter of this.deps.state.allDeadLetters()) this.heapPush(Date.parse(letter.expires_at), { kind: 'expire', letter });
    this.dispatch();
  }

  /** Called with every committed batch of ops, after they were applied to the state. */
  observe(ops: readonly Op[]): void {
    if (this.stopped) return;
    let dispatch = false;
    for (const op of ops) {
      switch (op.op) {
        case 'pend':
          this.schedule(op.p);
          dispatch = true;
          break;
        case 'dl':
          this.heapPush(Date.parse(op.d.expires_at), { kind: 'expire', letter: op.d });
          break;
        case 'sub':
          if (op.sub.status === 'active' && this.held.has(op.sub.id)) {
            for (const attempt of this.held.get(op.sub.id)!) this.enqueueReady(attempt);
            this.held.delete(op.sub.id);
            dispatch = true;
          }
          break;
        case 'unsub':
          this.ready.delete(op.id);
          this.held.delete(op.id);
          break;
        default:
          break;
      }
    }
    if (dispatch) this.dispatch();
  }

  /** The JSON body and headers of one attempt, signed with the subscription's secrets. */
  private buildRequest(sub: StoredSubscription, event: StoredEvent, attempt: number, now: number): { body: string; headers: Record<string, string> } {
    const body = JSON.stringify({ ...event, delivery: { attempt, subscription_id: sub.id } });
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      [DELIVERY_HEADERS.signature]: sign(sub.secret, body),
      [DELIVERY_HEADERS.eventId]: event.event_id,
      [DELIVERY_HEADERS.eventType]: event.event_type,
      [DELIVERY_HEADERS.attempt]: String(attempt),
      [DELIVERY_HEADERS.timestamp]: String(Math.floor(now / 1000)),
    };
    const previous = previousSecretInGrace(sub, now);
    if (previous !== null) headers[DELIVERY_HEADERS.signaturePrevious] = sign(previous, body);
    return { body, headers };
  }

  /** One attempt outside any series (the test call): never retried, never dead-lettered. */
  async attemptOnce(sub: StoredSubscription, event: StoredEvent): Promise<DeliveryRecord> {
    const attemptedAt = Date.now();
    const { body, headers } = this.buildRequest(sub, event, 1, attemptedAt);
    const result = await this.deps.transport.post(this.url(sub), body, headers);
    const record = this.record(sub.id, event, 1, attemptedAt, result, null, false);
    this.logAttempt(record, result);
    return record;
  }

  /** Stops starting attempts; waits for those in flight up to graceMs, then abandons them (they stay pending). */
  async stop(graceMs: number): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.inFlight.size > 0) {
      let timeout: NodeJS.Timeout | undefined;
      const expired = new Promise<void>((resolve) => {
        timeout = setTimeout(resolve, graceMs);
      });
      await Promise.race([Promise.allSettled([...this.inFlight]), expired]);
      clearTimeout(timeout);
    }
    this.abandoned = true;
    this.deps.transport.abortAll();
    await Promise.allSettled([...this.inFlight]);
    this.heap.clear();
    this.ready.clear();
    this.held.clear();
  }

  private url(sub: StoredSubscription): URL {
    let url = this.urls.get(sub);
    if (!url) this.urls.set(sub, (url = new URL(sub.url)));
    return url;
  }

  private schedule(attempt: PendingAttempt): void {
    if (attempt.due <= Date.now()) this.enqueueReady(attempt);
    else this.heapPush(attempt.due, { kind: 'attempt', attempt });
  }

  private heapPush(at: number, job: TimedJob): void {
    this.heap.push(at, job);
    // Replaced or finished attempts stay in the heap until popped; rebuild when they dominate.
    if (this.heap.size > 1024 && this.heap.size > 2 * (this.deps.state.pendingCount + this.deps.state.deadLetterCount)) {
      this.heap.filter((item) => this.isCurrent(item));
    }
    if (at < this.timerAt) this.arm();
  }

  private isCurrent(job: TimedJob): boolean {
    if (job.kind === 'attempt') return this.deps.state.pendingAttempt(job.attempt.subscription_id, job.attempt.event_id) === job.attempt;
    return this.deps.state.deadLetter(job.letter.subscription_id, job.letter.event_id) === job.letter;
  }

  private arm(): void {
    if (this.stopped) return;
    const next = this.heap.peekTime();
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.timerAt = Number.POSITIVE_INFINITY;
    if (next === undefined) return;
    this.timerAt = next;
    this.timer = setTimeout(() => this.onTimer(), Math.min(MAX_TIMER_MS, Math.max(0, next - Date.now())));
  }

  private onTimer(): void {
    this.timer = null;
    this.timerAt = Number.POSITIVE_INFINITY;
    const now = Date.now();
    const expired: Op[] = [];
    while ((this.heap.peekTime() ?? Number.POSITIVE_INFINITY) <= now) {
      const job = this.heap.pop()!;
      if (!this.isCurrent(job)) continue;
      if (job.kind === 'attempt') this.enqueueReady(job.attempt);
      else expired.push({ op: 'undl', s: job.letter.subscription_id, e: job.letter.event_id });
    }
    if (expired.length > 0) void this.deps.commit(expired, false);
    this.arm();
    this.dispatch();
  }

  private enqueueReady(attempt: PendingAttempt): void {
    const id = attempt.subscription_id;
    let queue = this.ready.get(id);
    if (!queue) this.ready.set(id, (queue = new Deque()));
    queue.push(attempt);
    this.rotate(id);
  }

  private rotate(subscriptionId: string): void {
    if (this.inRotation.has(subscriptionId)) return;
    this.inRotation.add(subscriptionId);
    this.rotation.push(subscriptionId);
  }

  private dispatch(): void {
    while (!this.stopped && this.inFlightCount < MAX_IN_FLIGHT && this.rotation.length > 0) {
      const id = this.rotation.shift()!;
      this.inRotation.delete(id);
      const queue = this.ready.get(id);
      if (!queue || queue.length === 0) {
        this.ready.delete(id);
        continue;
      }
      if ((this.inFlightBySubscription.get(id) ?? 0) >= MAX_IN_FLIGHT_PER_SUBSCRIPTION) {
        // Comes back when one of its attempts finishes.
        continue;
      }
      const attempt = queue.shift()!;
      if (queue.length > 0) this.rotate(id);
      else this.ready.delete(id);
      this.launch(attempt);
    }
  }

  private launch(attempt: PendingAttempt): void {
    const { state } = this.deps;
    if (state.pendingAttempt(attempt.subscription_id, attempt.event_id) !== attempt) return; // replaced or gone
    const sub = state.subscriptions.get(attempt.subscription_id);
    const event = state.event(attempt.event_id);
    if (!sub || !event) {
      void this.deps.commit([{ op: 'unpend', s: attempt.subscription_id, e: attempt.event_id }], false);
      return;
    }
    if (sub.status === 'paused') {
      const held = this.held.get(sub.id);
      if (held) held.push(attempt);
      else this.held.set(sub.id, [attempt]);
      return;
    }
    this.inFlightCount += 1;
    this.inFlightBySubscription.set(sub.id, (this.inFlightBySubscription.get(sub.id) ?? 0) + 1);
    const running = this.run(sub, event, attempt).finally(() => {
      this.inFlight.delete(running);
      this.inFlightCount -= 1;
      const left = (this.inFlightBySubscription.get(sub.id) ?? 1) - 1;
      if (left > 0) this.inFlightBySubscription.set(sub.id, left);
      else this.inFlightBySubscription.delete(sub.id);
      if (this.ready.has(sub.id)) this.rotate(sub.id);
      this.dispatch();
    });
    this.inFlight.add(running);
  }

  private async run(sub: StoredSubscription, event: StoredEvent, attempt: PendingAttempt): Promise<void> {
    const attemptedAt = Date.now();
    const { body, headers } = this.buildRequest(sub, event, attempt.attempt, attemptedAt);
    let result: AttemptResult;
    try {
      result = await this.deps.transport.post(this.url(sub), body, headers);
    } catch (error) {
      result = { httpStatus: null, error: 'connection', latencyMs: Date.now() - attemptedAt, responseExcerpt: '', detail: String(error) };
    }
    // Abandoned at shutdown: the attempt stays pending and runs again after a restart.
    if (this.abandoned) return;
    const { state } = this.deps;
    if (!state.subscriptions.has(sub.id)) return;
    const current = state.pendingAttempt(sub.id, event.event_id) === attempt;
    const succeeded = result.error === null;
    const ops: Op[] = [];
    let nextAttemptAt: number | null = null;
    let deadLettered = false;
    if (current && !succeeded) {
      const delay = retryDelayMs(attempt.attempt + 1, this.deps.random, this.deps.timeScale);
      if (delay === null) deadLettered = true;
      else nextAttemptAt = Date.now() + delay;
    }
    const record = this.record(sub.id, event, attempt.attempt, attemptedAt, result, nextAttemptAt, deadLettered);
    ops.push({ op: 'rec', r: record });
    if (current) {
      if (nextAttemptAt !== null) {
        ops.push({ op: 'pend', p: { subscription_id: sub.id, event_id: event.event_id, attempt: attempt.attempt + 1, due: nextAttemptAt } });
      } else {
        if (deadLettered) ops.push({ op: 'dl', d: this.deadLetter(record) });
        ops.push({ op: 'unpend', s: sub.id, e: event.event_id });
      }
    }
    this.logAttempt(record, result);
    void this.deps.commit(ops, false);
  }

  private deadLetter(record: DeliveryRecord): DeadLetter {
    const now = Date.now();
    return {
      event_id: record.event_id,
      event_type: record.event_type,
      subscription_id: record.subscription_id,
      dead_lettered_at: new Date(now).toISOString(),
      expires_at: new Date(now + (DEAD_LETTER_TTL_SECONDS * 1000) / this.deps.timeScale).toISOString(),
      attempts: record.attempt,
      last_error: record.error,
      last_http_status: record.http_status,
    };
  }

  private record(
    subscriptionId: string,
    event: StoredEvent,
    attempt: number,
    attemptedAt: number,
    result: AttemptResult,
    nextAttemptAt: number | null,
    deadLettered: boolean,
  ): DeliveryRecord {
    return {
      id: newId(ID_PREFIX.delivery),
      subscription_id: subscriptionId,
      event_id: event.event_id,
      event_type: event.event_type,
      attempt,
      attempted_at: new Date(attemptedAt).toISOString(),
      outcome: result.error === null ? 'succeeded' : 'failed',
      http_status: result.httpStatus,
      error: result.error,
      latency_ms: result.latencyMs,
      response_excerpt: result.responseExcerpt,
      next_attempt_at: nextAttemptAt === null ? null : new Date(nextAttemptAt).toISOString(),
      dead_lettered: deadLettered,
    };
  }

  private logAttempt(record: DeliveryRecord, result: AttemptResult): void {
    if (!this.deps.log) return;
    const status = record.http_status === null ? (record.error ?? '') : `HTTP ${record.http_status}`;
    const then = record.dead_lettered ? ', dead-lettered' : record.next_attempt_at ? `, next attempt at ${record.next_attempt_at}` : '';
    this.deps.log({
      kind: 'delivery',
      time: record.attempted_at,
      message:
        `delivery ${record.event_type} ${record.event_id} to ${record.subscription_id} attempt ${record.attempt}: ` +
        `${record.outcome} (${status}${result.detail && record.error !== 'http_status' ? `: ${result.detail}` : ''}) in ${record.latency_ms} ms${then}`,
      subscription_id: record.subscription_id,
      event_id: record.event_id,
      event_type: record.event_type,
      delivery_id: record.id,
      attempt: record.attempt,
      outcome: record.outcome,
      http_status: record.http_status,
      error: record.error,
      detail: result.detail,
      latency_ms: record.latency_ms,
      next_attempt_at: record.next_attempt_at,
      dead_lettered: record.dead_lettered,
    });
  }
}
