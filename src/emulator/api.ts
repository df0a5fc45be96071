import { createHash, randomBytes } from 'node:crypto';
import {
  API_PREFIX,
  EMULATOR_EVENTS_PATH,
  EMULATOR_HEALTH_PATH,
  GRACE_PERIOD_SECONDS,
  ID_PREFIX,
  IDEMPOTENCY_HEADER,
  IDEMPOTENCY_WINDOW_SECONDS,
  IDEMPOTENT_REPLAYED_HEADER,
  LIST_LIMIT,
  PLAN_QUOTAS,
  SCOPES,
  SUBSCRIPTION_LIMITS,
  TEST_EVENT_TYPE,
  paths,
  type CreatedSubscription,
  type DeliveryRecord,
  type Plan,
  type RedeliveryAccepted,
  type RotatedSecret,
} from '../domain/contract.ts';
import { EVENT_CATALOGUE, sampleEventData, validateSelectorsAgainstCatalogue } from '../domain/catalogue.ts';
import { newId } from '../domain/ids.ts';
import { anySelectorMatches, isValidSelector, selectorKind, selectorMatches } from '../domain/selectors.ts';
import { generateSigningSecret } from '../domain/signature.ts';
import { checkReceiverUrl } from '../domain/url-rules.ts';
import type { Deque } from './deque.ts';
import type { DeliveryEngine } from './engine.ts';
import { ApiFailure, canonicalJson, jsonObjectBody, ok, type ApiRequest, type Reply } from './http.ts';
import { publicSubscription, type Op, type StoredEvent, type StoredSubscription, type TenantState } from './state.ts';
import { verifyToken, type TokenClaims } from './tokens.ts';

// The webhook API of PLATFORM.md Part B plus the emulator's control endpoints. Handlers
// validate, compute the ops of their change and the answer; the server applies the ops and
// waits for them to be durable before answering. A handler that must be atomic with its
// idempotency check (create, rotate) does no await between the check and returning its ops.

export interface TenantConfig {
  plan: Plan;
  /** The M2M application's scope allowlist: a token's scopes are honoured only within it. */
  scopes: readonly string[];
  allowPrivateTargets: boolean;
  timeScale: number;
}

export interface TenantContext {
  state: TenantState;
  engine: DeliveryEngine;
  config: TenantConfig;
  tokenKey: Buffer;
}

type Handler = (request: ApiRequest, params: string[]) => Reply | Promise<Reply>;

interface Route {
  pattern: RegExp;
  methods: Record<string, Handler>;
}

const REALM = 'Bearer realm="IntelliAuth"';
const DELIVERY_ID = /^dlv_[0-9A-HJKMNP-TV-Z]{26}$/;
const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/;
const CONTROL_CHARACTERS = /\p{Cc}/u;
const VERIFIED_TOKEN_CACHE_SIZE = 256;

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function notFound(what: string, details: Record<string, unknown>): ApiFailure {
  return new ApiFailure('not_found', `${what} not found`, details);
}

function invalid(details: Record<string, string>): ApiFailure {
  const fields = Object.keys(details);
  return new ApiFailure('invalid_request', `invalid ${fields.join(', ')}: ${Object.values(details)[0]}${fields.length > 1 ? ' (and more in details)' : ''}`, details);
}

function parseLimit(query: URLSearchParams): number {
  const text = query.get('limit');
  if (text === null) return LIST_LIMIT.default;
  const value = /^\d{1,4}$/.test(text) ? Number(text) : Number.NaN;
  if (!(value >= LIST_LIMIT.min && value <= LIST_LIMIT.max)) {
    throw invalid({ limit: `must be an integer from ${LIST_LIMIT.min} to ${LIST_LIMIT.max}` });
  }
  return value;
}

function encodeCursor(id: string): string {
  return Buffer.from(`after:${id}`, 'utf8').toString('base64url');
}

