import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

// A fake tenant API on 127.0.0.1 that answers every request (any path, any method) the same
// hostile way: error pages, broken JSON, wrong types, huge or dripping bodies, resets,
// redirect loops, envelopes that are not what the contract says. close() ends every
// connection and timer, so a client that never gives up cannot keep the test alive.

/** Text that hostile bodies carry; a client must never echo a page back to the user. */
export const HOSTILE_MARKER = 'HOSTILE-PAGE-7f3a';

export type ScenarioName =
  | 'html-502'
  | 'html-503'
  | 'html-200'
  | 'html-404'
  | 'html-401'
  | 'truncated-json'
  | 'text-plain'
  | 'no-content-type'
  | 'xml'
  | 'invalid-utf8'
  | 'huge-chunked'
  | 'huge-declared'
  | 'drip-body'
  | 'drip-headers'
  | 'reset-on-request'
  | 'reset-mid-body'
  | 'malformed-http'
  | 'redirect-loop'
  | 'redirect-away'
  | 'no-data'
  | 'data-string'
  | 'data-null'
  | 'data-junk-array'
  | 'data-wrong-fields'
  | 'json-array-body'
  | 'error-no-code-500'
  | 'error-no-code-400'
  | 'no-content-204'
  | 'empty-200'
  | 'rate-limited-forever';

export const SCENARIOS: readonly ScenarioName[] = [
  'html-502',
  'html-503',
  'html-200',
  'html-404',
  'html-401',
  'truncated-json',
  'text-plain',
  'no-content-type',
  'xml',
  'invalid-utf8',
  'huge-chunked',
  'huge-declared',
  'drip-body',
  'drip-headers',
  'reset-on-request',
  'reset-mid-body',
  'malformed-http',
  'redirect-loop',
  'redirect-away',
  'no-data',
  'data-string',
  'data-null',
  'data-junk-array',
  'data-wrong-fields',
  'json-array-body',
  'error-no-code-500',
  'error-no-code-400',
  'no-content-204',
  'empty-200',
  'rate-limited-forever',
];

export interface HostileApi {
  scenario: ScenarioName;
  url: string;
  /** Requests received so far. */
  requests(): number;
  close(): Promise<void>;
}

const HUGE_BYTES = 50 * 1024 * 1024;
const CHUNK = Buffer.alloc(64 * 1024, 'x');

function page(status: number, title: string): string {
  return `<!DOCTYPE html>\n<html><head><title>${status} ${title}</title></head>\n<body><h1>${title}</h1>\n<p>${HOSTILE_MARKER}</p>\n<pre>\n  at Proxy.handle (/srv/gateway.js:12:3)\n</pre></body></html>\n`;
}

function send(res: ServerResponse, status: number, headers: Record<string, string | number>, body: string | Buffer = ''): void {
  const bytes = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
  res.writeHead(status, { ...headers, 'content-length': bytes.length });
  res.end(bytes);
}

function json(res: ServerResponse, status: number, body: unknown, extra: Record<string, string> = {}): void {
  send(res, status, { 'content-type': 'application/json', ...extra }, JSON.stringify(body));
}

const VALID_LOOKING = JSON.stringify({ data: { id: 'whsub_01HOSTILE', name: 'x' }, meta: {} });

