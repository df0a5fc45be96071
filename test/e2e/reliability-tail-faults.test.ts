import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { API_PREFIX, type DeliveryRecord } from '../../src/domain/contract.ts';
import { BIN, ROOT, cleanEnv, tempHome } from '../helpers/cli.ts';
import { startDropProxy, type DropProxy } from '../helpers/drop-proxy.ts';
import { ApiPool, spawnEmulator, type EmulatorChild } from '../helpers/emulator-child.ts';
import { startFlakyReceiver, type FlakyReceiver } from '../helpers/flaky-receiver.ts';

// Reliability suite 7: tail-deliveries under faults.
//
// `tail-deliveries ID --json` follows a subscription for RUN_MS while events arrive steadily.
// The emulator answers 30% of API and token requests with a fault (500, 503, 429, a reset
// after the work was done, or a 2 s stall; seeded), and the tail reaches it through a proxy
// that cuts half of its connections after a random number (up to 16 KiB) of answer bytes (mid-headers,
// mid-body or between keep-alive answers). The receiver fails 40% of attempts, so retries
// keep adding attempts to the feed over time.
//
// 30-minute-equivalent: at --time-scale 30 the 60 s run covers 30 minutes of the retry
// schedule: second attempts come 2 s (1 min) and third attempts 12 s (6 min) after the first,
// interleaved with first attempts of newer events, and retries keep landing after the last
// trigger. Fourth attempts (36 min) fall outside the 30 minutes.
//
// Afterwards the subscription is paused (held retries stop adding attempts), the feed settles,
// the tail catches up and gets SIGINT; its NDJSON must be the whole feed, read directly with
// retries: every attempt once, in order. Figure: attempts, gaps, duplicates.

const TIME_SCALE = 30;
const RUN_MS = 60_000;
const EVENTS_PER_SECOND = 10;
const FAULT_RATE = 0.3;
const SEED = 'reliability-suite-7';
const PROXY_DROP_RATE = 0.5;
const RECEIVER_FAIL_RATE = 0.4;

