import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { DEAD_LETTER_TTL_SECONDS, type DeadLetter, type DeliveryRecord, type Subscription } from '../../src/domain/contract.ts';
import { JITTER_FRACTION, MAX_ATTEMPTS, RETRY_DELAYS_SECONDS } from '../../src/domain/retry-schedule.ts';
import { cleanEnv, tempHome } from '../helpers/cli.ts';
import { ApiPool, spawnEmulator, type EmulatorChild } from '../helpers/emulator-child.ts';
import { startFlakyReceiver, type FlakyReceiver, type ReceivedAttempt } from '../helpers/flaky-receiver.ts';

// Reliability suite 6: delivery under load and faults.
//
// The emulator (a child process with --state) delivers EVENTS events to four loopback
// receivers that answer 500 to 30% of requests (seeded) and 202 to the rest. At
// --time-scale 5000 the six-attempt schedule (about 14 h 36 min) takes about 10.5 s and a
// dead letter lives about 2 minutes (7 days / 5000). A faster scale would end most retry
// series within a second, so a kill right after the last trigger would find almost none in
// flight, and (at 100000) dead letters would expire 6 s after they were made, before the
// restarted emulator could be asked about them.
//
// Triggers are paced to take at least TRIGGER_SPAN_MS: on a fast machine they would
// otherwise all be answered before the first dead letter exists (about 10.5 s in), and the
// second kill would find no retry series left to cut.
//
// The emulator is killed with SIGKILL twice, each time right after the test read
// subscriptions, dead letters and the newest feed records from the API, and restarted on the
// same state file: half way through the triggers, and right after the last one (when only
// retries, which the emulator writes to disk lazily, are in flight). Everything the API
// answered before a kill must be there after the restart. An attempt that reached a receiver
// may be missing from the feed only if its sender was killed and the series ran again after
// the restart (at least once); that count is reported. Receivers tell the processes apart by
// connection: the test bumps an epoch once a killed emulator has exited.
//
// Figure: events, lost (acknowledged events, subscriptions, dead letters or feed records
// missing afterwards: must be 0), and duplicates beyond at-least-once retries: a receiver
// answering 2xx twice for the same event, which may happen only for a success the emulator
// had not yet recorded durably when it was killed.

const EVENTS = 20_000;
const TIME_SCALE = 5000;
const FAIL_RATE = 0.3;
const TRIGGER_CONCURRENCY = 64;
const TRIGGER_SPAN_MS = 24_000;
/** How long before the kill a pending retry must still be due, to be certainly pending. */
const KILL_MARGIN_MS = 2000;
/** One subscription per receiver, each matching exactly one of these types. */
const ROUTES = [
  { type: 'user.signed_in', selector: 'user.signed_in' },
  { type: 'user.signed_out', selector: 'user.signed_out' },
  { type: 'user.sign_in_failed', selector: 'user.sign_in_failed' },
  { type: 'mfa.factor_added', selector: 'mfa.*' },
] as const;
const DEAD_LETTER_TTL_MS = (DEAD_LETTER_TTL_SECONDS * 1000) / TIME_SCALE;

interface Tenant {
  emulator: EmulatorChild;
  api: ApiPool;
  generation: number;
}

function subscriptionView(sub: Subscription): Record<string, unknown> {
  const { id, name, url, events, description, status, created_at, updated_at, secret_fingerprint } = sub;
  return { id, name, url, events, description, status, created_at, updated_at, secret_fingerprint };
}

