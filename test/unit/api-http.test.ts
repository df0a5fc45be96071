import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, request as nodeRequest } from 'node:http';
import { createServer as createNetServer, type AddressInfo, type Socket } from 'node:net';
import { createHttp, parseRetryAfter, type HttpOptions } from '../../src/api/http.ts';
import { ApiError, InterruptedError, UnavailableError, UsageError } from '../../src/errors.ts';
import { closedPort, sendJson, startServer, type Handler, type LoopbackServer } from '../helpers/loopback-server.ts';

const ok = (data: unknown, meta?: unknown) => ({ data, ...(meta === undefined ? {} : { meta }) });

/** Runs fn against a fresh server and a fresh client; both are closed afterwards. */
async function withServer(
  handler: Handler,
  fn: (ctx: { server: LoopbackServer; http: ReturnType<typeof createHttp>; sleeps: number[]; trace: string[] }) => Promise<void>,
  options: Partial<HttpOptions> = {},
): Promise<void> {
  const server = await startServer(handler);
  const sleeps: number[] = [];
  const trace: string[] = [];
  const http = createHttp({
    baseUrl: server.url,
    timeoutMs: 2_000,
    totalTimeoutMs: 5_000,
    env: {},
    random: () => 0,
    sleep: async (ms) => {
      sleeps.push(ms);
    },
    trace: (line) => trace.push(line),
    ...options,
  });
  try {
    await fn({ server, http, sleeps, trace });
  } finally {
    await http.close();
    await server.close();
  }
}

describe('http transport: success and parsing', () => {
  test('returns data and meta of a 2xx envelope, with query, accept and user agent', async () => {
    await withServer(
      (_req, res) => sendJson(res, 200, ok([{ id: 'a' }], { next_cursor: 'c2', limit: 1 }), { 'x-request-id': 'req_1' }),
      async ({ server, http }) => {
        const result = await http.request<{ id: string }[]>({
          method: 'GET',
          path: '/api/v1/webhooks/subscriptions',
          query: { limit: 1, cursor: undefined, flag: true },
        });
        assert.deepEqual(result.data, [{ id: 'a' }]);
        assert.deepEqual(result.meta, { next_cursor: 'c2', limit: 1 });
        assert.equal(result.requestId, 'req_1');
        assert.equal(result.attempts, 1);
        const seen = server.requests[0]!;
        assert.equal(seen.url, '/api/v1/webhooks/subscriptions?limit=1&flag=true');
        assert.equal(seen.headers.accept, 'application/json');
        assert.equal(seen.headers['user-agent'], 'test-agent/1');
      },
      { userAgent: 'test-agent/1' },
    );
  });

  test('sends JSON and form bodies with their content types', async () => {
    await withServer(
      (_req, res) => sendJson(res, 201, ok({ done: true })),
      async ({ server, http }) => {
        await http.request({ method: 'POST', path: '/j', json: { a: 1 } });
        await http.request({ method: 'POST', path: '/f', form: { a: 'x y', b: undefined }, expect: 'raw' });
        assert.equal(server.requests[0]!.headers['content-type'], 'application/json');
        assert.equal(server.requests[0]!.body, '{"a":1}');
        assert.equal(server.requests[1]!.headers['content-type'], 'application/x-www-form-urlencoded');
        assert.equal(server.requests[1]!.body, 'a=x+y');
      },
    );
  });

  test('204 has no body', async () => {
    await withServer(
      (_req, res) => {
        res.writeHead(204);
        res.end();
      },
      async ({ http }) => {
        const result = await http.request({ method: 'DELETE', path: '/x' });
        assert.equal(result.status, 204);
        assert.equal(result.data, undefined);
      },
    );
  });

  test('raw mode returns the JSON object as is', async () => {
    await withServer(
      (_req, res) => sendJson(res, 200, { access_token: 't', expires_in: 60 }),
      async ({ http }) => {
        const result = await http.request<{ access_token: string }>({ method: 'POST', path: '/oauth2/token', expect: 'raw' });
        assert.equal(result.data.access_token, 't');
      },
    );
  });

  test('a 2xx without the data field is a clear error', async () => {
    await withServer(
      (_req, res) => sendJson(res, 200, { items: [] }),
      async ({ http }) => {
        await assert.rejects(http.request({ method: 'GET', path: '/x' }), (error: unknown) => {
          assert.ok(error instanceof UnavailableError);
          assert.match(error.message, /^the API answered 200 with JSON without the "data" field/);
          return true;
        });
      },
    );
  });
});

