// Reliability suite 1, "no secret lost": `create` and `rotate` hand out a signing secret the
// platform shows once. Whatever goes wrong around that moment (the keychain unusable before
// the call or failing after it, a file destination that cannot be written, the answer lost on
// the wire, SIGINT/SIGTERM at each stage, an emulator answering 30 % of requests with
// faults), the platform must never hold a subscription or a rotation whose secret is neither
// in the chosen store nor in a fallback file. Where the outcome cannot be known (the answer
// lost and every retry failing), the error must name the Idempotency-Key that gets the same
// answer again; the suite follows that hint as a user would, and counts what it cannot recover.
//
// The built CLI runs as child processes against emulator child processes, the real keychain
// (inside scripts/with-keyring.sh), and a loopback relay (test/helpers/tenant-relay.ts) that
// acts at exact moments: before a request reaches the platform, or after the platform
// answered but before the CLI sees the answer. A D-Bus relay (test/helpers/dbus-relay.ts)
// makes the keychain fail at such a moment. The audit (test/helpers/secret-audit.ts) asks the
// platform what exists and looks for each current secret itself, without the CLI.
// Figure line, printed last: `secrets-lost: cases <n>, secrets lost <m>`.

import { after, before, describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createFaultInjector } from '../../src/emulator/faults.ts';
import type { FaultKind } from '../../src/emulator/index.ts';
import { cleanEnv, ROOT, startEmulatorProcess, tempHome, type CliResult, type EmulatorProcess } from '../helpers/cli.ts';
import { signalIfRunning, spawnCli, type RunningCli } from '../helpers/cli-process.ts';
import { startDbusRelay, type DbusRelay } from '../helpers/dbus-relay.ts';
import { keychainAvailable, requireCommand, requireKeychain } from '../helpers/keyring.ts';
import {
  auditSubscription,
  findStoredSecrets,
  fingerprintOf,
  platformClient,
  type PlatformClient,
  type PlatformSubscription,
  type SecretPlaces,
} from '../helpers/secret-audit.ts';
import { isCall, startTenantRelay, type CannedAnswer, type RelayedExchange, type TenantRelay } from '../helpers/tenant-relay.ts';

const CASE_TIMEOUT = { timeout: 60_000 };
const RECEIVER = 'http://127.0.0.1:9/hooks';
const SUBSCRIPTIONS = '/api/v1/webhooks/subscriptions';
const ROTATE = /\/api\/v1\/webhooks\/subscriptions\/[^/]+\/rotate-secret$/;

let root: { dir: string; cleanup: () => Promise<void> };
let emulator: EmulatorProcess;
let platform: PlatformClient;
let keychainUsable = false;

/** The figures: matrix cases that ran, and subscriptions whose current secret was found nowhere. */
const figures = { cases: 0, audited: 0, recovered: 0 };
/** Subscription ids whose current secret an audit found nowhere, with what happened. */
const lost = new Map<string, string>();
const extraEmulators: EmulatorProcess[] = [];
/** Every case opened, so their relays are closed even when a test stops half-way. */
const openCases: Case[] = [];

before(async () => {
  assert.ok(existsSync(join(ROOT, 'dist', 'main.js')), 'build first: node scripts/build.mjs');
  root = await tempHome('iaw-lost-');
  emulator = await startEmulatorProcess(['--allow-private-targets', '--plan', 'enterprise']);
  platform = platformClient(emulator);
  keychainUsable = await keychainAvailable();
});

after(async () => {
  for (const c of openCases) signalIfRunning(c.current?.child, 'SIGKILL');
  await Promise.all(openCases.flatMap((c) => [c.relay.close(), c.dbus?.close()]));
  await Promise.all([emulator?.stop(), ...extraEmulators.map((extra) => extra.stop())]);
  await root?.cleanup();
});

// ---- one matrix case: its own home, relay and (when asked) D-Bus relay --------------------

interface Case {
  label: string;
  home: string;
  relay: TenantRelay;
  dbus: DbusRelay | undefined;
  places: SecretPlaces;
  /** The environment of a CLI run in this case. */
  env(extra?: Record<string, string | undefined>): Record<string, string>;
  /** Starts the CLI; `current` is the running one (for hooks that signal it). */
  start(args: string[], extra?: Record<string, string | undefined>): RunningCli;
  current: RunningCli | undefined;
  run(args: string[], extra?: Record<string, string | undefined>): Promise<CliResult>;
  /** Audits subscriptions after the case: each current secret must be somewhere here. */
  expectNothingLost(subscriptions: PlatformSubscription[]): Promise<void>;
}

interface CaseOptions {
  keychain: boolean;
  /** Put a D-Bus relay between the CLI and the keychain, so the test can cut it. */
  dbusRelay?: boolean;
  /** Use this emulator instead of the shared one (no tenant relay then). */
  direct?: EmulatorProcess;
}

function matrixCase(label: string, options: CaseOptions, body: (c: Case, t: TestContext) => Promise<void>): void {
  test(label, CASE_TIMEOUT, async (t) => {
    if (options.keychain && (!(await requireKeychain(t)) || !requireCommand(t, 'secret-tool'))) return;
    const c = await openCase(label, options);
    figures.cases += 1;
    try {
      await body(c, t);
    } finally {
      signalIfRunning(c.current?.child, 'SIGKILL');
      await c.relay.close();
      await c.dbus?.close();
    }
  });
}

let caseCounter = 0;

