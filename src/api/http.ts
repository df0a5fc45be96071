// The transport under every API call: one keep-alive dispatcher, a hard deadline per attempt
// and per call, bounded bodies, retries only where repeating a request is safe, and one-line
// errors that never echo what the server sent back.

import { setTimeout as delay } from 'node:timers/promises';
import { loadUndici, loadUndiciProxy, type RequestDispatcher } from './dispatchers.ts';
import { ApiError, InterruptedError, UnavailableError, UsageError } from '../errors.ts';
import { IDEMPOTENCY_HEADER } from '../domain/contract.ts';
import { backoffMs } from '../domain/retry-schedule.ts';
import { redactBody, redactHeaders, redactUrl } from './redact.ts';

export type HttpMethod = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

export const DEFAULT_TIMEOUT_MS = 30_000;
export const DEFAULT_TOTAL_TIMEOUT_MS = 60_000;
export const DEFAULT_MAX_ATTEMPTS = 5;
export const DEFAULT_MAX_BODY_BYTES = 8 * 1024 * 1024;
const BACKOFF_BASE_MS = 200;
const BACKOFF_CAP_MS = 5_000;
const TRACE_BODY_CHARS = 4_096;
const MESSAGE_CHARS = 300;

export type Env = Readonly<Record<string, string | undefined>>;

export interface HttpOptions {
  /** Tenant URL (scheme, host, optional port); request paths are appended to it. */
  baseUrl: string;
  /** Deadline for one attempt, headers and body included. */
  timeoutMs?: number;
  /** Deadline for a call with all its retries. */
  totalTimeoutMs?: number;
  maxAttempts?: number;
  userAgent?: string;
  /** Receives --debug lines, already redacted. */
  trace?: (line: string) => void;
  /** Replaces the process's own Agent/EnvHttpProxyAgent (tests). */
  dispatcher?: RequestDispatcher;
  /** Proxy variables are read from here (default: process.env). */
  env?: Env;
  random?: () => number;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  now?: () => number;
}

export interface HttpRequest {
  method: HttpMethod;
  /** Absolute path, e.g. `/api/v1/webhooks/subscriptions`. */
  path: string;
  query?: Readonly<Record<string, string | number | boolean | null | undefined>>;
  headers?: Readonly<Record<string, string>>;
  json?: unknown;
  form?: Readonly<Record<string, string | undefined>>;
  /** `envelope` (default): the API's `{data, meta}`; `raw`: any JSON object (OAuth endpoints). */
  expect?: 'envelope' | 'raw';
  /** Overrides the method-based decision (true: the request is safe to repeat). */
  retry?: boolean;
  timeoutMs?: number;
  totalTimeoutMs?: number;
  maxBodyBytes?: number;
  signal?: AbortSignal;
}

export interface HttpResult<T> {
  status: number;
  /** `undefined` for 204 and HEAD. */
  data: T;
  meta: Record<string, unknown> | undefined;
  requestId: string | undefined;
  attempts: number;
}

export interface Http {
  readonly baseUrl: string;
  request<T>(req: HttpRequest): Promise<HttpResult<T>>;
  /** Closes keep-alive connections of the dispatcher this instance created. */
  close(): Promise<void>;
}

/** The proxy settings found in `env`, or undefined when none is set. */
export function proxySettings(env: Env): { httpProxy: string; httpsProxy: string; noProxy: string } | undefined {
  const httpProxy = env.http_proxy ?? env.HTTP_PROXY ?? '';
  const httpsProxy = env.https_proxy ?? env.HTTPS_PROXY ?? '';
  if (!httpProxy && !httpsProxy) return undefined;
  return { httpProxy, httpsProxy, noProxy: env.no_proxy ?? env.NO_PROXY ?? '' };
}

/** Builds the dispatcher for this process: a proxy-aware one when proxy variables are set. */
export function createDispatcher(env: Env): RequestDispatcher {
  const options = { keepAliveTimeout: 4_000 };
  const proxy = proxySettings(env);
  if (!proxy) return new (loadUndici().Agent)(options);
  // Plain-http targets (the emulator) go through the proxy as absolute-form requests.
  return new (loadUndiciProxy().EnvHttpProxyAgent)({ ...options, ...proxy, proxyTunnel: false });
}

