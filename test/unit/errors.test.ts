import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ApiError, EXIT_CODES, exitCodeFor } from '../../src/errors.ts';

test('ApiError.withHint keeps everything the platform said and replaces only the hint', () => {
  const original = new ApiError({
    status: 503,
    code: 'service_unavailable',
    message: 'try again later',
    requestId: 'req_123',
    details: { region: 'eu' },
    retryAfterSeconds: 7,
    hint: 'the generic hint',
  });
  const hinted = original.withHint('what this command knows');
  assert.equal(hinted.message, 'try again later (request req_123)', 'the request id is said once');
  assert.equal(hinted.platformMessage, 'try again later');
  assert.equal(hinted.hint, 'what this command knows');
  assert.deepEqual(
    [hinted.status, hinted.code, hinted.requestId, hinted.details, hinted.retryAfterSeconds],
    [503, 'service_unavailable', 'req_123', { region: 'eu' }, 7],
  );
  assert.equal(exitCodeFor(hinted), exitCodeFor(original));
  assert.equal(exitCodeFor(hinted), EXIT_CODES.unavailable);
  assert.equal(original.hint, 'the generic hint', 'the original is left as it was');
});