async function openCase(label: string, options: CaseOptions): Promise<Case> {
  caseCounter += 1;
  const home = await mkdtemp(join(root.dir, `case${caseCounter}-`));
  const tmpDir = join(home, 'tmp');
  await mkdir(tmpDir);
  const target = options.direct ?? emulator;
  const relay = await startTenantRelay(target.tenantUrl);
  const dbus = options.dbusRelay ? await startDbusRelay(join(home, 'bus.sock')) : undefined;
  if (options.dbusRelay && !dbus) throw new Error(`DBUS_SESSION_BUS_ADDRESS is not a unix socket address: ${process.env.DBUS_SESSION_BUS_ADDRESS}`);
  const tenantUrl = options.direct ? options.direct.tenantUrl : relay.url;
  const places: SecretPlaces = { tenantHost: new URL(tenantUrl).host, dataHome: join(home, 'data'), tmpDir, files: [] };
  const c: Case = {
    label,
    home,
    relay,
    dbus,
    places,
    current: undefined,
    env: (extra = {}) =>
      cleanEnv(home, {
        INTELLIAUTH_TENANT_URL: tenantUrl,
        INTELLIAUTH_M2M_CLIENT_ID: target.clientId,
        INTELLIAUTH_M2M_CLIENT_SECRET: target.clientSecret,
        TMPDIR: tmpDir,
        ...(dbus ? { DBUS_SESSION_BUS_ADDRESS: dbus.address } : {}),
        ...extra,
      }),
    start(args, extra) {
      c.current = spawnCli(args, { env: c.env(extra), timeoutMs: 40_000 });
      return c.current;
    },
    async run(args, extra) {
      const result = await c.start(args, extra).result;
      assert.equal(result.killedForTimeout, false, `${label}: the CLI hung: ${result.stderr}`);
      assert.doesNotMatch(result.stderr, /\n\s+at .+:\d+:\d+\)?\n/, `${label}: a stack trace on stderr`);
      return result;
    },
    async expectNothingLost(subscriptions) {
      for (const subscription of subscriptions) {
        const verdict = await auditSubscription(subscription, places);
        figures.audited += 1;
        if (verdict.lost) lost.set(subscription.id, `${label}: ${subscription.id} (platform fingerprint ${subscription.secret_fingerprint})`);
        assert.equal(verdict.lost, false, `${label}: the secret of ${subscription.id} is nowhere on this machine`);
      }
    },
  };
  openCases.push(c);
  return c;
}

const unique = (label: string) => `${label}-${Math.random().toString(36).slice(2, 10)}`;
const createArgs = (name: string, ...more: string[]) => ['create', '--name', name, '--url', RECEIVER, '--events', 'user.signed_up', ...more];

/** A subscription made straight through the API, its first secret kept in a file of the case (as the user would have). */
async function existingSubscription(c: Case): Promise<PlatformSubscription> {
  const created = await platform.create({ name: unique('existing'), url: RECEIVER, events: ['user.*'] });
  const path = join(c.home, `${created.id}.initial.secret`);
  await writeFile(path, `${created.signing_secret}\n`, { mode: 0o600 });
  c.places.files!.push(path);
  const { signing_secret: _secret, ...subscription } = created;
  return subscription;
}

async function current(id: string): Promise<PlatformSubscription> {
  const subscription = await platform.get(id);
  assert.ok(subscription, `${id} exists on the platform`);
  return subscription;
}

function calls(relay: TenantRelay, method: string, path: string | RegExp): RelayedExchange[] {
  return relay.exchanges.filter((exchange) => isCall(exchange, method, path));
}

async function fileMode(path: string): Promise<number> {
  return (await stat(path)).mode & 0o777;
}

/** The fallback file named in "it was saved to PATH (mode 0600)": 0600, exactly the secret, the platform's fingerprint. */
async function expectFallbackFile(result: CliResult, subscription: PlatformSubscription): Promise<string> {
  const match = /it was saved to (\S+) \(mode 0600\)/.exec(result.stderr);
  assert.ok(match, `the message names the fallback file: ${result.stderr}`);
  const path = match[1]!;
  assert.ok(path.includes(subscription.id), 'the fallback file is named after the subscription');
  assert.equal(await fileMode(path), 0o600);
  const content = await readFile(path, 'utf8');
  assert.match(content, /^whsec_[A-Za-z0-9_-]+\n$/, 'exactly the secret and a newline');
  assert.equal(fingerprintOf(content.trimEnd()), subscription.secret_fingerprint);
  return path;
}

// ---- the keychain unusable before the call ------------------------------------------------

describe('keychain unusable before the call: nothing is created or rotated', { concurrency: 2 }, () => {
  const noBus = { DBUS_SESSION_BUS_ADDRESS: 'unix:path=/nonexistent' };

  matrixCase('create with no reachable keychain', { keychain: false }, async (c) => {
    const name = unique('nobus');
    const result = await c.run(createArgs(name), noBus);
    assert.equal(result.code, 2, result.stderr);
    assert.match(result.stderr, /^error: the OS keychain cannot store the secret: .*; nothing was created$/m);
    assert.deepEqual(calls(c.relay, 'POST', SUBSCRIPTIONS), [], 'no create call reached the platform');
    assert.deepEqual(await platform.named(name), []);
  });

  matrixCase('rotate with no reachable keychain', { keychain: false }, async (c) => {
    const existing = await existingSubscription(c);
    const result = await c.run(['rotate', existing.id, '--yes'], noBus);
    assert.equal(result.code, 2, result.stderr);
    assert.match(result.stderr, /^error: the OS keychain cannot store the secret: .*; nothing was changed$/m);
    assert.deepEqual(calls(c.relay, 'POST', ROTATE), [], 'no rotate call reached the platform');
    const after = await current(existing.id);
    assert.equal(after.secret_fingerprint, existing.secret_fingerprint, 'not rotated');
    await c.expectNothingLost([after]);
  });
});

