import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createHmac } from 'node:crypto';
import {
  parseRawHeaders,
  RecentIds,
  verifyDelivery,
  type VerificationInput,
  type VerificationVerdict,
} from '../../src/domain/delivery-verification.ts';

// Signatures are computed here with node:crypto directly, not with the module under test.
const hmac = (secret: string, body: Uint8Array | string) => createHmac('sha256', Buffer.from(secret, 'utf8')).update(body).digest('hex');
const fingerprint = (secret: string) => createHash('sha256').update(secret, 'utf8').digest('hex').slice(0, 8);

const NEW_SECRET = 'whsec_new_0123456789abcdefghijklmnopqrstuv';
const OLD_SECRET = 'whsec_old_ZYXWVUTSRQPONMLKJIHGFEDCBA98765';
const NOW = 1_750_000_000;

const EVENT = {
  event_id: 'evt_01JABCDEF',
  event_type: 'user.signed_up',
  occurred_at: '2025-06-15T14:26:40.000Z',
  tenant: { id: 'tnt_A', slug: 'acme' },
  actor: { kind: 'user', id: 'usr_1', email: 'a@example.com' },
  data: { user_id: 'usr_1' },
  delivery: { attempt: 2, subscription_id: 'whsub_1' },
};
const BODY = Buffer.from(JSON.stringify(EVENT), 'utf8');

function input(overrides: Partial<VerificationInput> = {}): VerificationInput {
  return {
    rawBody: BODY,
    signature: hmac(NEW_SECRET, BODY),
    timestamp: String(NOW - 5),
    secrets: { current: NEW_SECRET },
    nowSeconds: NOW,
    ...overrides,
  };
}

function assertInvalid(verdict: VerificationVerdict, reason: string, message?: RegExp): string {
  assert.equal(verdict.valid, false, `expected ${reason}, got a valid verdict`);
  if (verdict.valid) throw new Error('unreachable');
  assert.equal(verdict.reason, reason, verdict.message);
  if (message) assert.match(verdict.message, message);
  assert.doesNotMatch(verdict.message, /\n/);
  for (const secret of [NEW_SECRET, OLD_SECRET]) assert.equal(verdict.message.includes(secret), false, 'message leaks a secret');
  return verdict.message;
}

describe('verifyDelivery: valid deliveries', () => {
  test('a delivery signed with the current secret is valid and its event is parsed', () => {
    const verdict = verifyDelivery(input());
    assert.deepEqual(verdict, {
      valid: true,
      matchedWith: 'current',
      header: 'signature',
      timestampSkewSeconds: 5,
      event: {
        eventId: 'evt_01JABCDEF',
        eventType: 'user.signed_up',
        occurredAt: '2025-06-15T14:26:40.000Z',
        tenantId: 'tnt_A',
        tenantSlug: 'acme',
        attempt: 2,
        subscriptionId: 'whsub_1',
        payload: EVENT,
      },
    });
  });

  test('the timestamp is optional unless required; its skew is null when not checked', () => {
    const verdict = verifyDelivery(input({ timestamp: undefined }));
    assert.equal(verdict.valid, true);
    assert.equal(verdict.valid && verdict.timestampSkewSeconds, null);
  });

  test('an expected tenant that matches is valid', () => {
    assert.equal(verifyDelivery(input({ expectedTenantId: 'tnt_A' })).valid, true);
  });

  test('a body without the optional fields still verifies, with nulls in the event', () => {
    const body = Buffer.from('{"event_id":"evt_1"}');
    const verdict = verifyDelivery(input({ rawBody: body, signature: hmac(NEW_SECRET, body) }));
    assert.equal(verdict.valid, true);
    if (!verdict.valid) return;
    assert.equal(verdict.event.eventId, 'evt_1');
    assert.equal(verdict.event.tenantId, null);
    assert.equal(verdict.event.attempt, null);
  });

  test('timestamps exactly at the limit, either way, are accepted', () => {
    assert.equal(verifyDelivery(input({ timestamp: String(NOW - 300) })).valid, true);
    assert.equal(verifyDelivery(input({ timestamp: String(NOW + 300) })).valid, true);
    const skewed = verifyDelivery(input({ timestamp: String(NOW + 300) }));
    assert.equal(skewed.valid && skewed.timestampSkewSeconds, -300);
  });

  test('the signature is checked over raw bytes, including non-UTF-8-normalised ones', () => {
    // "é" precomposed vs decomposed: same text to a person, different bytes and signatures.
    const composed = Buffer.from('{"name":"\u00e9"}', 'utf8');
    const decomposed = Buffer.from('{"name":"e\u0301"}', 'utf8');
    assert.equal(verifyDelivery(input({ rawBody: composed, signature: hmac(NEW_SECRET, composed) })).valid, true);
    assertInvalid(verifyDelivery(input({ rawBody: decomposed, signature: hmac(NEW_SECRET, composed) })), 'signature_mismatch');
  });
});