export function createHttp(options: HttpOptions): Http {
  const base = new URL(options.baseUrl);
  const origin = base.origin;
  const basePath = base.pathname.replace(/\/+$/, '');
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const totalTimeoutMs = options.totalTimeoutMs ?? DEFAULT_TOTAL_TIMEOUT_MS;
  const maxAttempts = Math.max(1, options.maxAttempts ?? DEFAULT_MAX_ATTEMPTS);
  const userAgent = options.userAgent ?? 'intelliauth-webhooks';
  const trace = options.trace;
  const random = options.random ?? Math.random;
  const sleep = options.sleep ?? ((ms: number, signal?: AbortSignal) => delay(ms, undefined, { signal }));
  const now = options.now ?? Date.now;
  const ownsDispatcher = options.dispatcher === undefined;
  let dispatcher = options.dispatcher;
  const proxy = options.dispatcher ? undefined : proxySettings(options.env ?? process.env);
  const proxyNote = proxy
    ? `proxy ${redactUrl(proxy.httpsProxy || proxy.httpProxy)}${proxy.noProxy ? ` (NO_PROXY=${proxy.noProxy})` : ''}`
    : undefined;
  const getDispatcher = (): RequestDispatcher => {
    if (!dispatcher) {
      dispatcher = createDispatcher(options.env ?? process.env);
      if (proxyNote) trace?.(`  using ${proxyNote}`);
    }
    return dispatcher;
  };

  async function request<T>(req: HttpRequest): Promise<HttpResult<T>> {
    const attemptTimeout = req.timeoutMs ?? timeoutMs;
    const budget = Math.max(req.totalTimeoutMs ?? totalTimeoutMs, attemptTimeout);
    const deadline = now() + budget;
    const retryable = req.retry ?? isRetryableMethod(req.method, req.headers);
    const attemptsAllowed = retryable ? maxAttempts : 1;
    const url = buildUrl(origin, basePath, req.path, req.query);
    const prepared = prepareBody(req);
    const headers: Record<string, string> = {
      accept: 'application/json',
      'user-agent': userAgent,
      ...(prepared.contentType ? { 'content-type': prepared.contentType } : {}),
      ...lowerCaseKeys(req.headers ?? {}),
    };
    const label = `${req.method} ${redactUrl(url.href)}`;

    let attempt = 0;
    // Whether an earlier attempt may have taken effect although no answer said so.
    let earlierOutcomeUnknown = false;
    for (;;) {
      attempt += 1;
      throwIfInterrupted(req.signal);
      const remaining = deadline - now();
      const thisTimeout = Math.max(1, Math.min(attemptTimeout, remaining));
      const counter = `attempt ${attempt}/${Math.max(attempt, attemptsAllowed)}`;
      if (trace) {
        trace(`> ${label} (${counter})`);
        for (const [name, value] of Object.entries(redactHeaders(headers))) trace(`>   ${name}: ${value}`);
        if (prepared.body !== undefined) trace(`>   body: ${traceBody(prepared.body, prepared.contentType)}`);
      }
      const started = now();
      let outcome: AttemptOutcome;
      try {
        outcome = await attemptOnce(getDispatcher(), {
          url,
          method: req.method,
          headers,
          body: prepared.body,
          timeoutMs: thisTimeout,
          maxBodyBytes: req.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES,
          ...(req.signal ? { signal: req.signal } : {}),
        });
      } catch (error) {
        if (error instanceof InterruptedError) throw error;
        if (error instanceof BodyTooLargeError) {
          trace?.(`x ${label} answer too large after ${now() - started} ms (${counter})`);
          throw new UnavailableError(
            `the API answer to ${req.method} ${url.pathname} exceeded ${formatBytes(error.limit)}; giving up`,
          );
        }
        const failure = describeTransportError(error, thisTimeout);
        trace?.(`x ${label} failed after ${now() - started} ms (${counter}): ${failure.summary}`);
        earlierOutcomeUnknown = true;
        const wait = failure.retryable ? nextWait(attempt) : null;
        if (wait !== null) {
          trace?.(`  retrying in ${wait} ms`);
          await pause(wait, req.signal);
          continue;
        }
        throw new UnavailableError(
          `could not reach ${redactUrl(origin)}: ${failure.summary} after ${plural(attempt, 'attempt')}`,
          {
            cause: error,
            ...joinHints([
              failure.hint,
              notRetriedHint(req, retryable, attempt),
              proxyNote ? `requests may go through ${proxyNote}: check it too` : undefined,
            ]),
          },
        );
      }

      const requestId = outcome.requestId;
      if (trace) {
        const idPart = requestId ? `, request ${requestId}` : '';
        trace(`< ${outcome.status} ${label} ${now() - started} ms (${counter}${idPart})`);
        for (const [name, value] of Object.entries(redactHeaders(outcome.headers))) trace(`<   ${name}: ${value}`);
        if (outcome.text) trace(`<   body: ${traceBody(outcome.text, outcome.contentType)}`);
      }

      const { status } = outcome;
      if (status >= 200 && status < 300) return parseSuccess<T>(outcome, req, attempt);
      if (status >= 300 && status < 400) throw redirectError(outcome, origin);
      if (status === 404 && req.method === 'DELETE' && earlierOutcomeUnknown) {
        // Deleting is idempotent: gone after an attempt whose answer was lost means deleted.
        trace?.(`  ${req.method} ${url.pathname} is gone after an attempt whose answer was lost: taken as done`);
        return { status: 204, data: undefined as T, meta: undefined, requestId: outcome.requestId, attempts: attempt };
      }

      const retryAfterSeconds = parseRetryAfter(headerValue(outcome.headers['retry-after']), now());
      // A 429 refuses the request before doing anything, so even a request that is not safe
      // to repeat may be sent again.
      const limit = status === 429 ? maxAttempts : attemptsAllowed;
      if (!(retryable || status === 429) || !isRetryableStatus(status)) throw parseErrorResponse(outcome, retryAfterSeconds);
      if (status !== 429) earlierOutcomeUnknown = true;
      let wait: number | null;
      if (status === 429 && retryAfterSeconds !== undefined) {
        const asked = retryAfterSeconds * 1000;
        // A server asking for more than the budget left will not be ready in time: stop now.
        wait = attempt < limit && now() + asked < deadline ? asked : null;
      } else {
        wait = nextWait(attempt, limit);
      }
      if (wait !== null) {
        trace?.(`  retrying in ${wait} ms`);
        await pause(wait, req.signal);
        continue;
      }
      const giveUp =
        status === 429 && retryAfterSeconds !== undefined
          ? `the API asks to wait ${retryAfterSeconds} s before trying again`
          : `the API still answered ${status} after ${plural(attempt, 'attempt')}`;
      throw parseErrorResponse(outcome, retryAfterSeconds, giveUp);
    }

    function nextWait(attemptsSoFar: number, limit = attemptsAllowed): number | null {
      if (attemptsSoFar >= limit) return null;
      const wait = backoffMs(attemptsSoFar, BACKOFF_BASE_MS, BACKOFF_CAP_MS, random);
      // The next attempt needs a useful slice of the budget, not just the sleep.
      return now() + wait + Math.min(attemptTimeout, 50) < deadline ? wait : null;
    }
  }

  async function pause(ms: number, signal: AbortSignal | undefined): Promise<void> {
    try {
      await sleep(ms, signal);
    } catch (error) {
      if (signal?.aborted) throw new InterruptedError();
      throw error;
    }
  }

  return {
    baseUrl: `${origin}${basePath}`,
    request,
    async close() {
      if (ownsDispatcher && dispatcher) await dispatcher.close();
      if (ownsDispatcher) dispatcher = undefined;
    },
  };
}

