import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { lineStyleFor, pageFormatter } from '../../src/commands/tail-deliveries/lines.ts';
import { run } from '../../src/commands/tail-deliveries/run.ts';
import { toTailOptions } from '../../src/commands/tail-deliveries/index.ts';
import type { DeliveryRecord } from '../../src/domain/contract.ts';
import { IO, type IOSettings } from '../../src/output/io.ts';
import { makeTestContext } from '../helpers/context.ts';
import { FakeFeed } from '../helpers/tail-fake-feed.ts';

// tail-deliveries at a terminal: one line per attempt with time, event type, event id,
// attempt number, status coloured by outcome, latency, error kind and a dead-letter mark.
// The usual test context forces NO_COLOR; here colour is switched on the ways a user's
// environment does it (a TTY with TERM=xterm, or FORCE_COLOR), and off again.

// Terminal lines show the attempt time in the local zone: pin it (a non-whole-hour offset,
// so a line printed in UTC or with a whole-hour error cannot pass).
process.env.TZ = 'Asia/Kolkata';

// Exactly what chalk emits at level 1 (16 colours).
const GREEN = (text: string) => `\x1b[32m${text}\x1b[39m`;
const RED = (text: string) => `\x1b[31m${text}\x1b[39m`;
const RED_BOLD = (text: string) => `\x1b[31m\x1b[1m${text}\x1b[22m\x1b[39m`;
const DIM = (text: string) => `\x1b[2m${text}\x1b[22m`;
// eslint-disable-next-line no-control-regex
const ANSI = /\x1b\[[0-9;]*m/g;
// eslint-disable-next-line no-control-regex
const ANY_ESCAPE = /[\x1b\x9b]/;
const strip = (text: string) => text.replace(ANSI, '');

function record(n: number, init: Partial<DeliveryRecord>): DeliveryRecord {
  return {
    id: `dlv_${String(n).padStart(12, '0')}`,
    subscription_id: 'whsub_TEST',
    event_id: `evt_${String(n).padStart(12, '0')}`,
    event_type: 'user.signed_up',
    attempt: 1,
    attempted_at: '2026-05-01T08:33:05.000Z',
    outcome: 'succeeded',
    http_status: 200,
    error: null,
    latency_ms: 42,
    response_excerpt: '',
    next_attempt_at: null,
    dead_lettered: false,
    ...init,
  };
}

// 08:33:05Z is 14:03:05 in Kolkata (UTC+5:30).
const SUCCEEDED = record(1, { event_type: 'user.signed_up', attempt: 1, outcome: 'succeeded', http_status: 200, latency_ms: 42 });
const FAILED = record(2, {
  event_type: 'mfa.factor_added',
  attempted_at: '2026-05-01T08:34:10.000Z',
  attempt: 3,
  outcome: 'failed',
  http_status: 503,
  error: 'http_status',
  latency_ms: 1234,
  next_attempt_at: '2026-05-01T08:39:10.000Z',
});
const DEAD = record(3, {
  event_type: 'user.deleted',
  attempted_at: '2026-05-01T18:31:00.000Z', // 00:01:00 the next day in Kolkata: hour 00, not 24
  attempt: 8,
  outcome: 'failed',
  http_status: null,
  error: 'timeout',
  latency_ms: 10000,
  dead_lettered: true,
});
const RECORDS = [SUCCEEDED, FAILED, DEAD];

class Capture extends PassThrough {
  constructor(readonly isTTY: boolean) {
    super();
  }
  columns = 120;
}

function makeIO(tty: boolean, env: Record<string, string>, settings: IOSettings = {}): IO {
  const stdin = new PassThrough() as PassThrough & { isTTY?: boolean };
  stdin.isTTY = tty;
  return new IO({ stdin, stdout: new Capture(tty), stderr: new Capture(tty) }, env, settings);
}

/** Formats a page the way tail-deliveries does for this IO (without --json). */
function page(io: IO, records: readonly DeliveryRecord[] = RECORDS): { style: string; lines: string[] } {
  const style = lineStyleFor(io, false);
  const text = pageFormatter(style, io)(records);
  assert.ok(text.endsWith('\n'), 'a page ends with a newline');
  return { style, lines: text.slice(0, -1).split('\n') };
}

/** The fields of a terminal line once colour is stripped, in the order a person reads them. */
const TERMINAL_LINE =
  /^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) {2}(\S+) +(\S+) {2}#(\d+) {2}([✓✗]) (\d{3}|---) {2} *(\d+) ms(?: {2}(\S+))?(?: {2}(dead-lettered))?$/u;

