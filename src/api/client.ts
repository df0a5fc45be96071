// Typed calls of the webhook API (contract.ts). Adds the bearer token, refreshes it once on
// a 401, and turns the errors users hit most (unknown id, missing scope) into plain words.

import { ApiError } from '../errors.ts';
import {
  DELIVERY_TIMEOUT_MS,
  EMULATOR_EVENTS_PATH,
  EMULATOR_HEALTH_PATH,
  ID_PREFIX,
  IDEMPOTENCY_HEADER,
  LIST_LIMIT,
  paths,
  type CreateSubscriptionBody,
  type CreatedSubscription,
  type DeadLetter,
  type DeliveriesQuery,
  type DeliveryRecord,
  type EventType,
  type RedeliveryAccepted,
  type RotateSecretBody,
  type RotatedSecret,
  type Subscription,
  type UpdateSubscriptionBody,
} from '../domain/contract.ts';
import {
  ANY_OBJECT,
  CREATED_SUBSCRIPTION,
  DEAD_LETTER,
  DELIVERY_RECORD,
  EMULATOR_EVENT,
  EMULATOR_HEALTH,
  EVENT_TYPE,
  expectList,
  expectObject,
  ROTATED_SECRET,
  SUBSCRIPTION,
} from './answer-shapes.ts';
import type { Http, HttpRequest, HttpResult } from './http.ts';
import type { AccessTokenProvider } from './token.ts';

/** The test call waits for the receiver (up to 10 s) before the platform answers. */
export const TEST_CALL_TIMEOUT_MS = DELIVERY_TIMEOUT_MS + 10_000;

export interface Page<T> {
  items: T[];
  /** Pass back as `cursor` (subscriptions) or `after` (deliveries); null on the last page. */
  nextCursor: string | null;
}

export interface IdempotencyOptions {
  idempotencyKey: string;
  /**
   * Let the call run to its end even after SIGINT/SIGTERM: its answer carries a secret the
   * platform shows once, so cutting it short could create something nobody can use.
   */
  ignoreInterrupt?: boolean;
}

export interface EmulatorEventBody {
  event_type: string;
  data?: Record<string, unknown>;
}

/** What the emulator says of itself (`GET /_emulator/health`, no token needed). */
export interface EmulatorHealth {
  status: string;
  tenant_id: string;
  /** Absent from emulators older than this field. */
  allow_private_targets?: boolean;
  [key: string]: unknown;
}

/** The emulator's answer to an injected event. */
export interface EmulatorEventAccepted {
  event_id: string;
  /** Ids of the subscriptions the event is delivered to. */
  subscriptions: string[];
  [key: string]: unknown;
}

/** Deadlines for one call, overriding the client's defaults (see HttpRequest). */
export interface CallBudget {
  timeoutMs?: number;
  totalTimeoutMs?: number;
}

export interface ApiClientOptions {
  http: Http;
  tokenProvider: AccessTokenProvider;
  signal?: AbortSignal;
}

type CallRequest = Omit<HttpRequest, 'headers' | 'signal'> & { headers?: Record<string, string>; ignoreInterrupt?: boolean };

export class ApiClient {
  readonly #http: Http;
  readonly #tokens: AccessTokenProvider;
  readonly #signal: AbortSignal | undefined;

  constructor(options: ApiClientOptions) {
    this.#http = options.http;
    this.#tokens = options.tokenProvider;
    this.#signal = options.signal;
  }

  get baseUrl(): string {
    return this.#http.baseUrl;
  }

  async listEventTypes(): Promise<EventType[]> {
    const result = await this.#call<unknown>({ method: 'GET', path: paths.eventTypes() });
    return expectList<EventType>(result.data, EVENT_TYPE, 'the event catalogue', result.requestId);
  }

