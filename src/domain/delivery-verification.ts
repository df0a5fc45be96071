import { TIMESTAMP_TOLERANCE_SECONDS } from './contract.ts';
import { checkTimestamp, secretFingerprint, signatureMatches } from './signature.ts';

// What a receiver does with one delivery, in the order the platform asks for: the signature
// over the raw bytes first, then the timestamp, and only then the body is parsed and its
// tenant checked. Shared by `verify` and the `listen` receiver; pure apart from the clock default.

export const SIGNATURE_HEADER_NAME = 'X-IntelliAuth-Signature';
export const PREVIOUS_SIGNATURE_HEADER_NAME = 'X-IntelliAuth-Signature-Previous';
export const TIMESTAMP_HEADER_NAME = 'X-IntelliAuth-Timestamp';

export interface VerificationInput {
  rawBody: Uint8Array;
  /** X-IntelliAuth-Signature */
  signature: string | undefined;
  /** X-IntelliAuth-Signature-Previous (sent while the platform's previous secret is in its grace period) */
  previousSignature?: string | undefined;
  /** X-IntelliAuth-Timestamp; checked only when given, unless requireTimestamp. */
  timestamp?: string | undefined;
  /** previous: the receiver's own previous secret, still in its rotation grace. */
  secrets: { current: string; previous?: string | null };
  expectedTenantId?: string | undefined;
  /** Default 300 (the documented tolerance). */
  maxSkewSeconds?: number | undefined;
  nowSeconds?: number | undefined;
  requireTimestamp?: boolean | undefined;
}

/** The fields of a delivery body a receiver routes on; null where the body lacks them. */
export interface ParsedEvent {
  eventId: string | null;
  eventType: string | null;
  occurredAt: string | null;
  tenantId: string | null;
  tenantSlug: string | null;
  attempt: number | null;
  subscriptionId: string | null;
  /** The whole parsed body. */
  payload: Record<string, unknown>;
}

export type SecretRole = 'current' | 'previous';
export type SignatureHeader = 'signature' | 'signature-previous';

export type VerificationFailure =
  | 'signature_missing'
  | 'signature_malformed'
  | 'signature_mismatch'
  | 'timestamp_missing'
  | 'timestamp_malformed'
  | 'timestamp_stale'
  | 'timestamp_future'
  | 'body_not_json'
  | 'body_not_object'
  | 'tenant_mismatch';

export interface ValidVerdict {
  valid: true;
  matchedWith: SecretRole;
  header: SignatureHeader;
  /** Always present on a valid verdict (the body is a JSON object by then). */
  event: ParsedEvent;
  /** Receiver clock minus the timestamp; null when no timestamp was checked. */
  timestampSkewSeconds: number | null;
}

export interface InvalidVerdict {
  valid: false;
  reason: VerificationFailure;
  /** One precise line; never contains a secret (fingerprints only). */
  message: string;
}

export type VerificationVerdict = ValidVerdict | InvalidVerdict;

export function headerDisplayName(header: SignatureHeader): string {
  return header === 'signature' ? SIGNATURE_HEADER_NAME : PREVIOUS_SIGNATURE_HEADER_NAME;
}

export function verifyDelivery(input: VerificationInput): VerificationVerdict {
  const signatureCheck = checkSignatures(input);
  if (!signatureCheck.ok) return signatureCheck.verdict;

  let timestampSkewSeconds: number | null = null;
  if (input.timestamp !== undefined || input.requireTimestamp === true) {
    const timestamp = checkDeliveryTimestamp(input);
    if (!timestamp.ok) return timestamp.verdict;
    timestampSkewSeconds = timestamp.skewSeconds;
  }

  const parsed = parseBody(input.rawBody);
  if (!parsed.ok) return parsed.verdict;

  if (input.expectedTenantId !== undefined) {
    const tenantId = parsed.event.tenantId;
    if (tenantId === null) {
      return invalid('tenant_mismatch', `body has no tenant.id, expected ${input.expectedTenantId}`);
    }
    if (tenantId !== input.expectedTenantId) {
      return invalid('tenant_mismatch', `tenant.id is ${tenantId}, expected ${input.expectedTenantId}`);
    }
  }

  return {
    valid: true,
    matchedWith: signatureCheck.matchedWith,
    header: signatureCheck.header,
    event: parsed.event,
    timestampSkewSeconds,
  };
}

