import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ROOT, cleanEnv, runCli, startEmulatorProcess, tempHome, type CliResult, type EmulatorProcess } from '../helpers/cli.ts';
import { emulatorClient, type EmulatorClient } from '../helpers/emulator-client.ts';

// `rotate` tells when the previous secret stops being accepted as "the exact time, local and
// UTC": `2026-11-27 09:03:05 EST (14:03:05 UTC)`-style, from formatLocalAndUtc. The built CLI
// runs with TZ set (a zone with daylight saving, and one with a half-hour offset); both
// halves are parsed back to instants, which must agree with each other and with the
// platform's previous_secret_expires_at. Secrets go to files: no keychain needed.

let home: { dir: string; cleanup: () => Promise<void> };
let emulator: EmulatorProcess;
let client: EmulatorClient;
const outputs: CliResult[] = [];
const secrets: string[] = [];

async function cli(args: string[], timeZone: string): Promise<CliResult> {
  const result = await runCli(args, { env: emulator.env(home.dir, { TZ: timeZone }) });
  outputs.push(result);
  return result;
}

before(async () => {
  assert.ok(existsSync(join(ROOT, 'dist', 'main.js')), 'build first: node scripts/build.mjs');
  home = await tempHome('iaw-rotate-tz-');
  // No --time-scale: a grace of 2 h ends 2 h from now, so the time printed is a real one.
  emulator = await startEmulatorProcess([], { env: cleanEnv(home.dir), timeoutMs: 30_000 });
  client = emulatorClient(emulator);
});

after(async () => {
  for (const { stdout, stderr } of outputs) {
    for (const secret of secrets) {
      assert.equal(stdout.includes(secret), false, 'stdout leaks a secret');
      assert.equal(stderr.includes(secret), false, 'stderr leaks a secret');
    }
  }
  await emulator?.stop();
  await home?.cleanup();
});

// ---- reading the printed time back -------------------------------------------------------

interface Printed {
  text: string;
  local: { date: string; hour: number; minute: number; second: number; zone: string };
  utc: string;
}

/** `YYYY-MM-DD HH:MM:SS ZONE (YYYY-MM-DD HH:MM:SS UTC)`, as it appears after `prefix`. */
function findPrinted(output: string, prefix: string, label: string): Printed {
  const re = new RegExp(
    `${prefix}((\\d{4}-\\d\\d-\\d\\d) (\\d\\d):(\\d\\d):(\\d\\d) ([A-Za-z]+(?:[+-]\\d{1,2}(?::\\d\\d)?)?) \\((\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d) UTC\\))`,
    'm',
  );
  const match = re.exec(output);
  assert.ok(match, `${label}: the time, local and UTC, as "YYYY-MM-DD HH:MM:SS ZONE (YYYY-MM-DD HH:MM:SS UTC)":\n${output}`);
  const [, text, date, hour, minute, second, zone, utc] = match;
  return { text: text!, local: { date: date!, hour: Number(hour), minute: Number(minute), second: Number(second), zone: zone! }, utc: utc! };
}

/** Minutes east of UTC that a zone name stands for, in the zones this file uses. */
function zoneOffsetMinutes(timeZone: string, zone: string): number {
  const known: Record<string, Record<string, number>> = {
    'America/New_York': { EST: -300, EDT: -240 },
    'Asia/Kolkata': { IST: 330 },
  };
  const named = known[timeZone]?.[zone];
  if (named !== undefined) return named;
  const numeric = /^(?:GMT|UTC)([+-])(\d{1,2})(?::(\d\d))?$/.exec(zone);
  assert.ok(numeric, `"${zone}" names an offset for ${timeZone} (expected e.g. EST/EDT, IST or GMT+5:30)`);
  return (numeric[1] === '-' ? -1 : 1) * (Number(numeric[2]) * 60 + Number(numeric[3] ?? 0));
}

/** The offset the zone really has at that instant (ICU's tz data, asked in a different way). */
function actualOffsetMinutes(timeZone: string, instant: number): number {
  const name = new Intl.DateTimeFormat('en-US', { timeZone, timeZoneName: 'longOffset' })
    .formatToParts(new Date(instant))
    .find((part) => part.type === 'timeZoneName')!.value;
  if (name === 'GMT') return 0;
  const match = /^GMT([+-])(\d\d):(\d\d)$/.exec(name);
  assert.ok(match, name);
  return (match[1] === '-' ? -1 : 1) * (Number(match[2]) * 60 + Number(match[3]));
}

/** The local hour (0-23) of an instant in a zone. */
function localHour(timeZone: string, instant: number): number {
  return Number(new Intl.DateTimeFormat('en-GB', { timeZone, hour: '2-digit', hourCycle: 'h23' }).format(new Date(instant)));
}

function utcInstant(utc: string): number {
  const ms = Date.parse(`${utc.replace(' ', 'T')}Z`);
  assert.ok(!Number.isNaN(ms), utc);
  return ms;
}