describe('verifyDelivery: rotation grace', () => {
  // During the platform's grace, a delivery carries both headers: new secret and previous secret.
  const both = { signature: hmac(NEW_SECRET, BODY), previousSignature: hmac(OLD_SECRET, BODY) };

  test('a receiver already on the new secret verifies the main header', () => {
    const verdict = verifyDelivery(input({ ...both, secrets: { current: NEW_SECRET } }));
    assert.equal(verdict.valid, true);
    assert.equal(verdict.valid && verdict.matchedWith, 'current');
    assert.equal(verdict.valid && verdict.header, 'signature');
  });

  test('a receiver still on the old secret verifies the Previous header', () => {
    const verdict = verifyDelivery(input({ ...both, secrets: { current: OLD_SECRET } }));
    assert.equal(verdict.valid, true);
    assert.equal(verdict.valid && verdict.matchedWith, 'current');
    assert.equal(verdict.valid && verdict.header, 'signature-previous');
  });

  test("a receiver holding the old secret as its own previous one verifies an old-style delivery", () => {
    const verdict = verifyDelivery(input({ signature: hmac(OLD_SECRET, BODY), secrets: { current: NEW_SECRET, previous: OLD_SECRET } }));
    assert.equal(verdict.valid, true);
    assert.equal(verdict.valid && verdict.matchedWith, 'previous');
    assert.equal(verdict.valid && verdict.header, 'signature');
  });

  test('the main header with the current secret is preferred when several pairs match', () => {
    const verdict = verifyDelivery(input({ ...both, secrets: { current: NEW_SECRET, previous: OLD_SECRET } }));
    assert.equal(verdict.valid && verdict.matchedWith, 'current');
    assert.equal(verdict.valid && verdict.header, 'signature');
  });

  test('a malformed main header does not stop a valid Previous header from verifying', () => {
    const verdict = verifyDelivery(input({ signature: 'garbage', previousSignature: hmac(OLD_SECRET, BODY), secrets: { current: OLD_SECRET } }));
    assert.equal(verdict.valid, true);
    assert.equal(verdict.valid && verdict.header, 'signature-previous');
  });

  test('only the Previous header, with a secret that signed neither, is a mismatch naming both fingerprints', () => {
    const message = assertInvalid(
      verifyDelivery(input({ ...both, secrets: { current: 'whsec_third', previous: 'whsec_fourth' } })),
      'signature_mismatch',
    );
    assert.match(message, /^neither X-IntelliAuth-Signature nor X-IntelliAuth-Signature-Previous matches the body /);
    assert.match(message, new RegExp(`current ${fingerprint('whsec_third')}`));
    assert.match(message, new RegExp(`previous ${fingerprint('whsec_fourth')}`));
    assert.equal(message.includes('whsec_third') || message.includes('whsec_fourth'), false);
  });

  test('null or empty previous secrets are ignored', () => {
    assert.equal(verifyDelivery(input({ secrets: { current: NEW_SECRET, previous: null } })).valid, true);
    assert.equal(verifyDelivery(input({ secrets: { current: NEW_SECRET, previous: '' } })).valid, true);
  });
});