type SignatureCheck = { ok: true; matchedWith: SecretRole; header: SignatureHeader } | { ok: false; verdict: InvalidVerdict };

const HEX_SHA256 = /^[0-9a-f]{64}$/;

function checkSignatures(input: VerificationInput): SignatureCheck {
  const presented: Array<{ header: SignatureHeader; value: string }> = [];
  if (isPresent(input.signature)) presented.push({ header: 'signature', value: input.signature });
  if (isPresent(input.previousSignature)) presented.push({ header: 'signature-previous', value: input.previousSignature });
  if (presented.length === 0) {
    return { ok: false, verdict: invalid('signature_missing', `no ${SIGNATURE_HEADER_NAME} header`) };
  }

  const held: Array<{ role: SecretRole; secret: string }> = [{ role: 'current', secret: input.secrets.current }];
  if (typeof input.secrets.previous === 'string' && input.secrets.previous !== '') {
    held.push({ role: 'previous', secret: input.secrets.previous });
  }

  // Every pair is compared, with no early exit, so the time taken does not tell which one matched.
  let match: { role: SecretRole; header: SignatureHeader } | null = null;
  for (const { header, value } of presented) {
    for (const { role, secret } of held) {
      const matches = signatureMatches(secret, input.rawBody, value);
      if (matches && match === null) match = { role, header };
    }
  }
  if (match !== null) return { ok: true, matchedWith: match.role, header: match.header };

  const malformed = presented.filter(({ value }) => !HEX_SHA256.test(value.trim()));
  if (malformed.length === presented.length) {
    const first = malformed[0]!;
    return { ok: false, verdict: invalid('signature_malformed', `${headerDisplayName(first.header)} ${describeMalformed(first.value)}`) };
  }
  const headers = presented.map(({ header }) => headerDisplayName(header));
  const fingerprints = held.map(({ role, secret }) => `${role} ${secretFingerprint(secret)}`);
  const subject = headers.length === 1 ? `${headers[0]} does not match` : `neither ${headers.join(' nor ')} matches`;
  const secretsText = held.length === 1 ? `secret fingerprint ${secretFingerprint(input.secrets.current)}` : `secret fingerprints ${fingerprints.join(', ')}`;
  return { ok: false, verdict: invalid('signature_mismatch', `${subject} the body (${secretsText})`) };
}

function describeMalformed(value: string): string {
  const text = value.trim();
  if (text.includes(',')) return 'holds several comma-separated values (a header sent twice and joined?), expected 64 lowercase hex characters';
  if (/^sha256=/i.test(text)) return 'has a "sha256=" prefix; the header is the bare lowercase hex digest';
  if (/^[0-9A-Fa-f]{64}$/.test(text)) return 'is upper-case hex; the header is lowercase hex';
  return `is not 64 lowercase hex characters (got ${text.length} characters)`;
}

type TimestampCheck = { ok: true; skewSeconds: number } | { ok: false; verdict: InvalidVerdict };