interface AttemptOutcome {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  contentType: string;
  text: string;
  requestId: string | undefined;
}

class AttemptTimeoutError extends Error {
  constructor(readonly timeoutMs: number) {
    super(`no complete answer within ${timeoutMs} ms`);
  }
}

class BodyTooLargeError extends Error {
  constructor(readonly limit: number) {
    super(`answer larger than ${limit} bytes`);
  }
}

async function attemptOnce(
  dispatcher: RequestDispatcher,
  init: {
    url: URL;
    method: HttpMethod;
    headers: Record<string, string>;
    body: string | undefined;
    timeoutMs: number;
    maxBodyBytes: number;
    signal?: AbortSignal;
  },
): Promise<AttemptOutcome> {
  const controller = new AbortController();
  // One timer for connect, headers and the whole body: a slow drip cannot extend it.
  const timer = setTimeout(() => controller.abort(new AttemptTimeoutError(init.timeoutMs)), init.timeoutMs);
  const onUserAbort = () => controller.abort(new InterruptedError());
  init.signal?.addEventListener('abort', onUserAbort, { once: true });
  try {
    const response = await dispatcher.request({
      origin: init.url.origin,
      path: `${init.url.pathname}${init.url.search}`,
      method: init.method,
      headers: init.headers,
      body: init.body ?? null,
      signal: controller.signal,
      // undici's own idle timers stay behind the attempt deadline so its message wins.
      headersTimeout: init.timeoutMs + 1_000,
      bodyTimeout: init.timeoutMs + 1_000,
    });
    const headers = response.headers;
    const contentType = headerValue(headers['content-type']) ?? '';
    let text = '';
    if (init.method === 'HEAD' || response.statusCode === 204 || response.statusCode === 304) {
      await response.body.dump();
    } else {
      const declared = Number(headerValue(headers['content-length']));
      if (Number.isFinite(declared) && declared > init.maxBodyBytes) {
        response.body.destroy();
        throw new BodyTooLargeError(init.maxBodyBytes);
      }
      text = await readCapped(response.body, init.maxBodyBytes);
    }
    return {
      status: response.statusCode,
      headers,
      contentType,
      text,
      requestId: headerValue(headers['x-request-id']) ?? headerValue(headers['request-id']),
    };
  } catch (error) {
    if (controller.signal.aborted) throw controller.signal.reason;
    throw error;
  } finally {
    clearTimeout(timer);
    init.signal?.removeEventListener('abort', onUserAbort);
  }
}

