import type { IncomingMessage, ServerResponse } from 'node:http';
import { API_PREFIX, ID_PREFIX, MAX_REQUEST_BODY_BYTES, REQUEST_ID_HEADER, TOKEN_PATH } from '../domain/contract.ts';
import { newId } from '../domain/ids.ts';
import type { WebhooksApi } from './api.ts';
import { RATE_LIMIT_RETRY_AFTER_SECONDS, STALL_MS } from './faults.ts';
import { ApiFailure, BodyTooLarge, errorReply, OAuthFailure, oauthErrorReply, readBody, type ApiRequest, type Reply } from './http.ts';
import type { EmulatorLogEntry, FaultKind } from './log.ts';
import { handleTokenRequest, type TokenEndpointConfig } from './oauth.ts';
import type { Op } from './state.ts';

// The HTTP front: reads the body, draws a fault, routes, commits the reply's ops durably,
// then answers (or, for a reset fault, drops the connection after the work was done).

export interface RequestHandlerDeps {
  api: WebhooksApi;
  tokenEndpoint: TokenEndpointConfig;
  commit: (ops: Op[], durable: boolean) => Promise<void> | undefined;
  /** Resolves once every committed op is on disk (undefined when already so). */
  flushed: () => Promise<void> | undefined;
  nextFault: () => FaultKind | null;
  /** Absent when nobody listens, so no entry is built. */
  log: ((entry: EmulatorLogEntry) => void) | undefined;
}

/** `/api/v1/`: faults hit the whole data-plane API, as on the platform, not only webhooks. */
const API_ROOT = API_PREFIX.slice(0, API_PREFIX.lastIndexOf('/') + 1);

function isFaultable(path: string): boolean {
  return path.startsWith(API_ROOT) || path === TOKEN_PATH;
}

function faultReply(fault: FaultKind, path: string, requestId: string): Reply {
  const oauth = path === TOKEN_PATH;
  switch (fault) {
    case 'rate_limited':
      return oauth
        ? oauthErrorReply(new OAuthFailure(429, 'rate_limited', 'too many requests, retry later', { 'retry-after': String(RATE_LIMIT_RETRY_AFTER_SECONDS) }))
        : errorReply(
            new ApiFailure('rate_limited', 'too many requests, retry later', { retry_after_seconds: RATE_LIMIT_RETRY_AFTER_SECONDS }, { 'retry-after': String(RATE_LIMIT_RETRY_AFTER_SECONDS) }),
            requestId,
          );
    case 'unavailable':
      return oauth
        ? oauthErrorReply(new OAuthFailure(503, 'temporarily_unavailable', 'the service is temporarily unavailable'))
        : errorReply(new ApiFailure('unavailable', 'the service is temporarily unavailable'), requestId);
    default:
      return oauth
        ? oauthErrorReply(new OAuthFailure(500, 'server_error', 'an internal error occurred'))
        : errorReply(new ApiFailure('internal_error', 'an internal error occurred'), requestId);
  }
}

function send(response: ServerResponse, reply: Reply, requestId: string, closeConnection: boolean): void {
  const headers: Record<string, string> = { [REQUEST_ID_HEADER.toLowerCase()]: requestId, ...(reply.headers ?? {}) };
  if (closeConnection) headers.connection = 'close';
  if (reply.body === undefined) {
    response.writeHead(reply.status, headers);
    response.end();
    return;
  }
  const payload = Buffer.from(JSON.stringify(reply.body), 'utf8');
  headers['content-type'] = 'application/json; charset=utf-8';
  headers['content-length'] = String(payload.length);
  if (!('cache-control' in headers)) headers['cache-control'] = 'no-store';
  response.writeHead(reply.status, headers);
  response.end(payload);
}

export function createRequestHandler(deps: RequestHandlerDeps): (request: IncomingMessage, response: ServerResponse) => void {
  const route = (request: ApiRequest): Reply | Promise<Reply> =>
    request.path === TOKEN_PATH ? handleTokenRequest(request, deps.tokenEndpoint) : deps.api.handle(request);

  return (incoming, response) => {
    void (async () => {
      const started = performance.now();
      const requestId = newId(ID_PREFIX.request);
      const method = incoming.method ?? 'GET';
      let path = '/';
      let query = new URLSearchParams();
      try {
        const url = new URL(incoming.url ?? '/', 'http://emulator.invalid');
        path = url.pathname;
        query = url.searchParams;
      } catch {
        // an unparsable target falls through to a 404
      }
      const fault = isFaultable(path) ? deps.nextFault() : null;
      if (fault) {
        deps.log?.({ kind: 'fault', time: new Date().toISOString(), message: `fault injected: ${fault} on ${method} ${path}`, request_id: requestId, method, path, fault });
      }
      let reply: Reply;
      let closeConnection = false;
      try {
        const body = await readBody(incoming, MAX_REQUEST_BODY_BYTES);
        const request: ApiRequest = { id: requestId, method, path, query, headers: incoming.headers, body };
        if (fault === 'internal_error' || fault === 'unavailable' || fault === 'rate_limited') {
          reply = faultReply(fault, path, requestId);
        } else {
          if (fault === 'stall') await new Promise((resolve) => setTimeout(resolve, STALL_MS));
          // A synchronous handler's ops are applied in the same tick as its reads, so no
          // other request can change the state in between (e.g. delete what it updates).
          const routed = route(request);
          reply = routed instanceof Promise ? await routed : routed;
          if (reply.ops && reply.ops.length > 0) await deps.commit(reply.ops, true);
          else {
            // An answer may show what deliveries committed lazily (attempts, dead letters): it
            // waits until that is on disk, so a crash never loses anything the API has shown.
            const flushing = deps.flushed();
            if (flushing) await flushing;
          }
        }
      } catch (error) {
        if (error instanceof BodyTooLarge) {
          closeConnection = true;
          reply = errorReply(new ApiFailure('payload_too_large', `the body is larger than ${MAX_REQUEST_BODY_BYTES} bytes`, { limit_bytes: MAX_REQUEST_BODY_BYTES }), requestId);
        } else if (error instanceof ApiFailure) {
          reply = errorReply(error, requestId);
        } else if (error instanceof OAuthFailure) {
          reply = oauthErrorReply(error);
        } else {
          deps.log?.({ kind: 'notice', time: new Date().toISOString(), level: 'error', message: `request ${requestId} failed: ${(error as Error).message}` });
          reply = errorReply(new ApiFailure('internal_error', 'an internal error occurred'), requestId);
        }
      }
      if (fault === 'reset') {
        // The work is done (and durable); only the answer is lost on the wire.
        incoming.socket.destroy();
      } else if (!response.destroyed) {
        send(response, reply, requestId, closeConnection);
      }
      if (!deps.log) return;
      const status = fault === 'reset' ? 0 : reply.status;
      deps.log({
        kind: 'request',
        time: new Date().toISOString(),
        message: `${method} ${path} -> ${fault === 'reset' ? 'connection reset' : status}${fault ? ` (fault: ${fault})` : ''} [${requestId}]`,
        request_id: requestId,
        method,
        path,
        status,
        duration_ms: Math.round(performance.now() - started),
        fault,
      });
    })();
  };
}