export async function startHostileApi(scenario: ScenarioName): Promise<HostileApi> {
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();
  let count = 0;
  let closing = false;

  const every = (ms: number, fn: () => boolean) => {
    const timer = setInterval(() => {
      if (closing || !fn()) {
        clearInterval(timer);
        timers.delete(timer);
      }
    }, ms);
    timers.add(timer);
  };

  const respond = (req: IncomingMessage, res: ServerResponse): void => {
    const socket = req.socket;
    switch (scenario) {
      case 'html-502':
        return send(res, 502, { 'content-type': 'text/html' }, page(502, 'Bad Gateway'));
      case 'html-503':
        return send(res, 503, { 'content-type': 'text/html; charset=utf-8', 'retry-after': '1' }, page(503, 'Service Unavailable'));
      case 'html-200':
        return send(res, 200, { 'content-type': 'text/html' }, page(200, 'Sign in to the Wi-Fi'));
      case 'html-404':
        return send(res, 404, { 'content-type': 'text/html' }, page(404, 'Not Found'));
      case 'html-401':
        return send(res, 401, { 'content-type': 'text/html' }, page(401, 'Unauthorized'));
      case 'truncated-json':
        return send(res, 200, { 'content-type': 'application/json' }, VALID_LOOKING.slice(0, 25));
      case 'text-plain':
        return send(res, 200, { 'content-type': 'text/plain' }, `${HOSTILE_MARKER} ${VALID_LOOKING}`);
      case 'no-content-type':
        return send(res, 200, {}, VALID_LOOKING);
      case 'xml':
        return send(res, 200, { 'content-type': 'application/xml' }, `<?xml version="1.0"?><error>${HOSTILE_MARKER}</error>`);
      case 'invalid-utf8':
        return send(res, 200, { 'content-type': 'application/json' }, Buffer.from([0x7b, 0x22, 0x64, 0xff, 0xfe, 0xc3, 0x28, 0x22, 0x3a, 0x80, 0x7d]));
      case 'huge-chunked':
      case 'huge-declared': {
        res.writeHead(200, {
          'content-type': 'application/json',
          ...(scenario === 'huge-declared' ? { 'content-length': HUGE_BYTES } : {}),
        });
        let sent = 0;
        const pump = (): void => {
          while (!closing && !res.destroyed && sent < HUGE_BYTES) {
            sent += CHUNK.length;
            if (!res.write(CHUNK)) {
              res.once('drain', pump);
              return;
            }
          }
          if (sent >= HUGE_BYTES && !res.destroyed) res.end();
        };
        pump();
        return;
      }
      case 'drip-body': {
        const body = Buffer.from(VALID_LOOKING, 'utf8');
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length });
        let index = 0;
        every(1_000, () => {
          if (res.destroyed || index >= body.length) return false;
          res.write(body.subarray(index, index + 1));
          index += 1;
          return true;
        });
        return;
      }
      case 'drip-headers': {
        const head = Buffer.from('HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n', 'latin1');
        let index = 0;
        every(1_000, () => {
          if (socket.destroyed || index >= head.length) return false;
          socket.write(head.subarray(index, index + 1));
          index += 1;
          return true;
        });
        return;
      }
      case 'reset-on-request':
        socket.resetAndDestroy();
        return;
      case 'reset-mid-body': {
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': 4_000 });
        res.write(VALID_LOOKING.slice(0, 30));
        setImmediate(() => socket.resetAndDestroy());
        return;
      }
      case 'malformed-http':
        socket.end(`HTTP/1.1 2OO Fine\r\nContent-Type: application/json\r\n\r\n${VALID_LOOKING}`);
        return;
      case 'redirect-loop':
        return send(res, 302, { location: req.url ?? '/', 'content-type': 'text/html' }, page(302, 'Found'));
      case 'redirect-away':
        return send(res, 307, { location: 'https://login.elsewhere.invalid/sso?next=%2Fapi', 'content-type': 'text/html' }, page(307, 'Moved'));
      case 'no-data':
        return json(res, 200, { meta: { next_cursor: null }, result: 'ok' });
      case 'data-string':
        return json(res, 200, { data: 'surprise', meta: {} });
      case 'data-null':
        return json(res, 200, { data: null, meta: {} });
      case 'data-junk-array':
        return json(res, 200, { data: [1, 'x', null, [], { id: 7 }], meta: { next_cursor: null } });
      case 'data-wrong-fields':
        return json(res, 200, {
          data: { id: 42, name: ['n'], url: { href: 'x' }, events: 'user.*', status: 7, signing_secret: 12345, event_id: null, type: 3, outcome: {} },
          meta: { next_cursor: 17 },
        });
      case 'json-array-body':
        return json(res, 200, [{ id: 'whsub_01HOSTILE', name: 'x' }]);
      case 'error-no-code-500':
        return json(res, 500, { message: 'internal failure', request_id: 'req_hostile' });
      case 'error-no-code-400':
        return json(res, 400, { message: 'bad request', details: { everything: 'is wrong' } });
      case 'no-content-204':
        res.writeHead(204);
        res.end();
        return;
      case 'empty-200':
        return send(res, 200, { 'content-type': 'application/json' }, '');
      case 'rate-limited-forever':
        return json(res, 429, { error: 'rate_limited', message: 'slow down', request_id: 'req_hostile' }, { 'retry-after': '3600' });
    }
  };

  const server = createServer((req, res) => {
    count += 1;
    req.on('error', () => {});
    res.on('error', () => {});
    // Read the request body first, as a real server would, then answer.
    req.resume();
    req.on('end', () => {
      if (!closing) respond(req, res);
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    socket.on('close', () => sockets.delete(socket));
  });
  server.on('clientError', (_error, socket) => socket.destroy());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    scenario,
    url: `http://127.0.0.1:${port}`,
    requests: () => count,
    close: () =>
      new Promise<void>((resolve) => {
        closing = true;
        for (const timer of timers) clearInterval(timer);
        timers.clear();
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
