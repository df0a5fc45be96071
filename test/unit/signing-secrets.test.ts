import { afterEach, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { EventEmitter } from 'node:events';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import type { Context } from '../../src/cli/context.ts';
import { NotFoundError, SecretFallbackError, SecretStoreError, UsageError } from '../../src/errors.ts';
import { MemorySecretStore } from '../../src/secrets/memory-store.ts';
import {
  describeLocation,
  forgetSigningSecrets,
  handOffSecret,
  importSigningSecret,
  indexEntry,
  preflightDestination,
  readSigningSecrets,
} from '../../src/secrets/signing-secrets.ts';
import { makeTestContext, type TestContext } from '../helpers/context.ts';

// The signing-secret handoff on its own: preflight of each destination, storing with
// read-back, the fallback file, the index that records where each secret lives.

const TENANT = 'https://acme-corp.intelliauth.io';
const HOST = 'acme-corp.intelliauth.io';
const SUB = 'whsub_01JTEST00000000000000000001';
const SECRET = 'whsec_unitTestSecret_0123456789abcdefghijklmnopq';
const NEXT_SECRET = 'whsec_unitTestNextSecret_zyxwvutsrqponmlkjihgfedc';
const fingerprint = (secret: string) => createHash('sha256').update(secret, 'utf8').digest('hex').slice(0, 8);

let home: string;

beforeEach(async () => {
  home = await mkdtemp(join(tmpdir(), 'iaw-signing-'));
});

afterEach(async () => {
  await rm(home, { recursive: true, force: true });
});

function setup(options: { store?: MemorySecretStore; tty?: boolean; now?: () => number } = {}): TestContext & { store: MemorySecretStore } {
  const store = options.store ?? new MemorySecretStore();
  const tc = makeTestContext({
    tty: options.tty ?? false,
    env: {
      HOME: home,
      XDG_CONFIG_HOME: join(home, 'config'),
      XDG_DATA_HOME: join(home, 'data'),
      XDG_CACHE_HOME: join(home, 'cache'),
      INTELLIAUTH_TENANT_URL: TENANT,
      INTELLIAUTH_TOKEN: 'unused-token',
    },
    secretStore: store,
    ...(options.now ? { now: options.now } : {}),
  });
  return { ...tc, store };
}

async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  assert.fail('expected a failure');
}

describe('preflightDestination', () => {
  test('keychain: a failing probe names the destinations that would work', async () => {
    const s = setup({ store: new MemorySecretStore({ failOn: { probe: new SecretStoreError('no D-Bus session bus') } }) });
    const error = await rejection(preflightDestination(s.context, { kind: 'keychain' }, false));
    assert.ok(error instanceof SecretStoreError);
    assert.equal(error.message, 'the OS keychain cannot store the secret: no D-Bus session bus; nothing was changed');
    assert.match(error.hint ?? '', /--secret-store file --secret-file PATH/);
    await preflightDestination(setup().context, { kind: 'keychain' }, false);
  });

  test('file: an existing file or a missing directory is refused; a new name passes', async () => {
    const existing = join(home, 'existing.secret');
    await writeFile(existing, 'x');
    const s = setup();
    assert.match((await rejection(preflightDestination(s.context, { kind: 'file', path: existing }, false))).message, /refusing to overwrite existing file/);
    assert.match((await rejection(preflightDestination(s.context, { kind: 'file', path: join(home, 'no', 'x') }, false))).message, /does not exist; nothing was changed/);
    await preflightDestination(s.context, { kind: 'file', path: join(home, 'new.secret') }, false);
  });

  test('stdout: refused at a terminal unless allowed', async () => {
    const error = await rejection(preflightDestination(setup({ tty: true }).context, { kind: 'stdout' }, false));
    assert.ok(error instanceof UsageError);
    await preflightDestination(setup({ tty: true }).context, { kind: 'stdout' }, true);
    await preflightDestination(setup({ tty: false }).context, { kind: 'stdout' }, false);
  });
});

