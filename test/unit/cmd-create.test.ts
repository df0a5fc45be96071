import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm, stat, writeFile, mkdir } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import type { Context } from '../../src/cli/context.ts';
import { toCreateOptions, type CreateOptions } from '../../src/commands/create/index.ts';
import { run } from '../../src/commands/create/run.ts';
import { exitCodeFor, InterruptedError, SecretFallbackError, SecretStoreError, UsageError } from '../../src/errors.ts';
import { main } from '../../src/main.ts';
import { MemorySecretStore } from '../../src/secrets/memory-store.ts';
import {
  checkReceiverUrlOrThrow,
  hostMatches,
  parseHostPattern,
  receiverHostProblem,
  receiverUrlPolicy,
  receiverUrlPromptProblem,
  resolveReceiverUrlPolicy,
  simplifySelectors,
} from '../../src/commands/shared/subscription-input.ts';
import { makeTestContext, type ScriptedAnswer, type TestContext } from '../helpers/context.ts';
import { startTestEmulator, type TestEmulator } from '../helpers/emulator-harness.ts';
import { emulatorEnv } from '../helpers/subscriptions.ts';

// `create` in-process: argv to options, and run() against an in-process emulator with the
// terminal on and off, an in-memory keychain that can be told to fail, and scripted prompts.

const fingerprint = (secret: string) => createHash('sha256').update(secret, 'utf8').digest('hex').slice(0, 8);

let emulator: TestEmulator;
let home: string;
let receiverUrl: string;

before(async () => {
  emulator = await startTestEmulator({ allowPrivateTargets: true });
  receiverUrl = 'http://127.0.0.1:9/hooks';
});

after(async () => {
  await emulator.close({ graceMs: 0 });
});

beforeEach(async () => {
  if (home) await rm(home, { recursive: true, force: true });
  home = await mkdtemp(join(tmpdir(), 'iaw-create-'));
  // Every test starts from an emulator without subscriptions.
  const listed = await emulator.call('GET', '/api/v1/webhooks/subscriptions?limit=100');
  for (const sub of listed.body.data as Array<{ id: string }>) await emulator.call('DELETE', `/api/v1/webhooks/subscriptions/${sub.id}`);
});

function baseEnv(extra: Record<string, string> = {}): Record<string, string> {
  return emulatorEnv(emulator, home, extra);
}

interface Setup extends TestContext {
  store: MemorySecretStore;
  apiRequested: () => boolean;
}

function setup(options: { tty?: boolean; store?: MemorySecretStore; answers?: ScriptedAnswer[]; json?: boolean; input?: boolean; env?: Record<string, string> } = {}): Setup {
  const store = options.store ?? new MemorySecretStore();
  const tc = makeTestContext({
    tty: options.tty ?? false,
    env: baseEnv(options.env),
    secretStore: store,
    answers: options.answers ?? [],
    globals: { json: options.json ?? false, ...(options.input === false ? { input: false } : {}) },
  });
  let requested = false;
  const context: Context = {
    ...tc.context,
    api: () => {
      requested = true;
      return tc.context.api();
    },
  };
  return { ...tc, context, store, apiRequested: () => requested };
}

function opts(raw: Record<string, unknown>): CreateOptions {
  return toCreateOptions({ events: [], ...raw });
}

async function subscriptions(): Promise<Array<Record<string, any>>> {
  const listed = await emulator.call('GET', '/api/v1/webhooks/subscriptions?limit=100');
  assert.equal(listed.status, 200);
  return listed.body.data;
}

function keychainAccount(id: string): string {
  return `${new URL(emulator.tenantUrl).host}/${id}`;
}

async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  assert.fail('expected the command to fail');
}

