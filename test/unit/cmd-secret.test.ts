import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import {
  secretCommand,
  type SecretDeleteOptions,
  type SecretExecOptions,
  type SecretImportOptions,
  type SecretRevealOptions,
  type SecretStatusOptions,
} from '../../src/commands/secret/index.ts';
import { run as statusRun, type SecretStatusReport } from '../../src/commands/secret/status.ts';
import { run as execRun } from '../../src/commands/secret/exec.ts';
import { run as importRun } from '../../src/commands/secret/import.ts';
import { run as deleteRun } from '../../src/commands/secret/delete.ts';
import { run as revealRun } from '../../src/commands/secret/reveal.ts';
import type { Context } from '../../src/cli/context.ts';
import { paths, type CreatedSubscription } from '../../src/domain/contract.ts';
import { secretFingerprint } from '../../src/domain/signature.ts';
import { CheckFailedError, exitCodeFor, NotFoundError, SecretStoreError, UsageError } from '../../src/errors.ts';
import { main } from '../../src/main.ts';
import { MemorySecretStore } from '../../src/secrets/memory-store.ts';
import { handOffSecret, importSigningSecret, indexEntry } from '../../src/secrets/signing-secrets.ts';
import { optionsFor, startSubscriptionFixture, type SubscriptionFixture } from '../helpers/subscriptions.ts';

const parse = <T>(argv: string[]) => optionsFor<T>(secretCommand, ['secret', ...argv]);
const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex');
const MISSING = 'whsub_01NOSUCHSUBSCRIPTION00000';
const WRONG_SECRET = 'whsec_notTheRightOne_000000000000000000000000';
const KEYCHAIN = { secretStore: 'keychain', secretStoreExplicit: false, secretFile: undefined } as const;

/** A child that reports (as hashes) what it got in its environment, then exits with EXIT_WITH. */
const REPORTING_CHILD = [
  "const { createHash } = require('node:crypto');",
  "const h = (v) => v === undefined ? null : createHash('sha256').update(v, 'utf8').digest('hex');",
  'require("node:fs").writeFileSync(process.argv[1], JSON.stringify({',
  '  current: h(process.env.INTELLIAUTH_WEBHOOK_SECRET),',
  '  previous: h(process.env.INTELLIAUTH_WEBHOOK_SECRET_PREVIOUS),',
  '  argv: process.argv.slice(1),',
  '}));',
  'process.exit(Number(process.env.EXIT_WITH || 0));',
].join('\n');

/** A child that says it is ready, then on a signal records it and exits with 40 + its number. */
const SIGNAL_CHILD = [
  "const fs = require('node:fs');",
  "const { constants } = require('node:os');",
  "for (const name of ['SIGTERM', 'SIGHUP', 'SIGINT']) process.on(name, () => { fs.writeFileSync(process.argv[1] + '.got', name); process.exit(40 + constants.signals[name]); });",
  "fs.writeFileSync(process.argv[1] + '.ready', 'ready');",
  'setTimeout(() => process.exit(99), 15000);',
].join('\n');

