import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { cleanEnv, runCli, tempHome } from '../helpers/cli.ts';
import { buildCorpus, headersFileText, hmacHex, rawRequest, TENANT_ID, type Expectation, type HostileDelivery } from '../helpers/hostile-deliveries.ts';
import { runInProcess, STACK_LINE } from '../helpers/in-process-cli.ts';
import { holdPartial, sendRaw, startListen, type ListenProcess, type RawAnswer } from '../helpers/raw-http.ts';
import { pool } from '../helpers/pool.ts';

// Reliability suite 5: hostile input to `verify` and `listen`. A corpus generated from a fixed
// seed (tampered bytes, forged signatures, bad timestamps, missing, duplicated and injected
// headers, oversize bodies, invalid UTF-8, wrong methods and paths, chunked tricks, requests
// that never finish) goes through `verify` (in-process through main(), with a headers file
// and with flags, plus a sample as child processes) and through the built `listen` over raw
// sockets. Nothing tampered, unsigned, mis-signed or stale may be accepted, every authentic
// delivery must be, and neither may crash: listen still accepts a valid delivery at the end.
// Figure: `hostile-input: cases <n>, false accepts 0, crashes 0`.

const SEED = 0x5eed1e57;
const SECRETS = {
  current: 'whsec_hostileInputCurrent_Q2xZ8mR4tV7yB1nK5pL0cF3h',
  previous: 'whsec_hostileInputPrevious_W9sD2gJ6kM1qT4vX7zA0bE5r',
  wrong: 'whsec_hostileInputSomebodyElse_H8uN3wP6yS1cG4jL7oR',
};
const SECRET_VAR = 'HOSTILE_SECRET';
const LISTEN_PATH = '/webhooks/intelliauth';
const NOW = Math.floor(Date.now() / 1000);
const CORPUS = buildCorpus(SEED, SECRETS, NOW);
const VERIFIED_VERDICTS = new Set(['accepted', 'duplicate', 'ignored']);

interface Finding {
  target: string;
  delivery: HostileDelivery | undefined;
  detail: string;
}

const tally = { cases: 0, falseAccepts: [] as Finding[], crashes: [] as Finding[], validRefused: [] as Finding[], leaks: [] as string[] };

function label(finding: Finding): string {
  const which = finding.delivery ? `#${finding.delivery.id} ${finding.delivery.group}: ${finding.delivery.name}` : '(no case)';
  return `${finding.target} ${which}: ${finding.detail}`;
}

function judge(target: string, delivery: HostileDelivery | undefined, expectation: Expectation, accepted: boolean, detail: string): void {
  tally.cases += 1;
  if (expectation === 'reject' && accepted) tally.falseAccepts.push({ target, delivery, detail });
  if (expectation === 'accept' && !accepted) tally.validRefused.push({ target, delivery, detail });
}

function scanForSecrets(where: string, ...texts: string[]): void {
  for (const text of texts) {
    for (const secret of Object.values(SECRETS)) if (text.includes(secret)) tally.leaks.push(`${where} shows a signing secret`);
  }
}

let home: { dir: string; cleanup: () => Promise<void> };

function env(): Record<string, string> {
  return cleanEnv(home.dir, { [SECRET_VAR]: SECRETS.current, [`${SECRET_VAR}_PREVIOUS`]: SECRETS.previous });
}

async function headersFile(delivery: HostileDelivery): Promise<string> {
  const path = join(home.dir, `headers-${delivery.id}.txt`);
  await writeFile(path, headersFileText(delivery), 'utf8');
  return path;
}

