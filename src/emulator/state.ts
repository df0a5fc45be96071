import type { DeadLetter, DeliveryRecord, EventPayload, Subscription } from '../domain/contract.ts';
import { secretFingerprint } from '../domain/signature.ts';
import { Deque } from './deque.ts';

// The tenant's state and the only ways it changes. Every change is an Op: the live emulator
// applies ops and appends the same ops to the journal, and loading replays them, so the two
// paths cannot drift apart. Stored objects are never mutated in place (an update replaces
// the object), which lets a snapshot capture references instead of deep copies.

export interface ServerRecord {
  /** base64 HMAC key for access tokens. */
  token_key: string;
  tenant_id: string;
  tenant_slug: string;
  client_id: string;
  client_secret: string;
}

export interface StoredSubscription extends Omit<Subscription, 'secret_fingerprint' | 'previous_secret_expires_at'> {
  secret: string;
  previous_secret: string | null;
  /** Epoch milliseconds; null when there is no previous secret. */
  previous_secret_expires: number | null;
}

export type StoredEvent = Omit<EventPayload, 'delivery'>;

/** The next attempt of an event's series for one subscription. */
export interface PendingAttempt {
  subscription_id: string;
  event_id: string;
  attempt: number;
  /** Epoch milliseconds. */
  due: number;
}

export interface IdempotencyRecord {
  /** Client id and key. */
  key: string;
  /** Hash of method, path and body. */
  fingerprint: string;
  status: number;
  body: unknown;
  /** Epoch milliseconds. */
  created: number;
}

export type Op =
  | { op: 'sub'; sub: StoredSubscription }
  | { op: 'unsub'; id: string }
  | { op: 'event'; event: StoredEvent }
  | { op: 'pend'; p: PendingAttempt }
  | { op: 'unpend'; s: string; e: string }
  | { op: 'rec'; r: DeliveryRecord }
  | { op: 'dl'; d: DeadLetter }
  | { op: 'undl'; s: string; e: string }
  | { op: 'idem'; i: IdempotencyRecord };

interface EventSlot {
  event: StoredEvent;
  /** Feed records, pending attempts and dead letters that point at this event. */
  refs: number;
}

export interface StateCapture {
  server: ServerRecord;
  subscriptions: StoredSubscription[];
  events: StoredEvent[];
  feeds: Array<[string, DeliveryRecord[]]>;
  pending: PendingAttempt[];
  dead_letters: DeadLetter[];
  idempotency: IdempotencyRecord[];
}

export class TenantState {
  readonly subscriptions = new Map<string, StoredSubscription>();
  private readonly events = new Map<string, EventSlot>();
  private readonly feeds = new Map<string, Deque<DeliveryRecord>>();
  private readonly pending = new Map<string, Map<string, PendingAttempt>>();
  private readonly deadLetters = new Map<string, Map<string, DeadLetter>>();
  /** Insertion order is creation order, so expiry trims from the front. */
  private readonly idempotency = new Map<string, IdempotencyRecord>();
  private pendingTotal = 0;
  private deadLetterTotal = 0;

  constructor(
    public server: ServerRecord,
    private readonly feedLimit: number,
  ) {}

  /** Applies one committed batch. An event nothing in the batch ended up referencing is not kept. */
  applyBatch(ops: readonly Op[]): void {
    for (const op of ops) this.apply(op);
    for (const op of ops) {
      if (op.op === 'event' && this.events.get(op.event.event_id)?.refs === 0) this.events.delete(op.event.event_id);
    }
  }

  apply(op: Op): void {
    switch (op.op) {
      case 'sub':
        this.subscriptions.set(op.sub.id, op.sub);
        return;
      case 'unsub':
        this.removeSubscription(op.id);
        return;
      case 'event':
        if (!this.events.has(op.event.event_id)) this.events.set(op.event.event_id, { event: op.event, refs: 0 });
        return;
      case 'pend':
        this.setPending(op.p);
        return;
      case 'unpend':
        this.removePending(op.s, op.e);
        return;
      case 'rec':
        this.appendRecord(op.r);
        return;
      case 'dl':
        this.setDeadLetter(op.d);
        return;
      case 'undl':
        this.removeDeadLetter(op.s, op.e);
        return;
      case 'idem':
        this.idempotency.delete(op.i.key);
        this.idempotency.set(op.i.key, op.i);
        return;
    }
  }