describe('handOffSecret', () => {
  test('keychain: stored under <tenant host>/<id>, read back, recorded in the index without the secret', async () => {
    const s = setup();
    const result = await handOffSecret(s.context, { subscriptionId: SUB, secret: SECRET, destination: { kind: 'keychain' } });
    assert.deepEqual(result, { location: { store: 'keychain', fingerprint: fingerprint(SECRET) }, description: 'the OS keychain' });
    assert.equal(s.store.entries().get(`${HOST}/${SUB}`), SECRET);
    assert.deepEqual(s.store.calls.map((c) => c.operation), ['set', 'get']);
    const indexText = await readFile(join(home, 'data', 'intelliauth-webhooks', 'signing-secrets.json'), 'utf8');
    assert.ok(!indexText.includes(SECRET));
    assert.equal((await stat(join(home, 'data', 'intelliauth-webhooks', 'signing-secrets.json'))).mode & 0o777, 0o600);
    assert.equal((await indexEntry(s.context, SUB))?.store, 'keychain');
    const read = await readSigningSecrets(s.context, SUB);
    assert.equal(read.current, SECRET);
    assert.equal(read.fingerprint, fingerprint(SECRET));
  });

  test('file: a relative path is recorded as an absolute one, so later commands find it from anywhere', async () => {
    const s = setup();
    const target = join(home, 'relative.secret');
    const relativePath = relative(process.cwd(), target);
    const result = await handOffSecret(s.context, { subscriptionId: SUB, secret: SECRET, destination: { kind: 'file', path: relativePath } });
    assert.equal(result.location.path, target);
    assert.equal(await readFile(target, 'utf8'), `${SECRET}\n`);
    assert.equal((await stat(target)).mode & 0o777, 0o600);
    assert.equal((await indexEntry(s.context, SUB))?.path, target);
    assert.equal((await readSigningSecrets(s.context, SUB)).current, SECRET);
    assert.equal(describeLocation(result.location), `file ${target}`);
  });

  test('keychain failure after the API answered: 0600 fallback file, SecretFallbackError, index points at it', async () => {
    const s = setup({ store: new MemorySecretStore({ failOn: { set: new SecretStoreError('keychain went away') } }) });
    const error = await rejection(handOffSecret(s.context, { subscriptionId: SUB, secret: SECRET, destination: { kind: 'keychain' } }));
    assert.ok(error instanceof SecretFallbackError);
    assert.equal(await readFile(error.fallbackPath, 'utf8'), `${SECRET}\n`);
    assert.equal((await stat(error.fallbackPath)).mode & 0o777, 0o600);
    assert.ok(!error.message.includes(SECRET) && !(error.hint ?? '').includes(SECRET));
    const entry = await indexEntry(s.context, SUB);
    assert.equal(entry?.path, error.fallbackPath);
    assert.equal(entry?.fallback, true);
    // The secret is usable straight from the fallback file.
    assert.equal((await readSigningSecrets(s.context, SUB)).current, SECRET);
  });

  test('a keychain that hands back something else counts as a failure', async () => {
    const store = new MemorySecretStore();
    const s = setup({ store });
    const lying: Context = {
      ...s.context,
      secretStore: async () => Object.assign(Object.create(store), { get: async () => 'not-it' }),
    };
    const error = await rejection(handOffSecret(lying, { subscriptionId: SUB, secret: SECRET, destination: { kind: 'keychain' } }));
    assert.ok(error instanceof SecretFallbackError);
    assert.match(error.message, /the keychain did not return the secret just stored/);
  });

  test('stdout: the secret and a newline, nothing else', async () => {
    const s = setup();
    const result = await handOffSecret(s.context, { subscriptionId: SUB, secret: SECRET, destination: { kind: 'stdout' } });
    assert.equal(s.stdout(), `${SECRET}\n`);
    assert.equal(s.stderr(), '');
    assert.equal(result.location.store, 'external');
    const error = await rejection(readSigningSecrets(s.context, SUB));
    assert.ok(error instanceof NotFoundError);
    assert.match(error.message, /was handed to stdout and is not stored locally/);
  });

  test('stdout whose reader went away (EPIPE): the secret goes to the fallback file instead of being lost', async () => {
    const s = setup();
    const brokenPipe = Object.assign(new EventEmitter(), {
      isTTY: false,
      write(_chunk: unknown) {
        process.nextTick(() => brokenPipe.emit('error', Object.assign(new Error('write EPIPE'), { code: 'EPIPE' })));
        return false;
      },
    });
    const context: Context = { ...s.context, io: Object.assign(Object.create(s.context.io), { stdout: brokenPipe }) };
    const error = await rejection(handOffSecret(context, { subscriptionId: SUB, secret: SECRET, destination: { kind: 'stdout' } }));
    assert.ok(error instanceof SecretFallbackError);
    assert.match(error.message, /writing it to stdout failed: the reading end of the pipe closed \(EPIPE\)/);
    assert.equal(await readFile(error.fallbackPath, 'utf8'), `${SECRET}\n`);
    // A later failure on the same stream must not crash the process.
    brokenPipe.emit('error', new Error('again'));
  });

  test('rotation: the previous secret is kept until its grace ends, then forgotten', async () => {
    let now = Date.parse('2026-01-01T00:00:00Z');
    const s = setup({ now: () => now });
    await handOffSecret(s.context, { subscriptionId: SUB, secret: SECRET, destination: { kind: 'keychain' } });
    const expiresAt = '2026-01-02T00:00:00.000Z';
    await handOffSecret(s.context, { subscriptionId: SUB, secret: NEXT_SECRET, destination: { kind: 'keychain' }, rotation: { previousExpiresAt: expiresAt } });
    const during = await readSigningSecrets(s.context, SUB);
    assert.deepEqual([during.current, during.previous, during.previousExpiresAt], [NEXT_SECRET, SECRET, expiresAt]);
    now = Date.parse('2026-01-02T00:00:01Z');
    const afterGrace = await readSigningSecrets(s.context, SUB);
    assert.deepEqual([afterGrace.current, afterGrace.previous], [NEXT_SECRET, null]);
    assert.equal(s.store.entries().has(`${HOST}/${SUB}/previous`), false);
  });

  test('rotation between files: the old file is read during the grace and removed once it has ended', async () => {
    let now = Date.parse('2026-01-01T00:00:00Z');
    const s = setup({ now: () => now });
    const first = join(home, 'first.secret');
    const second = join(home, 'second.secret');
    await handOffSecret(s.context, { subscriptionId: SUB, secret: SECRET, destination: { kind: 'file', path: first } });
    await handOffSecret(s.context, { subscriptionId: SUB, secret: NEXT_SECRET, destination: { kind: 'file', path: second }, rotation: { previousExpiresAt: '2026-01-02T00:00:00.000Z' } });
    assert.equal((await readSigningSecrets(s.context, SUB)).previous, SECRET);
    assert.equal(existsSync(first), true);
    now = Date.parse('2026-01-02T00:00:01Z');
    const afterGrace = await readSigningSecrets(s.context, SUB);
    assert.deepEqual([afterGrace.current, afterGrace.previous], [NEXT_SECRET, null]);
    assert.equal(existsSync(first), false, 'the previous secret is forgotten with its file');
    assert.equal(existsSync(second), true);
    assert.equal((await indexEntry(s.context, SUB))?.previous, undefined);
  });

  test('forget deletes the files this tool wrote the current and previous secrets to', async () => {
    const s = setup();
    const first = join(home, 'first.secret');
    const second = join(home, 'second.secret');
    await handOffSecret(s.context, { subscriptionId: SUB, secret: SECRET, destination: { kind: 'file', path: first } });
    await handOffSecret(s.context, { subscriptionId: SUB, secret: NEXT_SECRET, destination: { kind: 'file', path: second }, rotation: { previousExpiresAt: '2099-01-01T00:00:00Z' } });
    assert.deepEqual(await forgetSigningSecrets(s.context, SUB), [`file ${second}`, `file ${first}`]);
    assert.equal(existsSync(first), false);
    assert.equal(existsSync(second), false);
    assert.equal(await indexEntry(s.context, SUB), null);
  });

  test('forget leaves a file that no longer holds the secret, and says why; a file already gone is not mentioned', async () => {
    const s = setup();
    const reused = join(home, 'reused.secret');
    await handOffSecret(s.context, { subscriptionId: SUB, secret: SECRET, destination: { kind: 'file', path: reused } });
    await writeFile(reused, 'something else the user keeps here\n');
    assert.deepEqual(await forgetSigningSecrets(s.context, SUB), [`file ${reused} (left in place: it no longer holds this secret)`]);
    assert.equal(await readFile(reused, 'utf8'), 'something else the user keeps here\n');

    const gone = join(home, 'gone.secret');
    await handOffSecret(s.context, { subscriptionId: SUB, secret: SECRET, destination: { kind: 'file', path: gone } });
    await rm(gone);
    assert.deepEqual(await forgetSigningSecrets(s.context, SUB), []);
    assert.equal(await indexEntry(s.context, SUB), null);
  });

  test('forget deletes a fallback file too', async () => {
    const s = setup({ store: new MemorySecretStore({ failOn: { set: new SecretStoreError('keychain locked') } }) });
    const error = await rejection(handOffSecret(s.context, { subscriptionId: SUB, secret: SECRET, destination: { kind: 'keychain' } }));
    assert.ok(error instanceof SecretFallbackError);
    assert.equal(existsSync(error.fallbackPath), true);
    assert.deepEqual(await forgetSigningSecrets(s.context, SUB), [`file ${error.fallbackPath}`]);
    assert.equal(existsSync(error.fallbackPath), false);
  });

  test('import and forget', async () => {
    const s = setup();
    const location = await importSigningSecret(s.context, SUB, SECRET);
    assert.deepEqual(location, { store: 'keychain', fingerprint: fingerprint(SECRET) });
    assert.deepEqual(await forgetSigningSecrets(s.context, SUB), ['the OS keychain']);
    assert.equal(s.store.entries().size, 0);
    assert.equal(await indexEntry(s.context, SUB), null);
  });
});