test('tail under faults: a 30-minute-equivalent follow prints every attempt exactly once, in order', { timeout: 180_000 }, async (t) => {
  const home = await tempHome('iaw-reliability-7-');
  let emulator: EmulatorChild | undefined;
  let api: ApiPool | undefined;
  let proxy: DropProxy | undefined;
  let receiver: FlakyReceiver | undefined;
  let tail: ReturnType<typeof spawn> | undefined;
  t.after(async () => {
    if (tail && tail.exitCode === null && tail.signalCode === null) tail.kill('SIGKILL');
    await api?.close().catch(() => undefined);
    await emulator?.stop('SIGKILL');
    await proxy?.close();
    await receiver?.close();
    await home.cleanup();
  });

  receiver = await startFlakyReceiver({ failRate: RECEIVER_FAIL_RATE, seed: 7 });
  emulator = await spawnEmulator(
    ['--allow-private-targets', '--time-scale', String(TIME_SCALE), '--fault-rate', String(FAULT_RATE), '--seed', SEED],
    cleanEnv(home.dir),
    { countLines: /fault injected/ },
  );
  // The test's own calls go straight to the emulator and retry every injected fault.
  api = new ApiPool(emulator, { connections: 4, retries: 100 });
  proxy = await startDropProxy({ targetPort: Number(new URL(emulator.tenantUrl).port), dropRate: PROXY_DROP_RATE, seed: 77, maxCutBytes: 16_384 });
  const created = await api.call<{ id: string }>('POST', `${API_PREFIX}/subscriptions`, { name: 'tail under faults', url: receiver.url, events: ['user.*'] });
  const subscriptionId = created.data.id;

  // ---- steady events (the control endpoint is exempt from faults; its token is not) -------
  let triggered = 0;
  let running = true;
  const triggering = (async () => {
    const started = Date.now();
    while (running) {
      const due = Math.floor(((Date.now() - started) / 1000) * EVENTS_PER_SECOND);
      const batch: Array<Promise<string>> = [];
      for (; triggered < due; triggered += 1) batch.push(api!.trigger(triggered % 2 === 0 ? 'user.signed_in' : 'user.updated'));
      await Promise.all(batch);
      await sleep(50);
    }
  })();

  // ---- the tail, started once the feed has a backlog to page through ----------------------
  await sleep(2000);
  const env = cleanEnv(home.dir, {
    INTELLIAUTH_TENANT_URL: proxy.url,
    INTELLIAUTH_M2M_CLIENT_ID: emulator.clientId,
    INTELLIAUTH_M2M_CLIENT_SECRET: emulator.clientSecret,
  });
  const child = spawn(process.execPath, [BIN, 'tail-deliveries', subscriptionId, '--json', '--since', '1h'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  tail = child;
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  const printedIds = () => {
    const lines = stdout.split('\n');
    lines.pop(); // a line still being written
    return lines.map((line) => (JSON.parse(line) as DeliveryRecord).id);
  };

  await sleep(RUN_MS - 2000);
  running = false;
  await triggering;
  assert.equal(child.exitCode, null, `tail-deliveries ended during the run: ${stderr}`);

  // ---- stop new attempts, let the feed settle, let the tail catch up ---------------------
  await api.call('PATCH', `${API_PREFIX}/subscriptions/${subscriptionId}`, { status: 'paused' });
  let feed: DeliveryRecord[] = [];
  const settleBy = Date.now() + 30_000;
  for (;;) {
    await sleep(1000);
    const again = await api.feed(subscriptionId);
    const settled = again.length === feed.length && again.at(-1)?.id === feed.at(-1)?.id;
    feed = again;
    if (settled) break;
    assert.ok(Date.now() < settleBy, `the feed kept growing after the subscription was paused (${feed.length} attempts)`);
  }
  const lastId = feed.at(-1)!.id;
  const catchUpBy = Date.now() + 60_000;
  while (printedIds().at(-1) !== lastId && Date.now() < catchUpBy && child.exitCode === null) await sleep(200);

  child.kill('SIGINT');
  const giveUp = new AbortController();
  const exit = await Promise.race([exited, sleep(15_000, null, { signal: giveUp.signal }).catch(() => null)]);
  giveUp.abort();
  assert.ok(exit !== null, 'tail-deliveries did not stop within 15 s of SIGINT');
  assert.equal(exit.code, 0, `tail-deliveries exited ${exit.code ?? exit.signal}: ${stderr.slice(-2000)}`);

  // ---- compare -----------------------------------------------------------------------------
  const lines = stdout.split('\n').filter((line) => line !== '');
  const printed = lines.map((line) => JSON.parse(line) as DeliveryRecord);
  const byId = new Map(feed.map((record) => [record.id, record]));
  const seen = new Set<string>();
  let duplicates = 0;
  let outOfOrder = 0;
  let altered = 0;
  let unknown = 0;
  printed.forEach((record, index) => {
    if (seen.has(record.id)) duplicates += 1;
    seen.add(record.id);
    if (index > 0 && !(record.id > printed[index - 1]!.id)) outOfOrder += 1;
    const original = byId.get(record.id);
    if (!original) unknown += 1;
    else if (JSON.stringify(original) !== JSON.stringify(record)) altered += 1;
  });
  const gaps = feed.filter((record) => !seen.has(record.id)).length;
  const attemptNumbers = new Set(feed.map((record) => record.attempt));
  const warnings = stderr.split('\n').filter((line) => /feed unavailable/.test(line)).length;

  t.diagnostic(
    `tail-faults details: ${triggered} events over ${RUN_MS / 1000} s at --time-scale ${TIME_SCALE} (${(RUN_MS * TIME_SCALE) / 60_000} minutes of schedule), ` +
      `attempts numbered ${[...attemptNumbers].sort().join(',')}; ${emulator.counted()} faults injected by the emulator, ` +
      `the tail made ${proxy.stats().requests} requests over ${proxy.stats().connections} connections, ${proxy.stats().dropped} cut by the proxy; outages that outlasted the client's own retries: ${warnings}`,
  );
  t.diagnostic(`tail-faults: attempts ${feed.length}, gaps ${gaps}, duplicates ${duplicates}`);
  assert.equal(gaps, 0, 'attempts in the feed that the tail never printed');
  assert.equal(duplicates, 0, 'attempts the tail printed twice');
  assert.equal(outOfOrder, 0, 'attempts printed out of order');
  assert.equal(unknown, 0, 'printed attempts that are not in the feed');
  assert.equal(altered, 0, 'printed attempts that differ from the feed');
  assert.deepEqual(printed.map((record) => record.id), feed.map((record) => record.id));
  assert.ok(attemptNumbers.has(3), 'the run should reach third attempts');
  assert.ok(emulator.counted() > 0 && proxy.stats().dropped > 0, 'faults must actually have been injected');
});