function fields(line: string) {
  const match = TERMINAL_LINE.exec(strip(line));
  assert.ok(match, `a terminal line: ${JSON.stringify(line)}`);
  const [, time, eventType, eventId, attempt, mark, status, latency, error, dead] = match;
  return { time, eventType, eventId, attempt: Number(attempt), mark, status, latency: Number(latency), error: error ?? null, dead: dead !== undefined };
}

function assertTerminalFields(lines: string[]): void {
  assert.equal(lines.length, 3, 'one line per attempt');
  assert.deepEqual(fields(lines[0]!), {
    time: '2026-05-01 14:03:05', eventType: 'user.signed_up', eventId: SUCCEEDED.event_id, attempt: 1,
    mark: '✓', status: '200', latency: 42, error: null, dead: false,
  });
  assert.deepEqual(fields(lines[1]!), {
    time: '2026-05-01 14:04:10', eventType: 'mfa.factor_added', eventId: FAILED.event_id, attempt: 3,
    mark: '✗', status: '503', latency: 1234, error: 'http_status', dead: false,
  });
  assert.deepEqual(fields(lines[2]!), {
    time: '2026-05-02 00:01:00', eventType: 'user.deleted', eventId: DEAD.event_id, attempt: 8,
    mark: '✗', status: '---', latency: 10000, error: 'timeout', dead: true,
  });
}

function assertColoured(lines: string[]): void {
  const [ok, failed, dead] = lines as [string, string, string];
  // Status by outcome: green for a success, red for a failure; never the other colour.
  assert.ok(ok.includes(GREEN('✓ 200')), `succeeded status is green: ${JSON.stringify(ok)}`);
  assert.ok(!ok.includes('\x1b[31m'), `nothing red on a succeeded line: ${JSON.stringify(ok)}`);
  assert.ok(failed.includes(RED('✗ 503')), `failed status is red: ${JSON.stringify(failed)}`);
  assert.ok(!failed.includes('\x1b[32m'), `nothing green on a failed line: ${JSON.stringify(failed)}`);
  assert.ok(dead.includes(RED('✗ ---')), `failed status without an HTTP status is red: ${JSON.stringify(dead)}`);
  assert.ok(!dead.includes('\x1b[32m'));
  // The error kind in red, the dead-letter mark in bold red, the time dimmed.
  assert.ok(failed.includes(RED('http_status')), JSON.stringify(failed));
  assert.ok(dead.includes(RED('timeout')), JSON.stringify(dead));
  assert.ok(dead.endsWith(RED_BOLD('dead-lettered')), `dead-lettered attempt is marked, bold red: ${JSON.stringify(dead)}`);
  assert.ok(!ok.includes('dead-lettered') && !failed.includes('dead-lettered'), 'only the dead-lettered attempt is marked');
  assert.ok(ok.startsWith(DIM('2026-05-01 14:03:05')), JSON.stringify(ok));
  // Every escape sequence is a complete SGR colour code; nothing else reaches the terminal.
  for (const line of lines) assert.equal(ANY_ESCAPE.test(strip(line)), false, `only colour codes: ${JSON.stringify(line)}`);
}

function assertNoEscapes(lines: string[]): void {
  for (const line of lines) assert.equal(ANY_ESCAPE.test(line), false, `no escape codes at all: ${JSON.stringify(line)}`);
}

