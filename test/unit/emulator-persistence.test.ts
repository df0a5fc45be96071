import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { paths, TOKEN_PATH } from '../../src/domain/contract.ts';
import { secretFingerprint } from '../../src/domain/signature.ts';
import { StateFileError, startEmulator } from '../../src/emulator/index.ts';
import { eventually, startReceiver, startTestEmulator, type TestEmulator } from '../helpers/emulator-harness.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));
const fixture = join(root, 'test/fixtures/emulator-child.ts');
const dirs: string[] = [];

function stateFile(): string {
  const dir = mkdtempSync(join(tmpdir(), 'emu-state-'));
  dirs.push(dir);
  return join(dir, 'tenant.json');
}

after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

async function createSub(emulator: TestEmulator, url: string, events: string[], headers?: Record<string, string>) {
  const answer = await emulator.call('POST', paths.subscriptions(), { body: { name: 'n', url, events }, ...(headers ? { headers } : {}) });
  assert.equal(answer.status, 201, JSON.stringify(answer.body));
  return answer.body.data as { id: string; signing_secret: string; secret_fingerprint: string };
}

describe('emulator persistence', () => {
  test('subscriptions, secrets, credentials, tokens, feed, dead letters and idempotency keys survive a restart', async () => {
    const path = stateFile();
    const ok = await startReceiver();
    const failing = await startReceiver();
    failing.respond = () => ({ status: 500 });
    const first = await startTestEmulator({ statePath: path, allowPrivateTargets: true, timeScale: 25_000 });
    let second: TestEmulator | undefined;
    try {
      const subA = await createSub(first, ok.url, ['user.signed_in'], { 'Idempotency-Key': 'create-a' });
      const subB = await createSub(first, failing.url, ['user.deleted']);
      const rotated = await first.call('POST', paths.rotateSecret(subA.id), { body: { grace_period_seconds: 604_800 } });
      ok.secrets.push(rotated.body.data.signing_secret, subA.signing_secret);
      failing.secrets.push(subB.signing_secret);
      for (const type of ['user.signed_in', 'user.deleted', 'user.deleted']) await first.call('POST', '/_emulator/events', { body: { event_type: type } });
      await ok.waitFor(1);
      const letters = await eventually(async () => {
        const list = (await first.call('GET', paths.deadLetters(subB.id))).body.data;
        return list.length === 2 ? list : undefined;
      }, 5000, 'two dead letters');
      const token = await first.token();
      const feedBefore = (await first.call('GET', paths.deliveries(subA.id))).body.data;
      const listBefore = (await first.call('GET', paths.subscriptions())).body.data;
      await first.close();

      assert.equal(statSync(path).mode & 0o777, 0o600);
      assert.equal(statSync(`${path}.journal`).mode & 0o777, 0o600);
      const snapshot = JSON.parse(readFileSync(path, 'utf8'));
      assert.equal(snapshot.format, 'intelliauth-emulator-state');

      second = await startTestEmulator({ statePath: path, allowPrivateTargets: true, timeScale: 25_000 });
      assert.equal(second.clientId, first.clientId);
      assert.equal(second.clientSecret, first.clientSecret);
      assert.equal(second.tenantId, first.tenantId);
      const withOldToken = await second.call('GET', paths.subscriptions(), { token });
      assert.equal(withOldToken.status, 200, 'a token issued before the restart still works');
      assert.deepEqual(withOldToken.body.data, listBefore);
      assert.equal(withOldToken.body.data[0].secret_fingerprint, secretFingerprint(rotated.body.data.signing_secret));
      assert.equal(withOldToken.body.data[0].previous_secret_expires_at, rotated.body.data.previous_secret_expires_at);
      assert.deepEqual((await second.call('GET', paths.deliveries(subA.id))).body.data, feedBefore);
      assert.deepEqual((await second.call('GET', paths.deadLetters(subB.id))).body.data, letters);

      const replay = await second.call('POST', paths.subscriptions(), { body: { name: 'n', url: ok.url, events: ['user.signed_in'] }, headers: { 'Idempotency-Key': 'create-a' } });
      assert.equal(replay.status, 201);
      assert.equal(replay.body.data.id, subA.id);
      assert.equal(replay.body.data.signing_secret, subA.signing_secret);

      // The secrets came back too: deliveries after the restart verify with them.
      failing.respond = () => ({ status: 200 });
      const before = failing.received.length;
      assert.equal((await second.call('POST', paths.redeliver(subB.id, letters[0].event_id))).status, 202);
      const [redelivered] = (await failing.waitFor(before + 1)).slice(before);
      assert.equal(redelivered!.signedWith, subB.signing_secret);
      assert.equal(redelivered!.json.event_id, letters[0].event_id);
      const okBefore = ok.received.length;
      await second.call('POST', '/_emulator/events', { body: { event_type: 'user.signed_in' } });
      const [fresh] = (await ok.waitFor(okBefore + 1)).slice(okBefore);
      assert.equal(fresh!.signedWith, rotated.body.data.signing_secret);
      assert.equal(fresh!.previousSignedWith, subA.signing_secret, 'the grace period survived too');
    } finally {
      await first.close();
      await second?.close();
      await ok.close();
      await failing.close();
    }
  });

  test('a retry series resumes after a restart', async () => {
    const path = stateFile();
    const flaky = await startReceiver();
    let calls = 0;
    flaky.respond = () => ({ status: calls++ === 0 ? 503 : 200 });
    const first = await startTestEmulator({ statePath: path, allowPrivateTargets: true, timeScale: 30 }); // first retry after ~2 s
    let second: TestEmulator | undefined;
    try {
      const sub = await createSub(first, flaky.url, ['*']);
      flaky.secrets.push(sub.signing_secret);
      await first.call('POST', '/_emulator/events', { body: { event_type: 'user.signed_in' } });
      await flaky.waitFor(1);
      await eventually(async () => (await first.call('GET', paths.deliveries(sub.id))).body.data.length === 1, 3000, 'the first record');
      await first.close();
      assert.equal(flaky.received.length, 1);
      second = await startTestEmulator({ statePath: path, allowPrivateTargets: true, timeScale: 30 });
      const [retry] = (await flaky.waitFor(2, 6000)).slice(1);
      assert.equal(retry!.json.delivery.attempt, 2);
      assert.equal(retry!.json.event_id, flaky.received[0]!.json.event_id);
      assert.equal(retry!.signedWith, sub.signing_secret);
    } finally {
      await first.close();
      await second?.close();
      await flaky.close();
    }
  });

  test('an unreadable state file is refused with a clear error, never replaced', async () => {
    const path = stateFile();
    writeFileSync(path, '{"format":"intelliauth-emulator-state", "version": 1, "gener');
    await assert.rejects(startEmulator({ port: 0, statePath: path }), (error: Error) => {
      assert.ok(error instanceof StateFileError);
      assert.match(error.message, /unreadable.*refusing to start/);
      return true;
    });
    assert.match(readFileSync(path, 'utf8'), /"gener$/, 'left as it was');
    writeFileSync(path, JSON.stringify({ hello: 'world' }));
    await assert.rejects(startEmulator({ port: 0, statePath: path }), /not an emulator state file/);
  });

  test('a torn journal tail is dropped; damage before intact lines is refused', async () => {
    const path = stateFile();
    const first = await startTestEmulator({ statePath: path });
    const sub = await createSub(first, 'https://hooks.example.com/a', ['*']);
    await createSub(first, 'https://hooks.example.com/b', ['*']);
    await first.close();
    const journal = readFileSync(`${path}.journal`, 'utf8');
    assert.equal(journal.trimEnd().split('\n').length, 3, 'header and two changes');

    appendFileSync(`${path}.journal`, '0badf00d [{"op":"sub","sub":{"id":"whsub_tor');
    const second = await startTestEmulator({ statePath: path });
    try {
      const list = (await second.call('GET', paths.subscriptions())).body.data;
      assert.equal(list.length, 2);
      assert.equal(list[0].secret_fingerprint, secretFingerprint(sub.signing_secret));
      assert.ok(second.logs.some((entry) => entry.kind === 'notice' && /torn/.test(entry.message)));
      await createSub(second, 'https://hooks.example.com/c', ['*']);
      await createSub(second, 'https://hooks.example.com/d', ['*']);
    } finally {
      await second.close();
    }

    const lines = readFileSync(`${path}.journal`, 'utf8').split('\n');
    assert.equal(lines.filter((line) => line !== '').length, 3, 'header and two changes since the restart');
    writeFileSync(`${path}.journal`, [lines[0], `${lines[1]!.slice(0, 20)}X${lines[1]!.slice(21)}`, ...lines.slice(2)].join('\n'));
    // A damaged line with an intact one after it cannot be a torn write: refuse.
    await assert.rejects(startEmulator({ port: 0, statePath: path }), /damaged/);
  });

  test('two emulators cannot share a state file', async () => {
    const path = stateFile();
    const first = await startEmulator({ port: 0, statePath: path });
    try {
      await assert.rejects(startEmulator({ port: 0, statePath: path }), /in use by process/);
    } finally {
      await first.close();
    }
    const again = await startEmulator({ port: 0, statePath: path });
    await again.close();
  });

  test('kill -9 while events are being triggered loses nothing that was acknowledged', async () => {
    const path = stateFile();
    const ok = await startReceiver();
    const failing = await startReceiver();
    failing.respond = () => ({ status: 500 });
    const children: ChildProcess[] = [];
    const spawnChild = async () => {
      const child = spawn(process.execPath, ['--import', 'tsx', fixture, path], {
        cwd: root,
        env: { ...process.env, EMULATOR_TIME_SCALE: '25000' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      children.push(child);
      let stderr = '';
      child.stderr!.on('data', (chunk) => (stderr += chunk));
      const line = await new Promise<string>((resolve, reject) => {
        const lines = createInterface({ input: child.stdout! });
        lines.once('line', resolve);
        child.once('exit', (code) => reject(new Error(`the emulator child exited (${code}) before it was ready: ${stderr}`)));
      });
      return { child, ...(JSON.parse(line) as { tenantUrl: string; clientId: string; clientSecret: string; tenantId: string }) };
    };
    const tokenFor = async (tenantUrl: string, clientId: string, clientSecret: string) => {
      const response = await fetch(tenantUrl + TOKEN_PATH, {
        method: 'POST',
        body: new URLSearchParams({ grant_type: 'client_credentials', client_id: clientId, client_secret: clientSecret }),
      });
      return ((await response.json()) as { access_token: string }).access_token;
    };
    const call = async (tenantUrl: string, token: string, method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
      const response = await fetch(tenantUrl + path, {
        method,
        headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await response.text();
      return { status: response.status, body: text === '' ? undefined : JSON.parse(text) };
    };

    try {
      const one = await spawnChild();
      const token = await tokenFor(one.tenantUrl, one.clientId, one.clientSecret);
      const subA = (await call(one.tenantUrl, token, 'POST', paths.subscriptions(), { name: 'a', url: ok.url, events: ['user.signed_in'] }, { 'Idempotency-Key': 'crash-a' })).body.data;
      const subB = (await call(one.tenantUrl, token, 'POST', paths.subscriptions(), { name: 'b', url: failing.url, events: ['user.deleted'] })).body.data;
      const rotated = (await call(one.tenantUrl, token, 'POST', paths.rotateSecret(subA.id), { grace_period_seconds: 0 })).body.data;
      ok.secrets.push(rotated.signing_secret);
      for (let i = 0; i < 2; i += 1) await call(one.tenantUrl, token, 'POST', '/_emulator/events', { event_type: 'user.deleted' });
      const letters = await eventually(async () => {
        const list = (await call(one.tenantUrl, token, 'GET', paths.deadLetters(subB.id))).body.data;
        return list.length === 2 ? list : undefined;
      }, 8000, 'dead letters before the crash');
      await new Promise((resolve) => setTimeout(resolve, 200)); // past the engine's group commit

      const acknowledged: string[] = [];
      let stop = false;
      const worker = async () => {
        while (!stop) {
          try {
            const answer = await call(one.tenantUrl, token, 'POST', '/_emulator/events', { event_type: 'user.signed_in' });
            if (answer.status === 202) acknowledged.push(answer.body.data.event_id);
          } catch {
            return; // the emulator is gone
          }
        }
      };
      const workers = Array.from({ length: 6 }, worker);
      await eventually(() => acknowledged.length >= 60 || undefined, 8000, 'triggers under way');
      // Listen before killing: the exit may be over by the time the workers have stopped.
      const exited = new Promise((resolve) => one.child.once('exit', resolve));
      one.child.kill('SIGKILL');
      stop = true;
      await Promise.all(workers);
      await exited;

      const snapshot = JSON.parse(readFileSync(path, 'utf8'));
      assert.equal(snapshot.format, 'intelliauth-emulator-state');
      assert.equal(statSync(path).mode & 0o777, 0o600);

      const two = await spawnChild();
      assert.equal(two.clientId, one.clientId);
      assert.equal(two.clientSecret, one.clientSecret);
      assert.equal(two.tenantId, one.tenantId);
      const list = (await call(two.tenantUrl, token, 'GET', paths.subscriptions())).body.data;
      assert.deepEqual(list.map((sub: { id: string }) => sub.id), [subA.id, subB.id]);
      assert.equal(list[0].secret_fingerprint, secretFingerprint(rotated.signing_secret));
      assert.equal(list[1].secret_fingerprint, secretFingerprint(subB.signing_secret));
      assert.deepEqual((await call(two.tenantUrl, token, 'GET', paths.deadLetters(subB.id))).body.data, letters);
      const replay = await call(two.tenantUrl, token, 'POST', paths.subscriptions(), { name: 'a', url: ok.url, events: ['user.signed_in'] }, { 'Idempotency-Key': 'crash-a' });
      assert.equal(replay.body.data.id, subA.id);

      // At least once: every acknowledged event reaches the receiver, correctly signed.
      await eventually(() => {
        const received = new Set(ok.received.map((delivery) => delivery.json.event_id));
        return acknowledged.every((id) => received.has(id)) || undefined;
      }, 10_000, 'every acknowledged event delivered');
      assert.ok(ok.received.every((delivery) => delivery.signedWith === rotated.signing_secret));
      two.child.kill('SIGTERM');
      await new Promise((resolve) => two.child.once('exit', resolve));
    } finally {
      for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await ok.close();
      await failing.close();
    }
  });
});