test('delivery under load and faults: every event ends delivered or dead-lettered, nothing acknowledged is lost to SIGKILL', { timeout: 240_000 }, async (t) => {
  const home = await tempHome('iaw-reliability-6-');
  const statePath = join(home.dir, 'emulator-state.json');
  const emulatorArgs = ['--allow-private-targets', '--time-scale', String(TIME_SCALE), '--state', statePath, '--plan', 'enterprise'];
  const env = cleanEnv(home.dir);
  const receivers: FlakyReceiver[] = [];
  const tenants: Tenant[] = [];
  t.after(async () => {
    for (const tenant of tenants) {
      await tenant.api.close().catch(() => undefined);
      await tenant.emulator.stop('SIGKILL');
    }
    for (const receiver of receivers) await receiver.close();
    await home.cleanup();
  });

  // Which emulator process a receiver's connection came from: 0 for the first, k after the k-th kill.
  let epoch = 0;
  for (let index = 0; index < ROUTES.length; index += 1) {
    receivers.push(await startFlakyReceiver({ failRate: FAIL_RATE, seed: 0x5eed0 + index, epoch: () => epoch }));
  }
  const startTenant = async (generation: number): Promise<Tenant> => {
    const emulator = await spawnEmulator(emulatorArgs, env);
    const tenant = { emulator, api: new ApiPool(emulator, { connections: 16 }), generation };
    tenants.push(tenant);
    return tenant;
  };
  let current = await startTenant(1);
  const subscriptions: Subscription[] = [];
  for (const [index, route] of ROUTES.entries()) {
    const created = await current.api.createSubscription({ name: `load ${index}`, url: receivers[index]!.url, events: [route.selector] });
    const { signing_secret: _secret, ...sub } = created.data;
    subscriptions.push(sub);
  }
  const subscriptionOfReceiver = (index: number) => subscriptions[index]!.id;

  // ---- triggers, in parallel, surviving the kill ------------------------------------------
  const acknowledged = new Map<string, number>(); // event id -> route index
  let unacknowledgedTriggers = 0;
  let killing = false;
  let restarted: Promise<Tenant> | undefined;
  let nextIndex = 0;
  const started = Date.now();
  const triggering = Promise.all(
    Array.from({ length: TRIGGER_CONCURRENCY }, async () => {
      while (nextIndex < EVENTS) {
        const index = nextIndex++;
        const due = started + (index * TRIGGER_SPAN_MS) / EVENTS;
        if (due > Date.now()) await sleep(due - Date.now());
        const route = index % ROUTES.length;
        for (;;) {
          const tenant = current;
          try {
            acknowledged.set(await tenant.api.trigger(ROUTES[route]!.type), route);
            break;
          } catch (error) {
            // Only the kill may cut a trigger; its event may or may not exist (a phantom).
            if (!killing && tenant === current) throw error;
            unacknowledgedTriggers += 1;
            while (current === tenant) await (restarted ?? sleep(10));
            await sleep(0);
          }
        }
      }
    }),
  );

  // ---- what the API answered before the kill ----------------------------------------------
  const seenSubscriptions = new Map<string, Subscription>();
  const seenDeadLetters = new Map<string, DeadLetter>();
  const seenRecords = new Map<string, DeliveryRecord>();
  const observe = async (api: ApiPool) => {
    for (const sub of await api.subscriptions()) seenSubscriptions.set(sub.id, sub);
    for (const sub of subscriptions) for (const letter of await api.deadLetters(sub.id)) seenDeadLetters.set(`${sub.id}|${letter.event_id}`, letter);
    // The newest records last, so the kill follows the freshest answer.
    for (const sub of subscriptions) for (const record of (await api.feedPage(sub.id, { order: 'desc', limit: 100 })).data) seenRecords.set(record.id, record);
  };
  const problems: string[] = [];
  let lost = 0;
  const kills: Array<{ killAt: number; restartedAt: number }> = [];
  let deadLettersChecked = 0;
  /** SIGKILL right after the freshest API answer, restart on the same state, compare. */
  const killAndRestart = async () => {
    killing = true;
    const killed = current;
    killed.emulator.child.kill('SIGKILL');
    const killAt = Date.now();
    const exit = await killed.emulator.exited;
    assert.equal(exit.signal, 'SIGKILL');
    epoch += 1;
    await killed.api.close();
    restarted = startTenant(killed.generation + 1).then((tenant) => (current = tenant));
    await restarted;
    restarted = undefined;
    kills.push({ killAt, restartedAt: Date.now() });
    killing = false;

    const afterSubscriptions = new Map((await current.api.subscriptions()).map((sub) => [sub.id, sub]));
    for (const [id, before] of seenSubscriptions) {
      const after = afterSubscriptions.get(id);
      if (!after) {
        lost += 1;
        problems.push(`subscription ${id} is gone after the restart`);
      } else assert.deepEqual(subscriptionView(after), subscriptionView(before), `subscription ${id} changed across the restart`);
    }
    const relistedAt = Date.now();
    const afterDeadLetters = new Map<string, DeadLetter>();
    for (const sub of subscriptions) for (const letter of await current.api.deadLetters(sub.id)) afterDeadLetters.set(`${sub.id}|${letter.event_id}`, letter);
    for (const [key, before] of seenDeadLetters) {
      if (Date.parse(before.expires_at) <= relistedAt + 1000) continue; // expired meanwhile, as documented
      deadLettersChecked += 1;
      const after = afterDeadLetters.get(key);
      if (!after) {
        lost += 1;
        problems.push(`dead letter ${key} (listed before the kill) is gone after the restart`);
      } else if (after.dead_lettered_at !== before.dead_lettered_at) problems.push(`dead letter ${key} was replaced across the restart`);
    }
  };

  // First kill: half way through the triggers, with deliveries and retries in flight.
  while (acknowledged.size < EVENTS / 2) await sleep(20);
  // A kill with no dead letter yet would test nothing about dead letters: wait (bounded) for some.
  const waitUntil = Date.now() + 30_000;
  do await observe(current.api);
  while (seenDeadLetters.size < 2 && Date.now() < waitUntil);
  assert.ok(seenDeadLetters.size > 0, 'no dead letter appeared before the kill');
  await killAndRestart();

  await triggering;
  const triggersDone = Date.now();
  // Second kill: no more triggers, only retries (written to disk lazily) in flight. Wait
  // (bounded) until an attempt of this process has failed so recently that its next attempt
  // is still due, even at its earliest jitter, well after the kill.
  const pendingBy = Date.now() + 30_000;
  const nextAttemptCertainlyPending = (request: ReceivedAttempt) => {
    if (request.epoch !== epoch || request.status < 500 || request.attempt >= MAX_ATTEMPTS) return false;
    const earliestDelayMs = ((RETRY_DELAYS_SECONDS[request.attempt - 1]! * 1000) / TIME_SCALE) * (1 - JITTER_FRACTION);
    return Date.now() - request.at < earliestDelayMs - KILL_MARGIN_MS;
  };
  while (!receivers.some((receiver) => receiver.requests.some(nextAttemptCertainlyPending)) && Date.now() < pendingBy) await sleep(20);
  await observe(current.api);
  await killAndRestart();

  // ---- wait until every event's series has ended, as the feed tells it --------------------
  const feeds = new Map<string, DeliveryRecord[]>(subscriptions.map((sub) => [sub.id, []]));
  const readNewRecords = async () => {
    for (const sub of subscriptions) {
      const records = feeds.get(sub.id)!;
      for (;;) {
        const page = await current.api.feedPage(sub.id, { after: records.at(-1)?.id ?? null });
        records.push(...page.data);
        if (!page.meta.next_cursor || page.data.length === 0) break;
      }
    }
  };
  const isTerminal = (record: DeliveryRecord) => record.outcome === 'succeeded' || record.dead_lettered;
  const unfinished = (): number => {
    const last = new Map<string, DeliveryRecord>();
    for (const records of feeds.values()) for (const record of records) last.set(record.event_id, record);
    let open = 0;
    for (const id of acknowledged.keys()) if (!last.get(id) || !isTerminal(last.get(id)!)) open += 1;
    for (const [id, record] of last) if (!acknowledged.has(id) && !isTerminal(record)) open += 1;
    return open;
  };
  const receiverTotal = () => receivers.reduce((sum, receiver) => sum + receiver.requests.length, 0);
  const settleBy = Date.now() + 90_000;
  let stableSince = Date.now();
  let lastCount = -1;
  for (;;) {
    await readNewRecords();
    const count = receiverTotal();
    if (count !== lastCount) {
      lastCount = count;
      stableSince = Date.now();
    }
    if (unfinished() === 0 && Date.now() - stableSince > 1000) break;
    if (Date.now() > settleBy) break;
    await sleep(250);
  }

  // ---- the final feed, read from scratch --------------------------------------------------
  const finalFeeds = new Map<string, DeliveryRecord[]>();
  for (const sub of subscriptions) finalFeeds.set(sub.id, await current.api.feed(sub.id));
  const finalById = new Map<string, DeliveryRecord>();
  const series = new Map<string, DeliveryRecord[]>(); // `${sub}|${event}` -> records in feed order
  for (const [subId, records] of finalFeeds) {
    for (let index = 0; index < records.length; index += 1) {
      const record = records[index]!;
      if (index > 0 && !(record.id > records[index - 1]!.id)) problems.push(`feed of ${subId} is out of order at ${record.id}`);
      finalById.set(record.id, record);
      const key = `${subId}|${record.event_id}`;
      if (!series.has(key)) series.set(key, []);
      series.get(key)!.push(record);
    }
  }

  // Every acknowledged event: attempts 1..k once each, failures until a success or the sixth
  // failure, which is dead-lettered.
  const eventSeries = new Map<string, DeliveryRecord[]>();
  for (const [key, records] of series) eventSeries.set(key.slice(key.indexOf('|') + 1), records);
  let delivered = 0;
  let deadLettered = 0;
  const checkSeries = (eventId: string, records: DeliveryRecord[] | undefined): boolean => {
    if (!records || records.length === 0) return false;
    const attempts = records.map((record) => record.attempt);
    const expected = attempts.map((_, index) => index + 1);
    if (JSON.stringify(attempts) !== JSON.stringify(expected)) {
      problems.push(`event ${eventId}: attempts ${attempts.join(',')} in the feed, expected ${expected.join(',')}`);
      return false;
    }
    const last = records.at(-1)!;
    if (records.slice(0, -1).some((record) => record.outcome !== 'failed' || record.next_attempt_at === null)) {
      problems.push(`event ${eventId}: an attempt before the last did not fail with a next attempt scheduled`);
    }
    if (last.outcome === 'succeeded' && last.next_attempt_at === null && !last.dead_lettered) delivered += 1;
    else if (last.outcome === 'failed' && last.attempt === MAX_ATTEMPTS && last.dead_lettered) deadLettered += 1;
    else return false;
    return true;
  };
  for (const [eventId, route] of acknowledged) {
    const records = series.get(`${subscriptionOfReceiver(route)}|${eventId}`);
    if (!checkSeries(eventId, records)) {
      lost += 1;
      if (problems.length < 50) problems.push(`event ${eventId} did not end delivered or dead-lettered: ${JSON.stringify(records?.map((r) => [r.attempt, r.outcome, r.dead_lettered]) ?? 'no attempts')}`);
    }
  }
  const phantoms = [...eventSeries.keys()].filter((id) => !acknowledged.has(id));
  for (const id of phantoms) if (!checkSeries(id, eventSeries.get(id))) problems.push(`unacknowledged event ${id} did not end delivered or dead-lettered`);
  if (phantoms.length > unacknowledgedTriggers) problems.push(`${phantoms.length} events nobody acknowledged, but only ${unacknowledgedTriggers} triggers went unanswered`);

  // Records the API showed before the kill are still there, unchanged.
  let recordsChecked = 0;
  for (const [id, before] of seenRecords) {
    recordsChecked += 1;
    const after = finalById.get(id);
    if (!after) {
      lost += 1;
      if (problems.length < 50) problems.push(`delivery record ${id} (event ${before.event_id} attempt ${before.attempt}), shown before the kill, is gone after the restart`);
    } else if (JSON.stringify(after) !== JSON.stringify(before)) problems.push(`delivery record ${id} changed across the restart`);
  }

  // The feed holds every attempt the receivers saw: each (subscription, event, attempt)
  // recorded once, matching the receiver's last answer for it; any earlier request for it,
  // or one never recorded, was cut by the kill, and that series went on after the restart.
  const requestsByKey = new Map<string, ReceivedAttempt[]>();
  const requestsByEvent = new Map<string, ReceivedAttempt[]>();
  let duplicates = 0;
  const successes = new Map<string, ReceivedAttempt[]>();
  receivers.forEach((receiver, index) => {
    const subId = subscriptionOfReceiver(index);
    for (const request of receiver.requests) {
      const key = `${subId}|${request.eventId}|${request.attempt}`;
      if (!requestsByKey.has(key)) requestsByKey.set(key, []);
      requestsByKey.get(key)!.push(request);
      const eventKey = `${subId}|${request.eventId}`;
      if (!requestsByEvent.has(eventKey)) requestsByEvent.set(eventKey, []);
      requestsByEvent.get(eventKey)!.push(request);
      if (request.status < 300) {
        if (!successes.has(eventKey)) successes.set(eventKey, []);
        successes.get(eventKey)!.push(request);
      }
    }
  });
  /** An attempt can have been lost only by a process that was killed afterwards. */
  const killedSender = (request: ReceivedAttempt) => request.epoch < kills.length;
  let feedTotal = 0;
  let cut = 0;
  const recorded = new Set<string>();
  for (const [subId, records] of finalFeeds) {
    for (const record of records) {
      feedTotal += 1;
      const key = `${subId}|${record.event_id}|${record.attempt}`;
      recorded.add(key);
      const requests = requestsByKey.get(key);
      if (!requests) problems.push(`feed record ${record.id} (${key}) matches no request any receiver saw`);
      else if (requests.at(-1)!.status !== record.http_status) problems.push(`feed record ${record.id} says HTTP ${record.http_status}, the receiver answered ${requests.at(-1)!.status}`);
    }
  }
  for (const [key, requests] of requestsByKey) {
    const cutHere = recorded.has(key) ? requests.slice(0, -1) : requests;
    for (const request of cutHere) {
      cut += 1;
      const eventKey = key.slice(0, key.lastIndexOf('|'));
      const resumed = killedSender(request) && requestsByEvent.get(eventKey)!.some((later) => later.epoch > request.epoch && later.attempt <= request.attempt);
      if (!resumed) problems.push(`attempt ${key} reached the receiver but is not in the feed, and was not cut by a kill`);
    }
  }
  if (feedTotal + cut !== receiverTotal()) problems.push(`feed ${feedTotal} + cut ${cut} != ${receiverTotal()} requests at the receivers`);
  for (const [eventKey, answers] of successes) {
    if (answers.length < 2) continue;
    duplicates += answers.length - 1;
    for (let index = 0; index + 1 < answers.length; index += 1) {
      if (!killedSender(answers[index]!) || answers[index + 1]!.epoch <= answers[index]!.epoch) problems.push(`${eventKey} was delivered again after a success that was not cut by a kill`);
    }
  }
  const resumedSeries = kills.map(
    (_, index) => [...requestsByEvent.values()].filter((requests) => requests.some((r) => r.epoch === index) && requests.some((r) => r.epoch === index + 1)).length,
  );

  // Dead letters at the end: every series that ended dead-lettered is listed (unless expired).
  const endDeadLetters = new Set<string>();
  const listedAt = Date.now();
  for (const sub of subscriptions) for (const letter of await current.api.deadLetters(sub.id)) endDeadLetters.add(`${sub.id}|${letter.event_id}`);
  for (const [key, records] of series) {
    const last = records.at(-1)!;
    if (!last.dead_lettered || Date.parse(last.attempted_at) + DEAD_LETTER_TTL_MS <= listedAt + 2000) continue;
    if (!endDeadLetters.has(key)) problems.push(`the series ${key} ended dead-lettered but the dead letter is not listed`);
  }

  t.diagnostic(
    `delivery-faults details: ${acknowledged.size} events acknowledged (+${phantoms.length} from unanswered triggers), ${delivered} delivered, ${deadLettered} dead-lettered, ` +
      `${feedTotal} feed records for ${receiverTotal()} receiver requests (${cut} cut by the kill and run again), ` +
      `checked across ${kills.length} kills: ${seenSubscriptions.size} subscriptions, ${deadLettersChecked} dead letters, ${recordsChecked} feed records; ` +
      `retry series resumed after each restart: ${resumedSeries.join(', ')}; triggers answered after ${Math.round((triggersDone - started) / 1000)} s; ` +
      `kills at ${kills.map(({ killAt }) => `${Math.round((killAt - started) / 1000)} s`).join(', ')}, restarts took ${kills.map(({ killAt, restartedAt }) => `${restartedAt - killAt} ms`).join(', ')}`,
  );
  t.diagnostic(`delivery-faults: events ${acknowledged.size}, lost ${lost}, duplicates beyond at-least-once retries ${duplicates}`);
  assert.deepEqual(problems, []);
  assert.ok(resumedSeries.every((count) => count > 0), `every kill must cut retry series short (series resumed: ${resumedSeries.join(', ')})`);
  assert.equal(lost, 0);
  assert.equal(acknowledged.size, EVENTS);
  assert.equal(delivered + deadLettered, EVENTS + phantoms.length);
});