/** verify's documented outcomes: 0 valid, 7 invalid, 2 refused input. Anything else is a crash. */
function verifyOutcome(target: string, delivery: HostileDelivery, code: number | null, stdout: string, stderr: string): void {
  scanForSecrets(`${target} #${delivery.id}`, stdout, stderr);
  const firstError = stderr.split('\n').find((line) => line.startsWith('error:')) ?? '';
  if (code === null || ![0, 2, 7].includes(code) || STACK_LINE.test(stderr) || /unexpected error/.test(stderr)) {
    tally.cases += 1;
    tally.crashes.push({ target, delivery, detail: `exit ${code}: ${stderr.slice(0, 300)}` });
    return;
  }
  judge(target, delivery, delivery.verify!, code === 0, `exit ${code} ${firstError.slice(0, 200)}`);
}

/** The values a receiver copied off the request, as verify's flags; null when the headers cannot be given as flags. */
function asFlags(delivery: HostileDelivery): string[] | null {
  const values = (name: string) => delivery.headers.filter(([key]) => key.trim().toLowerCase() === name).map(([, value]) => value);
  const flags: string[] = [];
  for (const [name, flag] of [
    ['x-intelliauth-signature', '--signature'],
    ['x-intelliauth-signature-previous', '--previous-signature'],
    ['x-intelliauth-timestamp', '--timestamp'],
  ] as const) {
    const found = values(name);
    if (found.length > 1 || found.some((value) => /[\r\n\0]/.test(value))) return null;
    if (found.length === 1) flags.push(`${flag}=${found[0]}`);
  }
  return flags;
}

before(async () => {
  home = await tempHome('iaw-hostile-input-');
});

after(async () => {
  await home.cleanup();
});

describe('verify refuses every hostile delivery and accepts every authentic one', () => {
  const cases = CORPUS.filter((delivery) => delivery.verify !== null);

  test('in-process through main(): a headers file and the raw body on stdin', async () => {
    assert.ok(cases.length >= 150, `corpus for verify: ${cases.length}`);
    await pool(cases, 8, async (delivery) => {
      const file = await headersFile(delivery);
      const result = await runInProcess(['verify', '--secret-env', SECRET_VAR, '--headers-file', file], { env: env(), stdin: delivery.body });
      verifyOutcome('verify --headers-file', delivery, result.code, result.stdout, result.stderr);
    });
  });

  test('in-process through main(): the same values as flags', async () => {
    const flagged = cases.map((delivery) => ({ delivery, flags: asFlags(delivery) })).filter((entry) => entry.flags !== null);
    assert.ok(flagged.length >= 120, `cases expressible as flags: ${flagged.length}`);
    await pool(flagged, 8, async ({ delivery, flags }) => {
      const result = await runInProcess(['verify', '--secret-env', SECRET_VAR, ...flags!], { env: env(), stdin: delivery.body });
      verifyOutcome('verify --signature', delivery, result.code, result.stdout, result.stderr);
    });
  });

  test('the built CLI as child processes, one case of each kind', async () => {
    const seen = new Set<string>();
    const sample = cases.filter((delivery) => {
      if (seen.has(delivery.group) || delivery.body.length > 2 * 1024 * 1024) return false;
      seen.add(delivery.group);
      return true;
    });
    assert.ok(sample.length >= 8, `sample: ${sample.length}`);
    await pool(sample, 4, async (delivery) => {
      const file = await headersFile(delivery);
      const result = await runCli(['verify', '--secret-env', SECRET_VAR, '--headers-file', file], { env: env(), input: delivery.body, timeoutMs: 30_000 });
      verifyOutcome('verify (child)', delivery, result.code, result.stdout, result.stderr);
    });
  });
});

