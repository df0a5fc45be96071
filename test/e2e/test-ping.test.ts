import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer as createNetServer } from 'node:net';
import { createServer as createHttpsServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ROOT, cleanEnv, runCli, startEmulatorProcess, tempHome, type CliResult, type EmulatorProcess } from '../helpers/cli.ts';
import { emulatorClient, type EmulatorClient } from '../helpers/emulator-client.ts';
import { startReceiver, type Receiver, type ReceiverOptions } from '../helpers/receiver.ts';

// `test-ping` against the emulator (a child process) and real loopback receivers that answer
// 2xx, 401, 500, stall past the 10 s limit, refuse connections, or present a self-signed
// certificate. Each failure exits 7 with the hint for its cause.

const run = promisify(execFile);
const fingerprint = (secret: string) => createHash('sha256').update(secret, 'utf8').digest('hex').slice(0, 8);

let home: { dir: string; cleanup: () => Promise<void> };
let emulator: EmulatorProcess;
let client: EmulatorClient;
let env: Record<string, string>;
const receivers: Receiver[] = [];
const closers: Array<() => Promise<void>> = [];

async function receiver(options: ReceiverOptions = {}): Promise<Receiver> {
  const started = await startReceiver(options);
  receivers.push(started);
  return started;
}

async function subscriptionFor(url: string): Promise<string> {
  return (await client.createSubscription({ url, name: 'test-ping e2e' })).id;
}

function testPing(id: string, extra: string[] = []): Promise<CliResult> {
  return runCli(['test-ping', id, ...extra], { env, timeoutMs: 30_000 });
}

/** A port nothing listens on: bound once by us, then released. */
async function closedPort(): Promise<number> {
  const server = createNetServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** An https receiver on 127.0.0.1 with a fresh self-signed certificate from the openssl CLI. */
async function selfSignedReceiver(): Promise<string> {
  const key = join(home.dir, 'key.pem');
  const cert = join(home.dir, 'cert.pem');
  await run('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1',
  ]);
  const server: Server = createHttpsServer({ key: await readFile(key), cert: await readFile(cert) }, (_req, res) => res.writeHead(200).end('ok'));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  closers.push(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  return `https://127.0.0.1:${(server.address() as AddressInfo).port}/webhooks`;
}

before(async () => {
  assert.ok(existsSync(join(ROOT, 'dist', 'main.js')), 'build first: node scripts/build.mjs');
  home = await tempHome('iaw-test-ping-');
  // No extra CA: the emulator must judge certificates against the system CAs only.
  emulator = await startEmulatorProcess(['--allow-private-targets'], { env: cleanEnv(home.dir, { NODE_EXTRA_CA_CERTS: undefined }), timeoutMs: 30_000 });
  client = emulatorClient(emulator);
  env = emulator.env(home.dir);
});

after(async () => {
  for (const r of receivers) await r.close();
  for (const close of closers) await close();
  await emulator?.stop();
  await home?.cleanup();
});

describe('test-ping: a receiver answering 2xx', () => {
  test('shows the attempt and exits 0', async () => {
    const ok = await receiver({ respond: (_d, res) => res.writeHead(204).end() });
    const id = await subscriptionFor(ok.url);
    const result = await testPing(id);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^outcome\tsucceeded$/m);
    assert.match(result.stdout, /^http status\t204$/m);
    assert.match(result.stdout, /^error\tnone$/m);
    assert.match(result.stdout, /^latency\t\d+ ms$/m);
    assert.match(result.stdout, /^event\tevt_\w+ \(test\.ping\)$/m);
    assert.match(result.stderr, /✓ the receiver answered 204 in \d+ ms/);
    assert.equal(ok.deliveries.length, 1);
    assert.equal((ok.deliveries[0]!.body as { event_type?: string }).event_type, 'test.ping');
    // No spinner without a terminal.
    assert.doesNotMatch(result.stderr, /\u001b|⠋/);
  });

  test('--json prints the delivery record', async () => {
    const ok = await receiver({ respond: (_d, res) => res.writeHead(200, { 'content-type': 'text/plain' }).end('pong') });
    const id = await subscriptionFor(ok.url);
    const result = await testPing(id, ['--json']);
    assert.equal(result.code, 0, result.stderr);
    const record = JSON.parse(result.stdout);
    assert.equal(record.subscription_id, id);
    assert.equal(record.event_type, 'test.ping');
    assert.equal(record.outcome, 'succeeded');
    assert.equal(record.http_status, 200);
    assert.equal(record.error, null);
    assert.equal(record.response_excerpt, 'pong');
    assert.match(record.id, /^dlv_/);
    assert.equal(typeof record.latency_ms, 'number');
  });
});

