import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { rotateCommand, type RotateOptions } from '../../src/commands/rotate/index.ts';
import { run } from '../../src/commands/rotate/run.ts';
import { secretFingerprint } from '../../src/domain/signature.ts';
import { exitCodeFor, SecretFallbackError, SecretStoreError, UsageError } from '../../src/errors.ts';
import { MemorySecretStore } from '../../src/secrets/memory-store.ts';
import { importSigningSecret, indexEntry, readSigningSecrets } from '../../src/secrets/signing-secrets.ts';
import { secretAccounts } from '../../src/secrets/store.ts';
import { optionsFor, startSubscriptionFixture, type SubscriptionFixture } from '../helpers/subscriptions.ts';

const parse = (argv: string[]) => optionsFor<RotateOptions>(rotateCommand, ['rotate', ...argv]);

function options(id: string, extra: Partial<RotateOptions> = {}): RotateOptions {
  return {
    id,
    graceSeconds: 86_400,
    secretStore: 'keychain',
    secretStoreExplicit: false,
    secretFile: undefined,
    idempotencyKey: undefined,
    yes: false,
    ...extra,
  };
}

describe('rotate: argv to options', () => {
  test('defaults: 24 h of grace, the keychain, confirmation required', async () => {
    assert.deepEqual(await parse(['whsub_1']), options('whsub_1'));
  });

  test('--grace takes durations from 0 to 7 days', async () => {
    assert.equal((await parse(['whsub_1', '--grace', '90m'])).graceSeconds, 5400);
    assert.equal((await parse(['whsub_1', '--grace', '0'])).graceSeconds, 0);
    assert.equal((await parse(['whsub_1', '--grace', '7d'])).graceSeconds, 604_800);
    assert.equal((await parse(['whsub_1', '--grace', '1h30m'])).graceSeconds, 5400);
  });

  test('--grace out of range or not a duration is a one-line usage error', async () => {
    await assert.rejects(parse(['whsub_1', '--grace', '8d']), { name: 'UsageError', message: '--grace must be at most 7d (604800 s), got "8d"' });
    await assert.rejects(parse(['whsub_1', '--grace', 'soon']), (error: Error) => error instanceof UsageError && /--grace must be a duration like/.test(error.message));
    await assert.rejects(parse(['whsub_1', '--grace', '1.5s']), /whole number of seconds/);
  });

  test('secret destination flags, as create takes them', async () => {
    const file = await parse(['whsub_1', '--secret-file', 'new.secret', '--yes']);
    assert.equal(file.secretStore, 'file');
    assert.equal(file.secretFile, 'new.secret');
    assert.equal(file.secretStoreExplicit, true);
    assert.equal(file.yes, true);
    assert.equal((await parse(['whsub_1', '--secret-store', 'stdout'])).secretStore, 'stdout');
    await assert.rejects(parse(['whsub_1', '--secret-store', 'stdout', '--secret-file', 'x']), /--secret-file goes with --secret-store file/);
    await assert.rejects(parse(['whsub_1', '--secret-store', 'vault']), (error: { code?: string }) => error.code === 'commander.invalidArgument');
  });

  test('--idempotency-key is checked', async () => {
    assert.equal((await parse(['whsub_1', '--idempotency-key', 'retry-1'])).idempotencyKey, 'retry-1');
    await assert.rejects(parse(['whsub_1', '--idempotency-key', 'has space']), UsageError);
  });
});