describe('http transport: error answers', () => {
  test('an error envelope becomes an ApiError with code, request id and details; 4xx is not retried', async () => {
    await withServer(
      (_req, res) =>
        sendJson(res, 404, {
          error: 'not_found',
          message: 'no such subscription',
          details: { id: 'whsub_1' },
          request_id: 'req_abc',
        }),
      async ({ server, http }) => {
        await assert.rejects(http.request({ method: 'GET', path: '/x' }), (error: unknown) => {
          assert.ok(error instanceof ApiError);
          assert.equal(error.status, 404);
          assert.equal(error.code, 'not_found');
          assert.equal(error.requestId, 'req_abc');
          assert.deepEqual(error.details, { id: 'whsub_1' });
          assert.equal(error.message, 'no such subscription (request req_abc)');
          return true;
        });
        assert.equal(server.requests.length, 1);
      },
    );
  });

  test('an HTML 502 page becomes a one-line error that never shows the page', async () => {
    const page = '<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head>\n<body><h1>nginx</h1></body></html>\n';
    await withServer(
      (_req, res) => {
        res.writeHead(502, { 'content-type': 'text/html', 'x-request-id': 'req_html' });
        res.end(page);
      },
      async ({ server, http }) => {
        await assert.rejects(http.request({ method: 'GET', path: '/x' }), (error: unknown) => {
          assert.ok(error instanceof ApiError);
          assert.equal(error.status, 502);
          assert.equal(error.code, 'invalid_response');
          assert.equal(error.message, 'the API answered 502 with an HTML page instead of JSON (request req_html)');
          assert.ok(!error.message.includes('\n') && !error.message.includes('<'));
          assert.match(error.hint ?? '', /2 attempts/);
          return true;
        });
        assert.equal(server.requests.length, 2, '5xx is retried for GET');
      },
      { maxAttempts: 2 },
    );
  });

  test('truncated JSON is reported as such', async () => {
    await withServer(
      (_req, res) => {
        const text = '{"data": {"id": "whsub_1", "na';
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
        res.end(text);
      },
      async ({ http }) => {
        await assert.rejects(http.request({ method: 'GET', path: '/x' }), (error: unknown) => {
          assert.ok(error instanceof UnavailableError);
          assert.equal(error.message, 'the API answered 200 with truncated or malformed JSON');
          return true;
        });
      },
    );
  });

  test('a wrong content type is reported, even when the text happens to be JSON', async () => {
    await withServer(
      (_req, res) => {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end('{"data": 1}');
      },
      async ({ http }) => {
        await assert.rejects(http.request({ method: 'GET', path: '/x' }), /the API answered 200 with a text\/plain body instead of JSON/);
      },
    );
  });

  test('JSON that is not an error envelope, on an error status', async () => {
    await withServer(
      (_req, res) => sendJson(res, 400, { oops: true }),
      async ({ http }) => {
        await assert.rejects(http.request({ method: 'GET', path: '/x' }), (error: unknown) => {
          assert.ok(error instanceof ApiError);
          assert.equal(error.status, 400);
          assert.match(error.message, /^the API answered 400 with JSON that is not an API error envelope$/);
          assert.match(error.hint ?? '', /--tenant-url/);
          return true;
        });
      },
    );
  });

  test('a huge body is capped (streamed, no content-length)', async () => {
    await withServer(
      (_req, res) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        const chunk = Buffer.alloc(64 * 1024, 0x20);
        for (let i = 0; i < 32; i += 1) res.write(chunk);
        res.end();
      },
      async ({ http }) => {
        await assert.rejects(http.request({ method: 'GET', path: '/x', maxBodyBytes: 256 * 1024 }), (error: unknown) => {
          assert.ok(error instanceof UnavailableError);
          assert.match(error.message, /exceeded 256 KiB/);
          return true;
        });
      },
    );
  });

  test('a declared content-length over the default 8 MiB cap is refused before reading', async () => {
    await withServer(
      (_req, res) => {
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(9 * 1024 * 1024) });
        res.write('{"data": "');
      },
      async ({ http }) => {
        await assert.rejects(http.request({ method: 'GET', path: '/x' }), /exceeded 8 MiB/);
      },
    );
  });

  test('redirects are not followed: a redirect loop ends at once with a clear error', async () => {
    await withServer(
      (_req, res) => {
        res.writeHead(302, { location: '/loop' });
        res.end();
      },
      async ({ server, http }) => {
        await assert.rejects(http.request({ method: 'GET', path: '/loop' }), (error: unknown) => {
          assert.ok(error instanceof UsageError);
          assert.equal(error.message, `the API redirected to ${server.url}/loop; check --tenant-url`);
          return true;
        });
        assert.equal(server.requests.length, 1);
      },
    );
  });
});

