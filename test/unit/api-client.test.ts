import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { ApiClient, TEST_CALL_TIMEOUT_MS } from '../../src/api/client.ts';
import { createHttp, type Http, type HttpRequest, type HttpResult } from '../../src/api/http.ts';
import type { AccessTokenProvider } from '../../src/api/token.ts';
import { DELIVERY_TIMEOUT_MS, type DeadLetter, type DeliveryRecord, type Subscription } from '../../src/domain/contract.ts';
import { ApiError, exitCodeFor, UnavailableError } from '../../src/errors.ts';
import { sendJson, startServer, type Handler, type LoopbackServer } from '../helpers/loopback-server.ts';

class FakeTokens implements AccessTokenProvider {
  issued = 0;
  invalidated = 0;
  constructor(readonly refreshable = true) {}
  async getToken(): Promise<string> {
    this.issued += 1;
    return `tok_${this.invalidated}`;
  }
  async invalidate(): Promise<void> {
    this.invalidated += 1;
  }
}

function deliveryRecord(id: string): DeliveryRecord {
  return {
    id,
    subscription_id: 'whsub_1',
    event_id: 'evt_1',
    event_type: 'user.signed_up',
    attempt: 1,
    attempted_at: '2026-01-01T00:00:00Z',
    outcome: 'succeeded',
    http_status: 200,
    error: null,
    latency_ms: 12,
    response_excerpt: '',
    next_attempt_at: null,
    dead_lettered: false,
  };
}

function deadLetter(eventId: string): DeadLetter {
  return {
    event_id: eventId,
    event_type: 'user.signed_up',
    subscription_id: 'whsub_1',
    dead_lettered_at: '2026-01-01T00:00:00Z',
    expires_at: '2026-01-08T00:00:00Z',
    attempts: 6,
    last_error: 'timeout',
    last_http_status: null,
  };
}

function subscription(n: number): Subscription {
  return {
    id: `whsub_${String(n).padStart(4, '0')}`,
    name: `s${n}`,
    url: 'https://hooks.example.com/in',
    events: ['*'],
    description: null,
    status: 'active',
    created_at: '2026-01-01T00:00:00Z',
    updated_at: '2026-01-01T00:00:00Z',
    secret_fingerprint: 'abcd1234',
    previous_secret_expires_at: null,
  };
}

async function withApi(
  handler: Handler,
  fn: (ctx: { api: ApiClient; server: LoopbackServer; tokens: FakeTokens }) => Promise<void>,
  tokens = new FakeTokens(),
): Promise<void> {
  const server = await startServer(handler);
  const http = createHttp({ baseUrl: server.url, env: {}, sleep: async () => undefined });
  try {
    await fn({ api: new ApiClient({ http, tokenProvider: tokens }), server, tokens });
  } finally {
    await http.close();
    await server.close();
  }
}

/** An Http that records requests and answers from a script, for checking what the client asks. */
function recordingHttp(answer: (req: HttpRequest) => unknown): { http: Http; calls: HttpRequest[] } {
  const calls: HttpRequest[] = [];
  return {
    calls,
    http: {
      baseUrl: 'http://127.0.0.1:9',
      async request<T>(req: HttpRequest): Promise<HttpResult<T>> {
        calls.push(req);
        return { status: 200, data: answer(req) as T, meta: undefined, requestId: undefined, attempts: 1 };
      },
      async close() {},
    },
  };
}