// ---- a file destination that cannot be written: refused before the call --------------------

describe('file destination unwritable: refused before the call', { concurrency: 2 }, () => {
  const destinations: Array<[string, (c: Case) => Promise<{ path: string; reason: RegExp }>]> = [
    ['in a directory that does not exist', async (c) => ({ path: join(c.home, 'missing-dir', 'x.secret'), reason: /directory .* does not exist/ })],
    [
      'over an existing file',
      async (c) => {
        const path = join(c.home, 'taken.secret');
        await writeFile(path, 'keep me\n', { mode: 0o600 });
        return { path, reason: /refusing to overwrite existing file/ };
      },
    ],
  ];
  for (const [where, prepare] of destinations) {
    matrixCase(`create with --secret-file ${where}`, { keychain: false }, async (c) => {
      const { path, reason } = await prepare(c);
      const name = unique('badfile');
      const result = await c.run(createArgs(name, '--secret-file', path));
      assert.equal(result.code, 2, result.stderr);
      assert.match(result.stderr, new RegExp(`^error: cannot write the secret to ${path}: .*; nothing was created$`, 'm'));
      assert.match(result.stderr, reason);
      assert.deepEqual(calls(c.relay, 'POST', SUBSCRIPTIONS), []);
      assert.deepEqual(await platform.named(name), []);
      if (existsSync(path)) assert.equal(await readFile(path, 'utf8'), 'keep me\n', 'the existing file is untouched');
    });

    matrixCase(`rotate with --secret-file ${where}`, { keychain: false }, async (c) => {
      const { path, reason } = await prepare(c);
      const existing = await existingSubscription(c);
      const result = await c.run(['rotate', existing.id, '--yes', '--secret-file', path]);
      assert.equal(result.code, 2, result.stderr);
      assert.match(result.stderr, new RegExp(`^error: cannot write the secret to ${path}: .*; nothing was changed$`, 'm'));
      assert.match(result.stderr, reason);
      assert.deepEqual(calls(c.relay, 'POST', ROTATE), []);
      const after = await current(existing.id);
      assert.equal(after.secret_fingerprint, existing.secret_fingerprint);
      await c.expectNothingLost([after]);
    });
  }
});

// ---- the store failing after the platform answered: fallback file, exit 6 -----------------

