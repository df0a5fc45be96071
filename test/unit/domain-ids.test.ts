import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ID_PREFIX } from '../../src/domain/contract.ts';
import { idTime, newId, ulid } from '../../src/domain/ids.ts';

const CROCKFORD_TAIL = /^[0-9A-HJKMNP-TV-Z]{26}$/;
// Far in the future, and rising from test to test (they run in order), so the module's
// monotonic clock never holds a test back.
const BASE = Date.UTC(2100, 0, 1);

describe('newId', () => {
  test('is the prefix and a 26-character Crockford base32 tail', () => {
    for (const prefix of Object.values(ID_PREFIX)) {
      const id = newId(prefix);
      assert.ok(id.startsWith(prefix), id);
      assert.match(id.slice(prefix.length), CROCKFORD_TAIL);
    }
  });

  test('ids made later sort later', () => {
    const ids = [0, 1, 2, 1000, 60_000, 86_400_000].map((offset) => newId(ID_PREFIX.delivery, BASE + offset));
    assert.deepEqual([...ids].sort(), ids);
    assert.equal(new Set(ids).size, ids.length);
  });

  test('ids made in the same millisecond are distinct and sort in creation order', () => {
    const now = BASE + 100_000_000;
    const ids = Array.from({ length: 500 }, () => newId(ID_PREFIX.event, now));
    assert.equal(new Set(ids).size, ids.length);
    assert.deepEqual([...ids].sort(), ids);
    for (const id of ids) assert.equal(idTime(id), now);
  });

  test('a clock that steps back does not break the order', () => {
    const ahead = newId(ID_PREFIX.event, BASE + 200_000_000);
    const behind = newId(ID_PREFIX.event, BASE + 199_000_000);
    assert.ok(behind > ahead);
  });

  test('fractional times are floored', () => {
    const id = newId(ID_PREFIX.request, BASE + 300_000_000.7);
    assert.match(id.slice(ID_PREFIX.request.length), CROCKFORD_TAIL);
    assert.equal(idTime(id), BASE + 300_000_000);
  });
});

describe('idTime', () => {
  test('round-trips the creation time', () => {
    const now = BASE + 400_000_000;
    assert.equal(idTime(newId(ID_PREFIX.subscription, now)), now);
    assert.equal(idTime(ulid(now + 1)), now + 1);
  });

  test('reads a known encoding', () => {
    // 1 ms after the epoch is 0000000001 in the time part.
    assert.equal(idTime('evt_0000000001ZZZZZZZZZZZZZZZZ'), 1);
    assert.equal(idTime('evt_00000000100000000000000000'), 32);
  });

  test('returns null for malformed ids', () => {
    for (const id of ['', 'evt_', 'evt_123', 'evt_0000000001ZZZZZZZZZZZZZZZZZ', 'evt_0000000001ZZZZZZZZZZZZZZZU', 'evt_0000000001zzzzzzzzzzzzzzzz', 'evt_000000000I0000000000000000']) {
      assert.equal(idTime(id), null, id);
    }
  });
});
