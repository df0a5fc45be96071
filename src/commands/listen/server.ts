import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { DELIVERY_HEADERS, TEST_EVENT_TYPE, TIMESTAMP_TOLERANCE_SECONDS } from '../../domain/contract.ts';
import { RecentIds, verifyDelivery, type VerificationFailure, type VerificationVerdict } from '../../domain/delivery-verification.ts';
import { anySelectorMatches } from '../../domain/selectors.ts';
import type { EventRecord } from './event-log.ts';
import type { SecretPair } from './secret-keeper.ts';

// The receiver, doing what the platform's documentation asks of one, in its order: read the
// raw bytes, verify the signature over them (constant time) and the timestamp window, only
// then parse, check the tenant and the event type, dedupe on event_id, and answer at once.
//
// Answers: 401 for a missing, malformed or wrong signature and for a timestamp outside the
// window (the platform retries, which is right: a secret mix-up is fixed by a person and
// the retries then succeed). 200 for everything the application decides against: an
// unhandled event type (ignored), a duplicate, and another tenant's event (rejected),
// because any non-2xx is retried for ~14.5 hours and a retry cannot change that decision.
// 400 for a correctly signed body that is not an event (a platform fault, worth seeing
// fail in the delivery feed). 404 for other paths, 405 for other methods, 413 past the cap.

export interface SecretSource {
  secrets(): SecretPair;
  readonly generation: number;
  refreshAfterMismatch(generation: number): Promise<boolean>;
}

export interface AcceptedDelivery {
  eventId: string;
  rawBody: Buffer;
  /** The IntelliAuth headers and Content-Type as received, lower-case names (built on demand: only forwarding needs them). */
  headers(): Record<string, string>;
}

export interface StrayRequest {
  method: string;
  path: string;
  status: number;
}

export interface ReceiverOptions {
  path: string;
  secrets: SecretSource;
  /** Selectors of the handled types; ['*'] handles all. test.ping is always handled. */
  events: readonly string[];
  tenantId?: string | undefined;
  maxSkewSeconds?: number;
  maxBodyBytes?: number;
  dedupeCapacity?: number;
  now?: () => number;
  /** Called once per delivery, after its answer is sent; `accepted` only for a first, handled delivery. */
  onEvent: (record: EventRecord, accepted?: AcceptedDelivery) => void;
  /** Requests that were not deliveries at all (other paths or methods). */
  onStray?: (request: StrayRequest) => void;
}

export interface ReceiverStats {
  /** POSTs to the path: every delivery attempt, good or bad. */
  received: number;
  /** Signature and timestamp valid. */
  verified: number;
  accepted: number;
  duplicates: number;
  ignored: number;
  rejected: number;
  /** Rejections by reason (signature_mismatch, timestamp_stale, tenant_mismatch, body_too_large, ...). */
  rejectedBy: Record<string, number>;
  /** Requests to other paths or with other methods. */
  stray: number;
}

export const MAX_BODY_BYTES = 1024 * 1024;
export const DEDUPE_CAPACITY = 10_000;
/** Values taken from unverified headers are cut to this length before they are logged. */
const MAX_LOGGED_HEADER = 128;

const SIGNATURE_FAILURES = new Set<VerificationFailure>(['signature_missing', 'signature_malformed', 'signature_mismatch']);

interface Answer {
  status: number;
  body: Buffer;
  headers: Record<string, string | number>;
}

function answer(status: number, payload: Record<string, unknown>, extraHeaders: Record<string, string> = {}): Answer {
  const body = Buffer.from(JSON.stringify(payload));
  return { status, body, headers: { 'content-type': 'application/json', 'content-length': body.length, ...extraHeaders } };
}