describe('tail-deliveries terminal lines with colour on', () => {
  test('a TTY with TERM=xterm: green for succeeded, red for failed, dead letters marked', () => {
    const io = makeIO(true, { TERM: 'xterm' });
    assert.equal(io.out.level, 1, 'TERM=xterm at a TTY is 16 colours');
    const { style, lines } = page(io);
    assert.equal(style, 'terminal');
    assertColoured(lines);
    assertTerminalFields(lines);
  });

  test('FORCE_COLOR=1 at a TTY (even with TERM=dumb) colours the same way', () => {
    const io = makeIO(true, { FORCE_COLOR: '1', TERM: 'dumb' });
    assert.equal(io.out.level, 1);
    const { style, lines } = page(io);
    assert.equal(style, 'terminal');
    assertColoured(lines);
    assertTerminalFields(lines);
  });

  test('colour changes nothing but the escape codes', () => {
    const coloured = page(makeIO(true, { TERM: 'xterm' })).lines;
    const plain = page(makeIO(true, { TERM: 'xterm', NO_COLOR: '1' })).lines;
    assert.deepEqual(coloured.map(strip), plain);
  });

  test('the command itself, at a colour terminal, writes the coloured lines', async () => {
    const feed = new FakeFeed();
    feed.records.push(SUCCEEDED, FAILED, DEAD);
    const harness = makeTestContext({ tty: true, env: { NO_COLOR: undefined, TERM: 'xterm' }, globals: { json: false } });
    const code = await run(toTailOptions(feed.subscriptionId, { follow: false }), harness.context, { source: feed, minIntervalMs: 1, maxIntervalMs: 4 });
    assert.equal(code ?? 0, 0, harness.stderr());
    const lines = harness.stdout().split('\n').filter((line) => line !== '');
    assertColoured(lines);
    assertTerminalFields(lines);
  });
});

describe('tail-deliveries lines with colour off', () => {
  const cases: Array<[string, () => IO, string]> = [
    ['NO_COLOR=1 at a TTY', () => makeIO(true, { TERM: 'xterm', NO_COLOR: '1' }), 'terminal'],
    ['NO_COLOR=1 beats FORCE_COLOR=1', () => makeIO(true, { TERM: 'xterm', NO_COLOR: '1', FORCE_COLOR: '1' }), 'terminal'],
    ['--no-color at a TTY', () => makeIO(true, { TERM: 'xterm' }, { color: false }), 'terminal'],
    ['TERM=dumb at a TTY', () => makeIO(true, { TERM: 'dumb' }), 'terminal'],
    ['stdout not a TTY, no FORCE_COLOR', () => makeIO(false, { TERM: 'xterm' }), 'tsv'],
  ];
  for (const [name, makeIo, expectedStyle] of cases) {
    test(`${name}: no escape codes at all`, () => {
      const io = makeIo();
      assert.equal(io.out.level, 0);
      const { style, lines } = page(io);
      assert.equal(style, expectedStyle);
      assert.equal(lines.length, 3);
      assertNoEscapes(lines);
      if (style === 'terminal') {
        assertTerminalFields(lines);
      } else {
        // Not a terminal: tab-separated fields for scripts, the dead letter still marked.
        assert.deepEqual(lines.map((line) => line.split('\t')), [
          ['2026-05-01T08:33:05.000Z', 'user.signed_up', SUCCEEDED.event_id, '1', 'succeeded', '200', '42', '-', '-'],
          ['2026-05-01T08:34:10.000Z', 'mfa.factor_added', FAILED.event_id, '3', 'failed', '503', '1234', 'http_status', '-'],
          ['2026-05-01T18:31:00.000Z', 'user.deleted', DEAD.event_id, '8', 'failed', '-', '10000', 'timeout', 'dead-lettered'],
        ]);
      }
    });
  }

  test('the terminal line format itself carries no escapes when the IO has no colour (not a TTY)', () => {
    const io = makeIO(false, { TERM: 'xterm' });
    const lines = pageFormatter('terminal', io)(RECORDS).slice(0, -1).split('\n');
    assertNoEscapes(lines);
    assertTerminalFields(lines);
  });

  test('the command itself, at a NO_COLOR terminal, writes plain lines', async () => {
    const feed = new FakeFeed();
    feed.records.push(SUCCEEDED, FAILED, DEAD);
    const harness = makeTestContext({ tty: true, env: { TERM: 'xterm' }, globals: { json: false } });
    const code = await run(toTailOptions(feed.subscriptionId, { follow: false }), harness.context, { source: feed, minIntervalMs: 1, maxIntervalMs: 4 });
    assert.equal(code ?? 0, 0, harness.stderr());
    const lines = harness.stdout().split('\n').filter((line) => line !== '');
    assertNoEscapes(lines);
    assertTerminalFields(lines);
  });
});