function decodeCursor(cursor: string): string {
  const text = Buffer.from(cursor, 'base64url').toString('utf8');
  if (!text.startsWith('after:') || text.length <= 'after:'.length || encodeCursor(text.slice(6)) !== cursor) {
    throw invalid({ cursor: 'is not a cursor this API handed out' });
  }
  return text.slice(6);
}

function describeUnknownSelectors(unknown: Array<{ selector: string; suggestions: string[] }>): string {
  return unknown
    .map(({ selector, suggestions }) => `${selector} is not in the event catalogue${suggestions.length > 0 ? ` (did you mean ${suggestions.join(', ')}?)` : ''}`)
    .join('; ');
}

const KNOWN_TYPES = EVENT_CATALOGUE.map((entry) => entry.type);

interface SubscriptionFields {
  name?: string;
  url?: string;
  events?: string[];
  description?: string | null;
  status?: 'active' | 'paused';
}

export class WebhooksApi {
  private readonly routes: Route[];
  private readonly verifiedTokens = new Map<string, TokenClaims>();

  constructor(private readonly tenant: TenantContext) {
    const sub = `${escapeRegExp(API_PREFIX)}/subscriptions/([^/]+)`;
    this.routes = [
      { pattern: new RegExp(`^${escapeRegExp(paths.eventTypes())}$`), methods: { GET: (r) => this.eventTypes(r) } },
      {
        pattern: new RegExp(`^${escapeRegExp(paths.subscriptions())}$`),
        methods: { GET: (r) => this.listSubscriptions(r), POST: (r) => this.createSubscription(r) },
      },
      {
        pattern: new RegExp(`^${sub}$`),
        methods: {
          GET: (r, [id]) => this.getSubscription(r, id!),
          PATCH: (r, [id]) => this.updateSubscription(r, id!),
          DELETE: (r, [id]) => this.deleteSubscription(r, id!),
        },
      },
      { pattern: new RegExp(`^${sub}/rotate-secret$`), methods: { POST: (r, [id]) => this.rotateSecret(r, id!) } },
      { pattern: new RegExp(`^${sub}/test$`), methods: { POST: (r, [id]) => this.testSubscription(r, id!) } },
      { pattern: new RegExp(`^${sub}/deliveries$`), methods: { GET: (r, [id]) => this.listDeliveries(r, id!) } },
      { pattern: new RegExp(`^${sub}/dead-letters$`), methods: { GET: (r, [id]) => this.listDeadLetters(r, id!) } },
      {
        pattern: new RegExp(`^${sub}/events/([^/]+)/redeliver$`),
        methods: { POST: (r, [id, eventId]) => this.redeliver(r, id!, eventId!) },
      },
      { pattern: new RegExp(`^${escapeRegExp(EMULATOR_EVENTS_PATH)}$`), methods: { POST: (r) => this.emitEvent(r) } },
      { pattern: new RegExp(`^${escapeRegExp(EMULATOR_HEALTH_PATH)}$`), methods: { GET: () => this.health() } },
    ];
  }

  /** Routes a request; throws ApiFailure for refusals. */
  handle(request: ApiRequest): Reply | Promise<Reply> {
    for (const route of this.routes) {
      const match = route.pattern.exec(request.path);
      if (!match) continue;
      const handler = route.methods[request.method];
      if (!handler) {
        const allow = Object.keys(route.methods).join(', ');
        throw new ApiFailure('method_not_allowed', `${request.method} is not allowed here; use ${allow}`, { allow }, { allow });
      }
      let params: string[];
      try {
        params = match.slice(1).map((part) => decodeURIComponent(part));
      } catch {
        throw notFound('resource', { path: request.path });
      }
      return handler(request, params);
    }
    throw notFound('resource', { path: request.path });
  }

  // ---- auth -------------------------------------------------------------------------------