  event(eventId: string): StoredEvent | undefined {
    return this.events.get(eventId)?.event;
  }

  get eventCount(): number {
    return this.events.size;
  }

  get pendingCount(): number {
    return this.pendingTotal;
  }

  get deadLetterCount(): number {
    return this.deadLetterTotal;
  }

  pendingAttempt(subscriptionId: string, eventId: string): PendingAttempt | undefined {
    return this.pending.get(subscriptionId)?.get(eventId);
  }

  *allPending(): Iterable<PendingAttempt> {
    for (const bySubscription of this.pending.values()) yield* bySubscription.values();
  }

  pendingOf(subscriptionId: string): Iterable<PendingAttempt> {
    return this.pending.get(subscriptionId)?.values() ?? [];
  }

  feed(subscriptionId: string): Deque<DeliveryRecord> | undefined {
    return this.feeds.get(subscriptionId);
  }

  /** Whether the subscription knows the event: in its feed window, pending, or dead-lettered. */
  subscriptionKnowsEvent(subscriptionId: string, eventId: string): boolean {
    if (this.pendingAttempt(subscriptionId, eventId) || this.deadLetter(subscriptionId, eventId)) return true;
    const feed = this.feeds.get(subscriptionId);
    if (!feed || !this.events.has(eventId)) return false;
    for (let i = feed.length - 1; i >= 0; i -= 1) if (feed.at(i)!.event_id === eventId) return true;
    return false;
  }

  deadLetter(subscriptionId: string, eventId: string): DeadLetter | undefined {
    return this.deadLetters.get(subscriptionId)?.get(eventId);
  }

  deadLettersOf(subscriptionId: string): DeadLetter[] {
    return [...(this.deadLetters.get(subscriptionId)?.values() ?? [])];
  }

  *allDeadLetters(): Iterable<DeadLetter> {
    for (const bySubscription of this.deadLetters.values()) yield* bySubscription.values();
  }

  idempotencyRecord(key: string): IdempotencyRecord | undefined {
    return this.idempotency.get(key);
  }

  /** Drops idempotency records created before `cutoff` (epoch ms). */
  expireIdempotency(cutoff: number): void {
    for (const [key, record] of this.idempotency) {
      if (record.created >= cutoff) break;
      this.idempotency.delete(key);
    }
  }

  /** Drops dead letters whose expiry (epoch ms) has passed; for loading, where no timer runs yet. */
  expireDeadLetters(now: number): void {
    for (const letter of [...this.allDeadLetters()]) {
      if (Date.parse(letter.expires_at) <= now) this.removeDeadLetter(letter.subscription_id, letter.event_id);
    }
  }

  /** Events nothing points at any more (after a replay that added some without references). */
  dropUnreferencedEvents(): void {
    for (const [id, slot] of this.events) if (slot.refs <= 0) this.events.delete(id);
  }

  /** A consistent view for a snapshot: arrays of references to immutable objects. */
  capture(now: number): StateCapture {
    const subscriptions = [...this.subscriptions.values()].map((sub) =>
      sub.previous_secret !== null && (sub.previous_secret_expires ?? 0) <= now
        ? { ...sub, previous_secret: null, previous_secret_expires: null }
        : sub,
    );
    return {
      server: this.server,
      subscriptions,
      events: [...this.events.values()].map((slot) => slot.event),
      feeds: [...this.feeds].map(([id, feed]) => [id, feed.toArray()]),
      pending: [...this.allPending()],
      dead_letters: [...this.allDeadLetters()],
      idempotency: [...this.idempotency.values()],
    };
  }