async function waitForFile(path: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!existsSync(path)) {
    if (Date.now() > deadline) throw new Error(`${path} did not appear`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('secret: argv to options', () => {
  test('status, import, delete, reveal', async () => {
    assert.deepEqual(await parse<SecretStatusOptions>(['status', 'whsub_1']), { id: 'whsub_1' });
    assert.deepEqual(await parse<SecretImportOptions>(['import', 'whsub_1']), { id: 'whsub_1', force: false, destination: KEYCHAIN });
    assert.deepEqual(await parse<SecretImportOptions>(['import', 'whsub_1', '--force']), { id: 'whsub_1', force: true, destination: KEYCHAIN });
    assert.deepEqual(await parse<SecretImportOptions>(['import', 'whsub_1', '--secret-file', 'x.secret']), {
      id: 'whsub_1',
      force: false,
      destination: { secretStore: 'file', secretStoreExplicit: true, secretFile: 'x.secret' },
    });
    await assert.rejects(parse<SecretImportOptions>(['import', 'whsub_1', '--secret-store', 'stdout']), /Allowed choices are keychain, file/);
    assert.deepEqual(await parse<SecretDeleteOptions>(['delete', 'whsub_1', '-y']), { id: 'whsub_1', yes: true });
    assert.deepEqual(await parse<SecretRevealOptions>(['reveal', 'whsub_1']), { id: 'whsub_1', yes: false });
    assert.deepEqual(await parse<SecretRevealOptions>(['reveal', '--yes', 'whsub_1']), { id: 'whsub_1', yes: true });
  });

  test('exec: everything after -- belongs to the command, options included', async () => {
    assert.deepEqual(await parse<SecretExecOptions>(['exec', 'whsub_1', '--', 'node', 'server.js', '--json', '-q', '--port', '3000']), {
      id: 'whsub_1',
      command: 'node',
      args: ['server.js', '--json', '-q', '--port', '3000'],
    });
  });

  test('exec: without -- it is refused, with or without options for the command', async () => {
    for (const argv of [['exec', 'whsub_1', 'node', 'server.js'], ['exec', 'whsub_1', 'sh', '-c', 'true']]) {
      await assert.rejects(parse(argv), (error) => error instanceof UsageError && /put -- before the command to run/.test(error.message));
    }
    await assert.rejects(parse(['exec', 'whsub_1', '--']), (error: { code?: string }) => error.code === 'commander.missingArgument');
  });
});

describe('secret commands against the emulator', () => {
  let fixture: SubscriptionFixture;
  let scratch: string;

  before(async () => {
    fixture = await startSubscriptionFixture();
    scratch = await mkdtemp(join(tmpdir(), 'iaw-secret-unit-'));
  });
  after(async () => {
    await fixture.close();
    await rm(scratch, { recursive: true, force: true });
  });

  /** A subscription whose secret is stored in a fresh memory store. */
  async function stored(): Promise<{ sub: CreatedSubscription; store: MemorySecretStore; context: (options?: Parameters<SubscriptionFixture['context']>[0]) => ReturnType<SubscriptionFixture['context']> }> {
    const sub = await fixture.create();
    const store = new MemorySecretStore();
    const context = (options: Parameters<SubscriptionFixture['context']>[0] = {}) => fixture.context({ secretStore: store, ...options });
    await importSigningSecret(context().context, sub.id, sub.signing_secret);
    return { sub, store, context };
  }

  async function rotate(id: string, graceSeconds: number): Promise<{ signing_secret: string; previous_secret_expires_at: string | null }> {
    const answer = await fixture.emulator.call('POST', paths.rotateSecret(id), {
      body: { grace_period_seconds: graceSeconds },
      headers: { 'Idempotency-Key': `rotate-${id}-${Date.now()}` },
    });
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    return answer.body.data;
  }

  describe('status', () => {
    test('match: where it is, both fingerprints, exit 0', async () => {
      const { sub, context } = await stored();
      const t = context();
      await statusRun({ id: sub.id }, t.context);
      const fp = secretFingerprint(sub.signing_secret);
      assert.equal(
        t.stdout(),
        `subscription\t${sub.id}\nstate\tmatch\nstored in\tthe OS keychain\nlocal fingerprint\t${fp}\nplatform fingerprint\t${fp}\n`,
      );
      assert.equal(t.stderr(), '');
    });

    test('--json: the report object', async () => {
      const { sub, context } = await stored();
      const t = context({ globals: { json: true } });
      await statusRun({ id: sub.id }, t.context);
      const fp = secretFingerprint(sub.signing_secret);
      assert.deepEqual(JSON.parse(t.stdout()), {
        id: sub.id,
        state: 'match',
        stored_in: { store: 'keychain', description: 'the OS keychain' },
        local_fingerprint: fp,
        platform_fingerprint: fp,
        previous: null,
        platform_previous_secret_expires_at: null,
      } satisfies SecretStatusReport);
      assert.equal(t.stdout().includes(sub.signing_secret), false);
    });

    test('missing: the report, then exit 7 saying how to get one', async () => {
      const sub = await fixture.create();
      const t = fixture.context({ globals: { json: true } });
      await assert.rejects(statusRun({ id: sub.id }, t.context), (error) => {
        assert.ok(error instanceof CheckFailedError);
        assert.equal(exitCodeFor(error), 7);
        assert.equal(error.message, `no signing secret of ${sub.id} is stored on this machine`);
        assert.match(error.hint ?? '', /secret import/);
        return true;
      });
      const report = JSON.parse(t.stdout()) as SecretStatusReport;
      assert.equal(report.state, 'missing');
      assert.equal(report.stored_in, null);
    });

    test('stale: a different secret stored here; exit 7 with what to do', async () => {
      const sub = await fixture.create();
      const t = fixture.context({ tty: true });
      await importSigningSecret(t.context, sub.id, WRONG_SECRET);
      await assert.rejects(statusRun({ id: sub.id }, t.context), (error) => {
        assert.ok(error instanceof CheckFailedError);
        assert.match(error.message, new RegExp(`stale: fingerprint ${secretFingerprint(WRONG_SECRET)}, the platform signs with ${sub.secret_fingerprint}`));
        assert.match(error.hint ?? '', /import the current one with `intelliauth-webhooks secret import .*` \(reads stdin\), or rotate the secret/);
        return true;
      });
      assert.match(t.stdout(), /^state +stale$/m);
    });

    test('after a rotation with a grace period: the previous secret and its expiry', async () => {
      const { sub, store, context } = await stored();
      const rotated = await rotate(sub.id, 3600);
      assert.ok(rotated.previous_secret_expires_at);
      await handOffSecret(context().context, {
        subscriptionId: sub.id,
        secret: rotated.signing_secret,
        destination: { kind: 'keychain' },
        rotation: { previousExpiresAt: rotated.previous_secret_expires_at },
      });
      assert.equal(store.entries().size, 2);
      const t = context({ globals: { json: true } });
      await statusRun({ id: sub.id }, t.context);
      const report = JSON.parse(t.stdout()) as SecretStatusReport;
      assert.equal(report.state, 'match');
      assert.equal(report.local_fingerprint, secretFingerprint(rotated.signing_secret));
      assert.deepEqual(report.previous, { fingerprint: secretFingerprint(sub.signing_secret), expires_at: rotated.previous_secret_expires_at });
      assert.equal(report.platform_previous_secret_expires_at, rotated.previous_secret_expires_at);
    });

    test('external: handed to stdout at create; nothing to compare, exit 0', async () => {
      const sub = await fixture.create();
      const store = new MemorySecretStore();
      await handOffSecret(fixture.context({ secretStore: store }).context, { subscriptionId: sub.id, secret: sub.signing_secret, destination: { kind: 'stdout' } });
      const t = fixture.context({ secretStore: store, globals: { json: true } });
      await statusRun({ id: sub.id }, t.context);
      const report = JSON.parse(t.stdout()) as SecretStatusReport;
      assert.equal(report.state, 'external');
      assert.equal(report.stored_in?.store, 'external');
    });

    test('unreadable store: reported with the reason, exit 7', async () => {
      const { sub, store, context } = await stored();
      store.failOn.get = new SecretStoreError('the keychain is locked');
      const t = context({ globals: { json: true } });
      await assert.rejects(statusRun({ id: sub.id }, t.context), CheckFailedError);
      const report = JSON.parse(t.stdout()) as SecretStatusReport;
      assert.equal(report.state, 'unreadable');
      assert.equal(report.reason, 'the keychain is locked');
    });

    test('an unknown subscription exits 4', async () => {
      await assert.rejects(statusRun({ id: MISSING }, fixture.context().context), (error) => exitCodeFor(error) === 4 && (error as Error).message.includes(MISSING));
    });
  });

  describe('exec', () => {
    const childOptions = (out: string): Omit<SecretExecOptions, 'id'> => ({ command: process.execPath, args: ['-e', REPORTING_CHILD, out] });

    test('the command gets the secret in its environment (not argv) and its exit code comes back', async () => {
      const { sub, context } = await stored();
      const out = join(scratch, `exec-${sub.id}.json`);
      const t = context({ env: { EXIT_WITH: '3', INTELLIAUTH_WEBHOOK_SECRET_PREVIOUS: 'inherited-stale-value' } });
      const code = await execRun({ id: sub.id, ...childOptions(out) }, t.context);
      assert.equal(code, 3);
      const seen = JSON.parse(await readFile(out, 'utf8'));
      assert.equal(seen.current, sha256(sub.signing_secret));
      assert.equal(seen.previous, null, 'an inherited previous secret is not passed on');
      assert.deepEqual(seen.argv, [out]);
      assert.equal(t.stdout(), '');
      assert.equal(t.stderr(), '');
    });

    test('during a grace period the previous secret comes too', async () => {
      const { sub, context } = await stored();
      const rotated = await rotate(sub.id, 3600);
      await handOffSecret(context().context, {
        subscriptionId: sub.id,
        secret: rotated.signing_secret,
        destination: { kind: 'keychain' },
        rotation: { previousExpiresAt: rotated.previous_secret_expires_at },
      });
      const out = join(scratch, `exec-grace-${sub.id}.json`);
      assert.equal(await execRun({ id: sub.id, ...childOptions(out) }, context().context), 0);
      const seen = JSON.parse(await readFile(out, 'utf8'));
      assert.equal(seen.current, sha256(rotated.signing_secret));
      assert.equal(seen.previous, sha256(sub.signing_secret));
    });

    test('--debug names the fingerprint, never the secret', async () => {
      const { sub, context } = await stored();
      const t = context({ globals: { debug: true } });
      await execRun({ id: sub.id, ...childOptions(join(scratch, `debug-${sub.id}.json`)) }, t.context);
      assert.match(t.stderr(), new RegExp(`fingerprint ${secretFingerprint(sub.signing_secret)}`));
      assert.equal(t.stderr().includes(sub.signing_secret), false);
    });

    test('a command that is not there: 127 and one line; one that cannot run: 126', async () => {
      const { sub, context } = await stored();
      const t = context();
      assert.equal(await execRun({ id: sub.id, command: 'iaw-no-such-command-xyz', args: [] }, t.context), 127);
      assert.equal(t.stderr(), 'error: command not found: iaw-no-such-command-xyz (not in PATH)\n');
      const u = context();
      assert.equal(await execRun({ id: sub.id, command: scratch, args: [] }, u.context), 126);
      assert.match(u.stderr(), /^error: cannot run /);
    });

    test('a command ended by a signal: 128 + its number', async () => {
      const { sub, context } = await stored();
      const code = await execRun({ id: sub.id, command: process.execPath, args: ['-e', "process.kill(process.pid, 'SIGTERM')"] }, context().context);
      assert.equal(code, 143);
    });

    test('signals handed over by the context are passed to the command', async () => {
      const { sub, context } = await stored();
      const base = join(scratch, `forward-${sub.id}`);
      let forward: ((signal: NodeJS.Signals) => void) | undefined;
      const t = context();
      const forwarding: Context = {
        ...t.context,
        forwardSignals: (handler, fn) => {
          forward = handler;
          return fn();
        },
      };
      const running = execRun({ id: sub.id, command: process.execPath, args: ['-e', SIGNAL_CHILD, base] }, forwarding);
      await waitForFile(`${base}.ready`);
      forward!('SIGTERM');
      assert.equal(await running, 40 + 15);
      assert.equal(await readFile(`${base}.got`, 'utf8'), 'SIGTERM');
    });

    test('no stored secret: exit 4 and the command never runs', async () => {
      const sub = await fixture.create();
      const out = join(scratch, `never-${sub.id}.json`);
      await assert.rejects(execRun({ id: sub.id, ...childOptions(out) }, fixture.context().context), NotFoundError);
      assert.equal(existsSync(out), false);
    });

    test('through main(): SIGTERM and SIGHUP go to the command, not to us', async () => {
      const { sub, store } = await stored();
      for (const signal of ['SIGHUP', 'SIGTERM'] as const) {
        const base = join(scratch, `main-${signal}-${sub.id}`);
        const signals = new EventEmitter();
        const stdin = Object.assign(new PassThrough(), { isTTY: false });
        stdin.end();
        const stdout = new PassThrough();
        const stderr = new PassThrough();
        const running = main(['secret', 'exec', sub.id, '--', process.execPath, '-e', SIGNAL_CHILD, base], {
          streams: { stdin, stdout, stderr },
          env: { ...fixture.env(), NO_COLOR: '1' },
          signals: signals as unknown as Pick<NodeJS.Process, 'on' | 'off'>,
          overrides: { secretStore: async () => store },
        });
        await waitForFile(`${base}.ready`);
        assert.equal(signals.listenerCount('SIGHUP'), 1, 'SIGHUP is listened to while the command runs');
        signals.emit(signal, signal);
        const expected = signal === 'SIGHUP' ? 41 : 55;
        assert.equal(await running, expected);
        assert.equal(await readFile(`${base}.got`, 'utf8'), signal);
        assert.equal(signals.listenerCount('SIGHUP'), 0);
        assert.equal(signals.listenerCount('SIGTERM'), 0);
      }
    });
  });

  describe('import', () => {
    test('from stdin: first line, line end dropped, fingerprint checked, stored', async () => {
      const sub = await fixture.create();
      const store = new MemorySecretStore();
      const t = fixture.context({ secretStore: store, stdin: `${sub.signing_secret}\r\nignored second line\n` });
      await importRun({ id: sub.id, force: false, destination: KEYCHAIN }, t.context);
      assert.deepEqual([...store.entries().values()], [sub.signing_secret]);
      assert.equal((await indexEntry(t.context, sub.id))?.fingerprint, sub.secret_fingerprint);
      assert.equal(t.stdout(), '');
      assert.equal(t.stderr(), `✓ stored the signing secret of ${sub.id} in the OS keychain (fingerprint ${sub.secret_fingerprint}, matches the platform)\n`);
    });

    test('--secret-store file: a new 0600 file, recorded in the index, read back by exec; an existing file is refused before the secret is asked for', async () => {
      const sub = await fixture.create();
      const store = new MemorySecretStore();
      const path = join(fixture.home, `imported-${sub.id}.secret`);
      const destination = { secretStore: 'file', secretStoreExplicit: true, secretFile: path } as const;
      const t = fixture.context({ secretStore: store, globals: { json: true }, stdin: `${sub.signing_secret}\n` });
      await importRun({ id: sub.id, force: false, destination }, t.context);
      assert.deepEqual(JSON.parse(t.stdout()), { id: sub.id, stored_in: 'file', path, fingerprint: sub.secret_fingerprint, matches_platform: true });
      assert.equal(await readFile(path, 'utf8'), `${sub.signing_secret}\n`);
      assert.equal((await stat(path)).mode & 0o777, 0o600);
      assert.equal(store.entries().size, 0, 'nothing went to the keychain');
      assert.deepEqual(await indexEntry(t.context, sub.id), { store: 'file', path, fingerprint: sub.secret_fingerprint, stored_at: (await indexEntry(t.context, sub.id))!.stored_at });

      const again = fixture.context({ secretStore: store, stdin: `${sub.signing_secret}\n` });
      await assert.rejects(importRun({ id: sub.id, force: false, destination }, again.context), (error: Error) => {
        assert.ok(error instanceof SecretStoreError);
        assert.match(error.message, /cannot write the secret to .* refusing to overwrite existing file/);
        return true;
      });
    });

    test('--json: where it went and whether it matches', async () => {
      const sub = await fixture.create();
      const t = fixture.context({ globals: { json: true }, stdin: sub.signing_secret });
      await importRun({ id: sub.id, force: false, destination: KEYCHAIN }, t.context);
      assert.deepEqual(JSON.parse(t.stdout()), { id: sub.id, stored_in: 'keychain', fingerprint: sub.secret_fingerprint, matches_platform: true });
    });

    test('a secret that does not match the platform is refused (exit 2), nothing stored', async () => {
      const sub = await fixture.create();
      const store = new MemorySecretStore();
      const t = fixture.context({ secretStore: store, stdin: `${WRONG_SECRET}\n` });
      await assert.rejects(importRun({ id: sub.id, force: false, destination: KEYCHAIN }, t.context), (error) => {
        assert.ok(error instanceof UsageError);
        assert.equal(exitCodeFor(error), 2);
        assert.equal(error.message, `that secret's fingerprint ${secretFingerprint(WRONG_SECRET)} does not match the platform's ${sub.secret_fingerprint} for ${sub.id}; nothing was stored`);
        assert.match(error.hint ?? '', /--force/);
        return true;
      });
      assert.equal(store.entries().size, 0);
      assert.equal(await indexEntry(t.context, sub.id), null);
    });

    test('spaces around the right secret are pointed out', async () => {
      const sub = await fixture.create();
      const t = fixture.context({ stdin: `  ${sub.signing_secret} \n` });
      await assert.rejects(importRun({ id: sub.id, force: false, destination: KEYCHAIN }, t.context), (error) => error instanceof UsageError && error.hint === 'the input has spaces around the secret; remove them');
    });

    test('--force stores a mismatching secret, with a warning', async () => {
      const sub = await fixture.create();
      const store = new MemorySecretStore();
      const t = fixture.context({ secretStore: store, stdin: WRONG_SECRET, globals: { json: true } });
      await importRun({ id: sub.id, force: true, destination: KEYCHAIN }, t.context);
      assert.deepEqual([...store.entries().values()], [WRONG_SECRET]);
      assert.equal(JSON.parse(t.stdout()).matches_platform, false);
      assert.match(t.stderr(), /^warning: storing a secret whose fingerprint .* does not match the platform's .* \(--force\)$/m);
    });

    test('empty input is refused', async () => {
      const sub = await fixture.create();
      for (const stdin of ['', '\n', '   \r\n']) {
        await assert.rejects(importRun({ id: sub.id, force: false, destination: KEYCHAIN }, fixture.context({ stdin }).context), /no secret to import: the input is empty/);
      }
    });

    test('at a terminal: a masked prompt', async () => {
      const sub = await fixture.create();
      const store = new MemorySecretStore();
      const t = fixture.context({ tty: true, secretStore: store, answers: [{ match: 'Signing secret', answer: sub.signing_secret }] });
      await importRun({ id: sub.id, force: false, destination: KEYCHAIN }, t.context);
      assert.deepEqual(t.prompts, [{ kind: 'password', message: `Signing secret of ${sub.id}` }]);
      assert.deepEqual([...store.entries().values()], [sub.signing_secret]);
      assert.equal(t.stderr().includes(sub.signing_secret), false);
    });

    test('at a terminal with --no-input: refused, no prompt', async () => {
      const sub = await fixture.create();
      const t = fixture.context({ tty: true, globals: { input: false } });
      await assert.rejects(importRun({ id: sub.id, force: false, destination: KEYCHAIN }, t.context), /pipe it on stdin/);
      assert.deepEqual(t.prompts, []);
    });

    test('an unknown subscription exits 4 before anything is read', async () => {
      const t = fixture.context({ tty: true, answers: [] });
      await assert.rejects(importRun({ id: MISSING, force: false, destination: KEYCHAIN }, t.context), (error) => exitCodeFor(error) === 4);
      assert.deepEqual(t.prompts, []);
    });
  });

  describe('delete', () => {
    test('without a terminal it needs --yes (exit 2, nothing removed)', async () => {
      const { sub, store, context } = await stored();
      await assert.rejects(deleteRun({ id: sub.id, yes: false }, context().context), (error) => exitCodeFor(error) === 2 && /refusing without confirmation/.test((error as Error).message));
      assert.equal(store.entries().size, 1);
    });

    test('--yes removes the stored copies and the index entry; the subscription stays', async () => {
      const { sub, store, context } = await stored();
      const t = context({ globals: { json: true } });
      await deleteRun({ id: sub.id, yes: true }, t.context);
      assert.deepEqual(JSON.parse(t.stdout()), { id: sub.id, local_secrets_removed: ['the OS keychain'] });
      assert.equal(store.entries().size, 0);
      assert.equal(await indexEntry(t.context, sub.id), null);
      assert.equal((await fixture.emulator.call('GET', paths.subscription(sub.id))).status, 200);
      const again = context();
      await deleteRun({ id: sub.id, yes: true }, again.context);
      assert.equal(again.stderr(), `no signing secret of ${sub.id} was stored on this machine\n`);
    });

    test('at a terminal: warns, asks, and honours "no"', async () => {
      const { sub, store, context } = await stored();
      const t = context({ tty: true, answers: [{ match: 'Remove the signing secret', answer: false }] });
      await assert.rejects(deleteRun({ id: sub.id, yes: false }, t.context), /cancelled/);
      assert.match(t.stderr(), /^warning: the platform shows a signing secret only once/m);
      assert.equal(store.entries().size, 1);
      const yes = context({ tty: true, answers: [{ match: 'Remove the signing secret', answer: true }] });
      await deleteRun({ id: sub.id, yes: false }, yes.context);
      assert.equal(store.entries().size, 0);
      assert.match(yes.stderr(), new RegExp(`✓ removed the signing secret of ${sub.id} from: the OS keychain`));
    });
  });

  describe('reveal', () => {
    test('without a terminal and without --yes: exit 2, nothing printed', async () => {
      const { sub, context } = await stored();
      const t = context();
      await assert.rejects(revealRun({ id: sub.id, yes: false }, t.context), (error) => exitCodeFor(error) === 2);
      assert.equal(t.stdout(), '');
      assert.equal(t.stderr().includes(sub.signing_secret), false);
    });

    test('--yes: the secret alone on stdout, a warning on stderr', async () => {
      const { sub, context } = await stored();
      const t = context();
      await revealRun({ id: sub.id, yes: true }, t.context);
      assert.equal(t.stdout(), `${sub.signing_secret}\n`);
      assert.match(t.stderr(), /^warning: printing the signing secret of .*: whoever has it can forge deliveries/);
      assert.equal(t.stderr().includes(sub.signing_secret), false);
    });

    test('--yes --json: the secret with its fingerprint', async () => {
      const { sub, context } = await stored();
      const t = context({ globals: { json: true } });
      await revealRun({ id: sub.id, yes: true }, t.context);
      assert.deepEqual(JSON.parse(t.stdout()), {
        id: sub.id,
        signing_secret: sub.signing_secret,
        fingerprint: sub.secret_fingerprint,
        previous_signing_secret: null,
        previous_expires_at: null,
      });
    });

    test('at a terminal: asks first; "no" prints nothing', async () => {
      const { sub, context } = await stored();
      const t = context({ tty: true, answers: [{ match: 'Print the signing secret', answer: false }] });
      await assert.rejects(revealRun({ id: sub.id, yes: false }, t.context), /cancelled/);
      assert.equal(t.stdout(), '');
      assert.deepEqual(t.prompts, [{ kind: 'confirm', message: `Print the signing secret of ${sub.id} (fingerprint ${sub.secret_fingerprint}) on stdout?` }]);
    });

    test('nothing stored: exit 4 before asking', async () => {
      const sub = await fixture.create();
      const t = fixture.context({ tty: true, answers: [] });
      await assert.rejects(revealRun({ id: sub.id, yes: false }, t.context), (error) => error instanceof NotFoundError && exitCodeFor(error) === 4);
      assert.deepEqual(t.prompts, []);
    });
  });
});
