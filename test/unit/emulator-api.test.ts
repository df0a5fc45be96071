import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ERROR_STATUS, paths, TOKEN_LIFETIME_SECONDS, TOKEN_PATH } from '../../src/domain/contract.ts';
import { secretFingerprint } from '../../src/domain/signature.ts';
import { issueToken, verifyToken } from '../../src/emulator/tokens.ts';
import { startTestEmulator, type TestEmulator } from '../helpers/emulator-harness.ts';

const RECEIVER = 'https://hooks.example.com/intelliauth';

function tokenForm(fields: Record<string, string>): URLSearchParams {
  return new URLSearchParams({ grant_type: 'client_credentials', ...fields });
}

async function postToken(emulator: TestEmulator, body: URLSearchParams | string, headers: Record<string, string> = {}) {
  const response = await fetch(emulator.tenantUrl + TOKEN_PATH, { method: 'POST', body, headers });
  return { status: response.status, headers: response.headers, body: (await response.json()) as Record<string, any> };
}

function assertError(answer: { status: number; body: any; headers: Headers }, code: keyof typeof ERROR_STATUS): void {
  assert.equal(answer.status, ERROR_STATUS[code], JSON.stringify(answer.body));
  assert.equal(answer.body.error, code);
  assert.equal(typeof answer.body.message, 'string');
  assert.equal(typeof answer.body.details, 'object');
  assert.match(answer.body.request_id, /^req_[0-9A-Z]{26}$/);
  assert.equal(answer.headers.get('x-request-id'), answer.body.request_id);
}

describe('emulator: OAuth token endpoint', () => {
  let emulator: TestEmulator;
  before(async () => {
    emulator = await startTestEmulator({ clientId: 'app_test', clientSecret: 's3cret:with/odd+chars' });
  });
  after(() => emulator.close());

  test('client credentials in the form give a Bearer token with every allowed scope', async () => {
    const answer = await postToken(emulator, tokenForm({ client_id: 'app_test', client_secret: 's3cret:with/odd+chars' }));
    assert.equal(answer.status, 200);
    assert.equal(answer.body.token_type, 'Bearer');
    assert.equal(answer.body.expires_in, TOKEN_LIFETIME_SECONDS);
    assert.equal(answer.body.scope, 'webhooks:read webhooks:write');
    assert.equal(answer.headers.get('cache-control'), 'no-store');
    const list = await emulator.call('GET', paths.subscriptions(), { token: answer.body.access_token });
    assert.equal(list.status, 200);
  });

  test('HTTP Basic client authentication works, with form-encoded parts', async () => {
    const basic = Buffer.from(`${encodeURIComponent('app_test')}:${encodeURIComponent('s3cret:with/odd+chars')}`).toString('base64');
    const answer = await postToken(emulator, tokenForm({ scope: 'webhooks:read' }), { authorization: `Basic ${basic}` });
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.equal(answer.body.scope, 'webhooks:read');
  });

  test('a wrong secret is invalid_client (401); with Basic it carries a challenge', async () => {
    const form = await postToken(emulator, tokenForm({ client_id: 'app_test', client_secret: 'nope' }));
    assert.equal(form.status, 401);
    assert.equal(form.body.error, 'invalid_client');
    assert.equal(typeof form.body.error_description, 'string');
    const basic = await postToken(emulator, tokenForm({}), { authorization: `Basic ${Buffer.from('app_test:nope').toString('base64')}` });
    assert.equal(basic.status, 401);
    assert.equal(basic.body.error, 'invalid_client');
    assert.match(basic.headers.get('www-authenticate') ?? '', /^Basic /);
    const unknown = await postToken(emulator, tokenForm({ client_id: 'app_other', client_secret: 's3cret:with/odd+chars' }));
    assert.equal(unknown.body.error, 'invalid_client');
  });

  test('a scope outside the allowlist is invalid_scope (400)', async () => {
    const answer = await postToken(emulator, tokenForm({ client_id: 'app_test', client_secret: 's3cret:with/odd+chars', scope: 'webhooks:read users:write' }));
    assert.equal(answer.status, 400);
    assert.equal(answer.body.error, 'invalid_scope');
    assert.match(answer.body.error_description, /users:write/);
  });

  test('other grants, missing grant_type, non-form bodies and duplicated parameters are refused', async () => {
    const grant = await postToken(emulator, new URLSearchParams({ grant_type: 'password', client_id: 'app_test', client_secret: 'x' }));
    assert.equal(grant.status, 400);
    assert.equal(grant.body.error, 'unsupported_grant_type');
    const missing = await postToken(emulator, new URLSearchParams({ client_id: 'app_test' }));
    assert.equal(missing.body.error, 'invalid_request');
    const json = await postToken(emulator, JSON.stringify({ grant_type: 'client_credentials' }), { 'content-type': 'application/json' });
    assert.equal(json.status, 400);
    assert.equal(json.body.error, 'invalid_request');
    const twice = await postToken(emulator, 'grant_type=client_credentials&client_id=app_test&client_id=app_test&client_secret=x', {
      'content-type': 'application/x-www-form-urlencoded',
    });
    assert.equal(twice.body.error, 'invalid_request');
  });

  test('tokens expire, and a tampered or foreign token is refused', async () => {
    const key = Buffer.alloc(32, 7);
    const now = Math.floor(Date.now() / 1000);
    const token = issueToken(key, { sub: 'app_test', scopes: ['webhooks:read'], iat: now, exp: now + 60, aud: null });
    assert.equal(verifyToken(key, token, now)?.sub, 'app_test');
    assert.equal(verifyToken(key, token, now + 60), null, 'expired at exp');
    assert.equal(verifyToken(Buffer.alloc(32, 8), token, now), null, 'another key');
    const [prefix, payload, mac] = token.split('.');
    const forged = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(payload!, 'base64url').toString()), scopes: ['webhooks:write'] })).toString('base64url');
    assert.equal(verifyToken(key, `${prefix}.${forged}.${mac}`, now), null, 'tampered claims');

    // The emulator refuses a token signed with another key exactly like an expired one.
    const answer = await emulator.call('GET', paths.subscriptions(), { token });
    assertError(answer, 'unauthorized');
    assert.match(answer.headers.get('www-authenticate') ?? '', /error="invalid_token"/);
  });
});