describe('create: argv to options', () => {
  test('events: comma-separated and repeated, duplicates dropped, order kept', () => {
    const parsed = opts({ name: 'n', url: 'https://h.example.com/', events: ['user.signed_up,user.deleted', 'mfa.*', 'user.deleted'] });
    assert.deepEqual(parsed.events, ['user.signed_up', 'user.deleted', 'mfa.*']);
    assert.equal(parsed.secretStore, 'keychain');
    assert.equal(parsed.secretStoreExplicit, false);
    assert.equal(parsed.allEvents, false);
  });

  test('--all-events means *; with other --events it is refused', () => {
    assert.deepEqual(opts({ allEvents: true }).events, ['*']);
    assert.deepEqual(opts({ allEvents: true, events: ['*'] }).events, ['*']);
    assert.throws(() => opts({ allEvents: true, events: ['user.*'] }), (error: Error) => error instanceof UsageError && /--all-events/.test(error.message));
  });

  test('malformed selectors are refused with the forms that work', () => {
    assert.throws(
      () => opts({ events: ['User Signed Up'] }),
      (error: UsageError) => error instanceof UsageError && /not event selectors: "User", "Signed", "Up"/.test(error.message) && /user\.\*/.test(error.hint ?? ''),
    );
  });

  test('--secret-file implies the file store and conflicts with other stores', () => {
    const parsed = opts({ secretFile: 'x.secret' });
    assert.equal(parsed.secretStore, 'file');
    assert.equal(parsed.secretStoreExplicit, true);
    assert.throws(() => opts({ secretFile: 'x', secretStore: 'stdout' }), /--secret-file goes with --secret-store file/);
  });

  test('name, description and idempotency key limits', () => {
    assert.throws(() => opts({ name: '   ' }), /--name: the name must not be empty/);
    assert.throws(() => opts({ name: 'x'.repeat(101) }), /at most 100 characters/);
    assert.throws(() => opts({ description: 'd'.repeat(501) }), /at most 500 characters/);
    assert.throws(() => opts({ idempotencyKey: 'has space' }), /--idempotency-key/);
    assert.equal(opts({ idempotencyKey: 'key-1' }).idempotencyKey, 'key-1');
  });

  test('through the real program: flags reach run(), which reports the exit code', async () => {
    const store = new MemorySecretStore();
    const stdout = capture(false);
    const stderr = capture(false);
    const stdin = new PassThrough();
    stdin.end();
    const code = await main(
      ['create', '--name', 'via main', '--url', receiverUrl, '--events', 'user.signed_up', '--events', 'mfa.*', '--json'],
      { streams: { stdin, stdout, stderr }, env: { ...baseEnv(), NO_COLOR: '1' }, overrides: { secretStore: async () => store } },
    );
    assert.equal(code, 0, stderr.text());
    const printed = JSON.parse(stdout.text());
    assert.deepEqual(printed.events, ['user.signed_up', 'mfa.*']);
    assert.equal(printed.name, 'via main');
    assert.equal(fingerprint(store.entries().get(keychainAccount(printed.id)) ?? ''), printed.secret_fingerprint);

    const refused = capture(false);
    const refusedCode = await main(['create', '--name', 'x', '--url', receiverUrl, '--events', 'user.signed_up', '--secret-store', 'vault'], {
      streams: { stdin, stdout: capture(false), stderr: refused },
      env: baseEnv(),
      overrides: { secretStore: async () => store },
    });
    assert.equal(refusedCode, 2);
    assert.match(refused.text(), /Allowed choices are keychain, file, stdout/);
  });
});

function capture(isTTY: boolean) {
  const chunks: string[] = [];
  return {
    isTTY,
    columns: 120,
    write(chunk: string | Uint8Array) {
      chunks.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
      return true;
    },
    text: () => chunks.join(''),
  };
}

