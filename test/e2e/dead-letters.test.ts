import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ROOT, cleanEnv, runCli, startEmulatorProcess, tempHome, type CliResult, type EmulatorProcess } from '../helpers/cli.ts';
import { emulatorClient, type EmulatorClient } from '../helpers/emulator-client.ts';
import { startReceiver, type Receiver } from '../helpers/receiver.ts';

// Dead-lettering and redelivery against the emulator at --time-scale 20000: the six attempts
// (about 14.6 h of retry delays) take under 3 s, and a dead letter lives about 30 s.

const TIME_SCALE = 20_000;

let home: { dir: string; cleanup: () => Promise<void> };
let emulator: EmulatorProcess;
let client: EmulatorClient;
let receiver: Receiver;
let env: Record<string, string>;
let healthy = false;

function cli(args: string[]): Promise<CliResult> {
  return runCli(args, { env });
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    assert.ok(Date.now() < deadline, `timed out waiting for ${what}`);
    await sleep(50);
  }
}

before(async () => {
  assert.ok(existsSync(join(ROOT, 'dist', 'main.js')), 'build first: node scripts/build.mjs');
  home = await tempHome('iaw-dead-letters-');
  emulator = await startEmulatorProcess(['--allow-private-targets', '--time-scale', String(TIME_SCALE)], { env: cleanEnv(home.dir), timeoutMs: 30_000 });
  client = emulatorClient(emulator);
  receiver = await startReceiver({ respond: (_d, res) => (healthy ? res.writeHead(202).end() : res.writeHead(500).end('broken')) });
  env = emulator.env(home.dir);
});

after(async () => {
  await receiver?.close();
  await emulator?.stop();
  await home?.cleanup();
});

describe('dead letters and redelivery', () => {
  test('a failing receiver dead-letters events; healed, `redeliver --all-dead-letters` delivers them and the list empties', { timeout: 30_000 }, async () => {
    const { id } = await client.createSubscription({ url: receiver.url, events: ['user.*'] });

    const empty = await cli(['dead-letters', id]);
    assert.equal(empty.code, 0, empty.stderr);
    assert.equal(empty.stdout, '');
    assert.match(empty.stderr, new RegExp(`no dead letters for ${id}`));

    const first = await client.emit('user.signed_up');
    const second = await client.emit('user.deleted');
    await until('two dead letters', async () => ((await client.deadLetters(id)).length === 2 ? true : undefined));
    const attempts = receiver.deliveries.filter((d) => [first, second].includes(String(d.headers['x-intelliauth-event-id'])));
    assert.equal(attempts.length, 12, 'six attempts per event before dead-lettering');

    const table = await cli(['dead-letters', id]);
    assert.equal(table.code, 0, table.stderr);
    const rows = table.stdout.trimEnd().split('\n').map((line) => line.split('\t'));
    assert.equal(rows.length, 2, table.stdout);
    const iso = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;
    for (const row of rows) {
      assert.equal(row.length, 6, `six columns: ${row.join(' | ')}`);
      assert.ok([first, second].includes(row[0]!));
      assert.match(row[1]!, /^user\.(signed_up|deleted)$/);
      assert.match(row[2]!, iso);
      assert.equal(row[3], '6');
      assert.equal(row[4], 'HTTP 500');
      assert.match(row[5]!, iso);
      assert.ok(Date.parse(row[5]!) > Date.now(), 'not expired yet');
    }
    assert.match(table.stderr, new RegExp(`2 dead-lettered events; replay with \`intelliauth-webhooks redeliver ${id} --all-dead-letters\``));

    const json = await cli(['dead-letters', id, '--json']);
    assert.equal(json.code, 0, json.stderr);
    const letters = JSON.parse(json.stdout) as Array<Record<string, unknown>>;
    assert.deepEqual(letters.map((l) => l.event_id).sort(), [first, second].sort());
    for (const letter of letters) {
      assert.equal(letter.subscription_id, id);
      assert.equal(letter.attempts, 6);
      assert.equal(letter.last_error, 'http_status');
      assert.equal(letter.last_http_status, 500);
      assert.equal(typeof letter.expires_at, 'string');
    }

    healthy = true;
    const before = receiver.deliveries.length;
    const replay = await cli(['redeliver', id, '--all-dead-letters']);
    assert.equal(replay.code, 0, replay.stderr);
    assert.deepEqual(replay.stdout.trimEnd().split('\n').sort(), [`${first}\tscheduled`, `${second}\tscheduled`].sort());
    assert.match(replay.stderr, new RegExp(`✓ 2 events scheduled for redelivery to ${id}`));
    const replayed = await receiver.waitFor(before + 2, 10_000);
    const fresh = replayed.slice(before);
    assert.deepEqual(fresh.map((d) => String(d.headers['x-intelliauth-event-id'])).sort(), [first, second].sort());
    for (const delivery of fresh) assert.equal(delivery.headers['x-intelliauth-delivery-attempt'], '1', 'a new series of attempts');

    const after = await cli(['dead-letters', id, '--json']);
    assert.equal(after.code, 0, after.stderr);
    assert.deepEqual(JSON.parse(after.stdout), []);

    const nothing = await cli(['redeliver', id, '--all-dead-letters', '--json']);
    assert.equal(nothing.code, 0, nothing.stderr);
    assert.deepEqual(JSON.parse(nothing.stdout), []);
  });

  test('partial failure: the good event is replayed, the unknown one named, exit 4', async () => {
    healthy = true;
    const { id } = await client.createSubscription({ url: receiver.url, events: ['user.*'] });
    const known = await client.emit('user.updated');
    await until('the first delivery', async () =>
      receiver.deliveries.some((d) => d.headers['x-intelliauth-event-id'] === known && (d.body.delivery as { subscription_id?: string })?.subscription_id === id)
        ? true
        : undefined,
    );
    const unknown = 'evt_01JNOSUCHEVENT000000000000';
    const result = await cli(['redeliver', id, known, unknown, '--json']);
    assert.equal(result.code, 4, result.stderr);
    const outcomes = JSON.parse(result.stdout) as Array<{ event_id: string; ok: boolean; error?: string }>;
    assert.equal(outcomes.length, 2);
    assert.deepEqual(outcomes[0], { event_id: known, ok: true });
    assert.equal(outcomes[1]!.event_id, unknown);
    assert.equal(outcomes[1]!.ok, false);
    assert.match(outcomes[1]!.error ?? '', /not found/);
    assert.match(result.stderr, new RegExp(`error: 1 of 2 redeliveries failed: ${unknown} \\(1 scheduled\\)`));
  });

  test('usage errors: no events, or events with --all-dead-letters', async () => {
    const none = await cli(['redeliver', 'whsub_x']);
    assert.equal(none.code, 2);
    assert.match(none.stderr, /name the events to replay, or pass --all-dead-letters/);
    const both = await cli(['redeliver', 'whsub_x', 'evt_1', '--all-dead-letters']);
    assert.equal(both.code, 2);
    assert.match(both.stderr, /not both/);
  });

  test('an unknown subscription exits 4 for dead-letters and redeliver', async () => {
    const unknown = 'whsub_01JUNKNOWN0000000000000000';
    const list = await cli(['dead-letters', unknown]);
    assert.equal(list.code, 4, list.stderr);
    const replay = await cli(['redeliver', unknown, 'evt_1']);
    assert.equal(replay.code, 4, replay.stderr);
    assert.equal(replay.stdout, '');
    assert.match(replay.stderr, new RegExp(`subscription ${unknown} not found`));
  });
});
