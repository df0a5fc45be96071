import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ROOT, cleanEnv, runCli, startEmulatorProcess, tempHome, type CliResult, type EmulatorProcess } from '../helpers/cli.ts';
import { emulatorClient, type EmulatorClient } from '../helpers/emulator-client.ts';
import { requireCommand, requireKeychain, runChild } from '../helpers/keyring.ts';
import { hmacHex, startReceiver, type ReceivedDelivery, type Receiver } from '../helpers/receiver.ts';

// `rotate` against the emulator (a child process, --time-scale 60: a minute of grace lasts a
// second) with a real loopback receiver. Signatures are checked here with node:crypto, as a
// receiver holding only the old secret, or only the new one, would check them.
// The keychain part needs `bash scripts/with-keyring.sh` (it skips without a keychain).

const TIME_SCALE = 60;
const fingerprint = (secret: string) => createHash('sha256').update(secret, 'utf8').digest('hex').slice(0, 8);
const utcText = (iso: string) => `(${iso.replace('T', ' ').replace(/\.\d+Z$/, ' UTC')})`;

let home: { dir: string; cleanup: () => Promise<void> };
let emulator: EmulatorProcess;
let receiver: Receiver;
let client: EmulatorClient;
let env: Record<string, string>;
const secrets: string[] = [];
const outputs: CliResult[] = [];

async function cli(args: string[], extraEnv: Record<string, string | undefined> = {}): Promise<CliResult> {
  const result = await runCli(args, { env: { ...env, ...cleanExtra(extraEnv) } });
  outputs.push(result);
  return result;
}

function cleanExtra(extra: Record<string, string | undefined>): Record<string, string> {
  return Object.fromEntries(Object.entries(extra).filter((entry): entry is [string, string] => entry[1] !== undefined));
}

async function readSecret(path: string): Promise<string> {
  const secret = (await readFile(path, 'utf8')).trim();
  secrets.push(secret);
  return secret;
}

/** What `verify --subscription` (readSigningSecrets) finds stored for the subscription. */
async function storedFingerprints(id: string, delivery: ReceivedDelivery, signature: string): Promise<{ code: number | null; verdict: any }> {
  const bodyFile = join(home.dir, `body-${Date.now()}-${Math.random().toString(16).slice(2)}.json`);
  await writeFile(bodyFile, delivery.rawBody);
  const result = await cli(['verify', '--json', '--subscription', id, '--body-file', bodyFile, '--signature', signature]);
  return { code: result.code, verdict: JSON.parse(result.stdout) };
}

/** Emits an event and waits for its delivery to this subscription (others share the receiver). */
async function nextDelivery(subscriptionId: string): Promise<ReceivedDelivery> {
  const eventId = await client.emit('user.signed_up');
  const deadline = Date.now() + 10_000;
  for (;;) {
    const delivery = receiver.deliveries.find(
      (d) => d.headers['x-intelliauth-event-id'] === eventId && (d.body.delivery as { subscription_id?: string } | undefined)?.subscription_id === subscriptionId,
    );
    if (delivery) return delivery;
    assert.ok(Date.now() < deadline, `the delivery of ${eventId} to ${subscriptionId} did not arrive`);
    await sleep(20);
  }
}

/** The fingerprints of the secrets `secret exec` hands to a child (never the secrets themselves). */
async function execFingerprints(id: string): Promise<{ current: string | null; previous: string | null }> {
  const script =
    "const { createHash } = require('node:crypto');" +
    "const fp = (s) => (s ? createHash('sha256').update(s, 'utf8').digest('hex').slice(0, 8) : null);" +
    "process.stdout.write(JSON.stringify({ current: fp(process.env.INTELLIAUTH_WEBHOOK_SECRET), previous: fp(process.env.INTELLIAUTH_WEBHOOK_SECRET_PREVIOUS) }));";
  const result = await cli(['secret', 'exec', id, '--', process.execPath, '-e', script]);
  assert.equal(result.code, 0, result.stderr);
  return JSON.parse(result.stdout);
}

function indexEntryOf(index: any, id: string): any {
  return index.entries[`${new URL(emulator.tenantUrl).host}/${id}`];
}

async function readIndex(): Promise<any> {
  return JSON.parse(await readFile(join(home.dir, 'data', 'intelliauth-webhooks', 'signing-secrets.json'), 'utf8'));
}

