import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { createHttp } from '../../src/api/http.ts';
import { requestClientCredentialsToken } from '../../src/api/token.ts';
import { ApiError, AuthError, UnavailableError } from '../../src/errors.ts';
import { closedPort, sendJson, startServer, type Handler } from '../helpers/loopback-server.ts';

const SECRET = 'cs_super_secret_VALUE_42';

async function withTokenServer(handler: Handler, fn: (http: ReturnType<typeof createHttp>, requests: { body: string; url: string; method: string }[], trace: string[]) => Promise<void>) {
  const server = await startServer(handler);
  const trace: string[] = [];
  const http = createHttp({ baseUrl: server.url, env: {}, sleep: async () => undefined, trace: (l) => trace.push(l) });
  try {
    await fn(http, server.requests, trace);
  } finally {
    await http.close();
    await server.close();
  }
}

function assertNoSecret(error: unknown): true {
  const text = [String((error as Error).message), String((error as { hint?: string }).hint), JSON.stringify(error), String((error as Error).stack)].join(' ');
  assert.ok(!text.includes(SECRET), 'the error mentions the client secret');
  return true;
}

describe('client-credentials token exchange', () => {
  test('posts the form to /oauth2/token and returns token, expiry and scopes', async () => {
    await withTokenServer(
      (_req, res) => sendJson(res, 200, { access_token: 'at_1', token_type: 'Bearer', expires_in: 600, scope: 'webhooks:read webhooks:write' }),
      async (http, requests, trace) => {
        const token = await requestClientCredentialsToken(http, {
          clientId: 'app_1',
          clientSecret: SECRET,
          audience: 'https://api.example',
          scope: ['webhooks:read', 'webhooks:write'],
          now: () => 1_000_000,
        });
        assert.deepEqual(token, { accessToken: 'at_1', expiresAt: 1_000_000 + 600_000, scope: ['webhooks:read', 'webhooks:write'] });
        assert.equal(requests[0]!.method, 'POST');
        assert.equal(requests[0]!.url, '/oauth2/token');
        const form = new URLSearchParams(requests[0]!.body);
        assert.equal(form.get('grant_type'), 'client_credentials');
        assert.equal(form.get('client_id'), 'app_1');
        assert.equal(form.get('client_secret'), SECRET);
        assert.equal(form.get('audience'), 'https://api.example');
        assert.equal(form.get('scope'), 'webhooks:read webhooks:write');
        assert.ok(!trace.join('\n').includes(SECRET));
        assert.ok(!trace.join('\n').includes('at_1'));
      },
    );
  });

  test('omits audience and scope when not given; a missing expires_in means the documented hour', async () => {
    await withTokenServer(
      (_req, res) => sendJson(res, 200, { access_token: 'at_2', token_type: 'bearer' }),
      async (http, requests) => {
        const token = await requestClientCredentialsToken(http, { clientId: 'app_1', clientSecret: SECRET, now: () => 0 });
        assert.equal(token.expiresAt, 3_600_000);
        assert.deepEqual(token.scope, []);
        const form = new URLSearchParams(requests[0]!.body);
        assert.equal(form.has('audience'), false);
        assert.equal(form.has('scope'), false);
      },
    );
  });

  test('invalid_client -> AuthError that never includes the secret', async () => {
    await withTokenServer(
      (_req, res) => sendJson(res, 401, { error: 'invalid_client', error_description: 'Client authentication failed' }),
      async (http, requests) => {
        await assert.rejects(requestClientCredentialsToken(http, { clientId: 'app_1', clientSecret: SECRET }), (error: unknown) => {
          assert.ok(error instanceof AuthError);
          assert.match(error.message, /^the tenant rejected the client id or secret/);
          return assertNoSecret(error);
        });
        assert.equal(requests.length, 1, '4xx is not retried');
      },
    );
  });

  test('invalid_scope -> AuthError naming the scope', async () => {
    await withTokenServer(
      (_req, res) => sendJson(res, 400, { error: 'invalid_scope', error_description: 'scope not allowed' }),
      async (http) => {
        await assert.rejects(
          requestClientCredentialsToken(http, { clientId: 'app_1', clientSecret: SECRET, scope: ['webhooks:write'] }),
          (error: unknown) => {
            assert.ok(error instanceof AuthError);
            assert.match(error.message, /webhooks:write/);
            return assertNoSecret(error);
          },
        );
      },
    );
  });

  test('a server echoing the secret in its error text is scrubbed', async () => {
    await withTokenServer(
      (_req, res) => sendJson(res, 400, { error: 'invalid_request', error_description: `bad secret ${SECRET}` }),
      async (http) => {
        await assert.rejects(requestClientCredentialsToken(http, { clientId: 'app_1', clientSecret: SECRET }), (error: unknown) => {
          assert.ok(error instanceof ApiError);
          assert.match(error.message, /\[redacted\]/);
          return assertNoSecret(error);
        });
      },
    );
  });

  test('transient failures are retried like a GET (asking again is safe)', async () => {
    await withTokenServer(
      (_req, res, index) =>
        index === 0
          ? sendJson(res, 503, { error: 'internal_error', message: 'busy' })
          : sendJson(res, 200, { access_token: 'at_3', token_type: 'Bearer', expires_in: 60 }),
      async (http, requests) => {
        const token = await requestClientCredentialsToken(http, { clientId: 'app_1', clientSecret: SECRET });
        assert.equal(token.accessToken, 'at_3');
        assert.equal(requests.length, 2);
        assert.equal(requests[0]!.body, requests[1]!.body);
      },
    );
  });

  test('an answer without access_token, or a non-Bearer token, is refused', async () => {
    await withTokenServer(
      (_req, res, index) => sendJson(res, 200, index === 0 ? { token_type: 'Bearer' } : { access_token: 'x', token_type: 'mac' }),
      async (http) => {
        await assert.rejects(requestClientCredentialsToken(http, { clientId: 'a', clientSecret: SECRET }), UnavailableError);
        await assert.rejects(requestClientCredentialsToken(http, { clientId: 'a', clientSecret: SECRET }), /not a Bearer token/);
      },
    );
  });

  test('a 204 or an empty 200 from the token endpoint is refused as an answer without a token, not a crash', async () => {
    await withTokenServer(
      (_req, res, index) => {
        if (index === 0) {
          res.writeHead(204).end();
          return;
        }
        res.writeHead(200, { 'content-type': 'application/json' }).end('null');
      },
      async (http) => {
        for (const expected of [/answered without an access_token/, /JSON that is not an object/]) {
          await assert.rejects(requestClientCredentialsToken(http, { clientId: 'a', clientSecret: SECRET }), (error: Error) => {
            assert.ok(error instanceof UnavailableError, `${error.name}: ${error.message}`);
            assert.match(error.message, expected);
            return true;
          });
        }
      },
    );
  });

  test('a token endpoint that stays unavailable or cannot be reached says it was the token that failed', async () => {
    await withTokenServer(
      (_req, res) => sendJson(res, 503, { error: 'unavailable', message: 'down for maintenance' }),
      async (http) => {
        await assert.rejects(requestClientCredentialsToken(http, { clientId: 'a', clientSecret: SECRET }), (error: Error) => {
          assert.ok(error instanceof ApiError && error.status === 503, `${error.name}: ${error.message}`);
          assert.match(error.message, /^getting an access token failed: down for maintenance/);
          return assertNoSecret(error);
        });
      },
    );
    const unreachable = createHttp({ baseUrl: `http://127.0.0.1:${await closedPort()}`, env: {}, sleep: async () => undefined });
    try {
      await assert.rejects(requestClientCredentialsToken(unreachable, { clientId: 'a', clientSecret: SECRET }), (error: Error) => {
        assert.ok(error instanceof UnavailableError, `${error.name}: ${error.message}`);
        assert.match(error.message, /^getting an access token failed: could not reach http:\/\/127\.0\.0\.1:\d+: connection refused/);
        return assertNoSecret(error);
      });
    } finally {
      await unreachable.close();
    }
  });

  test('a tenant without the token endpoint says so', async () => {
    await withTokenServer(
      (_req, res) => sendJson(res, 404, { error: 'not_found', message: 'no route' }),
      async (http) => {
        await assert.rejects(requestClientCredentialsToken(http, { clientId: 'a', clientSecret: SECRET }), (error: unknown) => {
          assert.ok(error instanceof AuthError);
          assert.match(error.message, /has no OAuth token endpoint/);
          return assertNoSecret(error);
        });
      },
    );
  });
});
