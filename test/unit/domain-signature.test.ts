import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createHmac, randomBytes } from 'node:crypto';
import {
  checkTimestamp,
  generateSigningSecret,
  secretFingerprint,
  sign,
  signatureMatches,
} from '../../src/domain/signature.ts';

// Cross-checked once with `printf '%s' '{"a":1}' | openssl dgst -sha256 -hmac whsec_test`.
const LITERAL = { secret: 'whsec_test', body: '{"a":1}', hex: '51426af50a41dd7ff2cd3f116594734766d4018d15d6fb07169aee5d2959adf5' };

describe('sign', () => {
  test('matches a fixed, externally computed vector', () => {
    assert.equal(sign(LITERAL.secret, LITERAL.body), LITERAL.hex);
    assert.equal(sign(LITERAL.secret, Buffer.from(LITERAL.body, 'utf8')), LITERAL.hex);
  });

  test('is HMAC-SHA256 of the raw bytes keyed with the secret string, lowercase hex', () => {
    const secret = `whsec_${randomBytes(32).toString('base64url')}`;
    const body = Buffer.from(JSON.stringify({ event_id: 'evt_1', data: { name: 'Zoë' } }), 'utf8');
    const expected = createHmac('sha256', Buffer.from(secret, 'utf8')).update(body).digest('hex');
    const signature = sign(secret, body);
    assert.equal(signature, expected);
    assert.match(signature, /^[0-9a-f]{64}$/);
  });

  test('keys with the UTF-8 bytes of a non-ASCII secret', () => {
    const body = new Uint8Array([0, 255, 1]);
    assert.equal(sign('clé', body), createHmac('sha256', Buffer.from('clé', 'utf8')).update(body).digest('hex'));
  });

  test('is sensitive to every byte: re-serialised JSON does not verify', () => {
    const compact = '{"a":1}';
    const spaced = '{"a": 1}';
    assert.deepEqual(JSON.parse(compact), JSON.parse(spaced));
    assert.notEqual(sign(LITERAL.secret, spaced), LITERAL.hex);
    assert.notEqual(sign(LITERAL.secret, `${compact}\n`), LITERAL.hex);
    assert.notEqual(sign('whsec_tesT', compact), LITERAL.hex);
  });
});

describe('signatureMatches', () => {
  test('accepts the right signature for the right body', () => {
    assert.equal(signatureMatches(LITERAL.secret, LITERAL.body, LITERAL.hex), true);
    assert.equal(signatureMatches(LITERAL.secret, Buffer.from(LITERAL.body), LITERAL.hex), true);
  });

  test('refuses a signature for other bytes or another secret', () => {
    assert.equal(signatureMatches(LITERAL.secret, '{"a": 1}', LITERAL.hex), false);
    assert.equal(signatureMatches('whsec_other', LITERAL.body, LITERAL.hex), false);
  });

  test('refuses upper-case hex: the header is lowercase hex and nothing else', () => {
    assert.equal(signatureMatches(LITERAL.secret, LITERAL.body, LITERAL.hex.toUpperCase()), false);
  });

  test('refuses prefixed, truncated, extended and garbage values', () => {
    for (const received of [
      `sha256=${LITERAL.hex}`,
      LITERAL.hex.slice(0, 63),
      `${LITERAL.hex}0`,
      LITERAL.hex.replace(/.$/, 'g'),
      'not a signature',
      '0'.repeat(64),
      Buffer.from(LITERAL.hex, 'hex').toString('base64'),
    ]) {
      assert.equal(signatureMatches(LITERAL.secret, LITERAL.body, received), false, received);
    }
  });

  test('refuses empty and absent values', () => {
    assert.equal(signatureMatches(LITERAL.secret, LITERAL.body, ''), false);
    assert.equal(signatureMatches(LITERAL.secret, LITERAL.body, undefined), false);
    assert.equal(signatureMatches(LITERAL.secret, LITERAL.body, null), false);
  });

  test('tolerates surrounding whitespace in the header value', () => {
    assert.equal(signatureMatches(LITERAL.secret, LITERAL.body, ` ${LITERAL.hex} `), true);
  });
});

describe('secretFingerprint', () => {
  test('is the first 8 hex characters of SHA-256 of the secret', () => {
    assert.equal(secretFingerprint('whsec_test'), '609b97b0');
    const secret = generateSigningSecret(randomBytes);
    assert.equal(secretFingerprint(secret), createHash('sha256').update(secret, 'utf8').digest('hex').slice(0, 8));
    assert.match(secretFingerprint(secret), /^[0-9a-f]{8}$/);
  });
});

describe('generateSigningSecret', () => {
  test('is whsec_ plus 32 random bytes in base64url', () => {
    const secret = generateSigningSecret((n) => Buffer.alloc(n, 0xfb));
    assert.equal(secret, `whsec_${Buffer.alloc(32, 0xfb).toString('base64url')}`);
    assert.match(generateSigningSecret(randomBytes), /^whsec_[A-Za-z0-9_-]{43}$/);
    assert.notEqual(generateSigningSecret(randomBytes), generateSigningSecret(randomBytes));
  });
});

describe('checkTimestamp', () => {
  const now = 1_750_000_000;

  test('accepts the current time and reports the skew', () => {
    assert.deepEqual(checkTimestamp(String(now), now), { ok: true, skewSeconds: 0 });
    assert.deepEqual(checkTimestamp(String(now - 42), now), { ok: true, skewSeconds: 42 });
    assert.deepEqual(checkTimestamp(String(now + 42), now), { ok: true, skewSeconds: -42 });
  });

  test('300 s either way is still accepted; 301 s is not', () => {
    assert.equal(checkTimestamp(String(now - 300), now).ok, true);
    assert.equal(checkTimestamp(String(now + 300), now).ok, true);
    assert.deepEqual(checkTimestamp(String(now - 301), now), { ok: false, reason: 'stale', skewSeconds: 301 });
    assert.deepEqual(checkTimestamp(String(now + 301), now), { ok: false, reason: 'future', skewSeconds: -301 });
  });

  test('far stale and far future', () => {
    assert.equal(checkTimestamp(String(now - 86_400), now).ok, false);
    assert.deepEqual(checkTimestamp('0', now), { ok: false, reason: 'stale', skewSeconds: now });
    const future = checkTimestamp(String(now + 3600), now);
    assert.equal(future.ok ? 'ok' : future.reason, 'future');
  });

  test('honours a custom tolerance', () => {
    assert.equal(checkTimestamp(String(now - 10), now, 5).ok, false);
    assert.equal(checkTimestamp(String(now - 5), now, 5).ok, true);
  });

  test('missing header', () => {
    for (const header of [undefined, null, '']) {
      assert.deepEqual(checkTimestamp(header, now), { ok: false, reason: 'missing' });
    }
  });

  test('malformed header', () => {
    for (const header of ['abc', '1.5', '-5', '1e9', '0x10', ' ', String(now) + 'Z', '1750000000000000', '2025-06-15T00:00:00Z']) {
      assert.deepEqual(checkTimestamp(header, now), { ok: false, reason: 'malformed' }, header);
    }
  });

  test('defaults to the real clock', () => {
    assert.equal(checkTimestamp(String(Math.floor(Date.now() / 1000))).ok, true);
  });
});
