import assert from 'node:assert/strict';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { Deque } from '../../src/emulator/deque.ts';
import { MinHeap } from '../../src/emulator/heap.ts';
import { startEmulator, StateFileError } from '../../src/emulator/index.ts';
import { seededRandom } from '../../src/emulator/prng.ts';
import { classifyError } from '../../src/emulator/transport.ts';

describe('emulator internals', () => {
  test('Deque: FIFO across growth and wrap-around, indexed from the oldest', () => {
    const deque = new Deque<number>(4);
    const model: number[] = [];
    for (let i = 0; i < 1000; i += 1) {
      deque.push(i);
      model.push(i);
      if (i % 3 === 0) assert.equal(deque.shift(), model.shift());
    }
    assert.equal(deque.length, model.length);
    assert.deepEqual(deque.toArray(), model);
    assert.equal(deque.at(0), model[0]);
    assert.equal(deque.at(model.length - 1), model.at(-1));
    assert.equal(deque.at(model.length), undefined);
    while (deque.length > 0) assert.equal(deque.shift(), model.shift());
    assert.equal(deque.shift(), undefined);
  });

  test('MinHeap: pops in due order, ties in insertion order, filter keeps the heap valid', () => {
    const heap = new MinHeap<string>();
    const random = seededRandom('heap');
    const items = Array.from({ length: 500 }, (_, i) => ({ at: Math.floor(random() * 50), name: `i${i}` }));
    for (const item of items) heap.push(item.at, item.name);
    heap.filter((name) => Number(name.slice(1)) % 2 === 0);
    const expected = items.filter((_, i) => i % 2 === 0).sort((a, b) => a.at - b.at || Number(a.name.slice(1)) - Number(b.name.slice(1)));
    const popped: string[] = [];
    while (heap.size > 0) {
      assert.equal(heap.peekTime(), expected[popped.length]!.at);
      popped.push(heap.pop()!);
    }
    assert.deepEqual(popped, expected.map((item) => item.name));
    assert.equal(heap.pop(), undefined);
  });

  test('seededRandom repeats per seed and stays in [0, 1)', () => {
    const a = seededRandom('s');
    const b = seededRandom('s');
    const values = Array.from({ length: 100 }, () => a());
    assert.deepEqual(values, Array.from({ length: 100 }, () => b()));
    assert.ok(values.every((value) => value >= 0 && value < 1));
    assert.notDeepEqual(values.slice(0, 5), Array.from({ length: 5 }, seededRandom('t')));
  });

  test('delivery errors are classified by code, looking through causes', () => {
    const coded = (code: string, cause?: unknown) => Object.assign(new Error(code), { code, cause });
    assert.equal(classifyError(coded('ECONNREFUSED')), 'connection');
    assert.equal(classifyError(coded('ECONNRESET')), 'connection');
    assert.equal(classifyError(coded('UND_ERR_SOCKET', coded('EPIPE'))), 'connection');
    assert.equal(classifyError(coded('ENOTFOUND')), 'dns');
    assert.equal(classifyError(coded('EAI_AGAIN')), 'dns');
    assert.equal(classifyError(coded('DEPTH_ZERO_SELF_SIGNED_CERT')), 'tls');
    assert.equal(classifyError(coded('ERR_TLS_CERT_ALTNAME_INVALID')), 'tls');
    assert.equal(classifyError(coded('UND_ERR_SOCKET', coded('ERR_SSL_WRONG_VERSION_NUMBER'))), 'tls');
    assert.equal(classifyError(coded('UND_ERR_CONNECT_TIMEOUT')), 'timeout');
    assert.equal(classifyError(coded('UND_ERR_HEADERS_TIMEOUT')), 'timeout');
  });

  test('bad options and unusable state paths fail with clear errors', async () => {
    await assert.rejects(startEmulator({ port: 0, timeScale: 0 }), /timeScale/);
    await assert.rejects(startEmulator({ port: 0, faultRate: 2 }), /faultRate/);
    await assert.rejects(startEmulator({ port: 0, statePath: '' }), /statePath/);
    await assert.rejects(startEmulator({ port: 0, resolve: { 'x.test': ['not-an-ip'] } }), /not an IP address/);
    await assert.rejects(startEmulator({ port: 0, statePath: join(tmpdir(), 'no-such-dir-emu', 'state.json') }), (error: Error) => {
      assert.ok(error instanceof StateFileError);
      assert.match(error.message, /does its directory exist/);
      return true;
    });
  });
});