/** Checks one printed time against the platform's expiry; returns the local instant. */
function assertSameInstant(printed: Printed, timeZone: string, expiresAt: string, label: string): void {
  const expected = Math.floor(Date.parse(expiresAt) / 1000) * 1000; // printed to the second
  // The UTC half is the platform's time.
  assert.equal(printed.utc, new Date(expected).toISOString().replace('T', ' ').slice(0, 19), `${label}: UTC half is previous_secret_expires_at (${expiresAt})`);
  assert.equal(utcInstant(printed.utc), expected);
  // The local half: a real wall-clock time in that zone, with the zone's offset at that instant.
  const { date, hour, minute, second, zone } = printed.local;
  assert.ok(hour >= 0 && hour <= 23, `${label}: the local hour is 00-23, got ${String(hour).padStart(2, '0')} in ${printed.text}`);
  assert.ok(minute <= 59 && second <= 59, printed.text);
  const offset = zoneOffsetMinutes(timeZone, zone);
  assert.equal(offset, actualOffsetMinutes(timeZone, expected), `${label}: "${zone}" is ${timeZone}'s offset at that instant`);
  assert.notEqual(offset, 0, 'the local half is not UTC in disguise');
  const [y, m, d] = date.split('-').map(Number) as [number, number, number];
  const local = Date.UTC(y, m - 1, d, hour, minute, second) - offset * 60_000;
  assert.equal(new Date(local).toISOString(), new Date(expected).toISOString(), `${label}: local and UTC halves denote the same instant: ${printed.text}`);
}

// ---- the rotation ------------------------------------------------------------------------

async function rotateIn(timeZone: string, grace: string): Promise<{ id: string; result: CliResult; expiresAt: string; startedAt: number }> {
  const subscription = await client.createSubscription({ url: 'https://receiver.example.com/webhooks', name: `tz ${timeZone}` });
  secrets.push(subscription.signing_secret);
  const secretFile = join(home.dir, `${subscription.id}.secret`);
  const startedAt = Date.now();
  const result = await cli(['rotate', subscription.id, '--grace', grace, '--yes', '--secret-store', 'file', '--secret-file', secretFile], timeZone);
  assert.equal(result.code, 0, result.stderr);
  secrets.push((await readFile(secretFile, 'utf8')).trim());

  // The platform's own word on the end of the grace, through the CLI.
  const got = await cli(['get', subscription.id, '--json'], timeZone);
  assert.equal(got.code, 0, got.stderr);
  const expiresAt = (JSON.parse(got.stdout) as { previous_secret_expires_at: string | null }).previous_secret_expires_at;
  assert.ok(expiresAt, 'the platform reports the end of the grace');
  return { id: subscription.id, result, expiresAt, startedAt };
}

function assertBothHalves(run: { result: CliResult; expiresAt: string }, timeZone: string): void {
  // stdout (not a TTY: tab-separated details) and the note on stderr both give it.
  const details = findPrinted(run.result.stdout, '^previous secret until\\t', 'stdout');
  assertSameInstant(details, timeZone, run.expiresAt, 'stdout');
  const note = findPrinted(run.result.stderr, 'Until ', 'stderr');
  assertSameInstant(note, timeZone, run.expiresAt, 'stderr');
  assert.match(run.result.stderr, /deliveries also carry X-IntelliAuth-Signature-Previous/);
}

for (const timeZone of ['America/New_York', 'Asia/Kolkata']) {
  describe(`rotate --grace with TZ=${timeZone}`, () => {
    test('prints when the previous secret stops, in local time with its zone and in UTC, as the same instant', { timeout: 30_000 }, async () => {
      const grace = '2h';
      const run = await rotateIn(timeZone, grace);
      assertBothHalves(run, timeZone);
      // And that instant is the grace asked for, from now.
      const hours = Number(grace.slice(0, -1));
      const ends = Date.parse(run.expiresAt);
      assert.ok(Math.abs(ends - (run.startedAt + hours * 3_600_000)) < 60_000, `${run.expiresAt} is ${grace} after the rotation`);
    });
  });
}

describe('rotate --grace ending in the local midnight hour', () => {
  // `hour12: false` in ICU's en-CA pattern is hour cycle h24: 00:30 local printed as "24:30".
  test('TZ=America/New_York: 00:30 local is printed as 00:30, not 24:30', { timeout: 30_000 }, async () => {
    const timeZone = 'America/New_York';
    // The grace (in seconds; 1 s granularity) that ends at the next local 00:30:00, at least 10 minutes away.
    let target = Math.ceil((Date.now() + 600_000) / 60_000) * 60_000;
    while (!(localHour(timeZone, target) === 0 && new Date(target).getUTCMinutes() === 30)) target += 60_000;
    const graceSeconds = Math.round((target - Date.now()) / 1000);
    assert.ok(graceSeconds <= 7 * 86_400);
    const run = await rotateIn(timeZone, `${graceSeconds}s`);
    assert.equal(localHour(timeZone, Date.parse(run.expiresAt)), 0, 'the grace ends in the local midnight hour');
    assertBothHalves(run, timeZone);
  });
});