  private authenticate(request: ApiRequest, requiredScope: string | null): TokenClaims {
    const header = request.headers.authorization;
    if (header === undefined || header.trim() === '') {
      throw new ApiFailure('unauthorized', 'an access token is required: send Authorization: Bearer <token>', {}, { 'www-authenticate': REALM });
    }
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    const claims = match ? this.verify(match[1]!) : null;
    if (!claims || claims.sub !== this.tenant.state.server.client_id) {
      throw new ApiFailure('unauthorized', 'the access token is invalid or expired', {}, {
        'www-authenticate': `${REALM}, error="invalid_token", error_description="the access token is invalid or expired"`,
      });
    }
    if (requiredScope !== null) {
      const granted = claims.scopes.filter((scope) => this.tenant.config.scopes.includes(scope));
      if (!granted.includes(requiredScope)) {
        throw new ApiFailure(
          'insufficient_scope',
          `this call needs the scope ${requiredScope}`,
          { required_scope: requiredScope, granted_scopes: granted },
          { 'www-authenticate': `${REALM}, error="insufficient_scope", scope="${requiredScope}"` },
        );
      }
    }
    return claims;
  }

  /** Verifies a token, remembering recent answers: clients reuse one token for an hour. */
  private verify(token: string): TokenClaims | null {
    const cached = this.verifiedTokens.get(token);
    if (cached) return cached.exp > Date.now() / 1000 ? cached : null;
    const claims = verifyToken(this.tenant.tokenKey, token);
    if (claims) {
      if (this.verifiedTokens.size >= VERIFIED_TOKEN_CACHE_SIZE) this.verifiedTokens.clear();
      this.verifiedTokens.set(token, claims);
    }
    return claims;
  }

  private subscription(id: string): StoredSubscription {
    const sub = this.tenant.state.subscriptions.get(id);
    if (!sub) throw notFound('subscription', { subscription_id: id });
    return sub;
  }

  // ---- idempotency ------------------------------------------------------------------------

  /** Replays the first answer to a repeated Idempotency-Key, or runs `handler` and remembers a 2xx answer with its ops. */
  private idempotent(request: ApiRequest, claims: TokenClaims, body: unknown, handler: () => Reply): Reply {
    const header = request.headers[IDEMPOTENCY_HEADER.toLowerCase()];
    if (header === undefined) return handler();
    const key = Array.isArray(header) ? header.join(',') : header;
    if (!IDEMPOTENCY_KEY.test(key)) {
      throw invalid({ [IDEMPOTENCY_HEADER]: 'must be 1 to 255 visible ASCII characters' });
    }
    const { state } = this.tenant;
    const now = Date.now();
    state.expireIdempotency(now - IDEMPOTENCY_WINDOW_SECONDS * 1000);
    const storeKey = `${claims.sub}\n${key}`;
    const fingerprint = createHash('sha256').update(`${request.method} ${request.path}\n${canonicalJson(body)}`).digest('hex');
    const previous = state.idempotencyRecord(storeKey);
    if (previous) {
      if (previous.fingerprint !== fingerprint) {
        throw new ApiFailure('idempotency_conflict', `the ${IDEMPOTENCY_HEADER} was already used with a different request`, {
          [IDEMPOTENCY_HEADER]: key,
        });
      }
      return { status: previous.status, body: previous.body, headers: { [IDEMPOTENT_REPLAYED_HEADER.toLowerCase()]: 'true' } };
    }
    const reply = handler();
    if (reply.status >= 200 && reply.status < 300) {
      reply.ops = [...(reply.ops ?? []), { op: 'idem', i: { key: storeKey, fingerprint, status: reply.status, body: reply.body, created: now } }];
    }
    return reply;
  }

  // ---- validation -------------------------------------------------------------------------