describe('http transport: retries', () => {
  test('503 twice, then success: GET is retried with backoff', async () => {
    await withServer(
      (_req, res, index) =>
        index < 2 ? sendJson(res, 503, { error: 'internal_error', message: 'busy' }) : sendJson(res, 200, ok('fine')),
      async ({ server, http, sleeps }) => {
        const result = await http.request<string>({ method: 'GET', path: '/x' });
        assert.equal(result.data, 'fine');
        assert.equal(result.attempts, 3);
        assert.equal(server.requests.length, 3);
        assert.deepEqual(sleeps, [100, 200], 'exponential backoff (random 0 -> half the ceiling)');
      },
    );
  });

  test('429 honours Retry-After', async () => {
    await withServer(
      (_req, res, index) =>
        index === 0
          ? sendJson(res, 429, { error: 'rate_limited', message: 'slow down' }, { 'retry-after': '2' })
          : sendJson(res, 200, ok('done')),
      async ({ http, sleeps }) => {
        const result = await http.request<string>({ method: 'GET', path: '/x' });
        assert.equal(result.data, 'done');
        assert.deepEqual(sleeps, [2_000]);
      },
    );
  });

  test('429 with a Retry-After beyond the remaining budget gives up at once, saying how long to wait', async () => {
    await withServer(
      (_req, res) => sendJson(res, 429, { error: 'rate_limited', message: 'slow down' }, { 'retry-after': '120' }),
      async ({ server, http, sleeps }) => {
        await assert.rejects(http.request({ method: 'GET', path: '/x' }), (error: unknown) => {
          assert.ok(error instanceof ApiError);
          assert.equal(error.status, 429);
          assert.equal(error.retryAfterSeconds, 120);
          assert.match(error.hint ?? '', /wait 120 s/);
          return true;
        });
        assert.equal(server.requests.length, 1);
        assert.deepEqual(sleeps, []);
      },
    );
  });

  test('POST without an idempotency key is not retried after a 5xx', async () => {
    await withServer(
      (_req, res) => sendJson(res, 503, { error: 'internal_error', message: 'busy' }),
      async ({ server, http }) => {
        await assert.rejects(http.request({ method: 'POST', path: '/x', json: {} }), ApiError);
        assert.equal(server.requests.length, 1);
      },
    );
  });

  test('POST without an idempotency key: a reset is not retried and says the outcome is unknown', async () => {
    await withServer(
      (_req, res) => {
        res.socket?.destroy();
      },
      async ({ server, http }) => {
        await assert.rejects(http.request({ method: 'POST', path: '/x', json: {} }), (error: unknown) => {
          assert.ok(error instanceof UnavailableError);
          assert.match(error.message, /after 1 attempt$/);
          assert.match(error.hint ?? '', /may or may not have taken effect/);
          return true;
        });
        assert.equal(server.requests.length, 1);
      },
    );
  });

  test('POST without an idempotency key is retried after a 429, which refused it before doing anything', async () => {
    await withServer(
      (_req, res, index) =>
        index < 2
          ? sendJson(res, 429, { error: 'rate_limited', message: 'slow down' }, { 'retry-after': '1' })
          : sendJson(res, 202, ok('scheduled')),
      async ({ server, http, sleeps }) => {
        const result = await http.request<string>({ method: 'POST', path: '/x', json: { a: 1 } });
        assert.equal(result.data, 'scheduled');
        assert.equal(server.requests.length, 3);
        assert.deepEqual(sleeps, [1_000, 1_000]);
      },
    );
  });

  test('PATCH, which sets the fields it is given, is retried after a 503 and after a reset', async () => {
    await withServer(
      (_req, res, index) => {
        if (index === 0) return sendJson(res, 503, { error: 'internal_error', message: 'busy' });
        if (index === 1) return void res.socket?.destroy();
        return sendJson(res, 200, ok({ status: 'paused' }));
      },
      async ({ server, http }) => {
        const result = await http.request<{ status: string }>({ method: 'PATCH', path: '/x', json: { status: 'paused' } });
        assert.deepEqual(result.data, { status: 'paused' });
        assert.equal(server.requests.length, 3);
        assert.ok(server.requests.every((request) => request.body === '{"status":"paused"}'));
      },
    );
  });

  test('DELETE answered 404 after an attempt whose answer was lost counts as done; a first 404 stays a 404', async () => {
    await withServer(
      (_req, res, index) => {
        if (index === 0) return void res.socket?.destroy();
        return sendJson(res, 404, { error: 'not_found', message: 'no such subscription' });
      },
      async ({ server, http, trace }) => {
        const result = await http.request({ method: 'DELETE', path: '/x' });
        assert.equal(result.status, 204);
        assert.equal(server.requests.length, 2);
        assert.ok(trace.some((line) => /gone after an attempt whose answer was lost/.test(line)));
        await assert.rejects(http.request({ method: 'DELETE', path: '/y' }), (error: unknown) => error instanceof ApiError && error.status === 404);
      },
    );
  });

  test('a malformed HTTP answer (an invalid status line, which undici reports without a code) is retried like a reset', async () => {
    let connections = 0;
    const raw = createNetServer((socket) => {
      connections += 1;
      const first = connections === 1;
      socket.once('data', () => {
        if (first) socket.end('HTTP/1.1 abc Nope\r\n\r\n');
        else socket.end('HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 15\r\nconnection: close\r\n\r\n{"data":"done"}');
      });
    });
    await new Promise<void>((resolve) => raw.listen(0, '127.0.0.1', resolve));
    const { port } = raw.address() as AddressInfo;
    const trace: string[] = [];
    const http = createHttp({ baseUrl: `http://127.0.0.1:${port}`, env: {}, random: () => 0, sleep: async () => undefined, trace: (line) => trace.push(line) });
    try {
      const result = await http.request<string>({ method: 'GET', path: '/x' });
      assert.equal(result.data, 'done');
      assert.equal(result.attempts, 2);
      assert.ok(trace.some((line) => /the API sent a malformed HTTP answer \(Response does not match the HTTP\/1\.1 protocol/.test(line)), trace.join('\n'));
    } finally {
      await http.close();
      raw.close();
    }
  });

  test('POST with an idempotency key is retried with the same key', async () => {
    await withServer(
      (_req, res, index) =>
        index < 2 ? sendJson(res, 500, { error: 'internal_error', message: 'oops' }) : sendJson(res, 201, ok({ id: 'x' })),
      async ({ server, http }) => {
        const result = await http.request({
          method: 'POST',
          path: '/x',
          json: { a: 1 },
          headers: { 'Idempotency-Key': 'key-123' },
        });
        assert.equal(result.status, 201);
        assert.equal(server.requests.length, 3);
        assert.deepEqual(
          server.requests.map((r) => r.headers['idempotency-key']),
          ['key-123', 'key-123', 'key-123'],
        );
        assert.ok(server.requests.every((r) => r.body === '{"a":1}'));
      },
    );
  });

  test('an explicit retry:false override stops even a GET from being retried', async () => {
    await withServer(
      (_req, res) => sendJson(res, 503, { error: 'internal_error', message: 'busy' }),
      async ({ server, http }) => {
        await assert.rejects(http.request({ method: 'GET', path: '/x', retry: false }), ApiError);
        assert.equal(server.requests.length, 1);
      },
    );
  });

  test('a reset in the middle of the body is retried for GET', async () => {
    await withServer(
      (_req, res, index) => {
        if (index === 0) {
          res.writeHead(200, { 'content-type': 'application/json', 'content-length': '1000' });
          res.write('{"data": "par');
          setTimeout(() => res.socket?.destroy(), 20);
          return;
        }
        sendJson(res, 200, ok('whole'));
      },
      async ({ server, http }) => {
        const result = await http.request<string>({ method: 'GET', path: '/x' });
        assert.equal(result.data, 'whole');
        assert.equal(server.requests.length, 2);
      },
    );
  });

  test('a server dripping one byte per 100 ms hits the per-attempt deadline', async () => {
    const timers = new Set<NodeJS.Timeout>();
    await withServer(
      (_req, res) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.write('{"data": "');
        let sent = 0;
        const timer = setInterval(() => {
          sent += 1;
          if (sent > 50 || res.destroyed) {
            clearInterval(timer);
            res.end('"}');
            return;
          }
          res.write('x');
        }, 100);
        timers.add(timer);
      },
      async ({ server, http }) => {
        await assert.rejects(http.request({ method: 'GET', path: '/x' }), (error: unknown) => {
          assert.ok(error instanceof UnavailableError);
          assert.equal(
            error.message,
            `could not reach ${server.url}: no complete answer within 300 ms (timeout) after 1 attempt`,
          );
          return true;
        });
      },
      { timeoutMs: 300, maxAttempts: 1 },
    );
    for (const timer of timers) clearInterval(timer);
  });

  test('the total budget bounds a call with all its retries', async () => {
    // The server never answers; every attempt times out at 300 ms; the call gives up by ~1.5 s.
    const started = Date.now();
    await withServer(
      () => undefined,
      async ({ server, http }) => {
        await assert.rejects(http.request({ method: 'GET', path: '/x' }), (error: unknown) => {
          assert.ok(error instanceof UnavailableError);
          assert.match(error.message, /no complete answer within \d+ ms \(timeout\) after \d attempts$/);
          return true;
        });
        assert.ok(server.requests.length >= 2, 'retried at least once');
        assert.ok(server.requests.length <= 5);
      },
      {
        timeoutMs: 300,
        totalTimeoutMs: 1_500,
        maxAttempts: 10,
        sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
      },
    );
    // Generous slack: this checks the budget is enforced, not how fast the machine is.
    assert.ok(Date.now() - started < 5_000, `took ${Date.now() - started} ms`);
  });

  test('connection refused: retried, then one summarised line', async () => {
    const port = await closedPort();
    const http = createHttp({
      baseUrl: `http://127.0.0.1:${port}`,
      env: {},
      maxAttempts: 3,
      sleep: async () => undefined,
    });
    try {
      await assert.rejects(http.request({ method: 'GET', path: '/x' }), (error: unknown) => {
        assert.ok(error instanceof UnavailableError);
        assert.equal(
          error.message,
          `could not reach http://127.0.0.1:${port}: connection refused (ECONNREFUSED) after 3 attempts`,
        );
        return true;
      });
    } finally {
      await http.close();
    }
  });

  test('an abort signal interrupts a pending request', async () => {
    await withServer(
      () => undefined,
      async ({ http }) => {
        const controller = new AbortController();
        setTimeout(() => controller.abort(), 50);
        await assert.rejects(http.request({ method: 'GET', path: '/x', signal: controller.signal }), InterruptedError);
      },
    );
  });

  test('parseRetryAfter reads seconds and HTTP dates', () => {
    assert.equal(parseRetryAfter('7'), 7);
    assert.equal(parseRetryAfter(new Date(10_000 + 30_000).toUTCString(), 10_000), 30);
    assert.equal(parseRetryAfter('soon'), undefined);
    assert.equal(parseRetryAfter(undefined), undefined);
  });
});

