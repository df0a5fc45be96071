import { createServer, request as httpRequest, type IncomingHttpHeaders, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

// A loopback reverse proxy between the CLI and an emulator, with hooks at the two moments
// that matter for a secret the platform shows once: before a request reaches the platform,
// and after the platform answered but before the answer reaches the CLI. Tests use them to
// send a signal, break a secret store, or lose the answer on the wire, at exactly that point.

export interface RelayedExchange {
  /** Order of arrival, from 1. */
  seq: number;
  method: string;
  /** Path and query, as the CLI sent it. */
  path: string;
  requestHeaders: IncomingHttpHeaders;
  requestBody: Buffer;
  /** 'pending' until the platform answered; 'dropped' when the answer was thrown away; 'failed' when the platform could not be reached. */
  status: number | 'pending' | 'dropped' | 'failed';
  responseHeaders: IncomingHttpHeaders;
  responseBody: Buffer;
}

export type AnswerAction = 'deliver' | 'drop';

/** An answer the relay gives itself, without asking the platform. */
export interface CannedAnswer {
  status: number;
  headers?: Record<string, string>;
  body?: string;
}

export interface RelayHooks {
  /** Runs before the request goes on to the platform; a CannedAnswer is sent back instead of forwarding. */
  beforeForward?: (exchange: RelayedExchange) => void | CannedAnswer | Promise<void | CannedAnswer>;
  /** Runs after the platform answered; 'drop' closes the CLI's connection instead of answering (the work is done, the answer lost). */
  beforeAnswer?: (exchange: RelayedExchange) => void | AnswerAction | Promise<void | AnswerAction>;
}

export interface TenantRelay {
  url: string;
  /** host:port, as the CLI's keychain accounts name the tenant. */
  host: string;
  exchanges: RelayedExchange[];
  setHooks(hooks: RelayHooks): void;
  close(): Promise<void>;
}

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'proxy-connection', 'upgrade', 'te', 'trailer', 'content-length', 'host']);

function readAll(stream: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.once('end', () => resolve(Buffer.concat(chunks)));
    stream.once('error', reject);
  });
}

function endToEnd(headers: IncomingHttpHeaders): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined && !HOP_BY_HOP.has(name.toLowerCase())) out[name] = value;
  }
  return out;
}

export async function startTenantRelay(upstreamUrl: string, initialHooks: RelayHooks = {}): Promise<TenantRelay> {
  const upstream = new URL(upstreamUrl);
  let hooks = initialHooks;
  const exchanges: RelayedExchange[] = [];
  const sockets = new Set<Socket>();

  const forward = (exchange: RelayedExchange): Promise<{ status: number; headers: IncomingHttpHeaders; body: Buffer }> =>
    new Promise((resolve, reject) => {
      const outgoing = httpRequest(
        {
          host: upstream.hostname,
          port: upstream.port,
          method: exchange.method,
          path: exchange.path,
          headers: { ...endToEnd(exchange.requestHeaders), host: upstream.host, 'content-length': String(exchange.requestBody.length) },
          agent: false,
          timeout: 30_000,
        },
        (response) => {
          readAll(response).then((body) => resolve({ status: response.statusCode ?? 502, headers: response.headers, body }), reject);
        },
      );
      outgoing.once('timeout', () => outgoing.destroy(new Error('upstream timeout')));
      outgoing.once('error', reject);
      outgoing.end(exchange.requestBody);
    });

  const server: Server = createServer((incoming, response) => {
    void (async () => {
      const exchange: RelayedExchange = {
        seq: exchanges.length + 1,
        method: incoming.method ?? 'GET',
        path: incoming.url ?? '/',
        requestHeaders: incoming.headers,
        requestBody: Buffer.alloc(0),
        status: 'pending',
        responseHeaders: {},
        responseBody: Buffer.alloc(0),
      };
      exchanges.push(exchange);
      try {
        exchange.requestBody = await readAll(incoming);
        const canned = await hooks.beforeForward?.(exchange);
        let answer;
        try {
          answer = canned
            ? { status: canned.status, headers: canned.headers ?? {}, body: Buffer.from(canned.body ?? '') }
            : await forward(exchange);
        } catch {
          // The platform dropped the connection (a reset fault): do the same to the CLI.
          exchange.status = 'failed';
          incoming.socket.destroy();
          return;
        }
        exchange.status = answer.status;
        exchange.responseHeaders = answer.headers;
        exchange.responseBody = answer.body;
        const action = await hooks.beforeAnswer?.(exchange);
        if (action === 'drop') {
          exchange.status = 'dropped';
          incoming.socket.destroy();
          return;
        }
        if (response.destroyed || incoming.socket.destroyed) return;
        response.writeHead(answer.status, { ...endToEnd(answer.headers), 'content-length': String(answer.body.length) });
        response.end(answer.body);
      } catch {
        incoming.socket.destroy();
      }
    })();
  });
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    host: `127.0.0.1:${port}`,
    exchanges,
    setHooks(next) {
      hooks = next;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/** True when the exchange is `method` on a path ending with `suffix` (the query ignored). */
export function isCall(exchange: RelayedExchange, method: string, suffix: string | RegExp): boolean {
  if (exchange.method !== method) return false;
  const path = exchange.path.split('?')[0] ?? '';
  return typeof suffix === 'string' ? path.endsWith(suffix) : suffix.test(path);
}
