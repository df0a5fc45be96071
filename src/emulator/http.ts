import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import { ERROR_STATUS, type ApiErrorCode } from '../domain/contract.ts';
import type { Op } from './state.ts';

// Request and answer shapes shared by the token endpoint, the webhook API and the control
// endpoints. Handlers return a Reply; the server commits its ops (durably) before sending it.

export interface ApiRequest {
  id: string;
  method: string;
  path: string;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

export interface Reply {
  status: number;
  /** Serialised as JSON; absent for 204. */
  body?: unknown;
  headers?: Record<string, string>;
  /** State changes to apply and make durable before the answer leaves. */
  ops?: Op[];
}

/** A refusal in the platform's error envelope. */
export class ApiFailure extends Error {
  constructor(
    readonly code: ApiErrorCode,
    message: string,
    readonly details?: Record<string, unknown>,
    readonly headers?: Record<string, string>,
  ) {
    super(message);
  }

  get status(): number {
    return ERROR_STATUS[this.code];
  }
}

/** A refusal in OAuth's error format (RFC 6749 §5.2), for the token endpoint. */
export class OAuthFailure extends Error {
  constructor(
    readonly status: number,
    readonly error: string,
    readonly description: string,
    readonly headers?: Record<string, string>,
  ) {
    super(description);
  }
}

export class BodyTooLarge extends Error {}

export function ok(data: unknown, meta: Record<string, unknown> = {}, status = 200): Reply {
  return { status, body: { data, meta } };
}

export function errorReply(failure: ApiFailure, requestId: string): Reply {
  return {
    status: failure.status,
    body: { error: failure.code, message: failure.message, details: failure.details ?? {}, request_id: requestId },
    ...(failure.headers ? { headers: failure.headers } : {}),
  };
}

export function oauthErrorReply(failure: OAuthFailure): Reply {
  return {
    status: failure.status,
    body: { error: failure.error, error_description: failure.description },
    headers: { 'cache-control': 'no-store', pragma: 'no-cache', ...(failure.headers ?? {}) },
  };
}

export function readBody(request: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(request.headers['content-length']);
    if (Number.isFinite(declared) && declared > limit) {
      reject(new BodyTooLarge());
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    request.on('data', (chunk: Buffer) => {
      if (done) return;
      size += chunk.length;
      if (size > limit) {
        done = true;
        reject(new BodyTooLarge());
        return;
      }
      chunks.push(chunk);
    });
    request.on('end', () => {
      if (!done) resolve(Buffer.concat(chunks));
      done = true;
    });
    request.on('error', (error) => {
      if (!done) reject(error);
      done = true;
    });
  });
}

function mediaType(headers: IncomingHttpHeaders): string {
  return String(headers['content-type'] ?? '')
    .split(';')[0]!
    .trim()
    .toLowerCase();
}

/**
 * The JSON object in the body. An empty body counts as `{}` when `required` is false; a body
 * of another media type is refused with 415, malformed JSON or a non-object with 400.
 */
export function jsonObjectBody(request: ApiRequest, required: boolean): Record<string, unknown> {
  if (request.body.length === 0) {
    if (!required) return {};
    throw new ApiFailure('invalid_request', 'the request needs a JSON object body', { body: 'missing' });
  }
  const type = mediaType(request.headers);
  if (type !== 'application/json' && !type.endsWith('+json')) {
    throw new ApiFailure('unsupported_media_type', `send the body as application/json (got ${type === '' ? 'no Content-Type' : type})`, {
      'content-type': 'must be application/json',
    });
  }
  let value: unknown;
  try {
    value = JSON.parse(request.body.toString('utf8'));
  } catch (error) {
    throw new ApiFailure('invalid_request', 'the body is not valid JSON', { body: (error as Error).message });
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ApiFailure('invalid_request', 'the body must be a JSON object', { body: 'must be a JSON object' });
  }
  return value as Record<string, unknown>;
}

export function formBody(request: ApiRequest): URLSearchParams {
  const type = mediaType(request.headers);
  if (type !== 'application/x-www-form-urlencoded') {
    throw new OAuthFailure(400, 'invalid_request', 'the token request must be application/x-www-form-urlencoded');
  }
  return new URLSearchParams(request.body.toString('utf8'));
}

/** JSON with object keys sorted, so equal bodies compare equal whatever their key order. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([key, item]) => `${JSON.stringify(key)}:${canonicalJson(item)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}