  private readFields(body: Record<string, unknown>, partial: boolean): SubscriptionFields {
    const problems: Record<string, string> = {};
    const fields: SubscriptionFields = {};
    const allowed = partial ? ['name', 'url', 'events', 'description', 'status'] : ['name', 'url', 'events', 'description'];
    for (const key of Object.keys(body)) if (!allowed.includes(key)) problems[key] = `unknown field (allowed: ${allowed.join(', ')})`;

    if ('name' in body || !partial) {
      const name = body.name;
      if (typeof name !== 'string') problems.name = 'is required and must be a string';
      else if (name.trim().length < 1 || name.trim().length > SUBSCRIPTION_LIMITS.nameMaxLength) {
        problems.name = `must be 1 to ${SUBSCRIPTION_LIMITS.nameMaxLength} characters`;
      } else if (CONTROL_CHARACTERS.test(name)) problems.name = 'must not contain control characters';
      else fields.name = name.trim();
    }
    if ('url' in body || !partial) {
      const url = body.url;
      if (typeof url !== 'string' || url.trim() === '') problems.url = 'is required and must be a non-empty string';
      else fields.url = url;
    }
    if ('events' in body || !partial) {
      const events = body.events;
      if (!Array.isArray(events) || events.length === 0) problems.events = 'is required and must be a non-empty array of event selectors';
      else if (events.length > SUBSCRIPTION_LIMITS.maxSelectors) problems.events = `must list at most ${SUBSCRIPTION_LIMITS.maxSelectors} selectors`;
      else if (!events.every((item): item is string => typeof item === 'string')) problems.events = 'must contain strings only';
      else {
        const malformed = events.filter((item) => !isValidSelector(item));
        const { unknown } = validateSelectorsAgainstCatalogue(events.filter(isValidSelector), KNOWN_TYPES);
        if (malformed.length > 0) {
          problems.events = `not event selectors: ${malformed.map((item) => JSON.stringify(item)).join(', ')} (use *, a category like user.*, or a type like user.signed_up)`;
        } else if (unknown.length > 0) problems.events = describeUnknownSelectors(unknown);
        else fields.events = [...new Set(events)];
      }
    }
    if ('description' in body) {
      const description = body.description;
      if (description === null) fields.description = null;
      else if (typeof description !== 'string') problems.description = 'must be a string or null';
      else if (description.length > SUBSCRIPTION_LIMITS.descriptionMaxLength) {
        problems.description = `must be at most ${SUBSCRIPTION_LIMITS.descriptionMaxLength} characters`;
      } else fields.description = description;
    }
    if (partial && 'status' in body) {
      const status = body.status;
      if (status !== 'active' && status !== 'paused') problems.status = 'must be "active" or "paused"';
      else fields.status = status;
    }
    if (Object.keys(problems).length > 0) throw invalid(problems);

    if (fields.url !== undefined) {
      const verdict = checkReceiverUrl(fields.url, { allowPrivateTargets: this.tenant.config.allowPrivateTargets });
      if (!verdict.ok) throw new ApiFailure('url_not_allowed', `receiver URL refused: ${verdict.reason}`, { url: verdict.reason });
      fields.url = verdict.url.href;
    }
    return fields;
  }

  // ---- handlers ---------------------------------------------------------------------------

  private eventTypes(request: ApiRequest): Reply {
    this.authenticate(request, SCOPES.read);
    return ok(EVENT_CATALOGUE.map((entry) => ({ ...entry })));
  }

  private listSubscriptions(request: ApiRequest): Reply {
    this.authenticate(request, SCOPES.read);
    const limit = parseLimit(request.query);
    const cursor = request.query.get('cursor');
    const afterId = cursor === null || cursor === '' ? null : decodeCursor(cursor);
    const page: StoredSubscription[] = [];
    let more = false;
    // Insertion order is creation order, and ids sort in creation order.
    for (const sub of this.tenant.state.subscriptions.values()) {
      if (afterId !== null && sub.id <= afterId) continue;
      if (page.length === limit) {
        more = true;
        break;
      }
      page.push(sub);
    }
    const now = Date.now();
    return ok(
      page.map((sub) => publicSubscription(sub, now)),
      { next_cursor: more ? encodeCursor(page[page.length - 1]!.id) : null, limit },
    );
  }

  private getSubscription(request: ApiRequest, id: string): Reply {
    this.authenticate(request, SCOPES.read);
    return ok(publicSubscription(this.subscription(id)));
  }