  async createSubscription(body: CreateSubscriptionBody, options: IdempotencyOptions): Promise<CreatedSubscription> {
    const result = await this.#call<unknown>({
      method: 'POST',
      path: paths.subscriptions(),
      json: body,
      headers: { [IDEMPOTENCY_HEADER]: options.idempotencyKey },
      ignoreInterrupt: options.ignoreInterrupt === true,
    });
    return expectObject<CreatedSubscription>(result.data, CREATED_SUBSCRIPTION, 'a new subscription with its signing secret', result.requestId);
  }

  async listSubscriptions(options: { cursor?: string | undefined; limit?: number | undefined } = {}): Promise<Page<Subscription>> {
    const result = await this.#call<unknown>({
      method: 'GET',
      path: paths.subscriptions(),
      query: { cursor: options.cursor, limit: options.limit },
    });
    return toPage(result, expectList<Subscription>(result.data, SUBSCRIPTION, 'a list of subscriptions', result.requestId));
  }

  /** Every subscription, one page in memory at a time. */
  async *iterateSubscriptions(options: { pageSize?: number } = {}): AsyncGenerator<Subscription, void, undefined> {
    const limit = clampLimit(options.pageSize ?? LIST_LIMIT.max);
    let cursor: string | undefined;
    const seen = new Set<string>();
    for (;;) {
      const page = await this.listSubscriptions({ cursor, limit });
      yield* page.items;
      if (!page.nextCursor) return;
      // A server handing back a cursor it already gave would loop forever.
      if (seen.has(page.nextCursor)) throw loopingCursorError(page.nextCursor);
      seen.add(page.nextCursor);
      cursor = page.nextCursor;
    }
  }

  async getSubscription(id: string): Promise<Subscription> {
    const result = await this.#call<unknown>({ method: 'GET', path: paths.subscription(id) }, { subscriptionId: id });
    return expectObject<Subscription>(result.data, SUBSCRIPTION, 'a subscription', result.requestId);
  }

  async updateSubscription(id: string, body: UpdateSubscriptionBody): Promise<Subscription> {
    const result = await this.#call<unknown>(
      { method: 'PATCH', path: paths.subscription(id), json: body },
      { subscriptionId: id },
    );
    return expectObject<Subscription>(result.data, SUBSCRIPTION, 'a subscription', result.requestId);
  }

  async deleteSubscription(id: string): Promise<void> {
    await this.#call<undefined>({ method: 'DELETE', path: paths.subscription(id) }, { subscriptionId: id });
  }

  async rotateSecret(id: string, body: RotateSecretBody, options: IdempotencyOptions): Promise<RotatedSecret> {
    const result = await this.#call<unknown>(
      {
        method: 'POST',
        path: paths.rotateSecret(id),
        json: body,
        headers: { [IDEMPOTENCY_HEADER]: options.idempotencyKey },
        ignoreInterrupt: options.ignoreInterrupt === true,
      },
      { subscriptionId: id },
    );
    return expectObject<RotatedSecret>(result.data, ROTATED_SECRET, 'a rotated signing secret', result.requestId);
  }

  /** One synchronous test.ping delivery. A POST without idempotency key: never repeated. */
  async testSubscription(id: string): Promise<DeliveryRecord> {
    const result = await this.#call<unknown>(
      {
        method: 'POST',
        path: paths.test(id),
        json: {},
        retry: false,
        timeoutMs: TEST_CALL_TIMEOUT_MS,
        totalTimeoutMs: TEST_CALL_TIMEOUT_MS,
      },
      { subscriptionId: id },
    );
    return expectObject<DeliveryRecord>(result.data, DELIVERY_RECORD, 'a delivery record', result.requestId);
  }

  /** `budget` shortens the call's deadlines, for pollers that would rather try again soon. */
  async listDeliveries(id: string, query: DeliveriesQuery = {}, budget: CallBudget = {}): Promise<Page<DeliveryRecord>> {
    const result = await this.#call<unknown>(
      {
        method: 'GET',
        path: paths.deliveries(id),
        ...budget,
        query: {
          after: query.after,
          since: query.since,
          outcome: query.outcome,
          event_type: query.event_type,
          order: query.order,
          limit: query.limit,
        },
      },
      { subscriptionId: id },
    );
    return toPage(result, expectList<DeliveryRecord>(result.data, DELIVERY_RECORD, 'a page of the delivery feed', result.requestId));
  }

  async listDeadLetters(id: string): Promise<DeadLetter[]> {
    const result = await this.#call<unknown>({ method: 'GET', path: paths.deadLetters(id) }, { subscriptionId: id });
    return expectList<DeadLetter>(result.data, DEAD_LETTER, 'a list of dead letters', result.requestId);
  }

  async redeliver(id: string, eventId: string): Promise<RedeliveryAccepted> {
    const result = await this.#call<unknown>(
      { method: 'POST', path: paths.redeliver(id, eventId), json: {} },
      { subscriptionId: id, eventId },
    );
    return expectObject<RedeliveryAccepted>(result.data, ANY_OBJECT, 'an accepted redelivery', result.requestId);
  }

  /** Emulator only: its identity and settings; needs no token. */
  async emulatorHealth(): Promise<EmulatorHealth> {
    // Asked only to check a receiver URL sooner: one short try, not the full retry budget.
    const result = await this.#http.request<unknown>({
      method: 'GET',
      path: EMULATOR_HEALTH_PATH,
      retry: false,
      timeoutMs: 5_000,
      ...(this.#signal ? { signal: this.#signal } : {}),
    });
    return expectObject<EmulatorHealth>(result.data, EMULATOR_HEALTH, 'what the emulator says of itself', result.requestId);
  }

  /** Emulator only: inject an event as if it happened on the tenant. */
  async emitEmulatorEvent(body: EmulatorEventBody): Promise<EmulatorEventAccepted> {
    const result = await this.#call<unknown>({ method: 'POST', path: EMULATOR_EVENTS_PATH, json: body });
    const data = expectObject<EmulatorEventAccepted>(result.data, EMULATOR_EVENT, 'an accepted event', result.requestId);
    return { ...data, subscriptions: Array.isArray(data.subscriptions) ? data.subscriptions : [] };
  }

  async #call<T>(callRequest: CallRequest, subject: Subject = {}): Promise<HttpResult<T>> {
    const { ignoreInterrupt, ...req } = callRequest;
    const signal = ignoreInterrupt ? undefined : this.#signal;
    let refreshed = false;
    for (;;) {
      // Even for a call that must not be cut short once sent, getting its token may be.
      const token = await this.#tokens.getToken(this.#signal);
      try {
        return await this.#http.request<T>({
          ...req,
          headers: { ...req.headers, authorization: `Bearer ${token}` },
          ...(signal ? { signal } : {}),
        });
      } catch (error) {
        if (!(error instanceof ApiError)) throw error;
        // A 401 was refused before any work was done, so repeating even a POST is safe.
        if (error.status === 401 && this.#tokens.refreshable && !refreshed) {
          refreshed = true;
          await this.#tokens.invalidate();
          continue;
        }
        throw await this.#explain(error, subject, refreshed);
      }
    }
  }

  async #explain(error: ApiError, subject: Subject, refreshed: boolean): Promise<ApiError> {
    if (error.status === 404 && error.code !== 'invalid_response' && subject.subscriptionId) {
      const aboutEvent = subject.eventId !== undefined && /event/i.test(error.message);
      const message = aboutEvent
        ? `event ${subject.eventId} not found for subscription ${subject.subscriptionId}`
        : `subscription ${subject.subscriptionId} not found`;
      return rebuild(error, message, {
        hint: aboutEvent
          ? `event ids (${ID_PREFIX.event}...) appear in the delivery feed and the dead letters of the subscription`
          : `check the id (subscription ids start with ${ID_PREFIX.subscription}) and the tenant`,
      });
    }
    if (error.status === 403 && error.code === 'insufficient_scope') {
      const scope = missingScope(error.details);
      // The cached token lacks the scope; the next run should ask for a fresh one.
      if (this.#tokens.refreshable) await this.#tokens.invalidate();
      return rebuild(error, `the access token lacks the scope ${scope ?? 'this call needs'}`, {
        hint: this.#tokens.refreshable
          ? `grant ${scope ?? 'the scope'} to the M2M application in the IntelliAuth console, then run the command again`
          : `use a token that includes ${scope ?? 'the scope'}`,
      });
    }
    if (error.status === 401) {
      return rebuild(error, 'the API rejected the access token', {
        hint: refreshed
          ? 'a fresh token was refused too: check the tenant URL and the audience'
          : 'the token may have expired: get a new one, or use client credentials (`intelliauth-webhooks login`)',
      });
    }
    return error;
  }
}