describe('the store failing after the API answered: fallback file, exit 6, secret intact', { concurrency: 2 }, () => {
  matrixCase('create: the keychain goes away between the check and the store', { keychain: true, dbusRelay: true }, async (c) => {
    c.relay.setHooks({ beforeAnswer: async (exchange) => void (isCall(exchange, 'POST', SUBSCRIPTIONS) && (await c.dbus!.cut())) });
    const name = unique('kc-after');
    const result = await c.run(createArgs(name));
    assert.equal(result.code, 6, result.stderr);
    const [created] = await platform.named(name);
    assert.ok(created, 'the subscription exists');
    assert.match(result.stderr, /^error: storing the signing secret failed \(the OS keychain is not reachable: .*\); it was saved to \S+ \(mode 0600\)$/m);
    assert.match(result.stderr, new RegExp(`^hint: move it into your secret store, e\\.g\\. \`intelliauth-webhooks secret import ${created.id} < \\S+\`, then delete the file$`, 'm'));
    await expectFallbackFile(result, created);
    await c.expectNothingLost([created]);
  });

  matrixCase('rotate: the keychain goes away between the check and the store', { keychain: true, dbusRelay: true }, async (c) => {
    const existing = await existingSubscription(c);
    c.relay.setHooks({ beforeAnswer: async (exchange) => void (isCall(exchange, 'POST', ROTATE) && (await c.dbus!.cut())) });
    const result = await c.run(['rotate', existing.id, '--yes']);
    assert.equal(result.code, 6, result.stderr);
    const after = await current(existing.id);
    assert.notEqual(after.secret_fingerprint, existing.secret_fingerprint, 'rotated');
    assert.match(result.stderr, new RegExp(`^warning: the secret of ${existing.id} WAS rotated: deliveries are signed with the new secret now$`, 'm'));
    await expectFallbackFile(result, after);
    await c.expectNothingLost([after]);
  });

  matrixCase('create: the --secret-file path is taken between the check and the store', { keychain: false }, async (c) => {
    const path = join(c.home, 'dest.secret');
    c.places.files!.push(path);
    c.relay.setHooks({ beforeAnswer: async (exchange) => void (isCall(exchange, 'POST', SUBSCRIPTIONS) && (await writeFile(path, 'planted\n'))) });
    const name = unique('file-after');
    const result = await c.run(createArgs(name, '--secret-file', path));
    assert.equal(result.code, 6, result.stderr);
    const [created] = await platform.named(name);
    assert.ok(created);
    assert.match(result.stderr, /storing the signing secret failed \(refusing to overwrite existing file/);
    assert.equal(await readFile(path, 'utf8'), 'planted\n', 'the file that appeared is not overwritten');
    await expectFallbackFile(result, created);
    await c.expectNothingLost([created]);
  });

  matrixCase('rotate: the --secret-file path is taken between the check and the store', { keychain: false }, async (c) => {
    const existing = await existingSubscription(c);
    const path = join(c.home, 'dest.secret');
    c.places.files!.push(path);
    c.relay.setHooks({ beforeAnswer: async (exchange) => void (isCall(exchange, 'POST', ROTATE) && (await writeFile(path, 'planted\n'))) });
    const result = await c.run(['rotate', existing.id, '--yes', '--secret-file', path]);
    assert.equal(result.code, 6, result.stderr);
    const after = await current(existing.id);
    assert.notEqual(after.secret_fingerprint, existing.secret_fingerprint);
    assert.equal(await readFile(path, 'utf8'), 'planted\n');
    await expectFallbackFile(result, after);
    await c.expectNothingLost([after]);
  });
});

// ---- no store at all after the answer: never a subscription or rotation with its secret nowhere

describe('neither the store nor any fallback can take the secret', { concurrency: 2 }, () => {
  /** The data home and TMPDIR lie under a regular file: no fallback directory can be made in either. */
  async function noFallback(c: Case): Promise<Record<string, string>> {
    const blocked = join(c.home, 'a-file');
    await writeFile(blocked, '');
    return { XDG_DATA_HOME: join(blocked, 'data'), TMPDIR: join(blocked, 'tmp') };
  }

  matrixCase('create: the subscription is deleted again, nothing created', { keychain: false }, async (c) => {
    const path = join(c.home, 'dest.secret');
    c.relay.setHooks({ beforeAnswer: async (exchange) => void (isCall(exchange, 'POST', SUBSCRIPTIONS) && (await writeFile(path, 'planted\n'))) });
    const name = unique('nowhere');
    const result = await c.run(createArgs(name, '--secret-file', path), await noFallback(c));
    assert.equal(result.code, 2, result.stderr);
    assert.match(result.stderr, /^error: the signing secret could not be stored anywhere \(.*\); the subscription \S+ was deleted again, so nothing was created$/m);
    assert.equal(calls(c.relay, 'POST', SUBSCRIPTIONS).length, 1);
    assert.deepEqual(await platform.named(name), [], 'no subscription without its secret remains');
  });

  matrixCase('rotate: the error keeps the way to get the same secret again', { keychain: false }, async (c) => {
    const existing = await existingSubscription(c);
    const path = join(c.home, 'dest.secret');
    c.places.files!.push(path);
    c.relay.setHooks({ beforeAnswer: async (exchange) => void (isCall(exchange, 'POST', ROTATE) && (await writeFile(path, 'planted\n'))) });
    const failed = await c.run(['rotate', existing.id, '--yes', '--grace', '1h', '--secret-file', path], await noFallback(c));
    assert.notEqual(failed.code, 0, failed.stderr);
    const rotated = await current(existing.id);
    assert.notEqual(rotated.secret_fingerprint, existing.secret_fingerprint, 'the platform rotated');
    assert.match(failed.stderr, new RegExp(`the secret of ${existing.id} WAS rotated`));
    const key = /--idempotency-key ([^\s`]+)/.exec(failed.stderr)?.[1];
    assert.ok(key, `the error names the Idempotency-Key to get the answer again: ${failed.stderr}`);

    // What the message says to do, once a store works again: the same answer, the same secret.
    const retryPath = join(c.home, 'retry.secret');
    c.places.files!.push(retryPath);
    c.relay.setHooks({});
    const retried = await c.run(['rotate', existing.id, '--yes', '--grace', '1h', '--secret-file', retryPath, '--idempotency-key', key]);
    assert.equal(retried.code, 0, retried.stderr);
    const after = await current(existing.id);
    assert.equal(after.secret_fingerprint, rotated.secret_fingerprint, 'rotated once, not twice');
    assert.equal(fingerprintOf((await readFile(retryPath, 'utf8')).trimEnd()), after.secret_fingerprint);
    await c.expectNothingLost([after]);
  });
});

// ---- the answer lost on the wire: the retry under the same Idempotency-Key ----------------

describe('the API answer lost on the wire, retried under the same Idempotency-Key', { concurrency: 2 }, () => {
  const dropFirst = (match: (exchange: RelayedExchange) => boolean) => {
    let dropped = false;
    return (exchange: RelayedExchange) => {
      if (dropped || !match(exchange)) return undefined;
      dropped = true;
      return 'drop' as const;
    };
  };

  function expectOneReplayedRetry(posts: RelayedExchange[]): void {
    assert.equal(posts.length, 2, 'the call was sent twice');
    assert.equal(posts[0]!.status, 'dropped');
    const key = posts[0]!.requestHeaders['idempotency-key'];
    assert.ok(key, 'the first attempt carried an Idempotency-Key');
    assert.equal(posts[1]!.requestHeaders['idempotency-key'], key, 'the retry carried the same key');
    assert.equal(posts[1]!.responseHeaders['idempotent-replayed'], 'true', 'the platform replayed its first answer');
  }

  /** The first answer lost, every retry refused with a Retry-After beyond the CLI's budget: it gives up. */
  function loseThenRateLimit(c: Case, call: string | RegExp): void {
    let attempts = 0;
    c.relay.setHooks({
      beforeForward: (exchange) => {
        if (!isCall(exchange, 'POST', call) || ++attempts === 1) return undefined;
        return rateLimited();
      },
      // Only the platform's own answer is lost; the relay's 429s get through.
      beforeAnswer: (exchange) => (isCall(exchange, 'POST', call) && exchange.status !== 429 ? 'drop' : undefined),
    });
  }

  matrixCase('create: the answer lost and every retry refused: the printed key gets the secret', { keychain: false }, async (c) => {
    loseThenRateLimit(c, SUBSCRIPTIONS);
    const name = unique('lost-then-429');
    const path = join(c.home, 'dest.secret');
    c.places.files!.push(path);
    const args = createArgs(name, '--secret-file', path);
    const failed = await c.run(args);
    assert.equal(failed.code, 5, failed.stderr);
    assert.match(failed.stderr, /^error: too many requests, retry later/m, 'the last attempt was refused with a 429');
    const created = await platform.named(name);
    assert.equal(created.length, 1, 'the platform did create it');
    const key = /--idempotency-key ([^\s`]+)/.exec(failed.stderr)?.[1];
    assert.ok(key, `the error names the Idempotency-Key that gets the lost answer again: ${failed.stderr}`);
    assert.equal(key, calls(c.relay, 'POST', SUBSCRIPTIONS)[0]!.requestHeaders['idempotency-key']);
    c.relay.setHooks({});
    const retried = await c.run([...args, '--idempotency-key', key]);
    assert.equal(retried.code, 0, retried.stderr);
    const found = await platform.named(name);
    assert.equal(found.length, 1, 'still one subscription');
    assert.equal(fingerprintOf((await readFile(path, 'utf8')).trimEnd()), found[0]!.secret_fingerprint);
    await c.expectNothingLost(found);
  });

  matrixCase('rotate: the answer lost and every retry refused: the printed key gets the secret', { keychain: false }, async (c) => {
    const existing = await existingSubscription(c);
    loseThenRateLimit(c, ROTATE);
    const path = join(c.home, 'dest.secret');
    c.places.files!.push(path);
    const args = ['rotate', existing.id, '--yes', '--secret-file', path];
    const failed = await c.run(args);
    assert.equal(failed.code, 5, failed.stderr);
    assert.match(failed.stderr, /^error: too many requests, retry later/m, 'the last attempt was refused with a 429');
    const rotated = await current(existing.id);
    assert.notEqual(rotated.secret_fingerprint, existing.secret_fingerprint, 'the platform did rotate');
    const key = /--idempotency-key ([^\s`]+)/.exec(failed.stderr)?.[1];
    assert.ok(key, `the error names the Idempotency-Key that gets the lost answer again: ${failed.stderr}`);
    c.relay.setHooks({});
    const retried = await c.run([...args, '--idempotency-key', key]);
    assert.equal(retried.code, 0, retried.stderr);
    const after = await current(existing.id);
    assert.equal(after.secret_fingerprint, rotated.secret_fingerprint, 'rotated once');
    assert.equal(fingerprintOf((await readFile(path, 'utf8')).trimEnd()), after.secret_fingerprint);
    await c.expectNothingLost([after]);
  });

  matrixCase('create: one subscription, its secret stored once', { keychain: true }, async (c) => {
    c.relay.setHooks({ beforeAnswer: dropFirst((exchange) => isCall(exchange, 'POST', SUBSCRIPTIONS)) });
    const name = unique('lost-answer');
    const result = await c.run(createArgs(name, '--json'));
    assert.equal(result.code, 0, result.stderr);
    expectOneReplayedRetry(calls(c.relay, 'POST', SUBSCRIPTIONS));
    const found = await platform.named(name);
    assert.equal(found.length, 1, 'exactly one subscription');
    assert.equal(JSON.parse(result.stdout).id, found[0]!.id);
    const copies = await findStoredSecrets(found[0]!.id, c.places);
    assert.deepEqual(copies.map((copy) => copy.place), ['keychain'], 'stored once, in the keychain, no fallback');
    assert.equal(fingerprintOf(copies[0]!.secret), found[0]!.secret_fingerprint);
    await c.expectNothingLost(found);
  });

  matrixCase('rotate: rotated once, the new secret stored once', { keychain: true }, async (c) => {
    const existing = await existingSubscription(c);
    c.relay.setHooks({ beforeAnswer: dropFirst((exchange) => isCall(exchange, 'POST', ROTATE)) });
    const result = await c.run(['rotate', existing.id, '--yes', '--json']);
    assert.equal(result.code, 0, result.stderr);
    expectOneReplayedRetry(calls(c.relay, 'POST', ROTATE));
    const after = await current(existing.id);
    assert.equal(JSON.parse(result.stdout).secret_fingerprint, after.secret_fingerprint);
    const copies = await findStoredSecrets(existing.id, c.places);
    const matching = copies.filter((copy) => fingerprintOf(copy.secret) === after.secret_fingerprint);
    assert.deepEqual(matching.map((copy) => copy.place), ['keychain']);
    await c.expectNothingLost([after]);
  });

  test('the emulator\'s own reset-after-processing fault on create and on rotate', CASE_TIMEOUT, async (t) => {
    if (!(await requireKeychain(t)) || !requireCommand(t, 'secret-tool')) return;
    // A seed whose draws, in this home (no cached token yet), give: token ok, event-types ok,
    // create reset, create retry ok; then (token cached) GET ok, rotate reset, rotate retry ok.
    const pattern: Array<FaultKind | null> = [null, null, 'reset', null, null, 'reset', null];
    const seed = seedFor(pattern, 0.5);
    const faulty = await startEmulatorProcess(['--allow-private-targets', '--fault-rate', '0.5', '--seed', seed]);
    extraEmulators.push(faulty);
    const c = await openCase('emulator reset fault', { keychain: true, direct: faulty });
    figures.cases += 2;
    try {
      const name = unique('reset');
      const created = await c.run(createArgs(name, '--json'));
      assert.equal(created.code, 0, created.stderr);
      const id = JSON.parse(created.stdout).id as string;
      const rotated = await c.run(['rotate', id, '--yes', '--json']);
      assert.equal(rotated.code, 0, rotated.stderr);
      const resets = faulty.log().split('\n').filter((line) => line.includes('fault injected: reset'));
      assert.deepEqual(
        resets.map((line) => line.replace(/^.*fault injected: reset on /, '').replace(id, 'ID')),
        [`POST ${SUBSCRIPTIONS}`, `POST ${SUBSCRIPTIONS}/ID/rotate-secret`],
        `the resets hit the create and the rotate calls (seed ${seed} was chosen for the requests token, event-types, create, create, get, rotate, rotate)`,
      );
      const view = platformClient(faulty);
      const found = await view.named(name);
      assert.equal(found.length, 1, 'exactly one subscription');
      assert.equal(found[0]!.id, id);
      assert.equal(JSON.parse(rotated.stdout).secret_fingerprint, found[0]!.secret_fingerprint);
      const copies = await findStoredSecrets(id, c.places);
      assert.deepEqual(copies.map((copy) => copy.place), ['keychain']);
      await c.expectNothingLost(found);
    } finally {
      await c.relay.close();
    }
  });
});

/** A 429 whose Retry-After is beyond the CLI's time budget: it stops retrying at once. */
function rateLimited(): CannedAnswer {
  const body = JSON.stringify({ error: 'rate_limited', message: 'too many requests, retry later', request_id: 'req_relay' });
  return { status: 429, headers: { 'content-type': 'application/json', 'retry-after': '120' }, body };
}

/** The first seed whose fault draws, one per request in order, follow `pattern`. */
function seedFor(pattern: Array<FaultKind | null>, rate: number): string {
  for (let n = 0; n < 1_000_000; n += 1) {
    const seed = `secrets-lost-${n}`;
    const next = createFaultInjector(rate, seed);
    if (pattern.every((expected) => next() === expected)) return seed;
  }
  throw new Error('no seed gives that fault pattern');
}

// ---- SIGINT and SIGTERM at each stage -----------------------------------------------------

type Stage = 'before the call' | 'while the call is in flight' | 'after the answer, while storing';

describe('SIGINT and SIGTERM at each stage: nothing created, or the secret stored, and the message says which', { concurrency: 3 }, () => {
  const stages: Stage[] = ['before the call', 'while the call is in flight', 'after the answer, while storing'];
  for (const command of ['create', 'rotate'] as const) {
    for (const signal of ['SIGINT', 'SIGTERM'] as const) {
      for (const stage of stages) {
        // SIGINT cases store in the keychain, SIGTERM cases in a file: both destinations see every stage.
        const destination = signal === 'SIGINT' ? 'keychain' : 'file';
        matrixCase(`${command}: ${signal} ${stage} (${destination})`, { keychain: destination === 'keychain' }, async (c) => {
          await signalCase(c, command, [signal], stage, destination);
        });
      }
    }
    matrixCase(`${command}: SIGINT then SIGTERM while the call is in flight (keychain)`, { keychain: true }, async (c) => {
      await signalCase(c, command, ['SIGINT', 'SIGTERM'], 'while the call is in flight', 'keychain');
    });
    matrixCase(`${command}: SIGINT then SIGTERM while the call is in flight, its answer lost, every retry refused`, { keychain: false }, async (c) => {
      const existing = command === 'rotate' ? await existingSubscription(c) : undefined;
      const call = command === 'create' ? SUBSCRIPTIONS : ROTATE;
      let attempts = 0;
      c.relay.setHooks({
        beforeForward: async (exchange) => {
          if (!isCall(exchange, 'POST', call)) return undefined;
          attempts += 1;
          if (attempts > 1) return rateLimited();
          signalIfRunning(c.current?.child, 'SIGINT');
          await sleep(100);
          signalIfRunning(c.current?.child, 'SIGTERM');
          await sleep(300);
          return undefined;
        },
        beforeAnswer: (exchange) => (isCall(exchange, 'POST', call) && exchange.status !== 429 ? 'drop' : undefined),
      });
      const name = unique('sig-lost');
      const path = join(c.home, 'dest.secret');
      c.places.files!.push(path);
      const args = existing ? ['rotate', existing.id, '--yes', '--secret-file', path] : createArgs(name, '--secret-file', path);
      const failed = await c.run(args);
      // 5 (unknown outcome), or 130 when the second signal ends the process right after the call.
      assert.ok([5, 130].includes(failed.code ?? -1), `exit ${failed.code}: ${failed.stderr}`);
      assert.match(failed.stderr, /^error: too many requests, retry later/m, 'the outcome is said before the process ends');
      const key = /--idempotency-key ([^\s`]+)/.exec(failed.stderr)?.[1];
      assert.ok(key, `the error names the Idempotency-Key that gets the lost answer again: ${failed.stderr}`);
      c.relay.setHooks({});
      const retried = await c.run([...args, '--idempotency-key', key]);
      assert.equal(retried.code, 0, retried.stderr);
      const subscription = existing ? await current(existing.id) : (await platform.named(name))[0];
      assert.ok(subscription);
      if (existing) assert.notEqual(subscription.secret_fingerprint, existing.secret_fingerprint);
      assert.equal(fingerprintOf((await readFile(path, 'utf8')).trimEnd()), subscription.secret_fingerprint);
      await c.expectNothingLost([subscription]);
    });
    matrixCase(`${command}: SIGTERM after the answer while the keychain fails: the fallback file`, { keychain: true, dbusRelay: true }, async (c) => {
      const existing = command === 'rotate' ? await existingSubscription(c) : undefined;
      const call = command === 'create' ? SUBSCRIPTIONS : ROTATE;
      c.relay.setHooks({
        beforeAnswer: async (exchange) => {
          if (!isCall(exchange, 'POST', call)) return;
          await c.dbus!.cut();
          signalIfRunning(c.current?.child, 'SIGTERM');
          await sleep(100);
        },
      });
      const name = unique('sig-fallback');
      const result = await c.run(existing ? ['rotate', existing.id, '--yes'] : createArgs(name));
      assert.equal(result.code, 6, result.stderr);
      const subscription = existing ? await current(existing.id) : (await platform.named(name))[0];
      assert.ok(subscription);
      assert.match(result.stderr, /^error: storing the signing secret failed .*; it was saved to \S+ \(mode 0600\)$/m);
      await expectFallbackFile(result, subscription);
      await c.expectNothingLost([subscription]);
    });
  }
});

