import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { DeliveryRecord } from '../../src/domain/contract.ts';
import { BIN, ROOT, cleanEnv, runCli, startEmulatorProcess, tempHome, type CliResult, type EmulatorProcess } from '../helpers/cli.ts';
import { startReceiver, type ReceivedDelivery, type Receiver } from '../helpers/receiver.ts';

// tail-deliveries run as a child process against the emulator, with real loopback receivers.
// The emulator runs at --time-scale 600 (a 1-minute retry delay takes 0.1 s); one of them also
// answers 30% of API and token requests with a 500, 503, 429, a reset or a 2 s stall.

const TIME_SCALE = '600';
const API = '/api/v1/webhooks';

interface Tenant {
  emulator: EmulatorProcess;
  /** Talks to the emulator directly (not through src/api), retrying injected faults. */
  call<T>(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<T>;
  env: Record<string, string>;
}

let home: { dir: string; cleanup: () => Promise<void> };
const receivers: Receiver[] = [];
const tenants: Tenant[] = [];

async function startTenant(args: string[]): Promise<Tenant> {
  const emulator = await startEmulatorProcess(['--allow-private-targets', '--time-scale', TIME_SCALE, ...args], { env: cleanEnv(home.dir) });
  let token: string | undefined;
  const attempt = async (url: string, init: RequestInit): Promise<Response | undefined> => {
    try {
      const response = await fetch(url, { ...init, signal: AbortSignal.timeout(10_000) });
      if (response.status >= 500 || response.status === 429) {
        await response.body?.cancel();
        return undefined;
      }
      return response;
    } catch {
      return undefined;
    }
  };
  const retrying = async (url: string, init: () => RequestInit): Promise<Response> => {
    for (let tries = 0; tries < 60; tries += 1) {
      const response = await attempt(url, init());
      if (response) return response;
      await sleep(50);
    }
    throw new Error(`no answer from ${url}`);
  };
  const getToken = async () => {
    if (token) return token;
    const form = () => new URLSearchParams({ grant_type: 'client_credentials', client_id: emulator.clientId, client_secret: emulator.clientSecret });
    const response = await retrying(`${emulator.tenantUrl}/oauth2/token`, () => ({ method: 'POST', body: form() }));
    token = ((await response.json()) as { access_token: string }).access_token;
    return token;
  };
  const call = async <T>(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<T> => {
    const bearer = await getToken();
    const response = await retrying(`${emulator.tenantUrl}${path}`, () => ({
      method,
      headers: { authorization: `Bearer ${bearer}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    }));
    const text = await response.text();
    assert.ok(response.ok, `${method} ${path} answered ${response.status}: ${text}`);
    return (text === '' ? undefined : (JSON.parse(text) as { data: T }).data) as T;
  };
  const tenant = { emulator, call, env: emulator.env(home.dir) };
  tenants.push(tenant);
  return tenant;
}

async function receiver(respond: (delivery: ReceivedDelivery) => number): Promise<Receiver> {
  const started = await startReceiver({ respond: (delivery, res) => res.writeHead(respond(delivery)).end() });
  receivers.push(started);
  return started;
}

async function subscribe(tenant: Tenant, url: string): Promise<string> {
  // The key makes a create repeated after a dropped connection return the first answer.
  const created = await tenant.call<{ id: string }>('POST', `${API}/subscriptions`, { name: 'tail e2e', url, events: ['user.*'] }, { 'Idempotency-Key': randomUUID() });
  return created.id;
}

async function emit(tenant: Tenant, count: number): Promise<void> {
  for (let i = 0; i < count; i += 1) await tenant.call('POST', '/_emulator/events', { event_type: i % 2 === 0 ? 'user.signed_in' : 'user.updated' });
}

/** The whole feed as the platform sees it, oldest first. */
async function feed(tenant: Tenant, id: string): Promise<DeliveryRecord[]> {
  const records: DeliveryRecord[] = [];
  for (;;) {
    const after = records.length > 0 ? `&after=${records[records.length - 1]!.id}` : '';
    const page = await tenant.call<DeliveryRecord[]>('GET', `${API}/subscriptions/${id}/deliveries?limit=100${after}`);
    records.push(...page);
    if (page.length < 100) return records;
  }
}

/** Waits until the feed holds `count` attempts (or at least, with atLeast) and has stopped growing. */
async function settledFeed(tenant: Tenant, id: string, count: (records: DeliveryRecord[]) => boolean, timeoutMs = 15_000): Promise<DeliveryRecord[]> {
  const deadline = Date.now() + timeoutMs;
  let previous = -1;
  for (;;) {
    const records = await feed(tenant, id);
    if (count(records) && records.length === previous) return records;
    previous = records.length;
    assert.ok(Date.now() < deadline, `the feed did not settle: ${records.length} attempts`);
    await sleep(300);
  }
}

function cli(tenant: Tenant, args: string[], timeoutMs = 30_000): Promise<CliResult> {
  return runCli(args, { env: tenant.env, timeoutMs });
}

function jsonIds(stdout: string): string[] {
  return stdout
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => (JSON.parse(line) as DeliveryRecord).id);
}

const ids = (records: readonly DeliveryRecord[]) => records.map((record) => record.id);

/** A following tail-deliveries: its NDJSON lines as they arrive, and SIGINT. */
function follow(tenant: Tenant, args: string[]) {
  const child = spawn(process.execPath, [BIN, 'tail-deliveries', ...args], { cwd: ROOT, env: tenant.env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const killer = setTimeout(() => child.kill('SIGKILL'), 25_000);
  void exited.then(() => clearTimeout(killer));
  return {
    lines: () => stdout.split('\n').filter((line) => line !== ''),
    stdout: () => stdout,
    stderr: () => stderr,
    exited,
    running: () => child.exitCode === null && child.signalCode === null,
    interrupt: () => child.kill('SIGINT'),
    async waitForLines(count: number, timeoutMs = 15_000) {
      const deadline = Date.now() + timeoutMs;
      while (this.lines().length < count) {
        assert.ok(Date.now() < deadline, `only ${this.lines().length} of ${count} lines arrived; stderr: ${stderr}`);
        assert.ok(this.running(), `tail-deliveries ended early: ${stderr}`);
        await sleep(50);
      }
    },
  };
}

before(async () => {
  assert.ok(existsSync(join(ROOT, 'dist', 'main.js')), 'build first: node scripts/build.mjs');
  home = await tempHome('iaw-tail-');
});

after(async () => {
  for (const started of receivers) await started.close();
  for (const tenant of tenants) await tenant.emulator.stop();
  await home?.cleanup();
});

describe('tail-deliveries against a healthy emulator', () => {
  let tenant: Tenant;
  before(async () => {
    tenant = await startTenant([]);
  });

  test('--no-follow --json prints exactly the attempts of the feed', { timeout: 30_000 }, async () => {
    const target = await receiver(() => 204);
    const id = await subscribe(tenant, target.url);
    await emit(tenant, 34);
    const records = await settledFeed(tenant, id, (r) => r.length === 34);

    const all = await cli(tenant, ['tail-deliveries', id, '--no-follow', '--json', '--since', '1h']);
    assert.equal(all.code, 0, all.stderr);
    assert.deepEqual(jsonIds(all.stdout), ids(records));
    assert.deepEqual(JSON.parse(all.stdout.split('\n')[0]!), records[0]);

    const recent = await cli(tenant, ['tail-deliveries', id, '--no-follow', '--json']);
    assert.equal(recent.code, 0, recent.stderr);
    assert.deepEqual(jsonIds(recent.stdout), ids(records.slice(-20)));

    const piped = await cli(tenant, ['tail-deliveries', id, '--no-follow', '--limit', '3']);
    assert.equal(piped.code, 0, piped.stderr);
    const rows = piped.stdout.trimEnd().split('\n').map((line) => line.split('\t'));
    assert.deepEqual(rows.map((row) => row[2]), records.slice(-3).map((r) => r.event_id));
    assert.ok(rows.every((row) => row.length === 9 && row[4] === 'succeeded' && row[5] === '204'));
  });

  test('an unknown subscription exits 4, a checkpoint of another subscription exits 2', { timeout: 30_000 }, async () => {
    const missing = await cli(tenant, ['tail-deliveries', 'whsub_01JNOTTHERE0000000000000000', '--no-follow']);
    assert.equal(missing.code, 4, missing.stderr);
    assert.match(missing.stderr, /subscription whsub_01JNOTTHERE0000000000000000 not found/);

    const target = await receiver(() => 200);
    const [first, second] = [await subscribe(tenant, target.url), await subscribe(tenant, target.url)];
    const checkpoint = join(home.dir, 'other.checkpoint');
    assert.equal((await cli(tenant, ['tail-deliveries', first, '--no-follow', '--checkpoint', checkpoint])).code, 0);
    const refused = await cli(tenant, ['tail-deliveries', second, '--no-follow', '--checkpoint', checkpoint]);
    assert.equal(refused.code, 2, refused.stderr);
    assert.match(refused.stderr, new RegExp(`belongs to subscription ${first}, not ${second}`));
  });

  test('the failure-rate alert exits 0 while the receiver is healthy and 8 once it fails', { timeout: 30_000 }, async () => {
    let failing = false;
    const target = await receiver(() => (failing ? 500 : 200));
    const id = await subscribe(tenant, target.url);
    await emit(tenant, 12);
    await settledFeed(tenant, id, (r) => r.length === 12);
    const check = ['tail-deliveries', id, '--no-follow', '--json', '--alert-failure-rate', '20', '--min-attempts', '10'];

    const healthy = await cli(tenant, check);
    assert.equal(healthy.code, 0, healthy.stderr);
    assert.match(healthy.stderr, /failure rate 0\.0% \(0 of 12 attempts failed\) in the last 5m, within 20\.0%/);

    failing = true;
    await emit(tenant, 12);
    // Each failed event is retried 0.1 s later (1 min / 600): wait for the second attempts too.
    await settledFeed(tenant, id, (r) => r.filter((record) => record.outcome === 'failed').length >= 24, 20_000);
    const alert = await cli(tenant, check);
    assert.equal(alert.code, 8, alert.stderr);
    assert.match(alert.stderr, /error: failure rate \d+\.\d% \((\d+) of (\d+) attempts failed\) in the last 5m exceeds 20\.0%/);
    // The alert counts the whole window, not only the printed backlog (the last 20, plus any
    // retry that arrived while it ran).
    const printed = jsonIds(alert.stdout);
    const [, failures, attempts] = /\((\d+) of (\d+) attempts failed\)/.exec(alert.stderr)!.map(Number);
    assert.ok(printed.length >= 20 && attempts! > printed.length && failures! >= 24, `${printed.length} printed, ${failures} of ${attempts}`);
  });

  test('following, the alert ends the run with 8 as soon as the receiver starts failing', { timeout: 30_000 }, async () => {
    let failing = false;
    const target = await receiver(() => (failing ? 503 : 200));
    const id = await subscribe(tenant, target.url);
    const run = follow(tenant, [id, '--json', '--alert-failure-rate', '30', '--min-attempts', '5']);
    await emit(tenant, 10);
    await run.waitForLines(10);
    await sleep(500);
    assert.ok(run.running(), 'healthy: still following');
    failing = true;
    await emit(tenant, 10);
    const code = await Promise.race([run.exited, sleep(15_000).then(() => 'timeout' as const)]);
    assert.equal(code, 8, run.stderr());
    assert.match(run.stderr(), /failure rate \d+\.\d% \(\d+ of \d+ attempts failed\) in the last 5m exceeds 30\.0%/);
    const printed = run.lines().map((line) => JSON.parse(line) as DeliveryRecord);
    assert.ok(printed.some((record) => record.outcome === 'failed'));
  });
});

describe('tail-deliveries against an emulator answering 30% of requests with faults', () => {
  let tenant: Tenant;
  before(async () => {
    tenant = await startTenant(['--fault-rate', '0.3', '--seed', 'tail-deliveries-e2e']);
  });

  test('following prints every attempt exactly once and in order', { timeout: 60_000 }, async () => {
    // Every third event fails its first attempt; the retry 0.1 s later succeeds.
    const seen = new Map<string, number>();
    const target = await receiver((delivery) => {
      const event = String(delivery.headers['x-intelliauth-event-id']);
      if (!seen.has(event)) seen.set(event, seen.size);
      return seen.get(event)! % 3 === 0 && delivery.headers['x-intelliauth-delivery-attempt'] === '1' ? 500 : 202;
    });
    const id = await subscribe(tenant, target.url);
    await emit(tenant, 15);
    const run = follow(tenant, [id, '--json', '--since', '1h']);
    await run.waitForLines(5);
    await emit(tenant, 25);
    // Done when every event that failed has been retried and the feed stopped growing.
    const records = await settledFeed(tenant, id, (r) => r.length >= 40 && r.filter((x) => x.outcome === 'failed').length === r.filter((x) => x.attempt === 2).length, 30_000);
    await run.waitForLines(records.length, 20_000);
    run.interrupt();
    assert.equal(await run.exited, 0, run.stderr());
    assert.deepEqual(jsonIds(run.stdout()), ids(records));
    assert.ok(records.some((record) => record.outcome === 'failed') && records.some((record) => record.attempt === 2));
    assert.equal((await feed(tenant, id)).length, records.length);
  });

  test('a checkpoint carries two runs across the feed with no duplicate and no gap', { timeout: 60_000 }, async () => {
    const target = await receiver(() => 200);
    const id = await subscribe(tenant, target.url);
    const checkpoint = join(home.dir, 'cron', 'tail.checkpoint');
    await emit(tenant, 12);
    await settledFeed(tenant, id, (r) => r.length >= 12);

    const first = await cli(tenant, ['tail-deliveries', id, '--no-follow', '--json', '--checkpoint', checkpoint, '--since', '1h']);
    assert.equal(first.code, 0, first.stderr);
    await emit(tenant, 23);
    const records = await settledFeed(tenant, id, (r) => r.length >= 35);
    const second = await cli(tenant, ['tail-deliveries', id, '--no-follow', '--json', '--checkpoint', checkpoint]);
    assert.equal(second.code, 0, second.stderr);
    const third = await cli(tenant, ['tail-deliveries', id, '--no-follow', '--json', '--checkpoint', checkpoint]);
    assert.equal(third.code, 0, third.stderr);

    const firstIds = jsonIds(first.stdout);
    assert.ok(firstIds.length >= 12);
    assert.deepEqual([...firstIds, ...jsonIds(second.stdout)], ids(records));
    assert.equal(third.stdout, '');
    const saved = JSON.parse(await readFile(checkpoint, 'utf8')) as { subscription_id: string; after: string };
    assert.deepEqual([saved.subscription_id, saved.after], [id, records.at(-1)!.id]);
  });
});