describe('listen refuses every hostile request, accepts every authentic one, and never falls over', () => {
  let listen: ListenProcess;
  const answers = new Map<number, RawAnswer>();

  before(async () => {
    listen = await startListen(['--secret-env', SECRET_VAR], env());
  });

  after(async () => {
    await listen?.stop();
  });

  test('every case over a raw socket', async () => {
    const cases = CORPUS.filter((delivery) => delivery.listen !== null);
    assert.ok(cases.length >= 180, `corpus for listen: ${cases.length}`);
    // One at a time: each case's record in listen's log is found by its event id afterwards.
    for (const delivery of cases) {
      const partial = delivery.wire?.sendBodyBytes !== undefined || delivery.wire?.chunked === 'short';
      answers.set(delivery.id, await sendRaw(listen.port, rawRequest(delivery, LISTEN_PATH, listen.port), { endAfterWrite: partial, timeoutMs: 5_000 }));
      if (!listen.alive()) break;
    }
    // Log lines are written once per turn of listen's event loop: wait until they stop coming.
    let count = -1;
    while (count !== listen.records().length) {
      count = listen.records().length;
      await listen.waitForRecords(count + 1, 500);
    }

    for (const delivery of cases) {
      const answer = answers.get(delivery.id);
      if (!answer) {
        tally.cases += 1;
        tally.crashes.push({ target: 'listen', delivery, detail: 'listen was gone before this case' });
        continue;
      }
      const records = listen.records().filter((record) => record.event_id === delivery.eventId);
      const verified = records.filter((record) => VERIFIED_VERDICTS.has(String(record.verdict)));
      const answered2xx = answer.statuses.some((status) => status >= 200 && status < 300);
      const accepted = verified.length > 0 || answered2xx;
      const detail = `answered ${answer.statuses.join(',') || (answer.timedOut ? 'nothing (still waiting)' : 'nothing')}; log ${JSON.stringify(records.map((record) => record.verdict))}`;
      if (delivery.listen === 'accept') {
        const acceptedProperly = answer.statuses[0] === 200 && records.some((record) => record.verdict === 'accepted');
        judge('listen', delivery, 'accept', acceptedProperly, detail);
      } else {
        judge('listen', delivery, delivery.listen!, accepted, detail);
      }
      // A complete request must be answered, unless listen logged it and its answer was lost to
      // the reset a server sends when it closes on a body it would not read (413).
      const complete = !(delivery.wire?.sendBodyBytes !== undefined || delivery.wire?.chunked === 'short');
      if (answer.unanswered && complete && records.length === 0) {
        tally.crashes.push({ target: 'listen', delivery, detail: `no answer to a complete request (${detail})` });
      }
    }
    assert.ok(listen.alive(), 'listen is still running after the corpus');
  });

  test('slowloris: requests held half-sent do not stop a valid delivery from being accepted', async () => {
    const fresh = validDelivery('evt_hostile_slowloris_probe');
    const held = [];
    for (let i = 0; i < 20; i += 1) {
      held.push(await holdPartial(listen.port, Buffer.from(`POST ${LISTEN_PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-IntelliAuth-Sig`)));
    }
    for (let i = 0; i < 10; i += 1) {
      const signedElsewhere = Buffer.from(`{"event_id":"evt_hostile_slow_${i}","event_type":"user.signed_up"}`);
      held.push(
        await holdPartial(
          listen.port,
          Buffer.concat([
            Buffer.from(
              `POST ${LISTEN_PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-IntelliAuth-Timestamp: ${NOW}\r\nX-IntelliAuth-Signature: ${hmacHex(SECRETS.current, signedElsewhere)}\r\nContent-Length: ${signedElsewhere.length + 50}\r\n\r\n`,
            ),
            signedElsewhere,
          ]),
        ),
      );
    }
    const before = listen.records().length;
    const answer = await sendRaw(listen.port, fresh.request(listen.port), { timeoutMs: 10_000 });
    await listen.waitForRecords(before + 1, 3_000);
    const accepted = answer.statuses[0] === 200 && listen.records().some((record) => record.event_id === fresh.eventId && record.verdict === 'accepted');
    judge('listen under slowloris', undefined, 'accept', accepted, `answered ${answer.statuses.join(',') || 'nothing'}`);
    for (const [index, connection] of held.entries()) {
      const statuses = connection.statuses();
      judge('listen slowloris connection', undefined, 'reject', statuses.some((status) => status >= 200 && status < 300), `connection ${index} answered ${statuses.join(',')}`);
      connection.socket.destroy();
    }
    assert.ok(accepted, 'a valid delivery is accepted while 30 connections hang half-sent');
  });

  test('after everything: still alive, accepts a valid delivery, and stops cleanly', async () => {
    const alive = listen.alive();
    if (!alive) tally.crashes.push({ target: 'listen', delivery: undefined, detail: `listen died: ${listen.stderr().slice(-500)}` });
    assert.ok(alive, 'listen survived the corpus');

    const last = validDelivery('evt_hostile_final_probe');
    const before = listen.records().length;
    const answer = await sendRaw(listen.port, last.request(listen.port));
    await listen.waitForRecords(before + 1, 3_000);
    const accepted = answer.statuses[0] === 200 && listen.records().some((record) => record.event_id === last.eventId && record.verdict === 'accepted');
    if (!accepted) tally.crashes.push({ target: 'listen', delivery: undefined, detail: `the final valid delivery was not accepted (answered ${answer.statuses.join(',')})` });
    judge('listen final probe', undefined, 'accept', accepted, `answered ${answer.statuses.join(',')}`);

    const code = await listen.stop();
    const stderr = listen.stderr();
    scanForSecrets('listen stderr', stderr);
    scanForSecrets('listen stdout', JSON.stringify(listen.records()), listen.strayStdout().join('\n'));
    if (STACK_LINE.test(stderr) || (code !== 0 && code !== 130)) {
      tally.crashes.push({ target: 'listen', delivery: undefined, detail: `stopped with ${code}: ${stderr.slice(-500)}` });
    }
    assert.deepEqual(listen.strayStdout(), [], 'stdout holds only NDJSON records');
    assert.ok(code === 0 || code === 130, `listen stops cleanly on SIGINT (exit ${code})`);
    assert.match(stderr, /"summary"/);
  });
});