describe('test-ping: failures exit 7 with a hint for the cause', () => {
  test('401: the secret does not match; shows both fingerprints and `secret exec`', async () => {
    const rejecting = await receiver({ respond: (_d, res) => res.writeHead(401).end('invalid signature') });
    const id = await subscriptionFor(rejecting.url);
    const secretFile = join(home.dir, `${id}.secret`);
    const rotated = await runCli(['rotate', id, '--grace', '0', '--secret-file', secretFile, '--yes'], { env });
    assert.equal(rotated.code, 0, rotated.stderr);
    const stored = fingerprint((await readFile(secretFile, 'utf8')).trim());

    const result = await testPing(id);
    assert.equal(result.code, 7, result.stderr);
    assert.match(result.stdout, /^http status\t401$/m);
    assert.match(result.stdout, /^response\tinvalid signature$/m);
    assert.match(result.stderr, /error: test delivery failed: the receiver answered 401/);
    assert.match(result.stderr, /hint: a 401 usually means the receiver's signing secret does not match/);
    assert.ok(result.stderr.includes(`the platform signs with the secret of fingerprint ${stored}`), result.stderr);
    assert.ok(result.stderr.includes(`this machine holds ${stored} in file ${secretFile}`), result.stderr);
    assert.ok(result.stderr.includes(`intelliauth-webhooks secret exec ${id} -- <your receiver command>`), result.stderr);
  });

  test('401 with no secret on this machine says so', async () => {
    const rejecting = await receiver({ respond: (_d, res) => res.writeHead(403).end() });
    const id = await subscriptionFor(rejecting.url);
    const result = await testPing(id);
    assert.equal(result.code, 7, result.stderr);
    assert.match(result.stderr, /the receiver answered 403/);
    assert.match(result.stderr, new RegExp(`this machine holds no secret for ${id}`));
  });

  test('500: answer 2xx for events the receiver rejects; --json still prints the record', async () => {
    const failing = await receiver({ respond: (_d, res) => res.writeHead(500).end('database down') });
    const id = await subscriptionFor(failing.url);
    const result = await testPing(id, ['--json']);
    assert.equal(result.code, 7, result.stderr);
    const record = JSON.parse(result.stdout);
    assert.equal(record.outcome, 'failed');
    assert.equal(record.http_status, 500);
    assert.equal(record.error, 'http_status');
    assert.equal(record.response_excerpt, 'database down');
    assert.match(result.stderr, /error: test delivery failed: the receiver answered 500/);
    assert.match(result.stderr, /hint: every non-2xx answer is retried: answer 2xx for events the receiver chooses to reject/);
  });

  test('a receiver stalling 12 s: timeout at the 10 s limit', { timeout: 20_000 }, async () => {
    const stalling = await receiver({
      respond: (_d, res) => {
        const timer = setTimeout(() => res.writeHead(200).end(), 12_000);
        timer.unref();
        res.on('close', () => clearTimeout(timer));
      },
    });
    const id = await subscriptionFor(stalling.url);
    const result = await testPing(id);
    assert.equal(result.code, 7, result.stderr);
    assert.match(result.stdout, /^error\ttimeout$/m);
    assert.match(result.stdout, /^http status\tnone \(no answer\)$/m);
    assert.match(result.stderr, /error: test delivery failed: the receiver did not answer within 10 s \(timeout\)/);
    assert.match(result.stderr, /hint: answer 2xx first and do the work afterwards/);
  });

  test('a refused connection: check the receiver runs (emulator) ', async () => {
    const id = await subscriptionFor(`http://127.0.0.1:${await closedPort()}/webhooks`);
    const result = await testPing(id);
    assert.equal(result.code, 7, result.stderr);
    assert.match(result.stdout, /^error\tconnection$/m);
    assert.match(result.stderr, /error: test delivery failed: could not connect to the receiver: refused or reset \(connection\)/);
    assert.match(result.stderr, /hint: check that the receiver is running and listening at the subscription's URL/);
  });

  test('a self-signed certificate: tls', async () => {
    const id = await subscriptionFor(await selfSignedReceiver());
    const result = await testPing(id);
    assert.equal(result.code, 7, result.stderr);
    assert.match(result.stdout, /^error\ttls$/m);
    assert.match(result.stderr, /error: test delivery failed: the TLS handshake with the receiver failed \(tls\)/);
    assert.match(result.stderr, /hint: the receiver's certificate was refused: self-signed/);
  });

  test('an unknown subscription exits 4 without a delivery', async () => {
    const result = await testPing('whsub_01JUNKNOWN0000000000000000');
    assert.equal(result.code, 4, result.stderr);
    assert.match(result.stderr, /not found/);
  });
});

describe('test-ping: a name resolving to a private address', () => {
  test('url_not_allowed on an emulator that refuses private targets', async () => {
    const strict = await startEmulatorProcess(['--resolve', 'hooks.example.test=127.0.0.1'], { env: cleanEnv(home.dir), timeoutMs: 30_000 });
    try {
      const strictClient = emulatorClient(strict);
      const { id } = await strictClient.createSubscription({ url: 'https://hooks.example.test/webhooks' });
      const result = await runCli(['test-ping', id], { env: strict.env(home.dir) });
      assert.equal(result.code, 7, result.stderr);
      assert.match(result.stdout, /^error\turl_not_allowed$/m);
      assert.match(result.stderr, /resolves to a private or loopback address \(url_not_allowed\)/);
      assert.match(result.stderr, /hint: the platform delivers only to public addresses/);
    } finally {
      await strict.stop();
    }
  });
});
