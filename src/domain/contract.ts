// The webhook API contract. The platform's public documentation does not specify these
// calls; this module is our assumption of them (see README, "The API contract"). The CLI's
// API client and the emulator both take every path, limit, code and shape from here, so
// adjusting to the real API is a change to this one file.

export const API_PREFIX = '/api/v1/webhooks';
export const TOKEN_PATH = '/oauth2/token';
export const EMULATOR_EVENTS_PATH = '/_emulator/events';
export const EMULATOR_HEALTH_PATH = '/_emulator/health';

export const paths = {
  eventTypes: () => `${API_PREFIX}/event-types`,
  subscriptions: () => `${API_PREFIX}/subscriptions`,
  subscription: (id: string) => `${API_PREFIX}/subscriptions/${encodeURIComponent(id)}`,
  rotateSecret: (id: string) => `${API_PREFIX}/subscriptions/${encodeURIComponent(id)}/rotate-secret`,
  test: (id: string) => `${API_PREFIX}/subscriptions/${encodeURIComponent(id)}/test`,
  deliveries: (id: string) => `${API_PREFIX}/subscriptions/${encodeURIComponent(id)}/deliveries`,
  deadLetters: (id: string) => `${API_PREFIX}/subscriptions/${encodeURIComponent(id)}/dead-letters`,
  redeliver: (id: string, eventId: string) =>
    `${API_PREFIX}/subscriptions/${encodeURIComponent(id)}/events/${encodeURIComponent(eventId)}/redeliver`,
} as const;

export const SCOPES = { read: 'webhooks:read', write: 'webhooks:write' } as const;
export const DEFAULT_SCOPES = [SCOPES.read, SCOPES.write] as const;

export const TOKEN_LIFETIME_SECONDS = 3600;
export const LIST_LIMIT = { min: 1, max: 100, default: 50 } as const;
export const GRACE_PERIOD_SECONDS = { min: 0, max: 604_800, default: 86_400 } as const;
export const IDEMPOTENCY_WINDOW_SECONDS = 24 * 3600;
export const IDEMPOTENCY_HEADER = 'Idempotency-Key';
/** Set on an answer that replays the first answer to an Idempotency-Key. */
export const IDEMPOTENT_REPLAYED_HEADER = 'Idempotent-Replayed';
export const REQUEST_ID_HEADER = 'X-Request-Id';
export const MAX_REQUEST_BODY_BYTES = 1024 * 1024;
export const SUBSCRIPTION_LIMITS = { nameMaxLength: 100, descriptionMaxLength: 500, maxSelectors: 50 } as const;

export const ERROR_STATUS = {
  invalid_request: 400,
  unauthorized: 401,
  insufficient_scope: 403,
  quota_exceeded: 403,
  not_found: 404,
  idempotency_conflict: 409,
  url_not_allowed: 422,
  rate_limited: 429,
  internal_error: 500,
  // HTTP-level refusals, not named by the docs; the emulator answers them in the same envelope.
  method_not_allowed: 405,
  payload_too_large: 413,
  unsupported_media_type: 415,
  unavailable: 503,
} as const;
export type ApiErrorCode = keyof typeof ERROR_STATUS;

export const PLAN_QUOTAS = { starter: 5, pro: 50, enterprise: Number.POSITIVE_INFINITY } as const;
export type Plan = keyof typeof PLAN_QUOTAS;

export const ID_PREFIX = {
  subscription: 'whsub_',
  event: 'evt_',
  tenant: 'tnt_',
  user: 'usr_',
  application: 'app_',
  request: 'req_',
  delivery: 'dlv_',
} as const;

export interface SuccessEnvelope<T> {
  data: T;
  meta?: { next_cursor?: string | null; limit?: number; [key: string]: unknown };
}

export interface ErrorEnvelope {
  error: string;
  message: string;
  details?: Record<string, unknown>;
  request_id?: string;
}

export interface TokenResponse {
  access_token: string;
  token_type: 'Bearer';
  expires_in: number;
  scope: string;
}

export type SubscriptionStatus = 'active' | 'paused';

export interface Subscription {
  id: string;
  name: string;
  url: string;
  events: string[];
  description: string | null;
  status: SubscriptionStatus;
  created_at: string;
  updated_at: string;
  secret_fingerprint: string;
  previous_secret_expires_at: string | null;
}

/** Only the create answer carries the secret. */
export interface CreatedSubscription extends Subscription {
  signing_secret: string;
}

export interface CreateSubscriptionBody {
  name: string;
  url: string;
  events: string[];
  description?: string;
}

export interface UpdateSubscriptionBody {
  name?: string;
  url?: string;
  events?: string[];
  description?: string | null;
  status?: SubscriptionStatus;
}

export interface RotateSecretBody {
  grace_period_seconds?: number;
}

export interface RotatedSecret {
  subscription_id: string;
  signing_secret: string;
  previous_secret_expires_at: string | null;
}

export interface EventType {
  type: string;
  category: string;
  description: string;
}

export type DeliveryOutcome = 'succeeded' | 'failed';
export type DeliveryErrorKind = 'timeout' | 'dns' | 'tls' | 'connection' | 'url_not_allowed' | 'http_status';
export const DELIVERY_ERROR_KINDS: readonly DeliveryErrorKind[] = [
  'timeout',
  'dns',
  'tls',
  'connection',
  'url_not_allowed',
  'http_status',
];

export interface DeliveryRecord {
  id: string;
  subscription_id: string;
  event_id: string;
  event_type: string;
  attempt: number;
  attempted_at: string;
  outcome: DeliveryOutcome;
  http_status: number | null;
  error: DeliveryErrorKind | null;
  latency_ms: number;
  response_excerpt: string;
  next_attempt_at: string | null;
  dead_lettered: boolean;
}

export interface DeliveriesQuery {
  after?: string;
  since?: string;
  outcome?: DeliveryOutcome;
  event_type?: string;
  order?: 'asc' | 'desc';
  limit?: number;
}

export interface DeadLetter {
  event_id: string;
  event_type: string;
  subscription_id: string;
  dead_lettered_at: string;
  expires_at: string;
  attempts: number;
  last_error: DeliveryErrorKind | null;
  last_http_status: number | null;
}

export interface RedeliveryAccepted {
  event_id: string;
  subscription_id: string;
  status: 'scheduled';
}

/** The body a receiver gets (Part A of PLATFORM.md: documented). */
export interface EventPayload {
  event_id: string;
  event_type: string;
  occurred_at: string;
  tenant: { id: string; slug: string };
  actor?: { kind: string; id: string | null; email: string | null };
  data: Record<string, unknown>;
  delivery?: { attempt: number; subscription_id: string };
}

export const DELIVERY_HEADERS = {
  signature: 'x-intelliauth-signature',
  signaturePrevious: 'x-intelliauth-signature-previous',
  eventId: 'x-intelliauth-event-id',
  eventType: 'x-intelliauth-event-type',
  attempt: 'x-intelliauth-delivery-attempt',
  timestamp: 'x-intelliauth-timestamp',
} as const;

export const DELIVERY_TIMEOUT_MS = 10_000;
export const TIMESTAMP_TOLERANCE_SECONDS = 300;
export const RESPONSE_EXCERPT_BYTES = 1024;
export const DEAD_LETTER_TTL_SECONDS = 7 * 24 * 3600;
export const TEST_EVENT_TYPE = 'test.ping';