describe('create without a terminal', () => {
  test('keychain (default): tab-separated summary on stdout, the secret only in the store', async () => {
    const s = setup();
    await run(opts({ name: 'orders', url: receiverUrl, events: ['user.signed_up,user.deleted'], description: 'order service' }), s.context);
    const [created] = await subscriptions();
    assert.ok(created);
    const secret = s.store.entries().get(keychainAccount(created.id)) ?? '';
    assert.ok(secret.startsWith('whsec_'));
    assert.equal(fingerprint(secret), created.secret_fingerprint);
    assert.equal(
      s.stdout(),
      [
        `id\t${created.id}`,
        'name\torders',
        `url\t${receiverUrl}`,
        'events\tuser.signed_up, user.deleted',
        'description\torder service',
        'status\tactive',
        `created\t${created.created_at}`,
        `updated\t${created.updated_at}`,
        `secret fingerprint\t${created.secret_fingerprint}`,
        'signing secret\tthe OS keychain',
        '',
      ].join('\n'),
    );
    assert.equal(
      s.stderr(),
      [
        `✓ created ${created.id}; its signing secret (fingerprint ${created.secret_fingerprint}) is in the OS keychain`,
        `hint: run your receiver with the secret in INTELLIAUTH_WEBHOOK_SECRET: intelliauth-webhooks secret exec ${created.id} -- <your receiver command>`,
        'hint: then send it an event from the emulator: intelliauth-webhooks trigger user.signed_up',
        '',
      ].join('\n'),
    );
    const index = JSON.parse(await readFile(join(home, 'data', 'intelliauth-webhooks', 'signing-secrets.json'), 'utf8'));
    assert.equal(index.entries[keychainAccount(created.id)].store, 'keychain');
    assert.equal(index.entries[keychainAccount(created.id)].fingerprint, created.secret_fingerprint);
    assert.ok(!JSON.stringify(index).includes(secret), 'the index holds no secret');
  });

  test('--json: the subscription without the secret, plus where the secret went', async () => {
    const s = setup({ json: true });
    await run(opts({ name: 'j', url: receiverUrl, allEvents: true }), s.context);
    const printed = JSON.parse(s.stdout());
    const secret = s.store.entries().get(keychainAccount(printed.id))!;
    assert.equal(printed.signing_secret, undefined);
    assert.deepEqual(printed.events, ['*']);
    assert.deepEqual(printed.secret_location, { store: 'keychain', fingerprint: fingerprint(secret) });
    assert.equal(printed.secret_fingerprint, fingerprint(secret));
    assert.ok(!s.stdout().includes(secret) && !s.stderr().includes(secret));
  });

  test('missing required flags: a usage error naming them, nothing asked, nothing created', async () => {
    const s = setup();
    const error = await rejection(run(opts({ url: receiverUrl }), s.context));
    assert.ok(error instanceof UsageError);
    assert.equal(error.message, 'missing --name and --events (or --all-events) (no interactive terminal to ask on)');
    assert.equal(s.prompts.length, 0);
    assert.equal(s.apiRequested(), false);
    assert.deepEqual(await subscriptions(), []);
  });

  test('* alone needs --all-events', async () => {
    const s = setup();
    const error = await rejection(run(opts({ name: 'n', url: receiverUrl, events: ['*'] }), s.context));
    assert.ok(error instanceof UsageError);
    assert.match(error.message, /every type the platform adds later.*refusing without --all-events/);
    assert.equal(exitCodeFor(error), 2);
    assert.deepEqual(await subscriptions(), []);
  });

  test('unknown event types: refused with the closest names, nothing created', async () => {
    const s = setup();
    const error = await rejection(run(opts({ name: 'n', url: receiverUrl, events: ['user.sigend_up,mfa.factor_add,user.*'] }), s.context));
    assert.ok(error instanceof UsageError);
    assert.equal(
      error.message,
      '--events: unknown event types user.sigend_up (did you mean user.signed_up?), mfa.factor_add (did you mean mfa.factor_added?)',
    );
    assert.deepEqual(await subscriptions(), []);
  });

  test('the keychain is unusable: refused before any API call, naming a destination that works', async () => {
    const store = new MemorySecretStore({ failOn: { probe: new SecretStoreError('the OS keychain is not reachable: no D-Bus session bus') } });
    const s = setup({ store });
    const error = await rejection(run(opts({ name: 'orders', url: receiverUrl, events: ['user.signed_up'] }), s.context));
    assert.ok(error instanceof SecretStoreError && !(error instanceof SecretFallbackError));
    assert.equal(exitCodeFor(error), 2);
    assert.equal(error.message, 'the OS keychain cannot store the secret: the OS keychain is not reachable: no D-Bus session bus; nothing was created');
    assert.match(error.hint ?? '', /--secret-store file --secret-file \.\/orders\.secret/);
    assert.match(error.hint ?? '', /--secret-store stdout/);
    assert.equal(s.apiRequested(), false, 'no API call before the destination is known to work');
    assert.deepEqual(await subscriptions(), []);
    assert.deepEqual(store.calls.map((call) => call.operation), ['probe']);
  });

  test('storing fails after the API answered: 0600 fallback file with exactly the secret, exit 6, summary still shown', async () => {
    const store = new MemorySecretStore({ failOn: { set: new SecretStoreError('the OS keychain locked itself') } });
    const s = setup({ store });
    const error = await rejection(run(opts({ name: 'fb', url: receiverUrl, events: ['user.*'] }), s.context));
    assert.ok(error instanceof SecretFallbackError);
    assert.equal(exitCodeFor(error), 6);
    const [created] = await subscriptions();
    assert.ok(created);
    const fallbackDir = join(home, 'data', 'intelliauth-webhooks', 'fallback');
    assert.equal(error.fallbackPath.startsWith(fallbackDir), true);
    assert.equal((await stat(error.fallbackPath)).mode & 0o777, 0o600);
    const content = await readFile(error.fallbackPath, 'utf8');
    assert.match(content, /^whsec_\S+\n$/);
    assert.equal(fingerprint(content.trimEnd()), created.secret_fingerprint);
    assert.equal(error.message, `storing the signing secret failed (the OS keychain locked itself); it was saved to ${error.fallbackPath} (mode 0600)`);
    assert.match(error.hint ?? '', new RegExp(`secret import ${created.id} < `));
    // The user still learns what was created, and where the secret is.
    assert.match(s.stdout(), new RegExp(`^id\\t${created.id}$`, 'm'));
    assert.match(s.stdout(), new RegExp(`^signing secret\\tfallback file ${error.fallbackPath.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`, 'm'));
    assert.ok(!s.stdout().includes(content.trimEnd()) && !s.stderr().includes(content.trimEnd()));
    const index = JSON.parse(await readFile(join(home, 'data', 'intelliauth-webhooks', 'signing-secrets.json'), 'utf8'));
    assert.deepEqual({ ...index.entries[keychainAccount(created.id)], stored_at: 'x' }, {
      store: 'file',
      path: error.fallbackPath,
      fingerprint: created.secret_fingerprint,
      fallback: true,
      stored_at: 'x',
    });
  });

  test('--json with a fallback still prints the subscription, with the fallback file as its location', async () => {
    const store = new MemorySecretStore({ failOn: { set: new SecretStoreError('denied') } });
    const s = setup({ store, json: true });
    const error = await rejection(run(opts({ name: 'fbj', url: receiverUrl, events: ['user.signed_up'] }), s.context));
    assert.ok(error instanceof SecretFallbackError);
    const printed = JSON.parse(s.stdout());
    assert.deepEqual(printed.secret_location, { store: 'file', path: error.fallbackPath, fingerprint: printed.secret_fingerprint, fallback: true });
  });

  test('no store and no fallback file can take it: the subscription is deleted again', async (t) => {
    const blocker = join(home, 'not-a-dir');
    await writeFile(blocker, 'x');
    const store = new MemorySecretStore({ failOn: { set: new SecretStoreError('denied') } });
    const s = setup({ store, env: { XDG_DATA_HOME: join(blocker, 'data') } });
    const savedTmp = process.env.TMPDIR;
    process.env.TMPDIR = join(blocker, 'tmp');
    t.after(() => {
      if (savedTmp === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = savedTmp;
    });
    const error = await rejection(run(opts({ name: 'lost', url: receiverUrl, events: ['user.signed_up'] }), s.context));
    assert.ok(error instanceof SecretStoreError && !(error instanceof SecretFallbackError));
    assert.match(error.message, /^the signing secret could not be stored anywhere \(could not write the secret to any fallback file .*\); the subscription whsub_\S+ was deleted again, so nothing was created$/);
    assert.deepEqual(await subscriptions(), []);
  });

  test('--secret-store file: a new 0600 file holding the secret; an existing file is refused before any API call', async () => {
    const path = join(home, 'orders.secret');
    const s = setup();
    await run(opts({ name: 'file', url: receiverUrl, events: ['user.signed_up'], secretFile: path }), s.context);
    const [created] = await subscriptions();
    assert.equal((await stat(path)).mode & 0o777, 0o600);
    const content = await readFile(path, 'utf8');
    assert.equal(fingerprint(content.trimEnd()), created!.secret_fingerprint);
    assert.match(s.stdout(), new RegExp(`signing secret\\tfile ${path}`));
    assert.equal(s.store.entries().size, 0, 'nothing went to the keychain');

    const again = setup();
    const error = await rejection(run(opts({ name: 'file2', url: receiverUrl, events: ['user.signed_up'], secretFile: path }), again.context));
    assert.ok(error instanceof SecretStoreError);
    assert.equal(error.message, `cannot write the secret to ${path}: refusing to overwrite existing file ${path}; nothing was created`);
    assert.match(error.hint ?? '', /--secret-store keychain \(the OS keychain answered a check just now\)/);
    assert.equal(again.apiRequested(), false);
    assert.equal(await readFile(path, 'utf8'), content, 'the existing file is untouched');
    assert.equal((await subscriptions()).length, 1);
  });

  test('--secret-store file in a directory that does not exist', async () => {
    const s = setup();
    const path = join(home, 'missing', 'x.secret');
    const error = await rejection(run(opts({ name: 'f', url: receiverUrl, events: ['user.signed_up'], secretFile: path }), s.context));
    assert.ok(error instanceof SecretStoreError);
    assert.match(error.message, /directory .*missing does not exist; nothing was created$/);
    assert.deepEqual(await subscriptions(), []);
  });

  test('--secret-store file without --secret-file', async () => {
    const s = setup();
    const error = await rejection(run(opts({ name: 'f', url: receiverUrl, events: ['user.signed_up'], secretStore: 'file' }), s.context));
    assert.ok(error instanceof UsageError);
    assert.match(error.message, /--secret-store file needs --secret-file PATH/);
  });

  test('--secret-store stdout: stdout is the secret alone, the summary goes to stderr', async () => {
    const s = setup();
    await run(opts({ name: 'pipe', url: receiverUrl, events: ['user.signed_up'], secretStore: 'stdout' }), s.context);
    const [created] = await subscriptions();
    assert.match(s.stdout(), /^whsec_[^\n]+\n$/);
    assert.equal(fingerprint(s.stdout().trimEnd()), created!.secret_fingerprint);
    assert.match(s.stderr(), new RegExp(`^id +${created!.id}$`, 'm'));
    assert.match(s.stderr(), /^signing secret +stdout \(not stored locally\)$/m);
    assert.ok(!s.stderr().includes(s.stdout().trimEnd()));
    assert.equal(s.store.entries().size, 0);
  });

  test('--secret-store stdout with --json is refused (both want stdout)', async () => {
    const s = setup({ json: true });
    const error = await rejection(run(opts({ name: 'p', url: receiverUrl, events: ['user.signed_up'], secretStore: 'stdout' }), s.context));
    assert.ok(error instanceof UsageError);
    assert.match(error.message, /--secret-store stdout and --json both want stdout/);
    assert.equal(s.apiRequested(), false);
  });

  test('the same --idempotency-key twice makes one subscription, and hands the same secret over again', async () => {
    const first = setup({ json: true });
    await run(opts({ name: 'idem', url: receiverUrl, events: ['user.signed_up'], idempotencyKey: 'retry-me-1' }), first.context);
    const second = setup({ json: true });
    await run(opts({ name: 'idem', url: receiverUrl, events: ['user.signed_up'], idempotencyKey: 'retry-me-1' }), second.context);
    const a = JSON.parse(first.stdout());
    const b = JSON.parse(second.stdout());
    assert.equal(a.id, b.id);
    assert.equal((await subscriptions()).length, 1);
    assert.equal(first.store.entries().get(keychainAccount(a.id)), second.store.entries().get(keychainAccount(b.id)));

    // The same key with other values is a conflict, and creates nothing.
    const conflicting = setup({ json: true });
    const conflict = await rejection(run(opts({ name: 'idem-other', url: receiverUrl, events: ['user.signed_up'], idempotencyKey: 'retry-me-1' }), conflicting.context));
    assert.equal(exitCodeFor(conflict), 2);
    assert.match((conflict as UsageError).hint ?? '', /--idempotency-key retry-me-1 was used before with other values/);
    assert.equal((await subscriptions()).length, 1);
    assert.equal(conflicting.stdout(), '');

    // Without a key each invocation is its own attempt.
    const third = setup({ json: true });
    await run(opts({ name: 'idem', url: receiverUrl, events: ['user.signed_up'] }), third.context);
    assert.equal((await subscriptions()).length, 2);
  });

  test('against a real (https) tenant, a private receiver is refused locally with the precise reason', async () => {
    const s = setup();
    const context: Context = {
      ...s.context,
      credentials: async () => ({ source: 'env-token', tenantUrl: 'https://acme-corp.intelliauth.io', token: 'unused' }),
      api: async () => assert.fail('no API call may happen'),
    };
    for (const [url, reason] of [
      ['https://10.0.0.5/hooks', '10.0.0.5 is a private RFC 1918 address'],
      ['http://hooks.example.com/x', 'http:// receivers are refused: the platform delivers over HTTPS only'],
      ['https://localhost:8443/x', 'localhost names are refused'],
      ['https://[::ffff:127.0.0.1]/x', '::ffff:127.0.0.1 is an IPv4-mapped form of 127.0.0.1, a loopback address'],
    ] as const) {
      const error = await rejection(run(opts({ name: 'n', url, events: ['user.signed_up'] }), context));
      assert.ok(error instanceof UsageError, String(error));
      assert.equal(error.message, `--url: receiver URL refused: ${reason}`);
    }
  });

  test('against an emulator started without --allow-private-targets, a loopback receiver is refused by the local check, as it says it would', async () => {
    const strict = await startTestEmulator({ allowPrivateTargets: false });
    try {
      const s = setup({ env: { INTELLIAUTH_TENANT_URL: strict.tenantUrl, INTELLIAUTH_M2M_CLIENT_ID: strict.clientId, INTELLIAUTH_M2M_CLIENT_SECRET: strict.clientSecret } });
      const error = await rejection(run(opts({ name: 'n', url: 'https://127.0.0.1:9/hooks', events: ['user.signed_up'] }), s.context));
      assert.equal(exitCodeFor(error), 2);
      assert.match(error.message, /^--url: receiver URL refused: 127\.0\.0\.1 is a loopback address/, 'the local check, not the emulator\'s 422');
      assert.match((error as UsageError).hint ?? '', /^this emulator was started without --allow-private-targets/);
      assert.equal(s.store.entries().size, 0);
      const listed = await strict.call('GET', '/api/v1/webhooks/subscriptions');
      assert.deepEqual(listed.body.data, []);
    } finally {
      await strict.close({ graceMs: 0 });
    }
  });

  test('a failed POST with an unknown outcome says how to retry without a duplicate', async () => {
    const server = await failingTenant();
    try {
      const s = setup({ env: { INTELLIAUTH_TENANT_URL: server.url } });
      const error = await rejection(run(opts({ name: 'n', url: receiverUrl, events: ['user.signed_up'], idempotencyKey: 'abc-123' }), s.context));
      assert.equal(exitCodeFor(error), 5);
      assert.match((error as UsageError).hint ?? '', /run the same command again with --idempotency-key abc-123/);
      assert.deepEqual(server.keys(), Array(server.keys().length).fill('abc-123'));
      assert.ok(server.keys().length > 1, 'the POST was retried, with the same key');
      assert.equal(s.store.entries().size, 0);
    } finally {
      await server.close();
    }
  });
});

/** A tenant whose token and catalogue work but whose create always answers 503. */
async function failingTenant(): Promise<{ url: string; keys: () => string[]; close: () => Promise<void> }> {
  const keys: string[] = [];
  const server: Server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.setHeader('content-type', 'application/json');
      if (req.url === '/oauth2/token') {
        res.end(JSON.stringify({ access_token: 'tok', token_type: 'Bearer', expires_in: 3600, scope: 'webhooks:read webhooks:write' }));
      } else if (req.url === '/_emulator/health') {
        // Not an emulator that says how it treats private receivers: it decides when asked.
        res.statusCode = 404;
        res.end(JSON.stringify({ error: 'not_found', message: 'no such path' }));
      } else if (req.method === 'GET' && req.url?.startsWith('/api/v1/webhooks/event-types')) {
        res.end(JSON.stringify({ data: [{ type: 'user.signed_up', category: 'user', description: 'd' }], meta: {} }));
      } else {
        keys.push(String(req.headers['idempotency-key']));
        res.statusCode = 503;
        res.end(JSON.stringify({ error: 'unavailable', message: 'try later' }));
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    keys: () => [...keys],
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

describe('create at a terminal', () => {
  test('asks for what is missing: name, URL, events from the catalogue, description', async () => {
    const s = setup({
      tty: true,
      answers: [
        { match: 'Name', answer: '  signups  ' },
        { match: 'Receiver URL', answer: receiverUrl },
        { match: 'Events', answer: ['user.*', 'user.signed_up', 'mfa.factor_added'] },
        { match: 'Description', answer: 'from the prompts' },
      ],
    });
    await run(opts({}), s.context);
    const [created] = await subscriptions();
    assert.ok(created);
    assert.equal(created.name, 'signups');
    assert.equal(created.url, receiverUrl);
    assert.deepEqual(created.events, ['user.*', 'mfa.factor_added'], 'user.signed_up is covered by user.*');
    assert.equal(created.description, 'from the prompts');
    assert.deepEqual(s.prompts.map((p) => p.kind), ['input', 'input', 'checkbox', 'input']);
    const choices = s.prompts[2]!.choices!;
    assert.equal(choices[0], 'user.*');
    assert.ok(choices.includes('user.signed_up') && choices.includes('mfa.*') && choices.includes('test.ping'));
    assert.equal(choices.at(-1), '*');
    assert.equal(fingerprint(s.store.entries().get(keychainAccount(created.id))!), created.secret_fingerprint);
    assert.match(s.stdout(), /^id +whsub_/m, 'a summary at the terminal');
  });

  test('with every required flag given, nothing is asked', async () => {
    const s = setup({ tty: true });
    await run(opts({ name: 'flags', url: receiverUrl, events: ['user.signed_up'] }), s.context);
    assert.equal(s.prompts.length, 0);
    assert.equal((await subscriptions()).length, 1);
  });

  test('picking * asks for confirmation, with the warning; declining creates nothing', async () => {
    const s = setup({
      tty: true,
      answers: [
        { match: 'Events', answer: ['*'] },
        { match: 'every event type', answer: false },
      ],
    });
    const error = await rejection(run(opts({ name: 'all', url: receiverUrl }), s.context));
    assert.ok(error instanceof UsageError);
    assert.equal(error.message, 'cancelled; nothing was created');
    assert.match(s.stderr(), /warning: the selector \* subscribes to every event type, including every type the platform adds later/);
    assert.deepEqual(await subscriptions(), []);
  });

  test('--events * confirmed at the prompt', async () => {
    const s = setup({ tty: true, answers: [{ match: 'every event type', answer: true }] });
    await run(opts({ name: 'all', url: receiverUrl, events: ['*'] }), s.context);
    const [created] = await subscriptions();
    assert.deepEqual(created!.events, ['*']);
  });

  test('--no-input at a terminal behaves as without one', async () => {
    const s = setup({ tty: true, input: false });
    const error = await rejection(run(opts({ name: 'x' }), s.context));
    assert.match(error.message, /^missing --url and --events \(or --all-events\)/);
  });

  test('the keychain is unusable: offers a new file instead', async () => {
    const store = new MemorySecretStore({ failOn: { probe: new SecretStoreError('the OS keychain is not reachable') } });
    const path = join(home, 'chosen.secret');
    const s = setup({
      tty: true,
      store,
      answers: [
        { match: 'Where should it go', answer: 'file' },
        { match: 'File for the signing secret', answer: path },
      ],
    });
    await run(opts({ name: 'offered', url: receiverUrl, events: ['user.signed_up'] }), s.context);
    const [created] = await subscriptions();
    assert.equal(fingerprint((await readFile(path, 'utf8')).trimEnd()), created!.secret_fingerprint);
    assert.match(s.stderr(), /warning: the OS keychain cannot store the secret: the OS keychain is not reachable/);
  });

  test('--secret-store stdout at a terminal asks first', async () => {
    const s = setup({ tty: true, answers: [{ match: 'Print the signing secret on this terminal', answer: false }] });
    const error = await rejection(run(opts({ name: 'p', url: receiverUrl, events: ['user.signed_up'], secretStore: 'stdout' }), s.context));
    assert.equal(error.message, 'cancelled; nothing was created');
    assert.deepEqual(await subscriptions(), []);

    const refused = setup({ tty: true, input: false });
    const noInput = await rejection(run(opts({ name: 'p', url: receiverUrl, events: ['user.signed_up'], secretStore: 'stdout' }), refused.context));
    assert.match(noInput.message, /would print the secret on your terminal/);
    assert.match((noInput as UsageError).hint ?? '', /--yes/);

    const yes = setup({ tty: true, input: false });
    await run(opts({ name: 'p', url: receiverUrl, events: ['user.signed_up'], secretStore: 'stdout', yes: true }), yes.context);
    assert.match(yes.stdout(), /^whsec_\S+\n$/);
  });

  test('Ctrl-C in a prompt is an interruption and creates nothing', async () => {
    const s = setup({ tty: true });
    const exitPrompt = Object.assign(new Error('User force closed the prompt with SIGINT'), { name: 'ExitPromptError' });
    const context: Context = {
      ...s.context,
      prompter: async () => ({
        input: async () => {
          throw exitPrompt;
        },
        password: async () => '',
        confirm: async () => false,
        select: async () => assert.fail('no select'),
        checkbox: async () => [],
      }),
    };
    const error = await rejection(run(opts({ url: receiverUrl, events: ['user.signed_up'] }), context));
    assert.ok(error instanceof InterruptedError);
    assert.equal(error.message, 'cancelled; nothing was created');
    assert.equal(exitCodeFor(error), 130);
    assert.deepEqual(await subscriptions(), []);
  });
});

describe('create and signals', () => {
  test('a signal before the request is sent: nothing is created', async () => {
    const controller = new AbortController();
    controller.abort();
    const tc = makeTestContext({ env: baseEnv(), signal: controller.signal });
    const error = await rejection(run(opts({ name: 'sig', url: receiverUrl, events: ['user.signed_up'] }), tc.context));
    assert.ok(error instanceof InterruptedError);
    assert.equal(error.message, 'interrupted; nothing was created');
    assert.deepEqual(await subscriptions(), []);
  });

  test('a signal once the request is on its way: the request, the storing and the report still complete', async () => {
    const controller = new AbortController();
    const store = new MemorySecretStore();
    const tc = makeTestContext({ env: baseEnv(), signal: controller.signal, secretStore: store });
    let held = 0;
    const context: Context = {
      ...tc.context,
      uninterruptible: async (fn) => {
        held += 1;
        // SIGINT arrives right as the create request leaves.
        controller.abort(new InterruptedError('interrupted by SIGINT'));
        return fn();
      },
    };
    await run(opts({ name: 'sig', url: receiverUrl, events: ['user.signed_up'] }), context);
    assert.ok(held >= 1);
    const [created] = await subscriptions();
    assert.ok(created, 'the subscription exists');
    assert.equal(fingerprint(store.entries().get(keychainAccount(created.id))!), created.secret_fingerprint);
    assert.match(tc.stderr(), new RegExp(`warning: interrupted, but only after ${created.id} was created; its signing secret is in the OS keychain`));
    assert.match(tc.stdout(), new RegExp(`^id\\t${created.id}$`, 'm'));
  });
  test('a signal and a storing failure: the fallback is reported before the step ends, exit 6', async () => {
    const controller = new AbortController();
    const store = new MemorySecretStore({ failOn: { set: new SecretStoreError('keychain gone') } });
    const tc = makeTestContext({ env: baseEnv(), signal: controller.signal, secretStore: store });
    const context: Context = {
      ...tc.context,
      uninterruptible: async (fn) => {
        controller.abort(new InterruptedError('interrupted by SIGTERM'));
        return fn();
      },
    };
    const code = await run(opts({ name: 'sig-fb', url: receiverUrl, events: ['user.signed_up'] }), context);
    assert.equal(code, 6);
    const [created] = await subscriptions();
    assert.ok(created);
    const path = /saved to (\S+) \(mode 0600\)/.exec(tc.stderr())?.[1];
    assert.ok(path, tc.stderr());
    assert.equal(fingerprint((await readFile(path, 'utf8')).trimEnd()), created.secret_fingerprint);
    assert.match(tc.stderr(), /^error: storing the signing secret failed \(keychain gone\); it was saved to /m);
    assert.match(tc.stderr(), /^hint: move it into your secret store/m);
    assert.match(tc.stdout(), new RegExp(`^id\\t${created.id}$`, 'm'));
  });
});

describe('create and allowed_receiver_hosts', () => {
  async function profileSetup(allowed: string[]) {
    const host = new URL(emulator.tenantUrl).host;
    await mkdir(join(home, 'config', 'intelliauth-webhooks'), { recursive: true });
    await writeFile(
      join(home, 'config', 'intelliauth-webhooks', 'config.json'),
      JSON.stringify({ version: 1, active_profile: 'dev', profiles: { dev: { tenant_url: emulator.tenantUrl, client_id: emulator.clientId, allowed_receiver_hosts: allowed } } }),
    );
    const store = new MemorySecretStore({ initial: { [`${host}/client/${emulator.clientId}`]: emulator.clientSecret } });
    const tc = makeTestContext({
      env: { HOME: home, XDG_CONFIG_HOME: join(home, 'config'), XDG_DATA_HOME: join(home, 'data'), XDG_CACHE_HOME: join(home, 'cache') },
      secretStore: store,
    });
    return { tc, store };
  }

  test('a receiver outside the profile\'s hosts is refused, naming the profile and its patterns', async () => {
    const { tc } = await profileSetup(['*.dev.example.com', 'api.example.com']);
    const error = await rejection(run(opts({ name: 'n', url: receiverUrl, events: ['user.signed_up'] }), tc.context));
    assert.ok(error instanceof UsageError);
    assert.equal(error.message, 'receiver host 127.0.0.1:9 is outside the hosts allowed for profile "dev" (allowed_receiver_hosts: *.dev.example.com, api.example.com)');
    assert.match(error.hint ?? '', /--force/);
    assert.match(error.hint ?? '', /config\.json/);
    assert.deepEqual(await subscriptions(), []);
  });

  test('--force lets it through, with a warning', async () => {
    const { tc } = await profileSetup(['*.dev.example.com']);
    await run(opts({ name: 'n', url: receiverUrl, events: ['user.signed_up'], force: true }), tc.context);
    assert.match(tc.stderr(), /warning: receiver host 127\.0\.0\.1:9 is outside the hosts allowed for profile "dev" .*; going ahead because of --force/);
    assert.equal((await subscriptions()).length, 1);
  });

  test('a receiver inside the patterns passes', async () => {
    const { tc } = await profileSetup(['127.0.0.1:9']);
    await run(opts({ name: 'n', url: receiverUrl, events: ['user.signed_up'] }), tc.context);
    assert.equal((await subscriptions()).length, 1);
  });

  test('the secret of a profile-based create lands under the tenant host in the keychain', async () => {
    const { tc, store } = await profileSetup(['127.0.0.1']);
    await run(opts({ name: 'n', url: receiverUrl, events: ['user.signed_up'] }), tc.context);
    const [created] = await subscriptions();
    assert.equal(fingerprint(store.entries().get(keychainAccount(created!.id))!), created!.secret_fingerprint);
    assert.deepEqual(await readdir(join(home, 'data', 'intelliauth-webhooks')), ['signing-secrets.json']);
  });
});

describe('shared subscription input', () => {
  const url = (text: string) => new URL(text);
  const matches = (pattern: string, text: string) => {
    const parsed = parseHostPattern(pattern);
    assert.ok(parsed, `pattern ${pattern} parses`);
    return hostMatches(url(text), parsed);
  };

  test('host patterns: exact names, subdomain wildcards, ports', () => {
    assert.equal(matches('api.example.com', 'https://api.example.com/x'), true);
    assert.equal(matches('api.example.com', 'https://api.example.com:8443/x'), true, 'no port in the pattern: any port');
    assert.equal(matches('api.example.com', 'https://www.api.example.com/x'), false);
    assert.equal(matches('API.Example.COM.', 'https://api.example.com./x'), true, 'case and a trailing dot do not matter');
    assert.equal(matches('*.dev.example.com', 'https://a.dev.example.com/'), true);
    assert.equal(matches('*.dev.example.com', 'https://a.b.dev.example.com/'), true);
    assert.equal(matches('*.dev.example.com', 'https://dev.example.com/'), false, 'the wildcard needs a label');
    assert.equal(matches('*.dev.example.com', 'https://evil-dev.example.com/'), false);
    assert.equal(matches('*.dev.example.com', 'https://dev.example.com.evil.org/'), false);
    assert.equal(matches('*.example.com:8443', 'https://hooks.example.com:8443/'), true);
    assert.equal(matches('*.example.com:8443', 'https://hooks.example.com/'), false, '443 is not 8443');
    assert.equal(matches('api.example.com:443', 'https://api.example.com/'), true, 'the default port counts');
    assert.equal(matches('bücher.example', 'https://xn--bcher-kva.example/'), true, 'IDN patterns compare in punycode');
    assert.equal(matches('[::1]:8443', 'http://[::1]:8443/'), true);
    assert.equal(matches('*', 'https://anything.example.org/'), true);
    for (const invalid of ['', 'https://api.example.com', 'a*.example.com', 'example.com/path', '*.', 'user@host']) {
      assert.equal(parseHostPattern(invalid), null, `${JSON.stringify(invalid)} is not a pattern`);
    }
  });

  test('an invalid pattern in the profile is reported, naming the profile', () => {
    assert.throws(
      () => receiverHostProblem(url('https://a.example.com/'), { profile: 'dev', patterns: ['ok.example.com', 'https://bad'], configFile: '/c.json' }),
      (error: UsageError) => error instanceof UsageError && error.message === 'profile "dev" has invalid allowed_receiver_hosts entries: "https://bad"',
    );
    assert.equal(
      receiverHostProblem(url('https://a.example.com/'), { profile: 'dev', patterns: [], configFile: '/c.json' }),
      'receiver host a.example.com is outside the hosts allowed for profile "dev" (allowed_receiver_hosts: an empty list)',
    );
  });

  test('selectors: categories cover their types, * covers everything', () => {
    assert.deepEqual(simplifySelectors(['user.signed_up', 'user.*', 'mfa.factor_added']), ['user.*', 'mfa.factor_added']);
    assert.deepEqual(simplifySelectors(['user.*', '*']), ['*']);
    assert.deepEqual(simplifySelectors(['mfa.*', 'user.signed_up']), ['mfa.*', 'user.signed_up']);
  });

  test('the URL policy defers private targets to a loopback tenant (the emulator) only', () => {
    assert.deepEqual(receiverUrlPolicy({ tenantUrl: 'http://127.0.0.1:8787' }), { allowPrivateTargets: true, localEmulator: true, deferredToEmulator: true });
    assert.deepEqual(receiverUrlPolicy({ tenantUrl: 'http://[::1]:8787' }), { allowPrivateTargets: true, localEmulator: true, deferredToEmulator: true });
    assert.deepEqual(receiverUrlPolicy({ tenantUrl: 'https://acme-corp.intelliauth.io' }), { allowPrivateTargets: false, localEmulator: false, deferredToEmulator: false });
    // Rules that are not about private targets still apply locally on the emulator.
    assert.throws(() => checkReceiverUrlOrThrow('http://user:pw@127.0.0.1/x', { allowPrivateTargets: true }), /user name or password are refused/);
  });

  test('a local emulator is asked how it treats private receivers only when the answer matters, and decides itself when it cannot say', async () => {
    const deferred = receiverUrlPolicy({ tenantUrl: 'http://127.0.0.1:8787' });
    for (const allow of [false, true]) {
      const tenant = await startTestEmulator({ allowPrivateTargets: allow });
      try {
        const s = setup({ env: { INTELLIAUTH_TENANT_URL: tenant.tenantUrl, INTELLIAUTH_M2M_CLIENT_ID: tenant.clientId, INTELLIAUTH_M2M_CLIENT_SECRET: tenant.clientSecret } });
        assert.deepEqual(await resolveReceiverUrlPolicy(s.context, deferred, new URL('http://127.0.0.1:3000/hooks')), {
          allowPrivateTargets: allow,
          localEmulator: true,
          deferredToEmulator: false,
        });
        // A public receiver needs no answer, and a platform tenant is never asked.
        assert.equal(await resolveReceiverUrlPolicy(s.context, deferred, new URL('https://hooks.example.com/x')), deferred);
        const platform = receiverUrlPolicy({ tenantUrl: 'https://acme-corp.intelliauth.io' });
        assert.equal(await resolveReceiverUrlPolicy(s.context, platform), platform);
      } finally {
        await tenant.close({ graceMs: 0 });
      }
    }
    // At the URL prompt, the reason says what to change.
    const strictEmulator = { allowPrivateTargets: false, localEmulator: true, deferredToEmulator: false };
    assert.equal(
      receiverUrlPromptProblem('http://127.0.0.1:3000/hooks', strictEmulator, null, false),
      'http:// receivers are refused: the platform delivers over HTTPS only (this emulator was started without --allow-private-targets; start it with that flag to accept receivers on this machine)',
    );
    assert.equal(receiverUrlPromptProblem('https://hooks.example.com/x', strictEmulator, null, false), null);

    const silent = await failingTenant();
    try {
      const s = setup({ env: { INTELLIAUTH_TENANT_URL: silent.url } });
      assert.equal(await resolveReceiverUrlPolicy(s.context, deferred), deferred);
    } finally {
      await silent.close();
    }
  });
});
