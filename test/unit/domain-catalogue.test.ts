import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { TEST_EVENT_TYPE } from '../../src/domain/contract.ts';
import { isValidSelector } from '../../src/domain/selectors.ts';
import {
  EVENT_CATALOGUE,
  isKnownEventType,
  sampleEventData,
  suggestEventTypes,
  validateSelectorsAgainstCatalogue,
} from '../../src/domain/catalogue.ts';

const DOCUMENTED = [
  'user.signed_in',
  'user.signed_out',
  'user.sign_in_failed',
  'user.mfa_required',
  'user.mfa_succeeded',
  'user.mfa_failed',
  'user.signed_up',
  'user.updated',
  'user.disabled',
  'user.enabled',
  'user.deleted',
  'user.email_verified',
  'mfa.factor_added',
  'mfa.factor_removed',
];
const KNOWN = EVENT_CATALOGUE.map((event) => event.type);

function seeded(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state * 16_807) % 2_147_483_647;
    return (state - 1) / 2_147_483_646;
  };
}

describe('EVENT_CATALOGUE', () => {
  test('lists the documented types and test.ping, once each', () => {
    assert.deepEqual(KNOWN.filter((type) => type !== TEST_EVENT_TYPE).sort(), [...DOCUMENTED].sort());
    assert.ok(KNOWN.includes(TEST_EVENT_TYPE));
    assert.equal(new Set(KNOWN).size, KNOWN.length);
  });

  test('every entry has the category of its prefix, a valid type and a description', () => {
    for (const event of EVENT_CATALOGUE) {
      assert.equal(event.category, event.type.split('.')[0]);
      assert.ok(isValidSelector(event.type), event.type);
      assert.ok(event.description.length > 10, event.type);
    }
    assert.equal(EVENT_CATALOGUE.find((event) => event.type === TEST_EVENT_TYPE)?.category, 'test');
  });

  test('is frozen', () => {
    assert.ok(Object.isFrozen(EVENT_CATALOGUE));
    assert.ok(Object.isFrozen(EVENT_CATALOGUE[0]));
  });
});

describe('isKnownEventType', () => {
  test('knows the catalogue and nothing else', () => {
    for (const type of KNOWN) assert.ok(isKnownEventType(type), type);
    for (const type of ['user.*', '*', 'user.signedup', 'billing.invoice_paid', '', 'USER.SIGNED_IN']) {
      assert.equal(isKnownEventType(type), false, type);
    }
  });
});

describe('sampleEventData', () => {
  test('user events carry a usr_ id and an e-mail', () => {
    for (const type of DOCUMENTED) {
      const data = sampleEventData(type, seeded(7));
      assert.equal(typeof data.email, 'string', type);
      assert.match(String(data.email), /^[a-z]+\.[a-z]+@example\.com$/, type);
      if (type !== 'user.sign_in_failed') assert.match(String(data.user_id), /^usr_[0-7][0-9A-HJKMNP-TV-Z]{25}$/, type);
    }
  });

  test('sign-in events carry the client ip and user agent', () => {
    for (const type of ['user.signed_in', 'user.sign_in_failed', 'user.mfa_required', 'user.mfa_succeeded', 'user.mfa_failed', 'user.signed_up']) {
      const data = sampleEventData(type, seeded(11));
      assert.match(String(data.ip), /^(192\.0\.2|198\.51\.100|203\.0\.113)\.\d+$|^2001:db8::/, type);
      assert.match(String(data.user_agent), /^Mozilla\/5\.0 /, type);
    }
  });

  test('failures carry a reason; factor events carry the factor', () => {
    assert.ok(['invalid_password', 'unknown_user', 'account_disabled', 'account_locked'].includes(String(sampleEventData('user.sign_in_failed', seeded(3)).reason)));
    assert.ok(['invalid_code', 'challenge_expired', 'too_many_attempts'].includes(String(sampleEventData('user.mfa_failed', seeded(3)).reason)));
    for (const type of ['mfa.factor_added', 'mfa.factor_removed', 'user.mfa_succeeded']) {
      assert.ok(['totp', 'webauthn', 'sms'].includes(String(sampleEventData(type, seeded(5)).factor_type)), type);
    }
    assert.match(String(sampleEventData('mfa.factor_added', seeded(5)).factor_id), /^mfa_/);
    const required = sampleEventData('user.mfa_required', seeded(5)).factor_types;
    assert.ok(Array.isArray(required) && required.length > 0);
    const updated = sampleEventData('user.updated', seeded(5)).changed_fields;
    assert.ok(Array.isArray(updated) && updated.length > 0);
  });

  test('an unknown user in a failed sign-in has no user id', () => {
    for (let seed = 1; seed < 200; seed += 1) {
      const data = sampleEventData('user.sign_in_failed', seeded(seed));
      if (data.reason === 'unknown_user') assert.equal(data.user_id, null);
      else assert.match(String(data.user_id), /^usr_/);
    }
  });

  test('test.ping says it is a test', () => {
    assert.equal(sampleEventData(TEST_EVENT_TYPE).test, true);
  });

  test('is reproducible with the same random source, varied with another', () => {
    assert.deepEqual(sampleEventData('user.signed_in', seeded(42)), sampleEventData('user.signed_in', seeded(42)));
    assert.notDeepEqual(sampleEventData('user.signed_in', seeded(42)), sampleEventData('user.signed_in', seeded(43)));
  });

  test('copes with a random source that returns its extremes', () => {
    for (const type of KNOWN) {
      assert.doesNotThrow(() => JSON.stringify(sampleEventData(type, () => 0)));
      const data = sampleEventData(type, () => 1 - Number.EPSILON);
      assert.ok(!JSON.stringify(data).includes('undefined'), type);
    }
  });

  test('an unknown type gets an empty object', () => {
    assert.deepEqual(sampleEventData('billing.invoice_paid'), {});
  });
});

