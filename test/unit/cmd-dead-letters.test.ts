import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { deadLettersCommand, type DeadLettersOptions } from '../../src/commands/dead-letters/index.ts';
import { deadLetterColumns, lastError, run as runDeadLetters, timeLeft } from '../../src/commands/dead-letters/run.ts';
import { redeliverCommand, type RedeliverOptions } from '../../src/commands/redeliver/index.ts';
import { run as runRedeliver } from '../../src/commands/redeliver/run.ts';
import type { DeadLetter } from '../../src/domain/contract.ts';
import { ApiError, exitCodeFor, UsageError } from '../../src/errors.ts';
import { makeTestContext, type TestContextOptions } from '../helpers/context.ts';
import { startTestEmulator, type TestEmulator } from '../helpers/emulator-harness.ts';
import { startReceiver, type Receiver } from '../helpers/receiver.ts';
import { emulatorEnv, optionsFor } from '../helpers/subscriptions.ts';

const parseDeadLetters = (argv: string[]) => optionsFor<DeadLettersOptions>(deadLettersCommand, ['dead-letters', ...argv]);
const parseRedeliver = (argv: string[]) => optionsFor<RedeliverOptions>(redeliverCommand, ['redeliver', ...argv]);

const NOW = Date.parse('2026-03-01T12:00:00.000Z');
const LETTER: DeadLetter = {
  event_id: 'evt_01',
  event_type: 'user.signed_up',
  subscription_id: 'whsub_01',
  dead_lettered_at: '2026-03-01T11:59:59.500Z',
  expires_at: '2026-03-08T11:59:59.500Z',
  attempts: 6,
  last_error: 'http_status',
  last_http_status: 503,
};

describe('dead-letters and redeliver: argv to options', () => {
  test('dead-letters takes the subscription id', async () => {
    assert.deepEqual(await parseDeadLetters(['whsub_01']), { id: 'whsub_01' });
  });

  test('redeliver: event ids, distinct and in order', async () => {
    assert.deepEqual(await parseRedeliver(['whsub_01', 'evt_b', 'evt_a', 'evt_b']), {
      id: 'whsub_01',
      eventIds: ['evt_b', 'evt_a'],
      allDeadLetters: false,
      yes: false,
    });
    assert.deepEqual(await parseRedeliver(['whsub_01', '--all-dead-letters', '--yes']), {
      id: 'whsub_01',
      eventIds: [],
      allDeadLetters: true,
      yes: true,
    });
  });

  test('redeliver: neither or both ways of naming events is a usage error', async () => {
    await assert.rejects(parseRedeliver(['whsub_01']), { name: 'UsageError', message: 'name the events to replay, or pass --all-dead-letters' });
    await assert.rejects(parseRedeliver(['whsub_01', 'evt_1', '--all-dead-letters']), { message: 'give event ids or --all-dead-letters, not both' });
    await assert.rejects(parseRedeliver(['whsub_01', 'evt 1']), UsageError);
  });
});

describe('dead-letters: the table', () => {
  test('at a terminal: short UTC times and the time left', () => {
    const cells = deadLetterColumns(true, NOW).map((column) => column.value(LETTER));
    assert.deepEqual(cells, ['evt_01', 'user.signed_up', '2026-03-01 11:59', '6', 'HTTP 503', '2026-03-08 11:59 (in 6d 23h)']);
  });

  test('piped: ISO 8601 times', () => {
    const cells = deadLetterColumns(false, NOW).map((column) => column.value(LETTER));
    assert.deepEqual(cells, ['evt_01', 'user.signed_up', LETTER.dead_lettered_at, '6', 'HTTP 503', LETTER.expires_at]);
  });

  test('last error: the status for http_status, else the kind', () => {
    assert.equal(lastError({ last_error: 'timeout', last_http_status: null }), 'timeout');
    assert.equal(lastError({ last_error: 'http_status', last_http_status: 401 }), 'HTTP 401');
    assert.equal(lastError({ last_error: null, last_http_status: null }), 'unknown');
  });

  test('time left', () => {
    assert.equal(timeLeft('2026-03-01T12:00:30.000Z', NOW), 'in 30s');
    assert.equal(timeLeft('2026-03-01T11:00:00.000Z', NOW), 'expired');
    assert.equal(timeLeft('not a time', NOW), 'unknown');
  });
});