describe('ApiClient', () => {
  test('sends the bearer token and returns typed data', async () => {
    await withApi(
      (_req, res) => sendJson(res, 200, { data: [{ type: 'user.signed_in', category: 'user', description: 'd' }], meta: {} }),
      async ({ api, server }) => {
        const types = await api.listEventTypes();
        assert.equal(types[0]!.type, 'user.signed_in');
        assert.equal(server.requests[0]!.url, '/api/v1/webhooks/event-types');
        assert.equal(server.requests[0]!.headers.authorization, 'Bearer tok_0');
      },
    );
  });

  test('iterateSubscriptions follows next_cursor page by page', async () => {
    const all = Array.from({ length: 7 }, (_, i) => subscription(i));
    await withApi(
      (req, res) => {
        const url = new URL(req.url, 'http://x');
        const start = Number(url.searchParams.get('cursor') ?? '0');
        const limit = Number(url.searchParams.get('limit'));
        const page = all.slice(start, start + limit);
        const next = start + limit < all.length ? String(start + limit) : null;
        sendJson(res, 200, { data: page, meta: { next_cursor: next, limit } });
      },
      async ({ api, server }) => {
        const ids: string[] = [];
        for await (const item of api.iterateSubscriptions({ pageSize: 3 })) ids.push(item.id);
        assert.deepEqual(ids, all.map((s) => s.id));
        assert.deepEqual(
          server.requests.map((r) => r.url),
          [
            '/api/v1/webhooks/subscriptions?limit=3',
            '/api/v1/webhooks/subscriptions?cursor=3&limit=3',
            '/api/v1/webhooks/subscriptions?cursor=6&limit=3',
          ],
        );
      },
    );
  });

  test('iterateSubscriptions stops on a cursor the server already gave', async () => {
    await withApi(
      (_req, res) => sendJson(res, 200, { data: [subscription(1)], meta: { next_cursor: 'same' } }),
      async ({ api, server }) => {
        const seen: string[] = [];
        await assert.rejects(
          (async () => {
            for await (const item of api.iterateSubscriptions({ pageSize: 1 })) seen.push(item.id);
          })(),
          /cursor same twice/,
        );
        assert.equal(server.requests.length, 2);
        assert.equal(seen.length, 2);
      },
    );
  });

  test('listSubscriptions returns items and nextCursor (null on the last page)', async () => {
    await withApi(
      (_req, res) => sendJson(res, 200, { data: [subscription(1)], meta: { next_cursor: null, limit: 50 } }),
      async ({ api }) => {
        const page = await api.listSubscriptions({ limit: 50 });
        assert.equal(page.items.length, 1);
        assert.equal(page.nextCursor, null);
      },
    );
  });

  test('a 404 on a subscription names the id', async () => {
    await withApi(
      (_req, res) => sendJson(res, 404, { error: 'not_found', message: 'not found', request_id: 'req_9' }),
      async ({ api }) => {
        await assert.rejects(api.getSubscription('whsub_x'), (error: unknown) => {
          assert.ok(error instanceof ApiError);
          assert.equal(error.status, 404);
          assert.equal(error.message, 'subscription whsub_x not found (request req_9)');
          assert.equal(error.requestId, 'req_9');
          return true;
        });
      },
    );
  });

  test('a 404 about the event on redeliver names the event', async () => {
    await withApi(
      (_req, res) => sendJson(res, 404, { error: 'not_found', message: 'event not found' }),
      async ({ api, server }) => {
        await assert.rejects(api.redeliver('whsub_1', 'evt_2'), /^ApiError: event evt_2 not found for subscription whsub_1$/);
        assert.equal(server.requests[0]!.url, '/api/v1/webhooks/subscriptions/whsub_1/events/evt_2/redeliver');
        assert.equal(server.requests[0]!.method, 'POST');
      },
    );
  });

  test('403 insufficient_scope names the missing scope and gives a hint', async () => {
    await withApi(
      (_req, res) =>
        sendJson(res, 403, { error: 'insufficient_scope', message: 'forbidden', details: { required_scope: 'webhooks:write' } }),
      async ({ api, tokens }) => {
        await assert.rejects(api.deleteSubscription('whsub_1'), (error: unknown) => {
          assert.ok(error instanceof ApiError);
          assert.equal(error.status, 403);
          assert.match(error.message, /lacks the scope webhooks:write/);
          assert.match(error.hint ?? '', /webhooks:write/);
          return true;
        });
        assert.equal(tokens.invalidated, 1, 'the cached token without the scope is dropped');
      },
    );
  });

  test('401 with a refreshable token: refresh once and retry, even a POST', async () => {
    await withApi(
      (req, res) =>
        req.headers.authorization === 'Bearer tok_0'
          ? sendJson(res, 401, { error: 'unauthorized', message: 'expired' })
          : sendJson(res, 200, { data: { event_id: 'evt_1', subscriptions: ['whsub_1'] } }),
      async ({ api, server, tokens }) => {
        const accepted = await api.emitEmulatorEvent({ event_type: 'user.signed_in' });
        assert.equal(accepted.event_id, 'evt_1');
        assert.deepEqual(accepted.subscriptions, ['whsub_1']);
        assert.equal(tokens.invalidated, 1);
        assert.deepEqual(server.requests.map((r) => r.headers.authorization), ['Bearer tok_0', 'Bearer tok_1']);
        assert.equal(server.requests[1]!.url, '/_emulator/events');
      },
    );
  });

  test('401 twice: gives up after one refresh', async () => {
    await withApi(
      (_req, res) => sendJson(res, 401, { error: 'unauthorized', message: 'no' }),
      async ({ api, server }) => {
        await assert.rejects(api.listEventTypes(), (error: unknown) => {
          assert.ok(error instanceof ApiError);
          assert.equal(error.status, 401);
          assert.match(error.hint ?? '', /fresh token was refused too/);
          return true;
        });
        assert.equal(server.requests.length, 2);
      },
    );
  });

  test('401 with a token given as is: no refresh', async () => {
    await withApi(
      (_req, res) => sendJson(res, 401, { error: 'unauthorized', message: 'no' }),
      async ({ api, server, tokens }) => {
        await assert.rejects(api.listEventTypes(), /rejected the access token/);
        assert.equal(server.requests.length, 1);
        assert.equal(tokens.invalidated, 0);
      },
      new FakeTokens(false),
    );
  });

  test('testSubscription is never retried', async () => {
    await withApi(
      (_req, res) => sendJson(res, 503, { error: 'internal_error', message: 'busy' }),
      async ({ api, server }) => {
        await assert.rejects(api.testSubscription('whsub_1'), ApiError);
        assert.equal(server.requests.length, 1);
        assert.equal(server.requests[0]!.url, '/api/v1/webhooks/subscriptions/whsub_1/test');
      },
    );
  });

  test('testSubscription allows longer than the platform waits for the receiver', async () => {
    const { http, calls } = recordingHttp(() => deliveryRecord('dlv_1'));
    const api = new ApiClient({ http, tokenProvider: new FakeTokens() });
    await api.testSubscription('whsub_1');
    assert.ok(TEST_CALL_TIMEOUT_MS > DELIVERY_TIMEOUT_MS);
    assert.equal(calls[0]!.timeoutMs, TEST_CALL_TIMEOUT_MS);
    assert.ok((calls[0]!.totalTimeoutMs ?? 0) >= TEST_CALL_TIMEOUT_MS);
    assert.equal(calls[0]!.retry, false);
  });

  test('create and rotate carry the idempotency key; update is a PATCH; delete a DELETE', async () => {
    const { http, calls } = recordingHttp((req) =>
      req.method === 'DELETE'
        ? undefined
        : req.path.endsWith('/rotate-secret')
          ? { subscription_id: 'whsub_1', signing_secret: 'whsec_new', previous_secret_expires_at: null }
          : { ...subscription(1), id: 'whsub_1', signing_secret: 'whsec_first' },
    );
    const api = new ApiClient({ http, tokenProvider: new FakeTokens() });
    await api.createSubscription({ name: 'n', url: 'https://h.example.com/', events: ['*'] }, { idempotencyKey: 'k-create' });
    await api.rotateSecret('whsub_1', { grace_period_seconds: 0 }, { idempotencyKey: 'k-rotate' });
    await api.updateSubscription('whsub_1', { status: 'paused' });
    await api.deleteSubscription('whsub_1');
    assert.equal(calls[0]!.method, 'POST');
    assert.equal(calls[0]!.path, '/api/v1/webhooks/subscriptions');
    assert.equal(calls[0]!.headers?.['Idempotency-Key'], 'k-create');
    assert.deepEqual(calls[0]!.json, { name: 'n', url: 'https://h.example.com/', events: ['*'] });
    assert.equal(calls[1]!.path, '/api/v1/webhooks/subscriptions/whsub_1/rotate-secret');
    assert.equal(calls[1]!.headers?.['Idempotency-Key'], 'k-rotate');
    assert.deepEqual(calls[1]!.json, { grace_period_seconds: 0 });
    assert.equal(calls[2]!.method, 'PATCH');
    assert.deepEqual(calls[2]!.json, { status: 'paused' });
    assert.equal(calls[3]!.method, 'DELETE');
    assert.ok(calls.every((c) => c.headers?.authorization === 'Bearer tok_0'));
  });

  test('listDeliveries passes the query and returns the cursor; dead letters are a list', async () => {
    await withApi(
      (req, res) =>
        req.url.includes('dead-letters')
          ? sendJson(res, 200, { data: [deadLetter('evt_1')] })
          : sendJson(res, 200, { data: [deliveryRecord('dlv_1')], meta: { next_cursor: 'dlv_1' } }),
      async ({ api, server }) => {
        const page = await api.listDeliveries('whsub_1', { outcome: 'failed', order: 'desc', limit: 10, since: '2026-01-01T00:00:00Z' });
        assert.equal(page.nextCursor, 'dlv_1');
        assert.equal(page.items[0]!.id, 'dlv_1');
        const url = new URL(server.requests[0]!.url, 'http://x');
        assert.equal(url.pathname, '/api/v1/webhooks/subscriptions/whsub_1/deliveries');
        assert.equal(url.searchParams.get('outcome'), 'failed');
        assert.equal(url.searchParams.get('order'), 'desc');
        assert.equal(url.searchParams.get('limit'), '10');
        assert.equal(url.searchParams.get('since'), '2026-01-01T00:00:00Z');
        assert.equal(url.searchParams.has('after'), false);
        const dead = await api.listDeadLetters('whsub_1');
        assert.equal(dead[0]!.event_id, 'evt_1');
      },
    );
  });
});