describe('verifyDelivery: every failure reason', () => {
  test('signature_missing: neither header, or only blank ones', () => {
    assertInvalid(verifyDelivery(input({ signature: undefined })), 'signature_missing', /no X-IntelliAuth-Signature header/);
    assertInvalid(verifyDelivery(input({ signature: '  ', previousSignature: '' })), 'signature_missing');
  });

  test('signature_mismatch: tampered body, tampered signature, wrong secret, trailing newline', () => {
    const expected = new RegExp(`^X-IntelliAuth-Signature does not match the body \\(secret fingerprint ${fingerprint(NEW_SECRET)}\\)$`);
    const tampered = Buffer.from(JSON.stringify({ ...EVENT, data: { user_id: 'usr_2' } }));
    assertInvalid(verifyDelivery(input({ rawBody: tampered })), 'signature_mismatch', expected);
    const good = hmac(NEW_SECRET, BODY);
    const flipped = `${good.slice(0, -1)}${good.endsWith('0') ? '1' : '0'}`;
    assertInvalid(verifyDelivery(input({ signature: flipped })), 'signature_mismatch', expected);
    assertInvalid(verifyDelivery(input({ signature: hmac(OLD_SECRET, BODY) })), 'signature_mismatch', expected);
    assertInvalid(verifyDelivery(input({ rawBody: Buffer.concat([BODY, Buffer.from('\n')]) })), 'signature_mismatch');
  });

  test('signature_malformed: prefixed, upper-case, truncated, joined and non-hex values go through the comparison and fail', () => {
    const good = hmac(NEW_SECRET, BODY);
    assertInvalid(verifyDelivery(input({ signature: `sha256=${good}` })), 'signature_malformed', /"sha256=" prefix/);
    assertInvalid(verifyDelivery(input({ signature: good.toUpperCase() })), 'signature_malformed', /upper-case hex/);
    assertInvalid(verifyDelivery(input({ signature: good.slice(0, 63) })), 'signature_malformed', /got 63 characters/);
    assertInvalid(verifyDelivery(input({ signature: `${good}, ${good}` })), 'signature_malformed', /comma-separated/);
    assertInvalid(verifyDelivery(input({ signature: 'z'.repeat(64) })), 'signature_malformed', /not 64 lowercase hex/);
    assertInvalid(verifyDelivery(input({ signature: '\u00ff'.repeat(64) })), 'signature_malformed');
  });

  test('a well-formed but wrong header next to a malformed one is a mismatch, not malformed', () => {
    assertInvalid(verifyDelivery(input({ signature: 'nope', previousSignature: hmac(OLD_SECRET, BODY) })), 'signature_mismatch');
  });

  test('surrounding whitespace in a header value is tolerated', () => {
    assert.equal(verifyDelivery(input({ signature: ` ${hmac(NEW_SECRET, BODY)}\t` })).valid, true);
  });

  test('timestamp_missing: only when required', () => {
    assertInvalid(verifyDelivery(input({ timestamp: undefined, requireTimestamp: true })), 'timestamp_missing', /no X-IntelliAuth-Timestamp header/);
    assertInvalid(verifyDelivery(input({ timestamp: '', requireTimestamp: true })), 'timestamp_missing');
  });

  test('timestamp_malformed: non-digits, negative, fractional, milliseconds, an empty header', () => {
    assertInvalid(verifyDelivery(input({ timestamp: 'yesterday' })), 'timestamp_malformed', /"yesterday" is not Unix seconds/);
    assertInvalid(verifyDelivery(input({ timestamp: '-5' })), 'timestamp_malformed');
    assertInvalid(verifyDelivery(input({ timestamp: `${NOW}.5` })), 'timestamp_malformed');
    assertInvalid(verifyDelivery(input({ timestamp: `${NOW}000` })), 'timestamp_malformed', /looks like milliseconds/);
    assertInvalid(verifyDelivery(input({ timestamp: '' })), 'timestamp_malformed', /is empty/);
  });

  test('timestamp_stale and timestamp_future give the exact skew and the limit', () => {
    assertInvalid(verifyDelivery(input({ timestamp: String(NOW - 412) })), 'timestamp_stale', /^timestamp is 412 s old \(limit 300 s\)$/);
    assertInvalid(verifyDelivery(input({ timestamp: String(NOW + 301) })), 'timestamp_future', /^timestamp is 301 s in the future \(limit 300 s\)$/);
    assertInvalid(verifyDelivery(input({ timestamp: String(NOW - 61), maxSkewSeconds: 60 })), 'timestamp_stale', /limit 60 s/);
    assert.equal(verifyDelivery(input({ timestamp: String(NOW - 3600), maxSkewSeconds: 7200 })).valid, true);
  });

  test('body_not_json, only after the signature verified', () => {
    const text = Buffer.from('not json at all');
    assertInvalid(verifyDelivery(input({ rawBody: text, signature: hmac(NEW_SECRET, text) })), 'body_not_json', /^body is not valid JSON/);
    const latin1 = Buffer.from([0x7b, 0x22, 0xe9, 0x22, 0x3a, 0x31, 0x7d]);
    assertInvalid(verifyDelivery(input({ rawBody: latin1, signature: hmac(NEW_SECRET, latin1) })), 'body_not_json', /UTF-8/);
    // A wrong signature on a non-JSON body is reported as the signature problem.
    assertInvalid(verifyDelivery(input({ rawBody: text })), 'signature_mismatch');
  });

  test('body_not_object: JSON that is not an event object', () => {
    for (const [raw, kind] of [['[1,2]', 'an array'], ['"x"', 'a string'], ['null', 'null'], ['42', 'a number']] as const) {
      const body = Buffer.from(raw);
      assertInvalid(verifyDelivery(input({ rawBody: body, signature: hmac(NEW_SECRET, body) })), 'body_not_object', new RegExp(`JSON ${kind},`));
    }
  });

  test('tenant_mismatch: another tenant, or none', () => {
    assertInvalid(verifyDelivery(input({ expectedTenantId: 'tnt_B' })), 'tenant_mismatch', /^tenant\.id is tnt_A, expected tnt_B$/);
    const body = Buffer.from('{"event_id":"evt_1"}');
    assertInvalid(verifyDelivery(input({ rawBody: body, signature: hmac(NEW_SECRET, body), expectedTenantId: 'tnt_B' })), 'tenant_mismatch', /no tenant\.id/);
  });

  test('checks run in order: signature, then timestamp, then body, then tenant', () => {
    const notJson = Buffer.from('oops');
    const stale = String(NOW - 1000);
    assertInvalid(verifyDelivery(input({ rawBody: notJson, signature: 'f'.repeat(64), timestamp: stale, expectedTenantId: 'tnt_B' })), 'signature_mismatch');
    assertInvalid(verifyDelivery(input({ rawBody: notJson, signature: hmac(NEW_SECRET, notJson), timestamp: stale, expectedTenantId: 'tnt_B' })), 'timestamp_stale');
    assertInvalid(verifyDelivery(input({ rawBody: notJson, signature: hmac(NEW_SECRET, notJson), expectedTenantId: 'tnt_B' })), 'body_not_json');
    assertInvalid(verifyDelivery(input({ timestamp: stale, expectedTenantId: 'tnt_B' })), 'timestamp_stale');
  });
});