before(async () => {
  assert.ok(existsSync(join(ROOT, 'dist', 'main.js')), 'build first: node scripts/build.mjs');
  home = await tempHome('iaw-rotate-');
  emulator = await startEmulatorProcess(['--allow-private-targets', '--time-scale', String(TIME_SCALE)], { env: cleanEnv(home.dir), timeoutMs: 30_000 });
  receiver = await startReceiver();
  client = emulatorClient(emulator);
  env = emulator.env(home.dir);
});

after(async () => {
  // Whatever happened, no secret may have reached stdout or stderr except through --secret-store stdout.
  assert.ok(outputs.length >= 5);
  for (const { stdout, stderr } of outputs) {
    const secretOnStdout = /^whsec_\S+\n$/.test(stdout);
    for (const secret of secrets) {
      if (!secretOnStdout) assert.equal(stdout.includes(secret), false, `stdout leaks a secret: ${stdout}`);
      assert.equal(stderr.includes(secret), false, `stderr leaks a secret: ${stderr}`);
    }
  }
  await receiver?.close();
  await emulator?.stop();
  await home?.cleanup();
});

describe('rotate with a grace period (file store)', () => {
  test('old and new secrets both verify during the grace, only the new one after it; the store forgets the old one', { timeout: 30_000 }, async () => {
    const subscription = await client.createSubscription({ url: receiver.url });
    secrets.push(subscription.signing_secret);

    // A first rotation without grace puts a known secret in a file the tool records.
    const firstFile = join(home.dir, 'first.secret');
    const first = await cli(['rotate', subscription.id, '--grace', '0', '--secret-file', firstFile, '--yes', '--json']);
    assert.equal(first.code, 0, first.stderr);
    const oldSecret = await readSecret(firstFile);
    assert.equal((await stat(firstFile)).mode & 0o777, 0o600);
    assert.deepEqual(JSON.parse(first.stdout), {
      subscription_id: subscription.id,
      previous_secret_expires_at: null,
      secret_fingerprint: fingerprint(oldSecret),
      secret_location: { store: 'file', path: firstFile },
    });
    assert.match(first.stderr, /stopped at once/);

    const secondFile = join(home.dir, 'second.secret');
    const second = await cli(['rotate', subscription.id, '--grace', '10m', '--secret-store', 'file', '--secret-file', secondFile, '--yes']);
    assert.equal(second.code, 0, second.stderr);
    const newSecret = await readSecret(secondFile);
    const platform = await client.getSubscription(subscription.id);
    assert.equal(platform.secret_fingerprint, fingerprint(newSecret));
    const expiresAt = platform.previous_secret_expires_at;
    assert.ok(expiresAt !== null, 'the platform reports the grace period');
    assert.match(second.stdout, new RegExp(`secret fingerprint\\t${fingerprint(newSecret)}`));
    assert.match(second.stdout, new RegExp(`secret location\\tfile ${secondFile}`));
    assert.match(second.stderr, /Deliveries are signed with the new secret from now on/);
    assert.ok(second.stderr.includes(`X-IntelliAuth-Signature-Previous`), second.stderr);
    assert.ok(second.stderr.includes(utcText(expiresAt)), `the exact end of the grace, in UTC: ${second.stderr}`);
    assert.match(second.stderr, /Update the receiver to the new secret before then/);
    assert.ok(second.stderr.includes(`intelliauth-webhooks secret exec ${subscription.id} -- <your receiver command>`), second.stderr);

    // During the grace period.
    const during = await nextDelivery(subscription.id);
    const main = String(during.headers['x-intelliauth-signature']);
    const previous = String(during.headers['x-intelliauth-signature-previous']);
    assert.equal(main, hmacHex(newSecret, during.rawBody), 'a receiver holding the new secret verifies the main header');
    assert.equal(previous, hmacHex(oldSecret, during.rawBody), 'a receiver holding only the old secret verifies the Previous header');
    assert.notEqual(main, hmacHex(oldSecret, during.rawBody));

    // This machine keeps both (what `secret exec` exports).
    const stored = await storedFingerprints(subscription.id, during, previous);
    assert.equal(stored.code, 0);
    assert.deepEqual(stored.verdict.secretFingerprints, { current: fingerprint(newSecret), previous: fingerprint(oldSecret) });
    assert.equal(stored.verdict.matchedWith, 'previous');
    assert.deepEqual(await execFingerprints(subscription.id), { current: fingerprint(newSecret), previous: fingerprint(oldSecret) });
    const entry = indexEntryOf(await readIndex(), subscription.id);
    assert.deepEqual(
      { store: entry.previous?.store, path: entry.previous?.path, fingerprint: entry.previous?.fingerprint, expires_at: entry.previous?.expires_at },
      { store: 'file', path: firstFile, fingerprint: fingerprint(oldSecret), expires_at: expiresAt },
    );

    // After the grace period.
    const wait = Date.parse(expiresAt) - Date.now() + 250;
    assert.ok(wait < 14_000, `the grace ends within seconds at --time-scale ${TIME_SCALE} (${wait} ms)`);
    if (wait > 0) await sleep(wait);
    const afterGrace = await nextDelivery(subscription.id);
    assert.equal(afterGrace.headers['x-intelliauth-signature-previous'], undefined, 'no Previous header after the grace');
    assert.equal(afterGrace.headers['x-intelliauth-signature'], hmacHex(newSecret, afterGrace.rawBody), 'the new secret still verifies');
    assert.notEqual(afterGrace.headers['x-intelliauth-signature'], hmacHex(oldSecret, afterGrace.rawBody), 'the old secret no longer verifies');

    const now = await storedFingerprints(subscription.id, afterGrace, hmacHex(oldSecret, afterGrace.rawBody));
    assert.equal(now.code, 7, 'the stored old secret is gone too');
    assert.deepEqual(now.verdict.secretFingerprints, { current: fingerprint(newSecret), previous: null });
    assert.equal(indexEntryOf(await readIndex(), subscription.id).previous, undefined, 'the index forgot the previous secret');
    assert.deepEqual(await execFingerprints(subscription.id), { current: fingerprint(newSecret), previous: null });
  });
});