describe('dead-letters and redeliver: against the emulator (--time-scale 100000)', () => {
  let emulator: TestEmulator;
  let receiver: Receiver;
  let home: string;
  let healthy = false;

  before(async () => {
    emulator = await startTestEmulator({ allowPrivateTargets: true, timeScale: 100_000 });
    receiver = await startReceiver({ respond: (_d, res) => res.writeHead(healthy ? 200 : 500).end() });
    home = await mkdtemp(join(tmpdir(), 'iaw-dl-unit-'));
  });
  after(async () => {
    await receiver.close();
    await emulator.close({ graceMs: 0 });
    await rm(home, { recursive: true, force: true });
  });

  const context = (options: TestContextOptions = {}) =>
    makeTestContext({
      ...options,
      env: emulatorEnv(emulator, home),
    });

  async function deadLettered(count: number): Promise<{ id: string; events: string[] }> {
    healthy = false;
    const created = await emulator.call('POST', '/api/v1/webhooks/subscriptions', { body: { name: 'dl', url: receiver.url, events: ['user.*'] } });
    const id = created.body.data.id as string;
    const events: string[] = [];
    for (let i = 0; i < count; i += 1) {
      events.push((await emulator.call('POST', '/_emulator/events', { body: { event_type: 'user.updated' } })).body.data.event_id);
    }
    const deadline = Date.now() + 10_000;
    while ((await emulator.call('GET', `/api/v1/webhooks/subscriptions/${id}/dead-letters`)).body.data.length < count) {
      assert.ok(Date.now() < deadline, 'events were not dead-lettered in time');
      await sleep(25);
    }
    return { id, events };
  }

  test('dead-letters: a table at a terminal, with a hint to replay', async () => {
    const { id, events } = await deadLettered(1);
    const t = context({ tty: true });
    await runDeadLetters({ id }, t.context);
    assert.match(t.stdout(), /EVENT ID/);
    assert.ok(t.stdout().includes(events[0]!));
    assert.match(t.stdout(), /HTTP 500/);
    assert.match(t.stdout(), /\(in \d+s\)/);
    assert.match(t.stderr(), new RegExp(`1 dead-lettered event; replay with \`intelliauth-webhooks redeliver ${id} --all-dead-letters\``));
  });

  test('redeliver --all-dead-letters at a terminal asks first; "no" replays nothing', async () => {
    const { id } = await deadLettered(2);
    const t = context({ tty: true, answers: [{ match: 'Redeliver 2 dead-lettered events to http://127.0.0.1', answer: false }] });
    await assert.rejects(runRedeliver({ id, eventIds: [], allDeadLetters: true, yes: false }, t.context), { message: 'cancelled; nothing was changed' });
    assert.equal((await emulator.call('GET', `/api/v1/webhooks/subscriptions/${id}/dead-letters`)).body.data.length, 2);
  });

  test('redeliver --all-dead-letters without a terminal goes ahead; a line per event', async () => {
    const { id, events } = await deadLettered(2);
    healthy = true;
    const t = context();
    await runRedeliver({ id, eventIds: [], allDeadLetters: true, yes: false }, t.context);
    assert.deepEqual(t.stdout().trimEnd().split('\n').sort(), events.map((e) => `${e}\tscheduled`).sort());
    assert.match(t.stderr(), /✓ 2 events scheduled for redelivery/);
    const deadline = Date.now() + 10_000;
    while ((await emulator.call('GET', `/api/v1/webhooks/subscriptions/${id}/dead-letters`)).body.data.length > 0) {
      assert.ok(Date.now() < deadline);
      await sleep(25);
    }
    const empty = context({ globals: { json: true } });
    await runDeadLetters({ id }, empty.context);
    assert.deepEqual(JSON.parse(empty.stdout()), []);
  });

  test('redeliver: a partial failure names the failed events and takes the exit code of the first failure', async () => {
    const { id, events } = await deadLettered(1);
    const t = context({ tty: true });
    const missing = ['evt_01JMISSING00000000000000001', 'evt_01JMISSING00000000000000002'];
    await assert.rejects(runRedeliver({ id, eventIds: [missing[0]!, events[0]!, missing[1]!], allDeadLetters: false, yes: false }, t.context), (error: Error) => {
      assert.ok(error instanceof ApiError);
      assert.equal(exitCodeFor(error), 4);
      assert.equal(error.message, `2 of 3 redeliveries failed: ${missing[0]}, ${missing[1]} (1 scheduled)`);
      return true;
    });
    const lines = t.stdout().trimEnd().split('\n');
    assert.equal(lines.length, 3);
    assert.match(lines[0]!, new RegExp(`^✗ ${missing[0]}  failed: event ${missing[0]} not found`));
    assert.equal(lines[1], `✓ ${events[0]}  scheduled`);
    assert.match(lines[2]!, new RegExp(`^✗ ${missing[1]}  failed: `));
  });

  test('redeliver --json: an array of outcomes', async () => {
    const { id, events } = await deadLettered(1);
    const t = context({ globals: { json: true } });
    await runRedeliver({ id, eventIds: events, allDeadLetters: false, yes: false }, t.context);
    assert.deepEqual(JSON.parse(t.stdout()), [{ event_id: events[0], ok: true }]);
  });

  test('an unknown subscription: one error, no per-event lines', async () => {
    const t = context();
    await assert.rejects(runRedeliver({ id: 'whsub_01JNOPE0000000000000000000', eventIds: ['evt_1'], allDeadLetters: false, yes: false }, t.context), (error: Error) => {
      assert.equal(exitCodeFor(error), 4);
      return true;
    });
    assert.equal(t.stdout(), '');
  });
});