function validDelivery(eventId: string): { eventId: string; request: (port: number) => Buffer } {
  const body = Buffer.from(
    JSON.stringify({
      event_id: eventId,
      event_type: 'user.signed_up',
      occurred_at: new Date().toISOString(),
      tenant: { id: TENANT_ID, slug: 'acme' },
      data: { user_id: 'usr_1' },
      delivery: { attempt: 1, subscription_id: 'whsub_01JHOSTILE000000000000000' },
    }),
  );
  const delivery: HostileDelivery = {
    id: 0,
    group: 'probe',
    name: eventId,
    eventId,
    body,
    headers: [
      ['Content-Type', 'application/json'],
      ['X-IntelliAuth-Event-Id', eventId],
      ['X-IntelliAuth-Timestamp', String(Math.floor(Date.now() / 1000))],
      ['X-IntelliAuth-Signature', hmacHex(SECRETS.current, body)],
    ],
    verify: 'accept',
    listen: 'accept',
  };
  return { eventId, request: (port) => rawRequest(delivery, LISTEN_PATH, port) };
}

test('hostile-input figure', (t) => {
  for (const finding of tally.falseAccepts.slice(0, 15)) t.diagnostic(`  false accept: ${label(finding)}`);
  for (const finding of tally.crashes.slice(0, 15)) t.diagnostic(`  crash: ${label(finding)}`);
  for (const finding of tally.validRefused.slice(0, 15)) t.diagnostic(`  valid refused: ${label(finding)}`);
  for (const leak of [...new Set(tally.leaks)].slice(0, 5)) t.diagnostic(`  leak: ${leak}`);
  const figure = `hostile-input: cases ${tally.cases}, false accepts ${tally.falseAccepts.length}, crashes ${tally.crashes.length}`;
  t.diagnostic(figure);
  assert.ok(tally.cases >= 2 * CORPUS.length, `every case ran (${tally.cases})`);
  assert.equal(tally.falseAccepts.length, 0, figure);
  assert.equal(tally.crashes.length, 0, figure);
  assert.deepEqual(tally.validRefused.map(label), [], 'every authentic delivery is accepted');
  assert.deepEqual(tally.leaks, [], 'no signing secret in any output');
});