describe('rotate safeguards', () => {
  test('without --yes and without a terminal: exit 2 and nothing is rotated', async () => {
    const subscription = await client.createSubscription({ url: receiver.url });
    secrets.push(subscription.signing_secret);
    const result = await cli(['rotate', subscription.id, '--secret-file', join(home.dir, 'never.secret')]);
    assert.equal(result.code, 2, result.stderr);
    assert.equal(result.stdout, '');
    assert.match(result.stderr, /error: Rotate the signing secret of whsub_\w+: refusing without confirmation/);
    assert.match(result.stderr, /hint: pass --yes to confirm/);
    assert.equal((await client.getSubscription(subscription.id)).secret_fingerprint, fingerprint(subscription.signing_secret));
    assert.equal(existsSync(join(home.dir, 'never.secret')), false);
  });

  test('an existing --secret-file is refused before anything is rotated (exit 2)', async () => {
    const subscription = await client.createSubscription({ url: receiver.url });
    secrets.push(subscription.signing_secret);
    const existing = join(home.dir, 'existing.secret');
    await writeFile(existing, 'keep me\n');
    const result = await cli(['rotate', subscription.id, '--secret-file', existing, '--yes']);
    assert.equal(result.code, 2, result.stderr);
    assert.match(result.stderr, /refusing to overwrite existing file/);
    assert.match(result.stderr, /nothing was changed/);
    assert.equal((await client.getSubscription(subscription.id)).secret_fingerprint, fingerprint(subscription.signing_secret));
    assert.equal(await readFile(existing, 'utf8'), 'keep me\n');
  });

  test('--grace above 7 days is a usage error', async () => {
    const result = await cli(['rotate', 'whsub_x', '--grace', '8d', '--yes']);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /--grace must be at most 7d/);
  });

  test('--secret-store stdout prints the new secret alone on stdout', async () => {
    const subscription = await client.createSubscription({ url: receiver.url });
    secrets.push(subscription.signing_secret);
    const result = await cli(['rotate', subscription.id, '--grace', '0', '--secret-store', 'stdout', '--yes']);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^whsec_\S+\n$/);
    const secret = result.stdout.trim();
    assert.equal((await client.getSubscription(subscription.id)).secret_fingerprint, fingerprint(secret));
    assert.equal(result.stderr.includes(secret), false);
    assert.match(result.stderr, /secret manager/);
  });

  test('--json with --secret-store stdout is refused before anything is rotated', async () => {
    const subscription = await client.createSubscription({ url: receiver.url });
    secrets.push(subscription.signing_secret);
    const result = await cli(['rotate', subscription.id, '--secret-store', 'stdout', '--yes', '--json']);
    assert.equal(result.code, 2, result.stderr);
    assert.equal(result.stdout, '');
    assert.equal((await client.getSubscription(subscription.id)).secret_fingerprint, fingerprint(subscription.signing_secret));
  });

  test('an unknown subscription exits 4', async () => {
    const result = await cli(['rotate', 'whsub_01JUNKNOWN0000000000000000', '--yes', '--secret-file', join(home.dir, 'unknown.secret')]);
    assert.equal(result.code, 4, result.stderr);
    assert.match(result.stderr, /not found/);
  });
});