describe('emulator: webhook API', () => {
  let emulator: TestEmulator;
  before(async () => {
    emulator = await startTestEmulator({ plan: 'enterprise' });
  });
  after(() => emulator.close());

  const create = (body: unknown, headers?: Record<string, string>) => emulator.call('POST', paths.subscriptions(), { body, ...(headers ? { headers } : {}) });

  test('create answers 201 with the subscription and its secret, once', async () => {
    const answer = await create({ name: ' Orders ', url: RECEIVER, events: ['user.signed_up', 'mfa.*', 'user.signed_up'], description: 'prod' });
    assert.equal(answer.status, 201);
    const sub = answer.body.data;
    assert.match(sub.id, /^whsub_[0-9A-Z]{26}$/);
    assert.equal(sub.name, 'Orders');
    assert.deepEqual(sub.events, ['user.signed_up', 'mfa.*']);
    assert.equal(sub.status, 'active');
    assert.equal(sub.previous_secret_expires_at, null);
    assert.match(sub.signing_secret, /^whsec_/);
    assert.equal(sub.secret_fingerprint, secretFingerprint(sub.signing_secret));
    assert.deepEqual(answer.body.meta, {});
    assert.equal(answer.headers.get('location'), paths.subscription(sub.id));

    const fetched = await emulator.call('GET', paths.subscription(sub.id));
    assert.equal(fetched.status, 200);
    assert.equal(fetched.body.data.signing_secret, undefined, 'the secret is shown only at create');
    assert.deepEqual(Object.keys(fetched.body.data).sort(), [
      'created_at', 'description', 'events', 'id', 'name', 'previous_secret_expires_at', 'secret_fingerprint', 'status', 'updated_at', 'url',
    ]);
  });

  test('validation names each bad field', async () => {
    const answer = await create({ name: '', url: 42, events: ['user.signed_upp', 'user.*'], extra: true });
    assertError(answer, 'invalid_request');
    assert.deepEqual(Object.keys(answer.body.details).sort(), ['events', 'extra', 'name', 'url']);
    assert.match(answer.body.details.events, /user\.signed_upp.*did you mean user\.signed_up/);

    const long = await create({ name: 'x'.repeat(101), url: RECEIVER, events: [] });
    assert.deepEqual(Object.keys(long.body.details).sort(), ['events', 'name']);
    const badSelector = await create({ name: 'n', url: RECEIVER, events: ['User Signed Up'] });
    assert.match(badSelector.body.details.events, /not event selectors/);
    const unknownCategory = await create({ name: 'n', url: RECEIVER, events: ['billing.*'] });
    assert.match(unknownCategory.body.details.events, /billing\.\*/);
    const star = await create({ name: 'all', url: RECEIVER, events: ['*'] });
    assert.equal(star.status, 201);
  });

  test('bodies: invalid JSON 400, wrong media type 415, over 1 MB 413', async () => {
    const malformed = await emulator.call('POST', paths.subscriptions(), { rawBody: '{"name":', headers: { 'content-type': 'application/json' } });
    assertError(malformed, 'invalid_request');
    const text = await emulator.call('POST', paths.subscriptions(), { rawBody: 'name=x', headers: { 'content-type': 'text/plain' } });
    assertError(text, 'unsupported_media_type');
    const array = await emulator.call('POST', paths.subscriptions(), { body: [1, 2] });
    assertError(array, 'invalid_request');
    const huge = await emulator.call('POST', paths.subscriptions(), { body: { name: 'x'.repeat(1024 * 1024 + 10), url: RECEIVER, events: ['*'] } });
    assertError(huge, 'payload_too_large');
  });

  test('URL rules: 422 url_not_allowed with the reason, at create and at update', async () => {
    for (const url of ['http://hooks.example.com/x', 'https://127.0.0.1/x', 'https://localhost/x', 'https://10.1.2.3/x', 'https://user:pw@hooks.example.com/x', 'https://[::ffff:192.168.0.1]/x']) {
      const answer = await create({ name: 'n', url, events: ['*'] });
      assertError(answer, 'url_not_allowed');
      assert.equal(typeof answer.body.details.url, 'string', url);
    }
    const ok = await create({ name: 'n', url: RECEIVER, events: ['*'] });
    const update = await emulator.call('PATCH', paths.subscription(ok.body.data.id), { body: { url: 'https://192.168.1.1/hook' } });
    assertError(update, 'url_not_allowed');
    assert.match(update.body.details.url, /private/);
  });

  test('PATCH changes fields and status; an empty change is refused; DELETE answers 204 then 404', async () => {
    const { body } = await create({ name: 'before', url: RECEIVER, events: ['user.*'] });
    const id = body.data.id;
    const patched = await emulator.call('PATCH', paths.subscription(id), { body: { name: 'after', status: 'paused', description: null } });
    assert.equal(patched.status, 200);
    assert.equal(patched.body.data.name, 'after');
    assert.equal(patched.body.data.status, 'paused');
    assert.equal(patched.body.data.secret_fingerprint, body.data.secret_fingerprint);
    assert.ok(patched.body.data.updated_at >= body.data.updated_at);
    assertError(await emulator.call('PATCH', paths.subscription(id), { body: {} }), 'invalid_request');
    assertError(await emulator.call('PATCH', paths.subscription(id), { body: { status: 'disabled' } }), 'invalid_request');

    const deleted = await emulator.call('DELETE', paths.subscription(id));
    assert.equal(deleted.status, 204);
    assert.equal(deleted.body, undefined);
    const gone = await emulator.call('GET', paths.subscription(id));
    assertError(gone, 'not_found');
    assert.equal(gone.body.details.subscription_id, id);
    assertError(await emulator.call('DELETE', paths.subscription(id)), 'not_found');
  });

  test('unknown paths are 404, wrong methods 405 with Allow', async () => {
    assertError(await emulator.call('GET', '/api/v1/webhooks/nothing'), 'not_found');
    const wrong = await emulator.call('PUT', paths.subscriptions(), { body: {} });
    assertError(wrong, 'method_not_allowed');
    assert.equal(wrong.headers.get('allow'), 'GET, POST');
  });

  test('missing or malformed Authorization is 401 with a Bearer challenge', async () => {
    const missing = await emulator.call('GET', paths.subscriptions(), { token: null });
    assertError(missing, 'unauthorized');
    assert.match(missing.headers.get('www-authenticate') ?? '', /^Bearer realm=/);
    assertError(await emulator.call('GET', paths.subscriptions(), { token: 'not-a-token' }), 'unauthorized');
  });

  test('a read-only token can read but not write: 403 insufficient_scope naming the scope', async () => {
    const readOnly = await emulator.token('webhooks:read');
    assert.equal((await emulator.call('GET', paths.eventTypes(), { token: readOnly })).status, 200);
    const answer = await emulator.call('POST', paths.subscriptions(), { token: readOnly, body: { name: 'n', url: RECEIVER, events: ['*'] } });
    assertError(answer, 'insufficient_scope');
    assert.equal(answer.body.details.required_scope, 'webhooks:write');
    const writeOnly = await emulator.token('webhooks:write');
    const read = await emulator.call('GET', paths.subscriptions(), { token: writeOnly });
    assertError(read, 'insufficient_scope');
    assert.equal(read.body.details.required_scope, 'webhooks:read');
  });

  test('event types list the catalogue', async () => {
    const answer = await emulator.call('GET', paths.eventTypes());
    assert.equal(answer.status, 200);
    const types = answer.body.data.map((entry: { type: string }) => entry.type);
    assert.ok(types.includes('user.signed_up') && types.includes('mfa.factor_added'));
    assert.deepEqual(Object.keys(answer.body.data[0]).sort(), ['category', 'description', 'type']);
  });

  test('Idempotency-Key: same body replays the first answer (secret included), another body is 409', async () => {
    const body = { name: 'idem', url: RECEIVER, events: ['user.*'] };
    const first = await create(body, { 'Idempotency-Key': 'key-1' });
    assert.equal(first.status, 201);
    const again = await create({ events: ['user.*'], url: RECEIVER, name: 'idem' }, { 'Idempotency-Key': 'key-1' });
    assert.equal(again.status, 201);
    assert.deepEqual(again.body, first.body);
    assert.equal(again.headers.get('idempotent-replayed'), 'true');
    const conflict = await create({ ...body, name: 'other' }, { 'Idempotency-Key': 'key-1' });
    assertError(conflict, 'idempotency_conflict');
    const elsewhere = await emulator.call('POST', paths.rotateSecret(first.body.data.id), { body: {}, headers: { 'Idempotency-Key': 'key-1' } });
    assertError(elsewhere, 'idempotency_conflict');

    const rotated = await emulator.call('POST', paths.rotateSecret(first.body.data.id), { body: { grace_period_seconds: 60 }, headers: { 'Idempotency-Key': 'rot-1' } });
    const rotatedAgain = await emulator.call('POST', paths.rotateSecret(first.body.data.id), { body: { grace_period_seconds: 60 }, headers: { 'Idempotency-Key': 'rot-1' } });
    assert.equal(rotated.status, 200);
    assert.deepEqual(rotatedAgain.body, rotated.body);
    const current = await emulator.call('GET', paths.subscription(first.body.data.id));
    assert.equal(current.body.data.secret_fingerprint, secretFingerprint(rotated.body.data.signing_secret), 'rotated once, not twice');
  });

  test('rotate-secret validates the grace period and reports its end', async () => {
    const { body } = await create({ name: 'rot', url: RECEIVER, events: ['*'] });
    const id = body.data.id;
    assertError(await emulator.call('POST', paths.rotateSecret(id), { body: { grace_period_seconds: 604_801 } }), 'invalid_request');
    assertError(await emulator.call('POST', paths.rotateSecret(id), { body: { grace_period_seconds: 1.5 } }), 'invalid_request');
    const none = await emulator.call('POST', paths.rotateSecret(id), { body: { grace_period_seconds: 0 } });
    assert.equal(none.body.data.previous_secret_expires_at, null);
    const fallback = await emulator.call('POST', paths.rotateSecret(id));
    assert.equal(fallback.status, 200);
    const expires = Date.parse(fallback.body.data.previous_secret_expires_at);
    assert.ok(Math.abs(expires - (Date.now() + 86_400_000)) < 60_000, 'default grace is 24 h');
    assert.deepEqual(Object.keys(fallback.body.data).sort(), ['previous_secret_expires_at', 'signing_secret', 'subscription_id']);
    assertError(await emulator.call('POST', paths.rotateSecret('whsub_missing')), 'not_found');
  });

  test('pagination: 120 subscriptions, oldest first, opaque cursor, null on the last page', async () => {
    const fresh = await startTestEmulator({ plan: 'enterprise' });
    try {
      const created: string[] = [];
      for (let i = 0; i < 120; i += 1) {
        const answer = await fresh.call('POST', paths.subscriptions(), { body: { name: `s${i}`, url: RECEIVER, events: ['*'] } });
        created.push(answer.body.data.id);
      }
      const seen: string[] = [];
      let cursor: string | null = null;
      const limits: number[] = [];
      do {
        const query: string = cursor === null ? '?limit=50' : `?limit=50&cursor=${encodeURIComponent(cursor)}`;
        const page = await fresh.call('GET', paths.subscriptions() + query);
        assert.equal(page.status, 200);
        limits.push(page.body.meta.limit);
        seen.push(...page.body.data.map((sub: { id: string }) => sub.id));
        cursor = page.body.meta.next_cursor;
      } while (cursor !== null);
      assert.deepEqual(seen, created);
      assert.deepEqual(limits, [50, 50, 50]);
      const defaults = await fresh.call('GET', paths.subscriptions());
      assert.equal(defaults.body.data.length, 50);
      assert.equal(defaults.body.meta.limit, 50);
      const max = await fresh.call('GET', `${paths.subscriptions()}?limit=100`);
      assert.equal(max.body.data.length, 100);
      for (const bad of ['0', '101', 'ten', '-1']) assertError(await fresh.call('GET', `${paths.subscriptions()}?limit=${bad}`), 'invalid_request');
      assertError(await fresh.call('GET', `${paths.subscriptions()}?cursor=garbage`), 'invalid_request');
    } finally {
      await fresh.close();
    }
  });

  test('quota: the starter plan allows 5 subscriptions, the 6th is 403 quota_exceeded', async () => {
    const starter = await startTestEmulator({ plan: 'starter' });
    try {
      for (let i = 0; i < 5; i += 1) {
        assert.equal((await starter.call('POST', paths.subscriptions(), { body: { name: `s${i}`, url: RECEIVER, events: ['*'] } })).status, 201);
      }
      const sixth = await starter.call('POST', paths.subscriptions(), { body: { name: 's5', url: RECEIVER, events: ['*'] } });
      assertError(sixth, 'quota_exceeded');
      assert.equal(sixth.body.details.limit, 5);
      // Refused answers are not remembered: after a delete the same key succeeds.
      const list = await starter.call('GET', paths.subscriptions());
      await starter.call('DELETE', paths.subscription(list.body.data[0].id));
      const retry = await starter.call('POST', paths.subscriptions(), { body: { name: 's5', url: RECEIVER, events: ['*'] } });
      assert.equal(retry.status, 201);
    } finally {
      await starter.close();
    }
  });

  test('allowPrivateTargets accepts http:// and loopback receivers', async () => {
    const local = await startTestEmulator({ allowPrivateTargets: true });
    try {
      for (const url of ['http://127.0.0.1:9/x', 'http://localhost:3000/hooks', 'https://10.0.0.2/x']) {
        const answer = await local.call('POST', paths.subscriptions(), { body: { name: 'n', url, events: ['*'] } });
        assert.equal(answer.status, 201, url);
      }
      const ftp = await local.call('POST', paths.subscriptions(), { body: { name: 'n', url: 'ftp://127.0.0.1/x', events: ['*'] } });
      assertError(ftp, 'url_not_allowed');
    } finally {
      await local.close();
    }
  });

  test('the health endpoint needs no token; the event endpoint needs one', async () => {
    const health = await fetch(`${emulator.tenantUrl}/_emulator/health`);
    assert.equal(health.status, 200);
    const healthBody = (await health.json()) as any;
    assert.equal(healthBody.data.status, 'ok');
    assert.equal(typeof healthBody.data.allow_private_targets, 'boolean', 'it says whether it accepts receivers on this machine');
    assertError(await emulator.call('POST', '/_emulator/events', { token: null, body: { event_type: 'user.signed_up' } }), 'unauthorized');
    assertError(await emulator.call('POST', '/_emulator/events', { body: { event_type: 'nope' } }), 'invalid_request');
  });

  test('the log never carries secrets or tokens', async () => {
    const token = await emulator.token();
    const text = JSON.stringify(emulator.logs);
    assert.ok(emulator.logs.length > 10);
    assert.ok(!text.includes(token));
    assert.ok(!text.includes(emulator.clientSecret));
    assert.ok(!text.includes('whsec_'));
  });
});