async function readCapped(body: AsyncIterable<Buffer> & { destroy(): void }, limit: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += chunk.length;
    if (size > limit) {
      body.destroy();
      throw new BodyTooLargeError(limit);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function parseSuccess<T>(outcome: AttemptOutcome, req: HttpRequest, attempts: number): HttpResult<T> {
  const base = { status: outcome.status, requestId: outcome.requestId, attempts };
  if (outcome.status === 204 || req.method === 'HEAD') {
    return { ...base, data: undefined as T, meta: undefined };
  }
  const parsed = parseJsonBody(outcome);
  if (!parsed.ok) throw new UnavailableError(invalidBodyMessage(outcome, parsed.problem));
  const body = parsed.value;
  if (req.expect === 'raw') {
    if (!isObject(body)) throw new UnavailableError(invalidBodyMessage(outcome, 'JSON that is not an object'));
    return { ...base, data: body as T, meta: undefined };
  }
  if (!isObject(body) || !('data' in body)) {
    throw new UnavailableError(invalidBodyMessage(outcome, 'JSON without the "data" field of an API answer'));
  }
  const meta = isObject(body.meta) ? body.meta : undefined;
  return { ...base, data: body.data as T, meta };
}

function parseErrorResponse(outcome: AttemptOutcome, retryAfterSeconds: number | undefined, hint?: string): ApiError {
  const parsed = parseJsonBody(outcome);
  const envelope = parsed.ok && isObject(parsed.value) ? parsed.value : undefined;
  const code = typeof envelope?.error === 'string' ? envelope.error : undefined;
  if (!envelope || code === undefined) {
    const problem = parsed.ok ? 'JSON that is not an API error envelope' : parsed.problem;
    return new ApiError({
      status: outcome.status,
      code: 'invalid_response',
      message: invalidBodyMessage(outcome, problem, false),
      requestId: outcome.requestId,
      retryAfterSeconds,
      ...(hint !== undefined
        ? { hint }
        : outcome.status < 500 && outcome.status !== 429
          ? { hint: 'this does not look like the IntelliAuth API: check --tenant-url' }
          : {}),
    });
  }
  const text =
    typeof envelope.message === 'string'
      ? envelope.message
      : typeof envelope.error_description === 'string'
        ? envelope.error_description
        : code;
  const requestId = typeof envelope.request_id === 'string' ? envelope.request_id : outcome.requestId;
  return new ApiError({
    status: outcome.status,
    code,
    message: oneLine(text),
    requestId,
    details: isObject(envelope.details) ? envelope.details : undefined,
    retryAfterSeconds,
    ...(hint !== undefined ? { hint } : {}),
  });
}

type ParsedBody = { ok: true; value: unknown } | { ok: false; problem: string };

function parseJsonBody(outcome: AttemptOutcome): ParsedBody {
  const type = outcome.contentType.toLowerCase();
  if (!outcome.text.trim()) return { ok: false, problem: 'an empty body' };
  if (!/[/+]json\b/.test(type)) {
    if (type.includes('html') || /^\s*<(!doctype|html|head|body|\?xml|title)\b/i.test(outcome.text)) {
      return { ok: false, problem: 'an HTML page' };
    }
    const bare = type.split(';')[0]!.trim();
    return { ok: false, problem: bare ? `a ${bare} body` : 'a body without a content type' };
  }
  try {
    return { ok: true, value: JSON.parse(outcome.text) };
  } catch {
    return { ok: false, problem: 'truncated or malformed JSON' };
  }
}

function invalidBodyMessage(outcome: AttemptOutcome, problem: string, withRequestId = true): string {
  const expected = problem.includes('JSON') ? '' : ' instead of JSON';
  const id = withRequestId && outcome.requestId ? ` (request ${outcome.requestId})` : '';
  return `the API answered ${outcome.status} with ${problem}${expected}${id}`;
}

function redirectError(outcome: AttemptOutcome, origin: string): UsageError {
  const location = headerValue(outcome.headers.location);
  if (!location) return new UsageError(`the API answered ${outcome.status} (a redirect) without a location; check --tenant-url`);
  let target = location;
  try {
    target = new URL(location, origin).href;
  } catch {
    // keep what the server sent
  }
  return new UsageError(`the API redirected to ${oneLine(redactUrl(target))}; check --tenant-url`, {
    hint: 'the tool does not follow redirects: use the tenant URL the platform gives, with https',
  });
}

interface TransportFailure {
  summary: string;
  retryable: boolean;
  hint?: string;
}

const TRANSIENT_CODES: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  EPIPE: 'connection closed while sending',
  ECONNABORTED: 'connection aborted',
  UND_ERR_SOCKET: 'connection closed by the server',
  UND_ERR_CLOSED: 'connection closed',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'DNS lookup failed',
  ETIMEDOUT: 'connection timed out',
  UND_ERR_CONNECT_TIMEOUT: 'connection timed out',
  UND_ERR_HEADERS_TIMEOUT: 'the API stopped answering',
  UND_ERR_BODY_TIMEOUT: 'the API stopped answering',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ENETDOWN: 'network down',
  UND_ERR_RES_CONTENT_LENGTH_MISMATCH: 'the answer was cut short',
};

export function describeTransportError(error: unknown, timeoutMs: number): TransportFailure {
  if (error instanceof AttemptTimeoutError) {
    return { summary: `no complete answer within ${timeoutMs} ms (timeout)`, retryable: true };
  }
  const code = findErrorCode(error);
  if (code && TRANSIENT_CODES[code]) return { summary: `${TRANSIENT_CODES[code]} (${code})`, retryable: true };
  // undici leaves the code out for some parser errors (an invalid status line).
  if (code?.startsWith('HPE_') || (error instanceof Error && error.name === 'HTTPParserError')) {
    const detail = code ?? oneLine(error instanceof Error ? error.message : String(error));
    return { summary: `the API sent a malformed HTTP answer (${detail})`, retryable: true };
  }
  if (code && isTlsCode(code)) {
    return {
      summary: `TLS failure (${code})`,
      retryable: false,
      hint: 'behind a TLS-inspecting proxy, point NODE_EXTRA_CA_CERTS at its CA certificate',
    };
  }
  const message = oneLine(error instanceof Error ? error.message : String(error));
  return { summary: code ? `${message} (${code})` : message, retryable: false };
}

function findErrorCode(error: unknown, depth = 0): string | undefined {
  if (depth > 4 || error === null || typeof error !== 'object') return undefined;
  const candidate = (error as { code?: unknown }).code;
  if (typeof candidate === 'string' && candidate !== 'UND_ERR') return candidate;
  const nested = (error as { errors?: unknown }).errors;
  if (Array.isArray(nested) && nested.length > 0) return findErrorCode(nested[0], depth + 1);
  return findErrorCode((error as { cause?: unknown }).cause, depth + 1);
}

function isTlsCode(code: string): boolean {
  return (
    code.startsWith('ERR_TLS_') ||
    code.startsWith('ERR_SSL_') ||
    code.includes('CERT') ||
    code === 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' ||
    code === 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY'
  );
}

function notRetriedHint(req: HttpRequest, retryable: boolean, attempts: number): string | undefined {
  if (retryable || attempts > 1) return undefined;
  return `${req.method} ${req.path} is not retried automatically; it may or may not have taken effect`;
}

function joinHints(hints: Array<string | undefined>): { hint?: string } {
  const present = hints.filter((hint) => hint !== undefined);
  return present.length > 0 ? { hint: present.join('; ') } : {};
}

function isRetryableMethod(method: HttpMethod, headers: Readonly<Record<string, string>> | undefined): boolean {
  // The platform's PATCH sets the fields it is given (PLATFORM.md), so sending it twice
  // leaves the same subscription as sending it once.
  if (method === 'GET' || method === 'HEAD' || method === 'PUT' || method === 'DELETE' || method === 'PATCH') return true;
  const key = IDEMPOTENCY_HEADER.toLowerCase();
  return Object.entries(headers ?? {}).some(([name, value]) => name.toLowerCase() === key && value !== '');
}

function isRetryableStatus(status: number): boolean {
  return status === 429 || (status >= 500 && status !== 501 && status !== 505);
}

export function parseRetryAfter(value: string | undefined, nowMs: number = Date.now()): number | undefined {
  if (value === undefined) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed);
  const at = Date.parse(trimmed);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, Math.ceil((at - nowMs) / 1000));
}