// Built once: the hot path only writes them.
const ANSWERS = {
  accepted: answer(200, { status: 'accepted' }),
  duplicate: answer(200, { status: 'duplicate' }),
  ignored: answer(200, { status: 'ignored', reason: 'event_type_not_handled' }),
  tenant: answer(200, { status: 'rejected', reason: 'tenant_mismatch' }),
  notFound: answer(404, { error: 'not_found', message: 'no receiver at this path' }),
  methodNotAllowed: answer(405, { error: 'method_not_allowed', message: 'deliveries are POSTed' }, { allow: 'POST' }),
  tooLarge: answer(413, { error: 'payload_too_large', message: 'body over the receiver limit' }, { connection: 'close' }),
};

const FAILURE_ANSWERS = new Map<string, Answer>();
function failureAnswer(reason: VerificationFailure | 'not_an_event'): Answer {
  let cached = FAILURE_ANSWERS.get(reason);
  if (cached === undefined) {
    cached = reason.startsWith('signature_')
      ? answer(401, { error: 'invalid_signature', reason, message: FAILURE_TEXT[reason] })
      : reason.startsWith('timestamp_')
        ? answer(401, { error: 'invalid_timestamp', reason, message: FAILURE_TEXT[reason] })
        : answer(400, { error: 'invalid_body', reason, message: FAILURE_TEXT[reason] });
    FAILURE_ANSWERS.set(reason, cached);
  }
  return cached;
}

// What the sender is told; the receiver's own log has the precise message (with fingerprints).
const FAILURE_TEXT: Record<VerificationFailure | 'not_an_event', string> = {
  signature_missing: 'no X-IntelliAuth-Signature header',
  signature_malformed: 'X-IntelliAuth-Signature is not one lowercase hex HMAC-SHA256',
  signature_mismatch: 'the signature does not match the body with the secret held',
  timestamp_missing: 'no X-IntelliAuth-Timestamp header',
  timestamp_malformed: 'X-IntelliAuth-Timestamp is not Unix seconds',
  timestamp_stale: 'X-IntelliAuth-Timestamp is too old',
  timestamp_future: 'X-IntelliAuth-Timestamp is too far in the future',
  body_not_json: 'the body is not JSON',
  body_not_object: 'the body is not a JSON object',
  tenant_mismatch: 'another tenant',
  not_an_event: 'the body lacks event_id or event_type',
};

export class Receiver {
  readonly stats: ReceiverStats = { received: 0, verified: 0, accepted: 0, duplicates: 0, ignored: 0, rejected: 0, rejectedBy: {}, stray: 0 };
  private readonly recent: RecentIds;
  private readonly maxBodyBytes: number;
  private readonly maxSkewSeconds: number;
  private readonly now: () => number;
  private readonly handlesEverything: boolean;

  constructor(private readonly options: ReceiverOptions) {
    this.recent = new RecentIds(options.dedupeCapacity ?? DEDUPE_CAPACITY);
    this.maxBodyBytes = options.maxBodyBytes ?? MAX_BODY_BYTES;
    this.maxSkewSeconds = options.maxSkewSeconds ?? TIMESTAMP_TOLERANCE_SECONDS;
    this.now = options.now ?? Date.now;
    this.handlesEverything = options.events.includes('*');
  }

  /** Forgets an accepted event, so a later redelivery is handled again (its forward was lost). */
  forget(eventId: string): void {
    this.recent.delete(eventId);
  }