describe('parseRawHeaders', () => {
  const signature = 'a'.repeat(64);
  const previous = 'b'.repeat(64);

  test('reads a capture with a request line, CRLF line ends and mixed-case names', () => {
    const text = [
      'POST /webhooks/intelliauth HTTP/1.1',
      'Host: receiver.example.com',
      'content-type: application/json',
      `X-INTELLIAUTH-SIGNATURE: ${signature}`,
      `x-intelliauth-signature-previous:${previous}`,
      'X-IntelliAuth-Timestamp:   1750000000  ',
      'X-IntelliAuth-Event-Id: evt_1',
      'X-IntelliAuth-Event-Type: user.signed_up',
      'X-IntelliAuth-Delivery-Attempt: 3',
      '',
      '{"body":"ignored"}',
      'X-IntelliAuth-Timestamp: 1',
    ].join('\r\n');
    assert.deepEqual(parseRawHeaders(text), {
      signature,
      previousSignature: previous,
      timestamp: '1750000000',
      eventId: 'evt_1',
      eventType: 'user.signed_up',
      attempt: '3',
      duplicates: [],
    });
  });

  test('reads LF-only text without a request line, and leading blank lines', () => {
    assert.deepEqual(parseRawHeaders(`\n\nX-IntelliAuth-Signature: ${signature}\nX-IntelliAuth-Timestamp: 5\n`), {
      signature,
      timestamp: '5',
      duplicates: [],
    });
  });

  test('joins folded continuation lines', () => {
    const text = `POST / HTTP/1.1\r\nX-IntelliAuth-Signature: ${signature.slice(0, 32)}\r\n ${signature.slice(32)}\r\nX-IntelliAuth-Event-Type: user.\r\n\tsigned_up\r\n`;
    const parsed = parseRawHeaders(text);
    // Folding joins with a space: the parser keeps the bytes it was given, and verification then refuses them.
    assert.equal(parsed.signature, `${signature.slice(0, 32)} ${signature.slice(32)}`);
    assert.equal(parsed.eventType, 'user. signed_up');
  });

  test('reads curl -v style "> " prefixed request headers', () => {
    const text = `* Connected to host\n> POST /hook HTTP/1.1\n> Host: x\n> X-IntelliAuth-Signature: ${signature}\n> \n< HTTP/1.1 200 OK\n< X-IntelliAuth-Signature: ${previous}\n`;
    assert.deepEqual(parseRawHeaders(text), { signature, duplicates: [] });
  });

  test('the same header twice with the same value is not a duplicate', () => {
    assert.deepEqual(parseRawHeaders(`X-IntelliAuth-Signature: ${signature}\nx-intelliauth-signature: ${signature}\n`), { signature, duplicates: [] });
  });

  test('a delivery header twice with different values is reported and left unset', () => {
    const parsed = parseRawHeaders(
      `X-IntelliAuth-Signature: ${signature}\nX-IntelliAuth-Signature: ${previous}\nX-IntelliAuth-Event-Id: evt_1\nX-IntelliAuth-Event-Id: evt_2\nX-IntelliAuth-Timestamp: 9\nAccept: a\nAccept: b\n`,
    );
    assert.equal(parsed.signature, undefined);
    assert.equal(parsed.eventId, undefined);
    assert.equal(parsed.timestamp, '9');
    assert.deepEqual(parsed.duplicates, ['X-IntelliAuth-Signature', 'X-IntelliAuth-Event-Id']);
  });

  test('the Previous header is not confused with the main one', () => {
    assert.deepEqual(parseRawHeaders(`X-IntelliAuth-Signature-Previous: ${previous}\n`), { previousSignature: previous, duplicates: [] });
  });

  test('text without any delivery header gives nothing but an empty duplicates list', () => {
    assert.deepEqual(parseRawHeaders('just some words\nand: more\n'), { duplicates: [] });
    assert.deepEqual(parseRawHeaders(''), { duplicates: [] });
  });
});