function buildUrl(origin: string, basePath: string, path: string, query: HttpRequest['query']): URL {
  const url = new URL(`${basePath}${path.startsWith('/') ? path : `/${path}`}`, origin);
  for (const [name, value] of Object.entries(query ?? {})) {
    if (value !== undefined && value !== null) url.searchParams.set(name, String(value));
  }
  return url;
}

function prepareBody(req: HttpRequest): { body?: string; contentType?: string } {
  if (req.form !== undefined) {
    const params = new URLSearchParams();
    for (const [name, value] of Object.entries(req.form)) if (value !== undefined) params.set(name, value);
    return { body: params.toString(), contentType: 'application/x-www-form-urlencoded' };
  }
  if (req.json !== undefined) return { body: JSON.stringify(req.json), contentType: 'application/json' };
  return {};
}

function traceBody(body: string, contentType: string | undefined): string {
  const redacted = redactBody(body, contentType).replace(/\r?\n/g, '\\n');
  if (redacted.length <= TRACE_BODY_CHARS) return redacted;
  return `${redacted.slice(0, TRACE_BODY_CHARS)}... (${body.length} characters in all)`;
}

function throwIfInterrupted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new InterruptedError();
}

function lowerCaseKeys(headers: Readonly<Record<string, string>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) out[name.toLowerCase()] = value;
  return out;
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function oneLine(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > MESSAGE_CHARS ? `${flat.slice(0, MESSAGE_CHARS)}...` : flat;
}

function plural(count: number, word: string): string {
  return `${count} ${word}${count === 1 ? '' : 's'}`;
}

function formatBytes(bytes: number): string {
  if (bytes >= 1024 * 1024) return `${Math.round((bytes / (1024 * 1024)) * 10) / 10} MiB`;
  if (bytes >= 1024) return `${Math.round(bytes / 102.4) / 10} KiB`;
  return `${bytes} bytes`;
}
