import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readGlobalOptions } from '../../src/cli/global-options.ts';
import { UsageError } from '../../src/errors.ts';

test('--timeout takes seconds and becomes a per-request deadline in ms', () => {
  assert.equal(readGlobalOptions({ timeout: '2.5' }).timeoutMs, 2500);
  assert.equal(readGlobalOptions({}).timeoutMs, undefined);
});

test('a --timeout that is not a positive number is a usage error, not silently ignored', () => {
  for (const value of ['soon', '0', '-3', '']) {
    assert.throws(() => readGlobalOptions({ timeout: value }), (error: unknown) => error instanceof UsageError && /--timeout/.test(error.message), value);
  }
});