  private createSubscription(request: ApiRequest): Reply {
    const claims = this.authenticate(request, SCOPES.write);
    const body = jsonObjectBody(request, true);
    return this.idempotent(request, claims, body, () => {
      const fields = this.readFields(body, false);
      const { state, config } = this.tenant;
      const quota = PLAN_QUOTAS[config.plan];
      if (state.subscriptions.size >= quota) {
        throw new ApiFailure('quota_exceeded', `the ${config.plan} plan allows ${quota} webhook subscriptions; delete one or upgrade the plan`, {
          plan: config.plan,
          limit: quota,
          current: state.subscriptions.size,
        });
      }
      const now = new Date().toISOString();
      const secret = generateSigningSecret(randomBytes);
      const sub: StoredSubscription = {
        id: newId(ID_PREFIX.subscription),
        name: fields.name!,
        url: fields.url!,
        events: fields.events!,
        description: fields.description ?? null,
        status: 'active',
        created_at: now,
        updated_at: now,
        secret,
        previous_secret: null,
        previous_secret_expires: null,
      };
      const created: CreatedSubscription = { ...publicSubscription(sub), signing_secret: secret };
      return { ...ok(created, {}, 201), headers: { location: paths.subscription(sub.id) }, ops: [{ op: 'sub', sub }] };
    });
  }

  private updateSubscription(request: ApiRequest, id: string): Reply {
    this.authenticate(request, SCOPES.write);
    const current = this.subscription(id);
    const body = jsonObjectBody(request, true);
    const fields = this.readFields(body, true);
    if (Object.keys(body).length === 0) {
      throw invalid({ body: 'nothing to change: give at least one of name, url, events, description, status' });
    }
    const next: StoredSubscription = { ...current, ...fields, updated_at: new Date().toISOString() };
    return { ...ok(publicSubscription(next)), ops: [{ op: 'sub', sub: next }] };
  }

  private deleteSubscription(request: ApiRequest, id: string): Reply {
    this.authenticate(request, SCOPES.write);
    this.subscription(id);
    return { status: 204, ops: [{ op: 'unsub', id }] };
  }

  private rotateSecret(request: ApiRequest, id: string): Reply {
    const claims = this.authenticate(request, SCOPES.write);
    const current = this.subscription(id);
    const body = jsonObjectBody(request, false);
    return this.idempotent(request, claims, body, () => {
      const unknown = Object.keys(body).filter((key) => key !== 'grace_period_seconds');
      if (unknown.length > 0) throw invalid(Object.fromEntries(unknown.map((key) => [key, 'unknown field (allowed: grace_period_seconds)'])));
      const grace = body.grace_period_seconds ?? GRACE_PERIOD_SECONDS.default;
      if (typeof grace !== 'number' || !Number.isInteger(grace) || grace < GRACE_PERIOD_SECONDS.min || grace > GRACE_PERIOD_SECONDS.max) {
        throw invalid({ grace_period_seconds: `must be an integer from ${GRACE_PERIOD_SECONDS.min} to ${GRACE_PERIOD_SECONDS.max}` });
      }
      const now = Date.now();
      const secret = generateSigningSecret(randomBytes);
      // The secret being replaced becomes the previous one; an older previous one ends here.
      const expires = grace > 0 ? now + (grace * 1000) / this.tenant.config.timeScale : null;
      const next: StoredSubscription = {
        ...current,
        secret,
        previous_secret: expires === null ? null : current.secret,
        previous_secret_expires: expires,
        updated_at: new Date(now).toISOString(),
      };
      const rotated: RotatedSecret = {
        subscription_id: id,
        signing_secret: secret,
        previous_secret_expires_at: expires === null ? null : new Date(expires).toISOString(),
      };
      return { ...ok(rotated), ops: [{ op: 'sub', sub: next }] };
    });
  }