  readonly handle = (req: IncomingMessage, res: ServerResponse): void => {
    const url = req.url ?? '';
    const query = url.indexOf('?');
    const path = query === -1 ? url : url.slice(0, query);
    if (path !== this.options.path) {
      this.stray(req, res, path, ANSWERS.notFound);
      return;
    }
    if (req.method !== 'POST') {
      this.stray(req, res, path, ANSWERS.methodNotAllowed);
      return;
    }
    this.stats.received += 1;

    const declared = req.headers['content-length'];
    if (declared !== undefined && Number(declared) > this.maxBodyBytes) {
      this.tooLarge(req, res);
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let overflowed = false;
    req.on('data', (chunk: Buffer) => {
      if (overflowed) return;
      size += chunk.length;
      if (size > this.maxBodyBytes) {
        overflowed = true;
        chunks.length = 0;
        this.tooLarge(req, res);
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (overflowed) return;
      const rawBody = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size);
      this.verify(req, res, rawBody);
    });
    req.on('error', () => {
      // The sender went away mid-body: there is nobody to answer.
    });
  };

  private verify(req: IncomingMessage, res: ServerResponse, rawBody: Buffer): void {
    const generation = this.options.secrets.generation;
    const verdict = this.check(req, rawBody);
    if (!verdict.valid && verdict.reason === 'signature_mismatch') {
      // Maybe the secret was rotated since it was read: re-read (rate-limited) and try once more.
      this.options.secrets.refreshAfterMismatch(generation).then(
        (changed) => this.decide(req, res, rawBody, changed ? this.check(req, rawBody) : verdict),
        () => this.decide(req, res, rawBody, verdict),
      );
      return;
    }
    this.decide(req, res, rawBody, verdict);
  }

  private check(req: IncomingMessage, rawBody: Buffer): VerificationVerdict {
    const headers = req.headers;
    return verifyDelivery({
      rawBody,
      signature: headerValue(headers[DELIVERY_HEADERS.signature]),
      previousSignature: headerValue(headers[DELIVERY_HEADERS.signaturePrevious]),
      timestamp: headerValue(headers[DELIVERY_HEADERS.timestamp]),
      secrets: this.options.secrets.secrets(),
      maxSkewSeconds: this.maxSkewSeconds,
      nowSeconds: Math.floor(this.now() / 1000),
      requireTimestamp: true,
    });
  }

  private decide(req: IncomingMessage, res: ServerResponse, rawBody: Buffer, verdict: VerificationVerdict): void {
    if (!verdict.valid) {
      if (!SIGNATURE_FAILURES.has(verdict.reason) && !verdict.reason.startsWith('timestamp_')) this.stats.verified += 1;
      this.reject(req, res, verdict.reason, failureAnswer(verdict.reason), verdict.message);
      return;
    }
    this.stats.verified += 1;
    const event = verdict.event;
    const base = { event_id: event.eventId, event_type: event.eventType, attempt: event.attempt ?? headerAttempt(req) };
    const previous = verdict.matchedWith === 'previous' ? { secret: 'previous' as const } : {};
    if (event.eventId === null || event.eventType === null) {
      const missing = event.eventId === null ? 'event_id' : 'event_type';
      this.reject(req, res, 'not_an_event', failureAnswer('not_an_event'), `signed body has no ${missing}`);
      return;
    }
    if (this.options.tenantId !== undefined && event.tenantId !== this.options.tenantId) {
      const message = event.tenantId === null ? `body has no tenant.id, expected ${this.options.tenantId}` : `tenant.id is ${event.tenantId}, expected ${this.options.tenantId}`;
      this.countRejection('tenant_mismatch');
      this.send(res, ANSWERS.tenant);
      this.emit({ ...base, verdict: 'rejected', status: ANSWERS.tenant.status, reason: 'tenant_mismatch', message, ...previous });
      return;
    }
    if (!this.handles(event.eventType)) {
      this.stats.ignored += 1;
      this.send(res, ANSWERS.ignored);
      this.emit({ ...base, verdict: 'ignored', status: ANSWERS.ignored.status, reason: 'event_type_not_handled', ...previous });
      return;
    }
    if (!this.recent.add(event.eventId)) {
      this.stats.duplicates += 1;
      this.send(res, ANSWERS.duplicate);
      this.emit({ ...base, verdict: 'duplicate', status: ANSWERS.duplicate.status, ...previous });
      return;
    }
    this.stats.accepted += 1;
    this.send(res, ANSWERS.accepted);
    this.emit({ ...base, verdict: 'accepted', status: ANSWERS.accepted.status, ...previous }, {
      eventId: event.eventId,
      rawBody,
      headers: () => forwardableHeaders(req),
    });
  }

  private handles(eventType: string): boolean {
    return this.handlesEverything || eventType === TEST_EVENT_TYPE || anySelectorMatches(this.options.events, eventType);
  }

  private reject(req: IncomingMessage, res: ServerResponse, reason: string, response: Answer, message: string): void {
    this.countRejection(reason);
    this.send(res, response);
    this.emit({
      event_id: loggedHeader(req, DELIVERY_HEADERS.eventId),
      event_type: loggedHeader(req, DELIVERY_HEADERS.eventType),
      attempt: headerAttempt(req),
      verdict: 'rejected',
      status: response.status,
      reason,
      message,
    });
  }

  private tooLarge(req: IncomingMessage, res: ServerResponse): void {
    this.reject(req, res, 'body_too_large', ANSWERS.tooLarge, `body over ${this.maxBodyBytes} bytes`);
  }

  private stray(req: IncomingMessage, res: ServerResponse, path: string, response: Answer): void {
    this.stats.stray += 1;
    this.send(res, response);
    this.options.onStray?.({ method: req.method ?? '?', path, status: response.status });
  }

  private countRejection(reason: string): void {
    this.stats.rejected += 1;
    this.stats.rejectedBy[reason] = (this.stats.rejectedBy[reason] ?? 0) + 1;
  }

  private send(res: ServerResponse, response: Answer): void {
    if (res.headersSent || res.destroyed) return;
    res.writeHead(response.status, response.headers);
    res.end(response.body);
  }

  private emit(record: Omit<EventRecord, 'time'>, accepted?: AcceptedDelivery): void {
    this.options.onEvent({ time: new Date(this.now()).toISOString(), ...record }, accepted);
  }
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join(', ') : value;
}

function loggedHeader(req: IncomingMessage, name: string): string | null {
  const value = headerValue(req.headers[name]);
  if (value === undefined) return null;
  return value.length > MAX_LOGGED_HEADER ? `${value.slice(0, MAX_LOGGED_HEADER - 1)}…` : value;
}

function headerAttempt(req: IncomingMessage): number | null {
  const value = headerValue(req.headers[DELIVERY_HEADERS.attempt]);
  return value !== undefined && /^\d{1,6}$/.test(value) ? Number(value) : null;
}

const FORWARDED_HEADERS = ['content-type', ...Object.values(DELIVERY_HEADERS)];

function forwardableHeaders(req: IncomingMessage): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const name of FORWARDED_HEADERS) {
    const value = headerValue(req.headers[name]);
    if (value !== undefined) headers[name] = value;
  }
  return headers;
}

export interface RunningServer {
  server: Server;
  /** The address actually bound (port 0 picks a free one). */
  host: string;
  port: number;
  /** Stops taking connections, lets requests under way finish for up to graceMs, then cuts the rest. */
  close(graceMs: number): Promise<void>;
}

/** Listens with node:http; rejects with the listen error (EADDRINUSE, EACCES, EADDRNOTAVAIL, ...). */
export function startServer(handler: (req: IncomingMessage, res: ServerResponse) => void, host: string, port: number): Promise<RunningServer> {
  const server = createServer({ requestTimeout: 15_000, headersTimeout: 10_000, keepAliveTimeout: 5_000 }, handler);
  const sockets = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  return new Promise((resolve, reject) => {
    const onError = (error: Error) => reject(error);
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      const address = server.address() as AddressInfo;
      resolve({
        server,
        host: address.address,
        port: address.port,
        close: (graceMs) =>
          new Promise<void>((done) => {
            const timer = setTimeout(() => {
              for (const socket of sockets) socket.destroy();
            }, graceMs);
            server.close(() => {
              clearTimeout(timer);
              done();
            });
            server.closeIdleConnections();
          }),
      });
    });
  });
}