describe('http transport: --debug trace', () => {
  test('one line per request and response, with headers and bodies, secrets redacted', async () => {
    const bearer = 'eyJhbGciOiJSUzI1NiJ9.payload-SECRET-TOKEN.sig';
    const clientSecret = 'cs_VERY_SECRET_value';
    const signingSecret = 'whsec_SIGNING_SECRET_value';
    await withServer(
      (req, res) =>
        req.url.startsWith('/oauth2')
          ? sendJson(res, 200, { access_token: bearer, token_type: 'Bearer', expires_in: 3600 }, { 'x-request-id': 'req_tok' })
          : sendJson(res, 201, ok({ id: 'whsub_1', signing_secret: signingSecret, nested: { password: 'pw-123456' } })),
      async ({ http, trace }) => {
        await http.request({
          method: 'POST',
          path: '/oauth2/token',
          form: { grant_type: 'client_credentials', client_id: 'cid', client_secret: clientSecret },
          expect: 'raw',
          headers: { authorization: `Basic ${Buffer.from(`cid:${clientSecret}`).toString('base64')}` },
        });
        await http.request({
          method: 'POST',
          path: '/api/v1/webhooks/subscriptions',
          json: { name: 'n', secret: 'plain-secret-in-body' },
          headers: { Authorization: `Bearer ${bearer}`, 'Idempotency-Key': 'k1' },
        });
        const all = trace.join('\n');
        for (const secret of [bearer, clientSecret, signingSecret, 'pw-123456', 'plain-secret-in-body', 'payload-SECRET-TOKEN']) {
          assert.ok(!all.includes(secret), `trace leaks ${secret}`);
        }
        assert.ok(!all.includes(Buffer.from(`cid:${clientSecret}`).toString('base64')), 'trace leaks Basic credentials');
        assert.ok(all.includes('[redacted]'));
        assert.ok(trace.some((l) => /^> POST http:\/\/127\.0\.0\.1:\d+\/oauth2\/token \(attempt 1\/1\)$/.test(l)));
        assert.ok(trace.some((l) => /^< 200 POST .*\/oauth2\/token \d+ ms \(attempt 1\/1, request req_tok\)$/.test(l)));
        assert.ok(trace.some((l) => l.includes('authorization: Bearer [redacted]')));
        assert.ok(trace.some((l) => l.includes('authorization: Basic [redacted]')));
        assert.ok(trace.some((l) => l.includes('client_secret=[redacted]') && l.includes('client_id=cid')));
        assert.ok(trace.some((l) => l.includes('idempotency-key: k1')));
        assert.ok(trace.some((l) => l.includes('"signing_secret":"[redacted]"') && l.includes('"id":"whsub_1"')));
      },
    );
  });
});