  private async testSubscription(request: ApiRequest, id: string): Promise<Reply> {
    this.authenticate(request, SCOPES.write);
    const sub = this.subscription(id);
    jsonObjectBody(request, false);
    const event = this.newEvent(TEST_EVENT_TYPE, sampleEventData(TEST_EVENT_TYPE), { kind: 'system', id: null, email: null });
    const record = await this.tenant.engine.attemptOnce(sub, event);
    return { ...ok(record), ops: [{ op: 'event', event }, { op: 'rec', r: record }] };
  }

  private listDeliveries(request: ApiRequest, id: string): Reply {
    this.authenticate(request, SCOPES.read);
    this.subscription(id);
    const { query } = request;
    const problems: Record<string, string> = {};
    const after = query.get('after') || null;
    if (after !== null && !DELIVERY_ID.test(after)) problems.after = 'must be a delivery id (dlv_...)';
    const sinceText = query.get('since') || null;
    const since = sinceText === null ? null : Date.parse(sinceText);
    if (since !== null && Number.isNaN(since)) problems.since = 'must be an ISO 8601 timestamp';
    const outcome = query.get('outcome') || null;
    if (outcome !== null && outcome !== 'succeeded' && outcome !== 'failed') problems.outcome = 'must be "succeeded" or "failed"';
    const eventType = query.get('event_type') || null;
    if (eventType !== null && !isValidSelector(eventType)) problems.event_type = 'must be an event selector (*, user.*, user.signed_up)';
    const order = query.get('order') || 'asc';
    if (order !== 'asc' && order !== 'desc') problems.order = 'must be "asc" or "desc"';
    if (Object.keys(problems).length > 0) throw invalid(problems);
    const limit = parseLimit(query);

    const feed = this.tenant.state.feed(id);
    const page: DeliveryRecord[] = [];
    let more = false;
    if (feed && feed.length > 0) {
      // Feed ids ascend, so `after` (the resume point in the chosen order) is a binary search.
      const ascending = order === 'asc';
      let index: number;
      if (ascending) index = after === null ? 0 : firstIdAbove(feed, after, false);
      else index = (after === null ? feed.length : firstIdAbove(feed, after, true)) - 1;
      const step = ascending ? 1 : -1;
      for (; index >= 0 && index < feed.length; index += step) {
        const record = feed.at(index)!;
        if (since !== null && Date.parse(record.attempted_at) < since) continue;
        if (outcome !== null && record.outcome !== outcome) continue;
        if (eventType !== null && !selectorMatches(eventType, record.event_type)) continue;
        if (page.length === limit) {
          more = true;
          break;
        }
        page.push(record);
      }
    }
    return ok(page, { next_cursor: more ? page[page.length - 1]!.id : null, limit });
  }

  private listDeadLetters(request: ApiRequest, id: string): Reply {
    this.authenticate(request, SCOPES.read);
    this.subscription(id);
    const now = Date.now();
    const letters = this.tenant.state.deadLettersOf(id).filter((letter) => Date.parse(letter.expires_at) > now);
    return ok(letters, { next_cursor: null });
  }

  private redeliver(request: ApiRequest, id: string, eventId: string): Reply {
    this.authenticate(request, SCOPES.write);
    this.subscription(id);
    jsonObjectBody(request, false);
    const { state } = this.tenant;
    if (!state.event(eventId) || !state.subscriptionKnowsEvent(id, eventId)) {
      throw notFound('event', { subscription_id: id, event_id: eventId, hint: 'only events this subscription received recently or holds as dead letters can be redelivered' });
    }
    const accepted: RedeliveryAccepted = { event_id: eventId, subscription_id: id, status: 'scheduled' };
    const ops: Op[] = [
      { op: 'pend', p: { subscription_id: id, event_id: eventId, attempt: 1, due: Date.now() } },
      { op: 'undl', s: id, e: eventId },
    ];
    return { ...ok(accepted, {}, 202), ops };
  }