describe('rotate with the OS keychain', () => {
  const secretTool = (args: string[]) => runChild('secret-tool', args, { killAfterMs: 10_000 });
  const lookup = async (account: string) => {
    const result = await secretTool(['lookup', 'service', 'intelliauth-webhooks', 'username', account]);
    return result.code === 0 ? result.stdout : null;
  };

  test('the new secret lands in the keychain; the previous one is kept until the grace ends, then forgotten', { timeout: 30_000 }, async (t) => {
    if (!(await requireKeychain(t)) || !requireCommand(t, 'secret-tool')) return;
    const subscription = await client.createSubscription({ url: receiver.url });
    secrets.push(subscription.signing_secret);
    const account = `${new URL(emulator.tenantUrl).host}/${subscription.id}`;
    try {
      const first = await cli(['rotate', subscription.id, '--grace', '0', '--yes', '--json']);
      assert.equal(first.code, 0, first.stderr);
      const oldSecret = await lookup(account);
      assert.ok(oldSecret, 'secret-tool finds the rotated secret');
      secrets.push(oldSecret);
      assert.equal(JSON.parse(first.stdout).secret_fingerprint, fingerprint(oldSecret));
      assert.deepEqual(JSON.parse(first.stdout).secret_location, { store: 'keychain' });
      assert.equal(await lookup(`${account}/previous`), null, 'no previous secret after --grace 0');

      const second = await cli(['rotate', subscription.id, '--grace', '5m', '--yes', '--json']);
      assert.equal(second.code, 0, second.stderr);
      const rotated = JSON.parse(second.stdout);
      const newSecret = await lookup(account);
      assert.ok(newSecret);
      secrets.push(newSecret);
      assert.notEqual(newSecret, oldSecret);
      assert.equal(rotated.secret_fingerprint, fingerprint(newSecret));
      assert.equal((await client.getSubscription(subscription.id)).secret_fingerprint, fingerprint(newSecret));
      assert.equal(await lookup(`${account}/previous`), oldSecret, 'the previous secret is kept in the keychain during the grace');

      const during = await nextDelivery(subscription.id);
      assert.equal(during.headers['x-intelliauth-signature'], hmacHex(newSecret, during.rawBody));
      assert.equal(during.headers['x-intelliauth-signature-previous'], hmacHex(oldSecret, during.rawBody));

      const wait = Date.parse(rotated.previous_secret_expires_at) - Date.now() + 250;
      if (wait > 0) await sleep(wait);
      // Reading the stored secrets (as `secret exec` and `verify` do) drops the expired one.
      const afterGrace = await nextDelivery(subscription.id);
      const stored = await storedFingerprints(subscription.id, afterGrace, String(afterGrace.headers['x-intelliauth-signature']));
      assert.equal(stored.code, 0);
      assert.deepEqual(stored.verdict.secretFingerprints, { current: fingerprint(newSecret), previous: null });
      assert.equal(await lookup(`${account}/previous`), null, 'the keychain no longer holds the previous secret');
      assert.equal(await lookup(account), newSecret);
    } finally {
      await secretTool(['clear', 'service', 'intelliauth-webhooks', 'username', account]);
      await secretTool(['clear', 'service', 'intelliauth-webhooks', 'username', `${account}/previous`]);
    }
  });
});