describe('http transport: proxies from the environment', () => {
  async function startProxy(): Promise<{ url: string; seen: string[]; close(): Promise<void> }> {
    const seen: string[] = [];
    const sockets = new Set<Socket>();
    // Forwards absolute-form requests (plain http targets need no CONNECT) to loopback only.
    const proxy = createServer((req, res) => {
      seen.push(req.url ?? '');
      const target = new URL(req.url ?? '');
      if (target.hostname !== '127.0.0.1') {
        res.writeHead(403);
        res.end();
        return;
      }
      const upstream = nodeRequest(
        { host: '127.0.0.1', port: target.port, path: `${target.pathname}${target.search}`, method: req.method, headers: { ...req.headers, 'x-via-proxy': '1' } },
        (upstreamRes) => {
          res.writeHead(upstreamRes.statusCode ?? 502, upstreamRes.headers);
          upstreamRes.pipe(res);
        },
      );
      upstream.on('error', () => res.destroy());
      req.pipe(upstream);
    });
    proxy.on('connection', (socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    const { port } = proxy.address() as AddressInfo;
    return {
      url: `http://127.0.0.1:${port}`,
      seen,
      close: () =>
        new Promise<void>((resolve) => {
          for (const socket of sockets) socket.destroy();
          proxy.close(() => resolve());
        }),
    };
  }

  test('HTTP_PROXY routes requests through the proxy; NO_PROXY exempts a host', async () => {
    const proxy = await startProxy();
    const server = await startServer((req, res) => sendJson(res, 200, ok({ via: req.headers['x-via-proxy'] ?? 'direct' })));
    try {
      const trace: string[] = [];
      const withCredentials = proxy.url.replace('http://', 'http://user:proxy-pw-secret@');
      const proxied = createHttp({
        baseUrl: server.url,
        env: { HTTP_PROXY: withCredentials, NO_PROXY: '' },
        trace: (line) => trace.push(line),
      });
      try {
        const result = await proxied.request<{ via: string }>({ method: 'GET', path: '/api/v1/webhooks/event-types' });
        assert.equal(result.data.via, '1');
        assert.deepEqual(proxy.seen, [`${server.url}/api/v1/webhooks/event-types`]);
        assert.ok(trace.includes(`  using proxy ${proxy.url.replace('http://', 'http://[redacted]@')}`), trace.join('\n'));
        assert.ok(!trace.join('\n').includes('proxy-pw-secret'));
      } finally {
        await proxied.close();
      }

      const exempt = createHttp({ baseUrl: server.url, env: { http_proxy: proxy.url, no_proxy: '127.0.0.1' } });
      try {
        const result = await exempt.request<{ via: string }>({ method: 'GET', path: '/direct' });
        assert.equal(result.data.via, 'direct');
        assert.equal(proxy.seen.length, 1, 'the proxy saw nothing more');
      } finally {
        await exempt.close();
      }
      assert.equal(server.requests.length, 2);
    } finally {
      await server.close();
      await proxy.close();
    }
  });
});