function checkDeliveryTimestamp(input: VerificationInput): TimestampCheck {
  const limit = input.maxSkewSeconds ?? TIMESTAMP_TOLERANCE_SECONDS;
  const header = input.timestamp;
  if (header === undefined) {
    return { ok: false, verdict: invalid('timestamp_missing', `no ${TIMESTAMP_HEADER_NAME} header`) };
  }
  if (header.trim() === '') {
    return input.requireTimestamp === true
      ? { ok: false, verdict: invalid('timestamp_missing', `${TIMESTAMP_HEADER_NAME} is empty`) }
      : { ok: false, verdict: invalid('timestamp_malformed', `${TIMESTAMP_HEADER_NAME} is empty`) };
  }
  const now = input.nowSeconds ?? Math.floor(Date.now() / 1000);
  const verdict = checkTimestamp(header, now, limit);
  if (verdict.ok) return { ok: true, skewSeconds: verdict.skewSeconds };
  const skew = verdict.skewSeconds ?? 0;
  switch (verdict.reason) {
    case 'missing':
      return { ok: false, verdict: invalid('timestamp_missing', `no ${TIMESTAMP_HEADER_NAME} header`) };
    case 'malformed': {
      const text = header.trim();
      const shown = text.length > 40 ? `${text.slice(0, 40)}...` : text;
      const note = /^\d{13,16}$/.test(text) ? ' (it looks like milliseconds)' : '';
      return { ok: false, verdict: invalid('timestamp_malformed', `${TIMESTAMP_HEADER_NAME} "${shown}" is not Unix seconds${note}`) };
    }
    case 'stale':
      return { ok: false, verdict: invalid('timestamp_stale', `timestamp is ${skew} s old (limit ${limit} s)`) };
    case 'future':
      return { ok: false, verdict: invalid('timestamp_future', `timestamp is ${-skew} s in the future (limit ${limit} s)`) };
  }
}

type BodyParse = { ok: true; event: ParsedEvent } | { ok: false; verdict: InvalidVerdict };

const UTF8 = new TextDecoder('utf-8', { fatal: true });

function parseBody(rawBody: Uint8Array): BodyParse {
  let text: string;
  try {
    text = UTF8.decode(rawBody);
  } catch {
    return { ok: false, verdict: invalid('body_not_json', 'body is not valid UTF-8, so not JSON') };
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    const detail = error instanceof Error ? `: ${firstLine(error.message)}` : '';
    return { ok: false, verdict: invalid('body_not_json', `body is not valid JSON${detail}`) };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    const kind = value === null ? 'null' : Array.isArray(value) ? 'an array' : `a ${typeof value}`;
    return { ok: false, verdict: invalid('body_not_object', `body is JSON ${kind}, not an event object`) };
  }
  return { ok: true, event: toParsedEvent(value as Record<string, unknown>) };
}

function toParsedEvent(payload: Record<string, unknown>): ParsedEvent {
  const tenant = asRecord(payload.tenant);
  const delivery = asRecord(payload.delivery);
  const attempt = delivery?.attempt;
  return {
    eventId: asString(payload.event_id),
    eventType: asString(payload.event_type),
    occurredAt: asString(payload.occurred_at),
    tenantId: asString(tenant?.id),
    tenantSlug: asString(tenant?.slug),
    attempt: typeof attempt === 'number' && Number.isInteger(attempt) ? attempt : null,
    subscriptionId: asString(delivery?.subscription_id),
    payload,
  };
}

function asRecord(value: unknown): Record<string, unknown> | null {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : null;
}

function asString(value: unknown): string | null {
  return typeof value === 'string' ? value : null;
}

function isPresent(value: string | undefined): value is string {
  return typeof value === 'string' && value.trim() !== '';
}

function firstLine(text: string): string {
  const line = text.split(/\r?\n/, 1)[0] ?? '';
  return line.length > 200 ? `${line.slice(0, 197)}...` : line;
}

function invalid(reason: VerificationFailure, message: string): InvalidVerdict {
  return { valid: false, reason, message };
}

// ---------------------------------------------------------------------------------------
// Raw headers, as copied from a log or a capture.

export interface RawDeliveryHeaders {
  signature?: string;
  previousSignature?: string;
  timestamp?: string;
  eventId?: string;
  eventType?: string;
  attempt?: string;
  /** Display names of delivery headers given more than once with different values; those are left unset. */
  duplicates: string[];
}

type HeaderField = Exclude<keyof RawDeliveryHeaders, 'duplicates'>;