interface Subject {
  subscriptionId?: string;
  eventId?: string;
}

function rebuild(error: ApiError, message: string, extra: { hint?: string }): ApiError {
  return new ApiError({
    status: error.status,
    code: error.code,
    message,
    requestId: error.requestId,
    details: error.details,
    retryAfterSeconds: error.retryAfterSeconds,
    ...(extra.hint !== undefined ? { hint: extra.hint } : error.hint !== undefined ? { hint: error.hint } : {}),
  });
}

function missingScope(details: Record<string, unknown> | undefined): string | undefined {
  if (!details) return undefined;
  for (const key of ['required_scope', 'missing_scope', 'scope', 'required_scopes', 'missing_scopes', 'scopes']) {
    const value = details[key];
    if (typeof value === 'string' && value) return value;
    if (Array.isArray(value) && value.every((v) => typeof v === 'string') && value.length > 0) return value.join(' ');
  }
  return undefined;
}

function toPage<T>(result: HttpResult<unknown>, items: T[]): Page<T> {
  const next = result.meta?.next_cursor;
  return {
    items,
    nextCursor: typeof next === 'string' && next !== '' ? next : null,
  };
}

function clampLimit(limit: number): number {
  if (!Number.isFinite(limit)) return LIST_LIMIT.default;
  return Math.min(LIST_LIMIT.max, Math.max(LIST_LIMIT.min, Math.trunc(limit)));
}

function loopingCursorError(cursor: string): ApiError {
  return new ApiError({
    status: 502,
    code: 'invalid_response',
    message: `the API returned the page cursor ${cursor} twice; stopping the listing`,
  });
}
