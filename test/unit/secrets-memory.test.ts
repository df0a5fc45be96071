// The memory fake, the read-only env store and the store factory.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SecretStoreError } from '../../src/errors.ts';
import { accountKind, EnvSecretStore } from '../../src/secrets/env-store.ts';
import { createSecretStore, FileSecretStore, KeychainStore, MemorySecretStore } from '../../src/secrets/index.ts';
import { secretAccounts } from '../../src/secrets/store.ts';

test('MemorySecretStore stores, logs calls by account only, and fails on demand', async () => {
  const store = new MemorySecretStore({ initial: { 'h/whsub_1': 'old' } });
  assert.equal(await store.get('h/whsub_1'), 'old');
  await store.set('h/whsub_1', 'new-secret');
  assert.equal(await store.delete('h/missing'), false);
  await store.probe();
  assert.deepEqual(store.calls, [
    { operation: 'get', account: 'h/whsub_1' },
    { operation: 'set', account: 'h/whsub_1' },
    { operation: 'delete', account: 'h/missing' },
    { operation: 'probe' },
  ]);
  assert.ok(!JSON.stringify(store.calls).includes('new-secret'));
  assert.deepEqual([...store.entries()], [['h/whsub_1', 'new-secret']]);

  const failure = new SecretStoreError('keychain locked');
  store.failOn.set = failure;
  await assert.rejects(store.set('h/whsub_2', 'x'), (error) => error === failure);
  assert.equal(await store.get('h/whsub_2'), null, 'a failed set stores nothing');
  assert.deepEqual(store.calls.at(-2), { operation: 'set', account: 'h/whsub_2' }, 'failed calls are logged too');

  const probeFailing = new MemorySecretStore({ failOn: { probe: new SecretStoreError('no keychain') } });
  await assert.rejects(probeFailing.probe(), { message: 'no keychain' });
  assert.equal(probeFailing.kind, 'memory');
});

test('EnvSecretStore maps signing and client secrets to their variables and is read-only', async () => {
  const env = { INTELLIAUTH_WEBHOOK_SECRET: 'whsec_env', INTELLIAUTH_M2M_CLIENT_SECRET: 'client_env' };
  const store = new EnvSecretStore({ env });
  assert.equal(await store.get(secretAccounts.signingSecret('t.example.com', 'whsub_1')), 'whsec_env');
  assert.equal(await store.get(secretAccounts.signingSecret('other.example.com', 'whsub_9')), 'whsec_env');
  assert.equal(await store.get(secretAccounts.previousSigningSecret('t.example.com', 'whsub_1')), null);
  assert.equal(await store.get(secretAccounts.clientSecret('t.example.com', 'client_1')), 'client_env');
  assert.equal(await store.get(secretAccounts.tokenCache('t.example.com', 'client_1')), null);
  assert.equal(await new EnvSecretStore({ env: { INTELLIAUTH_WEBHOOK_SECRET: '' } }).get('t/whsub_1'), null);

  const readOnly = /^the environment secret store is read-only/;
  await assert.rejects(store.set('t/whsub_1', 'x'), (error) => error instanceof SecretStoreError && readOnly.test(error.message));
  await assert.rejects(store.delete('t/whsub_1'), { message: readOnly });
  await assert.rejects(store.probe(), { message: readOnly });
  assert.match(store.describe(), /INTELLIAUTH_WEBHOOK_SECRET/);
});

test('accountKind reads back every secretAccounts shape', () => {
  assert.equal(accountKind(secretAccounts.signingSecret('h', 'whsub_1')), 'signingSecret');
  assert.equal(accountKind(secretAccounts.previousSigningSecret('h', 'whsub_1')), 'previousSigningSecret');
  assert.equal(accountKind(secretAccounts.clientSecret('h', 'c')), 'clientSecret');
  assert.equal(accountKind(secretAccounts.tokenCache('h', 'c')), 'tokenCache');
  assert.equal(accountKind('no-slash'), null);
  assert.equal(accountKind('h//x'), null);
});

test('createSecretStore builds each kind', () => {
  assert.ok(createSecretStore('keychain', { timeoutMs: 1234 }) instanceof KeychainStore);
  assert.equal((createSecretStore('keychain', { timeoutMs: 1234 }) as KeychainStore).timeoutMs, 1234);
  const file = createSecretStore('file', { fileDir: '/tmp/somewhere' });
  assert.ok(file instanceof FileSecretStore);
  assert.equal(file.describe(), 'file store /tmp/somewhere');
  assert.equal(createSecretStore('env', { env: {} }).kind, 'env');
  assert.equal(createSecretStore('memory').kind, 'memory');
});