const KNOWN_HEADERS: ReadonlyArray<{ lower: string; display: string; field: HeaderField }> = [
  { lower: 'x-intelliauth-signature', display: SIGNATURE_HEADER_NAME, field: 'signature' },
  { lower: 'x-intelliauth-signature-previous', display: PREVIOUS_SIGNATURE_HEADER_NAME, field: 'previousSignature' },
  { lower: 'x-intelliauth-timestamp', display: TIMESTAMP_HEADER_NAME, field: 'timestamp' },
  { lower: 'x-intelliauth-event-id', display: 'X-IntelliAuth-Event-Id', field: 'eventId' },
  { lower: 'x-intelliauth-event-type', display: 'X-IntelliAuth-Event-Type', field: 'eventType' },
  { lower: 'x-intelliauth-delivery-attempt', display: 'X-IntelliAuth-Delivery-Attempt', field: 'attempt' },
];

const START_LINE = /^(?:[A-Z]+ \S+ HTTP\/\d(?:\.\d)?|HTTP\/\d(?:\.\d)? \d{3}\b.*)$/;
const HEADER_LINE = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+)[ \t]*:(.*)$/;

/**
 * Reads the delivery headers out of raw HTTP header text: an optional request or status
 * line, CRLF or LF, obsolete line folding, names in any case, `curl -v` style "> " prefixes.
 * Stops at the blank line that ends a header block. A delivery header given twice with
 * different values is listed in `duplicates` and left unset, so nobody verifies against
 * a value picked at random.
 */
export function parseRawHeaders(text: string): RawDeliveryHeaders {
  const lines = text.replace(/^\uFEFF/, '').split(/\r\n|\n|\r/);
  const fields: Array<{ name: string; value: string }> = [];
  let started = false;
  for (const rawLine of lines) {
    const line = rawLine.replace(/^[<>] ?/, '');
    if (line.trim() === '') {
      if (started) break;
      continue;
    }
    if (!started && START_LINE.test(line.trim())) {
      started = true;
      continue;
    }
    if (/^[ \t]/.test(line) && fields.length > 0) {
      const last = fields[fields.length - 1]!;
      last.value = `${last.value} ${line.trim()}`.trim();
      continue;
    }
    const match = HEADER_LINE.exec(line);
    if (match) {
      started = true;
      fields.push({ name: match[1]!.toLowerCase(), value: match[2]!.trim() });
    }
  }

  const result: RawDeliveryHeaders = { duplicates: [] };
  for (const known of KNOWN_HEADERS) {
    const values = [...new Set(fields.filter((field) => field.name === known.lower).map((field) => field.value))];
    if (values.length === 1) result[known.field] = values[0]!;
    else if (values.length > 1) result.duplicates.push(known.display);
  }
  return result;
}

// ---------------------------------------------------------------------------------------

/**
 * The most recent event ids, for dedupe: a bounded set that forgets the least recently
 * added id once full. add() and has() are O(1) (a Map keeps insertion order).
 */
export class RecentIds {
  readonly capacity: number;
  private readonly ids = new Map<string, true>();

  constructor(capacity = 10_000) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`RecentIds capacity must be a positive integer, got ${capacity}`);
    this.capacity = capacity;
  }

  get size(): number {
    return this.ids.size;
  }

  /** Does not refresh the id: looking does not keep an id alive. */
  has(id: string): boolean {
    return this.ids.has(id);
  }

  /** Records the id as most recent; true when it was not already held (a first delivery). */
  add(id: string): boolean {
    const seen = this.ids.delete(id);
    this.ids.set(id, true);
    if (this.ids.size > this.capacity) {
      const oldest = this.ids.keys().next().value;
      if (oldest !== undefined) this.ids.delete(oldest);
    }
    return !seen;
  }

  delete(id: string): boolean {
    return this.ids.delete(id);
  }

  clear(): void {
    this.ids.clear();
  }
}
