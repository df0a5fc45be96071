import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { toCreateOptions, type CreateOptions } from '../../src/commands/create/index.ts';
import { run } from '../../src/commands/create/run.ts';
import { paths } from '../../src/domain/contract.ts';
import { ApiError, exitCodeFor, EXIT_CODES } from '../../src/errors.ts';
import { MemorySecretStore } from '../../src/secrets/memory-store.ts';
import { startSubscriptionFixture, type SubscriptionFixture } from '../helpers/subscriptions.ts';

// `create` with a token that may read webhooks but not write them: the platform refuses the
// POST with 403 insufficient_scope, which must exit 3 naming webhooks:write, create nothing
// and leave no signing secret (or index entry, or file) behind.

function opts(raw: Record<string, unknown>): CreateOptions {
  return toCreateOptions({ name: 'read only', url: 'https://hooks.example.com/read-only', events: ['user.signed_up'], ...raw });
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(() => true, () => false);
}

function assertMissingWriteScope(error: unknown, hint: RegExp): true {
  assert.ok(error instanceof ApiError, `expected an ApiError, got ${String(error)}`);
  assert.equal(error.status, 403);
  assert.equal(exitCodeFor(error), EXIT_CODES.auth);
  assert.equal(exitCodeFor(error), 3);
  assert.match(error.message, /^the access token lacks the scope webhooks:write\b/);
  assert.match(error.hint ?? '', hint);
  return true;
}

describe('create with a read-only M2M application (scopes: webhooks:read)', () => {
  let fixture: SubscriptionFixture;

  before(async () => {
    fixture = await startSubscriptionFixture({ scopes: ['webhooks:read'] });
  });
  after(() => fixture.close());

  const subscriptionsOnPlatform = async () => {
    const listed = await fixture.emulator.call('GET', `${paths.subscriptions()}?limit=100`);
    assert.equal(listed.status, 200, 'the read scope still lists');
    return listed.body.data as unknown[];
  };

  test('exits 3 naming webhooks:write; nothing created, no secret stored', async () => {
    const store = new MemorySecretStore();
    const t = fixture.context({ secretStore: store });
    await assert.rejects(run(opts({}), t.context), (error) =>
      assertMissingWriteScope(error, /grant webhooks:write to the M2M application/),
    );
    assert.deepEqual(await subscriptionsOnPlatform(), []);
    assert.equal(store.entries().size, 0);
    assert.deepEqual(store.calls.filter((call) => call.operation === 'set'), [], 'the store was never written to');
    assert.equal(await exists(join(t.context.paths.dataDir, 'signing-secrets.json')), false, 'no secret index entry');
    assert.equal(t.stdout(), '');
    assert.doesNotMatch(t.stderr(), /created/);
  });

  test('--json: the same refusal, and no JSON document on stdout', async () => {
    const store = new MemorySecretStore();
    const t = fixture.context({ secretStore: store, globals: { json: true } });
    await assert.rejects(run(opts({ name: 'read only json' }), t.context), (error) =>
      assertMissingWriteScope(error, /webhooks:write/),
    );
    assert.deepEqual(await subscriptionsOnPlatform(), []);
    assert.equal(store.entries().size, 0);
    assert.equal(t.stdout(), '');
  });

  test('--secret-store file: the secret file is not written', async () => {
    const secretFile = join(fixture.home, 'read-only.secret');
    const store = new MemorySecretStore();
    const t = fixture.context({ secretStore: store });
    await assert.rejects(run(opts({ secretStore: 'file', secretFile }), t.context), (error) =>
      assertMissingWriteScope(error, /webhooks:write/),
    );
    assert.deepEqual(await subscriptionsOnPlatform(), []);
    assert.equal(await exists(secretFile), false);
    assert.equal(store.entries().size, 0);
    assert.equal(t.stdout(), '');
  });
});

describe('create with a read-only bearer token (INTELLIAUTH_TOKEN)', () => {
  let fixture: SubscriptionFixture;

  before(async () => {
    fixture = await startSubscriptionFixture();
  });
  after(() => fixture.close());

  test('exits 3 naming webhooks:write; nothing created, no secret stored', async () => {
    const token = await fixture.emulator.token('webhooks:read');
    const store = new MemorySecretStore();
    const t = fixture.context({ secretStore: store, env: { INTELLIAUTH_TOKEN: token } });
    await assert.rejects(run(opts({}), t.context), (error) =>
      assertMissingWriteScope(error, /use a token that includes webhooks:write/),
    );
    const listed = await fixture.emulator.call('GET', `${paths.subscriptions()}?limit=100`);
    assert.deepEqual(listed.body.data, []);
    assert.equal(store.entries().size, 0);
    assert.deepEqual(store.calls.filter((call) => call.operation === 'set'), []);
    assert.equal(await exists(join(t.context.paths.dataDir, 'signing-secrets.json')), false);
    assert.equal(t.stdout(), '');
  });
});
