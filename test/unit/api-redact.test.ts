import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import {
  REDACTED,
  isSensitiveKey,
  redactBody,
  redactForm,
  redactHeaders,
  redactJson,
  redactText,
  redactUrl,
} from '../../src/api/redact.ts';

describe('redact: keys', () => {
  test('credential-like keys are sensitive, whatever the case or separator', () => {
    for (const key of ['client_secret', 'CLIENT_SECRET', 'client-secret', 'signing_secret', 'access_token', 'refresh_token', 'secret', 'password', 'new_password', 'Authorization', 'token', 'previous_signing_secret']) {
      assert.ok(isSensitiveKey(key), key);
    }
  });

  test('look-alike keys that are safe to show stay visible', () => {
    for (const key of ['secret_fingerprint', 'token_type', 'previous_secret_expires_at', 'expires_in', 'client_id', 'idempotency_key', 'name']) {
      assert.ok(!isSensitiveKey(key), key);
    }
  });
});

describe('redact: JSON', () => {
  test('top-level and nested fields, inside arrays too', () => {
    const input = {
      data: {
        id: 'whsub_1',
        signing_secret: 'whsec_abc',
        secret_fingerprint: 'a1b2c3d4',
        items: [{ password: 'p1', user: 'u' }, { nested: { client_secret: 'cs', access_token: 'at' } }],
      },
      access_token: 'tok',
      token_type: 'Bearer',
    };
    assert.deepEqual(redactJson(input), {
      data: {
        id: 'whsub_1',
        signing_secret: REDACTED,
        secret_fingerprint: 'a1b2c3d4',
        items: [{ password: REDACTED, user: 'u' }, { nested: { client_secret: REDACTED, access_token: REDACTED } }],
      },
      access_token: REDACTED,
      token_type: 'Bearer',
    });
  });

  test('an object under a sensitive key goes as a whole; null stays null', () => {
    assert.deepEqual(redactJson({ secret: { a: 1 }, password: null }), { secret: REDACTED, password: null });
  });

  test('does not modify its input', () => {
    const input = { secret: 's' };
    redactJson(input);
    assert.equal(input.secret, 's');
  });

  test('bearer tokens inside string values are hidden', () => {
    assert.deepEqual(redactJson({ note: 'sent Bearer abc.def-ghi' }), { note: `sent Bearer ${REDACTED}` });
  });
});

describe('redact: form bodies and URLs', () => {
  test('form fields, keeping the others byte for byte', () => {
    assert.equal(
      redactForm('grant_type=client_credentials&client_id=abc&client_secret=s%2Fx&scope=webhooks%3Aread'),
      `grant_type=client_credentials&client_id=abc&client_secret=${REDACTED}&scope=webhooks%3Aread`,
    );
  });

  test('percent-encoded sensitive keys are recognised', () => {
    assert.equal(redactForm('client%5Fsecret=x&password=y&a'), `client%5Fsecret=${REDACTED}&password=${REDACTED}&a`);
  });

  test('URL userinfo and sensitive query parameters', () => {
    assert.equal(
      redactUrl('https://user:pw@proxy.example.com:8080/a?access_token=t1&limit=5#frag'),
      `https://${REDACTED}@proxy.example.com:8080/a?access_token=${REDACTED}&limit=5#frag`,
    );
    assert.equal(redactUrl('/api/v1/webhooks/subscriptions?cursor=abc'), '/api/v1/webhooks/subscriptions?cursor=abc');
  });
});

describe('redact: headers', () => {
  test('authorization keeps its scheme only; cookies and proxy auth go entirely', () => {
    const out = redactHeaders({
      Authorization: 'Bearer eyJhbGciOi.payload.sig',
      'proxy-authorization': 'Basic dXNlcjpwYXNz',
      cookie: 'session=abc',
      'set-cookie': ['a=1', 'b=2'],
      'x-api-key': 'k',
      'content-type': 'application/json',
      'content-length': 12,
      'x-absent': undefined,
    });
    assert.deepEqual(out, {
      Authorization: `Bearer ${REDACTED}`,
      'proxy-authorization': `Basic ${REDACTED}`,
      cookie: REDACTED,
      'set-cookie': REDACTED,
      'x-api-key': REDACTED,
      'content-type': 'application/json',
      'content-length': '12',
    });
  });

  test('a header named like a secret field, and a location with credentials', () => {
    const out = redactHeaders({ 'X-Client-Secret': 'abc', location: 'https://u:p@h.example/?token=t' });
    assert.equal(out['X-Client-Secret'], REDACTED);
    assert.equal(out.location, `https://${REDACTED}@h.example/?token=${REDACTED}`);
  });
});

describe('redact: bodies by content type, and free text', () => {
  test('JSON body', () => {
    assert.equal(redactBody('{"access_token":"t","expires_in":3600}', 'application/json'), `{"access_token":"${REDACTED}","expires_in":3600}`);
  });

  test('form body', () => {
    assert.equal(redactBody('client_secret=x&a=b', 'application/x-www-form-urlencoded'), `client_secret=${REDACTED}&a=b`);
  });

  test('truncated JSON falls back to pattern matching, even inside an unterminated string', () => {
    const out = redactBody('{"data": {"signing_secret": "whsec_abcdef", "client_secret": "cs_12', 'application/json');
    assert.ok(!out.includes('whsec_abcdef'));
    assert.ok(!out.includes('cs_12'));
    assert.ok(out.includes(REDACTED));
  });

  test('free text: Bearer and Basic credentials and key=value pairs', () => {
    const out = redactText('auth Bearer abc.DEF-123_x= then Basic dXNlcjpwYXNz and password=hunter2; x=1');
    assert.equal(out, `auth Bearer ${REDACTED} then Basic ${REDACTED} and password=${REDACTED}; x=1`);
  });

  test('an HTML page passes through apart from credentials', () => {
    assert.equal(redactBody('<html>oops</html>', 'text/html'), '<html>oops</html>');
  });

  test('JSON with escaped quotes in a secret value', () => {
    const out = redactText('{"secret": "a\\"b\\"c", "x": "y"}');
    assert.ok(!out.includes('a\\"b'));
    assert.ok(out.includes('"x": "y"'));
  });
});