  private emitEvent(request: ApiRequest): Reply {
    this.authenticate(request, null);
    const body = jsonObjectBody(request, true);
    const problems: Record<string, string> = {};
    for (const key of Object.keys(body)) {
      if (!['event_type', 'data', 'actor', 'occurred_at'].includes(key)) problems[key] = 'unknown field (allowed: event_type, data, actor, occurred_at)';
    }
    const type = body.event_type;
    if (typeof type !== 'string' || selectorKind(type) !== 'type') problems.event_type = 'is required and must be an event type such as user.signed_up';
    const data = body.data;
    if (data !== undefined && (typeof data !== 'object' || data === null || Array.isArray(data))) problems.data = 'must be a JSON object';
    const actor = body.actor as Record<string, unknown> | undefined;
    const actorValid =
      actor === undefined ||
      (typeof actor === 'object' &&
        actor !== null &&
        typeof actor.kind === 'string' &&
        (actor.id === undefined || actor.id === null || typeof actor.id === 'string') &&
        (actor.email === undefined || actor.email === null || typeof actor.email === 'string'));
    if (!actorValid) problems.actor = 'must be an object {kind, id, email} with kind a string and id, email strings or null';
    const occurredAt = body.occurred_at;
    if (occurredAt !== undefined && (typeof occurredAt !== 'string' || Number.isNaN(Date.parse(occurredAt)))) {
      problems.occurred_at = 'must be an ISO 8601 timestamp';
    }
    if (Object.keys(problems).length > 0) throw invalid(problems);

    const eventType = type as string;
    const eventData = (data as Record<string, unknown> | undefined) ?? sampleEventData(eventType);
    const eventActor = actor
      ? { kind: actor.kind as string, id: (actor.id as string | null | undefined) ?? null, email: (actor.email as string | null | undefined) ?? null }
      : defaultActor(eventData);
    const event = this.newEvent(eventType, eventData, eventActor, occurredAt as string | undefined);
    const now = Date.now();
    const matched = [...this.tenant.state.subscriptions.values()].filter(
      (sub) => sub.status === 'active' && anySelectorMatches(sub.events, eventType),
    );
    const ops: Op[] =
      matched.length === 0
        ? []
        : [
            { op: 'event', event },
            ...matched.map((sub): Op => ({ op: 'pend', p: { subscription_id: sub.id, event_id: event.event_id, attempt: 1, due: now } })),
          ];
    return {
      ...ok({ event_id: event.event_id, event_type: eventType, occurred_at: event.occurred_at, subscriptions: matched.map((sub) => sub.id) }, {}, 202),
      ops,
    };
  }

  private health(): Reply {
    const { server } = this.tenant.state;
    // allow_private_targets lets the CLI apply the receiver URL rules this emulator applies
    // before asking anything, as it does against the platform.
    return ok({ status: 'ok', tenant_id: server.tenant_id, tenant_slug: server.tenant_slug, allow_private_targets: this.tenant.config.allowPrivateTargets });
  }

  private newEvent(type: string, data: Record<string, unknown>, actor: StoredEvent['actor'], occurredAt?: string): StoredEvent {
    const { server } = this.tenant.state;
    return {
      event_id: newId(ID_PREFIX.event),
      event_type: type,
      occurred_at: occurredAt === undefined ? new Date().toISOString() : new Date(occurredAt).toISOString(),
      tenant: { id: server.tenant_id, slug: server.tenant_slug },
      actor,
      data,
    };
  }
}

/** Index of the first record whose id is above `id` (or equal to it, with `orEqual`). */
function firstIdAbove(feed: Deque<DeliveryRecord>, id: string, orEqual: boolean): number {
  let low = 0;
  let high = feed.length;
  while (low < high) {
    const middle = (low + high) >> 1;
    const candidate = feed.at(middle)!.id;
    if (candidate < id || (!orEqual && candidate === id)) low = middle + 1;
    else high = middle;
  }
  return low;
}

/** The user an event is about acts, unless the sample says nothing about a user. */
function defaultActor(data: Record<string, unknown>): NonNullable<StoredEvent['actor']> {
  if (typeof data.user_id === 'string') {
    return { kind: 'user', id: data.user_id, email: typeof data.email === 'string' ? data.email : null };
  }
  return { kind: 'system', id: null, email: null };
}