describe('rotate: against the emulator', () => {
  let fixture: SubscriptionFixture;
  before(async () => {
    fixture = await startSubscriptionFixture();
  });
  after(() => fixture.close());

  const host = () => new URL(fixture.emulator.tenantUrl).host;
  const fingerprintOnPlatform = async (id: string) => (await fixture.emulator.call('GET', `/api/v1/webhooks/subscriptions/${id}`)).body.data.secret_fingerprint as string;

  test('no terminal and no --yes: refused before any call, nothing rotated', async () => {
    const sub = await fixture.create();
    const store = new MemorySecretStore();
    const t = fixture.context({ secretStore: store });
    await assert.rejects(run(options(sub.id), t.context), (error: Error) => {
      assert.ok(error instanceof UsageError);
      assert.equal(error.message, `Rotate the signing secret of ${sub.id}: refusing without confirmation`);
      assert.equal(exitCodeFor(error), 2);
      return true;
    });
    assert.deepEqual(store.calls, [], 'not even the keychain was touched');
    assert.equal(await fingerprintOnPlatform(sub.id), secretFingerprint(sub.signing_secret));
  });

  test('at a terminal: shows name, URL and the grace, and a "no" changes nothing', async () => {
    const sub = await fixture.create({ name: 'billing', url: 'https://billing.example.com/hooks' });
    const t = fixture.context({ tty: true, answers: [{ match: 'Rotate the signing secret', answer: false }] });
    await assert.rejects(run(options(sub.id, { graceSeconds: 7200 }), t.context), { message: 'cancelled; nothing was changed' });
    assert.equal(t.prompts.length, 1);
    assert.equal(t.prompts[0]!.message, `Rotate the signing secret of ${sub.id} now?`);
    assert.match(t.stderr(), new RegExp(`Rotating the signing secret of ${sub.id} "billing" \\(https://billing\\.example\\.com/hooks\\)`));
    assert.match(t.stderr(), /For 2h \(until about .* UTC\)\) they also carry X-IntelliAuth-Signature-Previous/);
    assert.match(t.stderr(), /The new secret goes to the OS keychain/);
    assert.equal(await fingerprintOnPlatform(sub.id), secretFingerprint(sub.signing_secret));
  });

  test('at a terminal, confirmed: the new secret is stored and the previous one kept until the grace ends', async () => {
    const sub = await fixture.create();
    const store = new MemorySecretStore();
    const t = fixture.context({ tty: true, secretStore: store, answers: [{ match: 'Rotate', answer: true }] });
    await importSigningSecret(t.context, sub.id, sub.signing_secret);
    await run(options(sub.id, { graceSeconds: 3600 }), t.context);

    const account = secretAccounts.signingSecret(host(), sub.id);
    const current = store.entries().get(account)!;
    assert.notEqual(current, sub.signing_secret);
    assert.equal(await fingerprintOnPlatform(sub.id), secretFingerprint(current));
    assert.equal(store.entries().get(secretAccounts.previousSigningSecret(host(), sub.id)), sub.signing_secret);

    const stored = await readSigningSecrets(t.context, sub.id);
    assert.equal(stored.current, current);
    assert.equal(stored.previous, sub.signing_secret);
    assert.match(t.stdout(), new RegExp(`secret fingerprint +${secretFingerprint(current)}`));
    assert.match(t.stderr(), /Deliveries are signed with the new secret from now on/);
    assert.match(t.stderr(), /deliveries also carry X-IntelliAuth-Signature-Previous/);
    assert.ok(t.stderr().includes(`secret exec ${sub.id} -- <your receiver command>`));
    for (const text of [t.stdout(), t.stderr()]) {
      assert.equal(text.includes(current), false);
      assert.equal(text.includes(sub.signing_secret), false);
    }

    // Once the grace has ended, reading the secrets forgets the previous one.
    const later = fixture.context({ secretStore: store, now: () => Date.now() + 2 * 3600_000 });
    const afterGrace = await readSigningSecrets(later.context, sub.id);
    assert.equal(afterGrace.current, current);
    assert.equal(afterGrace.previous, null);
    assert.equal(store.entries().has(secretAccounts.previousSigningSecret(host(), sub.id)), false);
    assert.equal((await indexEntry(later.context, sub.id))?.previous, undefined);
  });

  test('--grace 0 warns that the old secret stops at once and keeps nothing', async () => {
    const sub = await fixture.create();
    const store = new MemorySecretStore();
    const t = fixture.context({ tty: true, secretStore: store, answers: [{ match: 'Rotate', answer: true }] });
    await importSigningSecret(t.context, sub.id, sub.signing_secret);
    await run(options(sub.id, { graceSeconds: 0 }), t.context);
    assert.match(t.stderr(), /warning: --grace 0: the current secret stops at once/);
    assert.match(t.stderr(), /The previous secret stopped at once/);
    assert.equal(store.entries().has(secretAccounts.previousSigningSecret(host(), sub.id)), false);
    assert.equal((await readSigningSecrets(t.context, sub.id)).previous, null);
  });

  test('a rotation during a running grace says the older grace ends', async () => {
    const sub = await fixture.create();
    const first = fixture.context({ globals: { json: true } });
    await run(options(sub.id, { yes: true, graceSeconds: 3600 }), first.context);
    const t = fixture.context({ tty: true, answers: [{ match: 'Rotate', answer: false }] });
    await assert.rejects(run(options(sub.id), t.context), UsageError);
    assert.match(t.stderr(), /the grace period of an earlier rotation \(until .*\) ends now/);
  });

  test('--json: subscription id, grace end, fingerprint and location; never the secret', async () => {
    const sub = await fixture.create();
    const store = new MemorySecretStore();
    const t = fixture.context({ secretStore: store, globals: { json: true } });
    await run(options(sub.id, { yes: true, graceSeconds: 600 }), t.context);
    const output = JSON.parse(t.stdout());
    const current = store.entries().get(secretAccounts.signingSecret(host(), sub.id))!;
    assert.deepEqual(Object.keys(output).sort(), ['previous_secret_expires_at', 'secret_fingerprint', 'secret_location', 'subscription_id']);
    assert.equal(output.subscription_id, sub.id);
    assert.equal(output.secret_fingerprint, secretFingerprint(current));
    assert.deepEqual(output.secret_location, { store: 'keychain' });
    const expires = Date.parse(output.previous_secret_expires_at);
    assert.ok(Math.abs(expires - (Date.now() + 600_000)) < 60_000);
    assert.equal(t.stdout().includes(current), false);
    assert.equal(t.stderr().includes(current), false);
  });

  test('the same --idempotency-key rotates once: the second run gets the first answer', async () => {
    const sub = await fixture.create();
    const key = `unit-${Date.now()}`;
    const a = fixture.context({ globals: { json: true } });
    await run(options(sub.id, { yes: true, idempotencyKey: key }), a.context);
    const b = fixture.context({ globals: { json: true } });
    await run(options(sub.id, { yes: true, idempotencyKey: key }), b.context);
    assert.equal(JSON.parse(b.stdout()).secret_fingerprint, JSON.parse(a.stdout()).secret_fingerprint);
    assert.equal(await fingerprintOnPlatform(sub.id), JSON.parse(a.stdout()).secret_fingerprint);
  });

  test('an unusable keychain is found before the call: nothing rotated', async () => {
    const sub = await fixture.create();
    const store = new MemorySecretStore({ failOn: { probe: new SecretStoreError('no Secret Service') } });
    const t = fixture.context({ secretStore: store });
    await assert.rejects(run(options(sub.id, { yes: true }), t.context), (error: Error) => {
      assert.ok(error instanceof SecretStoreError);
      assert.match(error.message, /the OS keychain cannot store the secret: no Secret Service; nothing was changed/);
      return true;
    });
    assert.equal(await fingerprintOnPlatform(sub.id), secretFingerprint(sub.signing_secret));
  });

  test('storing fails after the platform answered: fallback file, exit 6, and the rotation is reported', async () => {
    const sub = await fixture.create();
    const store = new MemorySecretStore({ failOn: { set: new SecretStoreError('the keychain went away') } });
    const t = fixture.context({ secretStore: store });
    let fallbackPath = '';
    await assert.rejects(run(options(sub.id, { yes: true, graceSeconds: 60 }), t.context), (error: Error) => {
      assert.ok(error instanceof SecretFallbackError);
      assert.equal(exitCodeFor(error), 6);
      fallbackPath = error.fallbackPath;
      return true;
    });
    const saved = (await readFile(fallbackPath, 'utf8')).trim();
    assert.equal(await fingerprintOnPlatform(sub.id), secretFingerprint(saved));
    assert.match(t.stderr(), new RegExp(`warning: the secret of ${sub.id} WAS rotated`));
    assert.match(t.stderr(), /X-IntelliAuth-Signature-Previous/);
    assert.equal(t.stdout(), '');
    assert.equal(t.stderr().includes(saved), false);
  });

  test('--secret-store file without --secret-file: a usage error without a terminal, a prompt at one', async () => {
    const sub = await fixture.create();
    const piped = fixture.context();
    await assert.rejects(run(options(sub.id, { yes: true, secretStore: 'file', secretStoreExplicit: true }), piped.context), {
      message: '--secret-store file needs --secret-file PATH (a new file)',
    });
    const path = `${fixture.home}/prompted-${sub.id}.secret`;
    const t = fixture.context({ tty: true, answers: [{ match: 'New file for the signing secret', answer: path }] });
    await run(options(sub.id, { yes: true, secretStore: 'file', secretStoreExplicit: true }), t.context);
    assert.equal(secretFingerprint((await readFile(path, 'utf8')).trim()), await fingerprintOnPlatform(sub.id));
  });

  test('--secret-store stdout: the secret alone on stdout, the summary on stderr', async () => {
    const sub = await fixture.create();
    const t = fixture.context();
    await run(options(sub.id, { yes: true, secretStore: 'stdout', secretStoreExplicit: true }), t.context);
    const secret = t.stdout().trim();
    assert.equal(t.stdout(), `${secret}\n`);
    assert.equal(await fingerprintOnPlatform(sub.id), secretFingerprint(secret));
    assert.equal(t.stderr().includes(secret), false);
    assert.match(t.stderr(), /from your secret manager/);
  });
});