describe('suggestEventTypes', () => {
  const cases: Array<[string, string]> = [
    ['user.signedup', 'user.signed_up'],
    ['user.signed-up', 'user.signed_up'],
    ['User.Signed_Up', 'user.signed_up'],
    ['user.sigend_in', 'user.signed_in'],
    ['user.signed_in_failed', 'user.sign_in_failed'],
    ['user.delete', 'user.deleted'],
    ['mfa.factor_add', 'mfa.factor_added'],
    ['signed_up', 'user.signed_up'],
    ['usr.*', 'user.*'],
    ['mfa', 'mfa.*'],
    ['user.login', 'user.signed_in'],
    ['user.logout', 'user.signed_out'],
  ];
  for (const [typo, best] of cases) {
    test(`${typo} -> ${best}`, () => {
      assert.equal(suggestEventTypes(typo, KNOWN)[0], best);
    });
  }

  test('a clear winner comes alone', () => {
    assert.deepEqual(suggestEventTypes('user.signedup', KNOWN), ['user.signed_up']);
  });

  test('nothing close, nothing suggested', () => {
    assert.deepEqual(suggestEventTypes('billing.*', KNOWN), []);
    assert.deepEqual(suggestEventTypes('xyz', KNOWN), []);
    assert.deepEqual(suggestEventTypes('', KNOWN), []);
  });

  test('respects max and the known list', () => {
    assert.ok(suggestEventTypes('user.signed', KNOWN, 1).length <= 1);
    assert.deepEqual(suggestEventTypes('user.signed', KNOWN, 0), []);
    assert.deepEqual(suggestEventTypes('user.signedup', ['order.created']), []);
    assert.deepEqual(suggestEventTypes('order.craeted', ['order.created', 'order.deleted']), ['order.created']);
  });
});

describe('validateSelectorsAgainstCatalogue', () => {
  test('* and known categories and types pass', () => {
    assert.deepEqual(validateSelectorsAgainstCatalogue(['*', 'user.*', 'mfa.*', 'test.*', 'user.signed_up', TEST_EVENT_TYPE], KNOWN), { unknown: [] });
    assert.deepEqual(validateSelectorsAgainstCatalogue(['*'], []), { unknown: [] });
  });

  test('unknown categories and types come back with suggestions', () => {
    const result = validateSelectorsAgainstCatalogue(['user.*', 'billing.*', 'user.signedup', 'usr.*'], KNOWN);
    assert.deepEqual(result.unknown, [
      { selector: 'billing.*', suggestions: [] },
      { selector: 'user.signedup', suggestions: ['user.signed_up'] },
      { selector: 'usr.*', suggestions: ['user.*'] },
    ]);
  });

  test('a category needs a type under it, not a textual prefix', () => {
    const result = validateSelectorsAgainstCatalogue(['use.*', 'user.mfa.*'], KNOWN);
    assert.deepEqual(result.unknown.map((entry) => entry.selector), ['use.*', 'user.mfa.*']);
  });

  test('malformed selectors are unknown', () => {
    const result = validateSelectorsAgainstCatalogue(['User.Signed_In', 'user'], KNOWN);
    assert.deepEqual(result.unknown, [
      { selector: 'User.Signed_In', suggestions: ['user.signed_in'] },
      { selector: 'user', suggestions: ['user.*'] },
    ]);
  });
});
