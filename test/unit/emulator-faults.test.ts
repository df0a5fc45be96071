import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { paths } from '../../src/domain/contract.ts';
import { createFaultInjector, FAULT_KINDS } from '../../src/emulator/faults.ts';
import type { FaultKind } from '../../src/emulator/index.ts';
import { startTestEmulator } from '../helpers/emulator-harness.ts';

/** Runs the same request sequence against a fresh emulator; returns what each request saw. */
async function observe(seed: string, count: number): Promise<{ outcomes: string[]; faults: FaultKind[] }> {
  const emulator = await startTestEmulator({ faultRate: 0.5, seed });
  try {
    const outcomes: string[] = [];
    for (let i = 0; i < count; i += 1) {
      const started = Date.now();
      try {
        // Unauthenticated on purpose: without faults the answer is always 401.
        const response = await fetch(emulator.tenantUrl + paths.eventTypes());
        await response.arrayBuffer();
        const stalled = Date.now() - started >= 1900 ? 'stalled ' : '';
        outcomes.push(`${stalled}${response.status}`);
      } catch {
        outcomes.push('reset');
      }
    }
    const faults = emulator.logs.flatMap((entry) => (entry.kind === 'fault' ? [entry.fault] : []));
    return { outcomes, faults };
  } finally {
    await emulator.close();
  }
}

/** A seed whose first draws at `rate` are exactly `wanted` (null = no fault). */
function seedFor(rate: number, wanted: Array<FaultKind | null>): string {
  for (let n = 0; n < 100_000; n += 1) {
    const next = createFaultInjector(rate, `seed-${n}`);
    if (wanted.every((kind) => next() === kind)) return `seed-${n}`;
  }
  throw new Error('no seed found');
}

describe('emulator fault injection', () => {
  test('the same seed gives the same faults for the same requests; another seed differs', async () => {
    const [a, b, c] = await Promise.all([observe('alpha', 14), observe('alpha', 14), observe('beta', 14)]);
    assert.deepEqual(a.outcomes, b.outcomes);
    assert.deepEqual(a.faults, b.faults);
    assert.notDeepEqual(a.outcomes, c.outcomes);
    assert.ok(a.faults.length > 0 && a.faults.length < 14, `some requests faulted: ${a.faults.join(',')}`);
    const expected: Record<FaultKind, string> = { internal_error: '500', unavailable: '503', rate_limited: '429', reset: 'reset', stall: 'stalled 401' };
    assert.deepEqual(a.outcomes.filter((outcome) => outcome !== '401'), a.faults.map((fault) => expected[fault]));
  });

  test('each fault kind answers as documented', async () => {
    for (const kind of FAULT_KINDS.filter((fault) => fault !== 'stall')) {
      const emulator = await startTestEmulator({ faultRate: 1, seed: seedFor(1, [kind]) });
      try {
        const response = await fetch(emulator.tenantUrl + paths.eventTypes()).catch(() => null);
        if (kind === 'reset') {
          assert.equal(response, null);
          continue;
        }
        const body = (await response!.json()) as { error: string; request_id: string };
        const status = { internal_error: 500, unavailable: 503, rate_limited: 429 }[kind as 'internal_error'];
        assert.equal(response!.status, status);
        assert.equal(body.error, kind);
        assert.match(body.request_id, /^req_/);
        if (kind === 'rate_limited') assert.equal(response!.headers.get('retry-after'), '1');
      } finally {
        await emulator.close();
      }
    }
    // The control endpoints never fault.
    const always = await startTestEmulator({ faultRate: 1, seed: 'x' });
    try {
      assert.equal((await fetch(`${always.tenantUrl}/_emulator/health`)).status, 200);
    } finally {
      await always.close();
    }
  });

  test('a reset after a create loses only the answer: a retry with the same Idempotency-Key gets it', async () => {
    // Requests: token, create (reset), retried create, list.
    const emulator = await startTestEmulator({ faultRate: 0.3, seed: seedFor(0.3, [null, 'reset', null, null]) });
    try {
      const body = { name: 'lost answer', url: 'https://hooks.example.com/x', events: ['*'] };
      const headers = { 'Idempotency-Key': 'retry-me' };
      await assert.rejects(emulator.call('POST', paths.subscriptions(), { body, headers }));
      const retried = await emulator.call('POST', paths.subscriptions(), { body, headers });
      assert.equal(retried.status, 201);
      assert.equal(retried.headers.get('idempotent-replayed'), 'true');
      assert.match(retried.body.data.signing_secret, /^whsec_/);
      const list = await emulator.call('GET', paths.subscriptions());
      assert.equal(list.status, 200);
      assert.deepEqual(list.body.data.map((sub: { id: string }) => sub.id), [retried.body.data.id]);
      assert.ok(emulator.logs.some((entry) => entry.kind === 'fault' && entry.fault === 'reset'));
    } finally {
      await emulator.close();
    }
  });
});