describe('ApiClient: answers that are not what the contract says', () => {
  const cases: Array<{ name: string; data: unknown; call: (api: ApiClient) => Promise<unknown>; problem: RegExp }> = [
    { name: 'a list where a subscription is expected', data: [subscription(1)], call: (api) => api.getSubscription('whsub_1'), problem: /data is a list, not an object/ },
    { name: 'a subscription without a list of events', data: { ...subscription(1), events: 'user.*' }, call: (api) => api.getSubscription('whsub_1'), problem: /data\.events is a string, not a list of strings/ },
    { name: 'no data (204) where a subscription is expected', data: undefined, call: (api) => api.updateSubscription('whsub_1', { status: 'paused' }), problem: /data is nothing/ },
    { name: 'a create answer without the signing secret', data: subscription(1), call: (api) => api.createSubscription({ name: 'n', url: 'https://h.example.com/', events: ['*'] }, { idempotencyKey: 'k' }), problem: /data\.signing_secret is nothing/ },
    { name: 'a rotation with an empty secret', data: { subscription_id: 'whsub_1', signing_secret: '', previous_secret_expires_at: null }, call: (api) => api.rotateSecret('whsub_1', {}, { idempotencyKey: 'k' }), problem: /data\.signing_secret is a string, not a non-empty string/ },
    { name: 'an object where the subscription list is expected', data: subscription(1), call: (api) => api.listSubscriptions(), problem: /data is an object, not a list/ },
    { name: 'junk inside the delivery feed', data: [deliveryRecord('dlv_1'), null], call: (api) => api.listDeliveries('whsub_1'), problem: /data\[1\] is null, not an object/ },
    { name: 'a catalogue entry without a type', data: [{ category: 'user' }], call: (api) => api.listEventTypes(), problem: /data\[0\]\.type is nothing/ },
  ];
  for (const entry of cases) {
    test(`${entry.name}: UnavailableError (exit 5) naming the field`, async () => {
      const { http } = recordingHttp(() => entry.data);
      const api = new ApiClient({ http, tokenProvider: new FakeTokens() });
      await assert.rejects(entry.call(api), (error: unknown) => {
        assert.ok(error instanceof UnavailableError, String(error));
        assert.match(error.message, /^the API answered with something that is not /);
        assert.match(error.message, entry.problem);
        assert.equal(exitCodeFor(error), 5);
        return true;
      });
    });
  }

  test('extra fields and optional nulls are fine', async () => {
    const { http } = recordingHttp(() => ({ ...subscription(1), description: null, added_later: { x: 1 } }));
    const api = new ApiClient({ http, tokenProvider: new FakeTokens() });
    const got = await api.getSubscription('whsub_0001');
    assert.equal(got.id, 'whsub_0001');
  });
});