async function signalCase(c: Case, command: 'create' | 'rotate', signals: NodeJS.Signals[], stage: Stage, destination: 'keychain' | 'file'): Promise<void> {
  const existing = command === 'rotate' ? await existingSubscription(c) : undefined;
  const call = command === 'create' ? SUBSCRIPTIONS : ROTATE;
  const send = async (pauseMs: number) => {
    for (const [index, signal] of signals.entries()) {
      if (index > 0) await sleep(100);
      signalIfRunning(c.current?.child, signal);
    }
    await sleep(pauseMs);
  };
  let signalled = false;
  const once = async (pauseMs: number) => {
    if (signalled) return;
    signalled = true;
    await send(pauseMs);
  };
  if (stage === 'before the call') c.relay.setHooks({ beforeForward: () => once(400) });
  if (stage === 'while the call is in flight') c.relay.setHooks({ beforeForward: (exchange) => (isCall(exchange, 'POST', call) ? once(400) : undefined) });
  if (stage === 'after the answer, while storing') c.relay.setHooks({ beforeAnswer: async (exchange) => void (isCall(exchange, 'POST', call) && (await once(50))) });

  const path = join(c.home, 'dest.secret');
  c.places.files!.push(path);
  const destinationArgs = destination === 'file' ? ['--secret-file', path] : [];
  const name = unique('signal');
  const result = await c.run(existing ? ['rotate', existing.id, '--yes', ...destinationArgs] : createArgs(name, ...destinationArgs));
  assert.ok(signalled, 'the signal was sent');
  assert.equal(result.code, 130, `exit 130 after ${signals.join('+')}: ${result.stderr}`);
  const posts = calls(c.relay, 'POST', call);
  const subscription = existing ? await current(existing.id) : (await platform.named(name))[0];

  if (stage === 'before the call') {
    assert.deepEqual(posts, [], 'the call was never made');
    if (existing) {
      assert.equal(subscription!.secret_fingerprint, existing.secret_fingerprint, 'not rotated');
      assert.match(result.stderr, /^error: interrupted.*; nothing was (changed|rotated)$/m);
      await c.expectNothingLost([subscription!]);
    } else {
      assert.equal(subscription, undefined, 'nothing created');
      assert.match(result.stderr, /^error: interrupted.*; nothing was created$/m);
    }
    return;
  }
  assert.equal(posts.length, 1, 'the call was made once');
  assert.ok(subscription, 'the subscription exists');
  if (existing) assert.notEqual(subscription.secret_fingerprint, existing.secret_fingerprint, 'rotated');
  const where = destination === 'keychain' ? 'the OS keychain' : `file ${path}`;
  const what = existing ? `the secret of ${subscription.id} was rotated` : `${subscription.id} was created`;
  assert.match(result.stderr, new RegExp(`^warning: interrupted, but only after ${escape(what)}; its (new )?signing secret is in ${escape(where)}$`, 'm'));
  const copies = await findStoredSecrets(subscription.id, c.places);
  const stored = copies.find((copy) => copy.place === (destination === 'keychain' ? 'keychain' : path));
  assert.ok(stored, `the secret is in ${where}`);
  assert.equal(fingerprintOf(stored.secret), subscription.secret_fingerprint);
  if (destination === 'file') assert.equal(await fileMode(path), 0o600);
  await c.expectNothingLost([subscription]);
}

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