  private ref(eventId: string): void {
    const slot = this.events.get(eventId);
    if (slot) slot.refs += 1;
  }

  private unref(eventId: string): void {
    const slot = this.events.get(eventId);
    if (slot && --slot.refs <= 0) this.events.delete(eventId);
  }

  private setPending(attempt: PendingAttempt): void {
    if (!this.subscriptions.has(attempt.subscription_id)) return;
    let bySubscription = this.pending.get(attempt.subscription_id);
    if (!bySubscription) this.pending.set(attempt.subscription_id, (bySubscription = new Map()));
    // Reference the new one first so a replaced attempt of the same event never frees it.
    this.ref(attempt.event_id);
    const previous = bySubscription.get(attempt.event_id);
    if (previous) this.unref(previous.event_id);
    else this.pendingTotal += 1;
    bySubscription.set(attempt.event_id, attempt);
  }

  private removePending(subscriptionId: string, eventId: string): void {
    const bySubscription = this.pending.get(subscriptionId);
    if (!bySubscription?.delete(eventId)) return;
    this.pendingTotal -= 1;
    if (bySubscription.size === 0) this.pending.delete(subscriptionId);
    this.unref(eventId);
  }

  private appendRecord(record: DeliveryRecord): void {
    if (!this.subscriptions.has(record.subscription_id)) return;
    let feed = this.feeds.get(record.subscription_id);
    if (!feed) this.feeds.set(record.subscription_id, (feed = new Deque()));
    this.ref(record.event_id);
    feed.push(record);
    while (feed.length > this.feedLimit) this.unref(feed.shift()!.event_id);
  }

  private setDeadLetter(letter: DeadLetter): void {
    if (!this.subscriptions.has(letter.subscription_id)) return;
    let bySubscription = this.deadLetters.get(letter.subscription_id);
    if (!bySubscription) this.deadLetters.set(letter.subscription_id, (bySubscription = new Map()));
    this.ref(letter.event_id);
    const previous = bySubscription.get(letter.event_id);
    if (previous) {
      bySubscription.delete(letter.event_id);
      this.unref(previous.event_id);
    } else {
      this.deadLetterTotal += 1;
    }
    bySubscription.set(letter.event_id, letter);
  }

  private removeDeadLetter(subscriptionId: string, eventId: string): void {
    const bySubscription = this.deadLetters.get(subscriptionId);
    if (!bySubscription?.delete(eventId)) return;
    this.deadLetterTotal -= 1;
    if (bySubscription.size === 0) this.deadLetters.delete(subscriptionId);
    this.unref(eventId);
  }

  private removeSubscription(id: string): void {
    if (!this.subscriptions.delete(id)) return;
    for (const attempt of [...this.pendingOf(id)]) this.removePending(id, attempt.event_id);
    for (const letter of this.deadLettersOf(id)) this.removeDeadLetter(id, letter.event_id);
    const feed = this.feeds.get(id);
    if (feed) {
      for (let i = 0; i < feed.length; i += 1) this.unref(feed.at(i)!.event_id);
      this.feeds.delete(id);
    }
  }
}

/** The API view of a stored subscription. */
export function publicSubscription(sub: StoredSubscription, now: number = Date.now()): Subscription {
  const graceOpen = sub.previous_secret !== null && sub.previous_secret_expires !== null && sub.previous_secret_expires > now;
  return {
    id: sub.id,
    name: sub.name,
    url: sub.url,
    events: [...sub.events],
    description: sub.description,
    status: sub.status,
    created_at: sub.created_at,
    updated_at: sub.updated_at,
    secret_fingerprint: secretFingerprint(sub.secret),
    previous_secret_expires_at: graceOpen ? new Date(sub.previous_secret_expires!).toISOString() : null,
  };
}

/** The previous secret while its grace period lasts, else null. */
export function previousSecretInGrace(sub: StoredSubscription, now: number = Date.now()): string | null {
  return sub.previous_secret !== null && sub.previous_secret_expires !== null && sub.previous_secret_expires > now ? sub.previous_secret : null;
}