describe('RecentIds', () => {
  test('add reports whether an id is new; has answers membership', () => {
    const ids = new RecentIds(3);
    assert.equal(ids.add('evt_1'), true);
    assert.equal(ids.add('evt_1'), false);
    assert.equal(ids.has('evt_1'), true);
    assert.equal(ids.has('evt_2'), false);
    assert.equal(ids.size, 1);
  });

  test('holds at most its capacity, evicting the least recently added id', () => {
    const ids = new RecentIds(3);
    for (const id of ['a', 'b', 'c', 'd']) ids.add(id);
    assert.equal(ids.size, 3);
    assert.equal(ids.has('a'), false);
    assert.deepEqual(['b', 'c', 'd'].map((id) => ids.has(id)), [true, true, true]);
  });

  test('adding an id again refreshes it; has() does not', () => {
    const ids = new RecentIds(3);
    for (const id of ['a', 'b', 'c']) ids.add(id);
    ids.add('a');
    ids.has('b');
    ids.add('d');
    assert.equal(ids.has('b'), false, 'b was the least recently added');
    assert.equal(ids.has('a'), true);
    assert.equal(ids.has('c'), true);
    assert.equal(ids.has('d'), true);
  });

  test('defaults to 10 000 and stays bounded under many adds', () => {
    const ids = new RecentIds();
    assert.equal(ids.capacity, 10_000);
    for (let i = 0; i < 25_000; i += 1) ids.add(`evt_${i}`);
    assert.equal(ids.size, 10_000);
    assert.equal(ids.has('evt_14999'), false);
    assert.equal(ids.has('evt_15000'), true);
    assert.equal(ids.has('evt_24999'), true);
  });

  test('delete and clear', () => {
    const ids = new RecentIds(2);
    ids.add('a');
    ids.add('b');
    assert.equal(ids.delete('a'), true);
    assert.equal(ids.delete('a'), false);
    ids.clear();
    assert.equal(ids.size, 0);
  });

  test('refuses a capacity that is not a positive integer', () => {
    assert.throws(() => new RecentIds(0), RangeError);
    assert.throws(() => new RecentIds(1.5), RangeError);
  });
});