// ---- an emulator answering 30 % of requests with faults ------------------------------------

describe('--fault-rate 0.3: every create and rotate ends stored and matching, or cleanly with nothing done', () => {
  const OPERATIONS = 10;
  const PARALLEL = 4;
  let faulty: EmulatorProcess;
  let view: PlatformClient;
  interface Operated {
    c: Case;
    name: string;
    id?: string;
    /** The platform fingerprint the last audit of this subscription found stored here. */
    audited?: string;
  }
  const operated: Operated[] = [];

  before(async () => {
    faulty = await startEmulatorProcess(['--allow-private-targets', '--plan', 'enterprise', '--fault-rate', '0.3', '--seed', 'secrets-lost-fault-run']);
    extraEmulators.push(faulty);
    view = platformClient(faulty);
  });

  /** Runs `work` for 0..count-1, at most PARALLEL at a time (the faults are mostly waiting: stalls, Retry-After). */
  async function pool(count: number, work: (n: number) => Promise<void>): Promise<void> {
    let next = 0;
    const worker = async () => {
      while (next < count) await work(next++);
    };
    await Promise.all(Array.from({ length: Math.min(PARALLEL, count) }, worker));
  }

  /**
   * Runs one create or rotate; on a failure after which the platform did act (its answer lost
   * on the wire, every retry failing too), follows the tool's own hint: the same command with
   * the printed --idempotency-key.
   */
  async function runWithRecovery(c: Case, args: string[], platformActed: () => Promise<boolean>): Promise<CliResult> {
    let result = await c.run(args);
    for (let retry = 1; result.code !== 0 && retry <= 4; retry += 1) {
      assert.equal(result.code, 5, `a fault ends with exit 5 (API unavailable), not another code: ${result.stderr}`);
      if (!(await platformActed())) return result;
      const key = /--idempotency-key ([^\s`]+)/.exec(result.stderr)?.[1];
      assert.ok(key, `the platform acted, and the error names the Idempotency-Key that gets its answer again: ${result.stderr}`);
      figures.recovered += 1;
      result = await c.run([...args, '--idempotency-key', key]);
    }
    return result;
  }

  async function audit(entry: Operated, subscription: PlatformSubscription): Promise<void> {
    await entry.c.expectNothingLost([subscription]);
    entry.audited = subscription.secret_fingerprint;
  }

  test(`${OPERATIONS} creates`, { timeout: 90_000 }, async (t) => {
    if (!(await requireKeychain(t)) || !requireCommand(t, 'secret-tool')) return;
    await pool(OPERATIONS, async (n) => {
      const c = await openCase(`fault-run create ${n}`, { keychain: true, direct: faulty });
      figures.cases += 1;
      const entry: Operated = { c, name: unique(`fault-${n}`) };
      operated.push(entry);
      const path = join(c.home, 'create.secret');
      c.places.files!.push(path);
      const args = createArgs(entry.name, ...(n % 2 === 0 ? [] : ['--secret-file', path]));
      const result = await runWithRecovery(c, args, async () => (await view.named(entry.name)).length > 0);
      const found = await view.named(entry.name);
      assert.ok(found.length <= 1, 'never two subscriptions for one create');
      if (result.code === 0) {
        assert.equal(found.length, 1, result.stderr);
        entry.id = found[0]!.id;
        await audit(entry, found[0]!);
      } else {
        assert.deepEqual(found, [], `a failed create left nothing behind: ${result.stderr}`);
      }
    });
  });

  test(`${OPERATIONS} rotates`, { timeout: 90_000 }, async (t) => {
    if (!(await requireKeychain(t)) || !requireCommand(t, 'secret-tool')) return;
    const targets = operated.filter((entry) => entry.id !== undefined);
    assert.ok(targets.length >= OPERATIONS / 2, `most creates succeeded (${targets.length})`);
    // One rotation per subscription at a time; a second round when some creates failed cleanly.
    const rounds = Array.from({ length: OPERATIONS }, (_, k) => targets[k % targets.length]!);
    await pool(Math.min(OPERATIONS, targets.length), async (k) => {
      for (let round = k; round < OPERATIONS; round += targets.length) {
        const entry = rounds[round]!;
        const { c } = entry;
        figures.cases += 1;
        const before = entry.audited!;
        const path = join(c.home, `rotate-${round}.secret`);
        c.places.files!.push(path);
        const args = ['rotate', entry.id!, '--yes', ...(round % 2 === 0 ? [] : ['--secret-file', path])];
        const result = await runWithRecovery(c, args, async () => (await view.get(entry.id!))!.secret_fingerprint !== before);
        const after = (await view.get(entry.id!))!;
        if (result.code === 0) assert.notEqual(after.secret_fingerprint, before, 'rotated');
        else assert.equal(after.secret_fingerprint, before, `a failed rotate changed nothing: ${result.stderr}`);
        await audit(entry, after);
      }
    });
  });

  test('afterwards: every subscription on the platform was audited as it is now, and faults did happen', { timeout: 60_000 }, async (t) => {
    if (!(await requireKeychain(t)) || !requireCommand(t, 'secret-tool')) return;
    const injected = faulty.log().split('\n').filter((line) => line.includes('fault injected')).length;
    t.diagnostic(`fault run: ${injected} faults injected, ${figures.recovered} lost answers recovered with the printed --idempotency-key`);
    assert.ok(injected >= 5, `the run met faults (${injected})`);
    for (const subscription of await view.all()) {
      const entry = operated.find((candidate) => candidate.id === subscription.id || candidate.name === subscription.name);
      assert.ok(entry, `${subscription.id} was made by this run`);
      if (entry.audited !== subscription.secret_fingerprint) await audit(entry, subscription);
    }
    await Promise.all(operated.map(({ c }) => c.relay.close()));
  });
});

// ---- the figure, last ----------------------------------------------------------------------

test('figure: secrets lost', (t) => {
  if (!keychainUsable) t.diagnostic('no usable OS keychain: the keychain cases were skipped (run the tests through scripts/with-keyring.sh)');
  t.diagnostic(`secrets-lost: cases ${figures.cases}, secrets lost ${lost.size}`);
  assert.deepEqual([...lost.values()], []);
  assert.ok(figures.cases > 0, 'cases ran');
});

