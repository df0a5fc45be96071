import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  anySelectorMatches,
  isValidSelector,
  parseSelectorList,
  selectorKind,
  selectorMatches,
} from '../../src/domain/selectors.ts';

describe('selectorKind', () => {
  test('recognises the three kinds', () => {
    assert.equal(selectorKind('*'), 'all');
    assert.equal(selectorKind('user.*'), 'category');
    assert.equal(selectorKind('mfa.*'), 'category');
    assert.equal(selectorKind('user.signed_up'), 'type');
    assert.equal(selectorKind('test.ping'), 'type');
  });

  test('refuses malformed selectors', () => {
    for (const selector of ['', ' ', 'user', 'User.signed_up', 'user.Signed_Up', 'user.', '.signed_up', 'user..signed_up', 'user.*.x', '*.signed_up', 'user.**', 'user*', '**', 'user.signed-up', 'user.signed up', '1user.x', 'user.1x', ' user.*']) {
      assert.equal(selectorKind(selector), null, JSON.stringify(selector));
      assert.equal(isValidSelector(selector), false, JSON.stringify(selector));
    }
  });
});

describe('selectorMatches', () => {
  test('* matches everything', () => {
    assert.ok(selectorMatches('*', 'user.signed_in'));
    assert.ok(selectorMatches('*', 'mfa.factor_added'));
  });

  test('a category matches its own types only', () => {
    assert.ok(selectorMatches('user.*', 'user.signed_in'));
    assert.ok(selectorMatches('user.*', 'user.mfa_failed'));
    assert.equal(selectorMatches('user.*', 'mfa.factor_added'), false);
    // Not a textual prefix match: `user.*` must not reach a `users` category.
    assert.equal(selectorMatches('user.*', 'users.created'), false);
    assert.equal(selectorMatches('user.*', 'user'), false);
  });

  test('an exact type matches itself only', () => {
    assert.ok(selectorMatches('user.signed_in', 'user.signed_in'));
    assert.equal(selectorMatches('user.signed_in', 'user.signed_in_extra'), false);
    assert.equal(selectorMatches('user.signed_in', 'user.signed_out'), false);
  });

  test('a malformed selector matches nothing', () => {
    assert.equal(selectorMatches('user', 'user.signed_in'), false);
    assert.equal(selectorMatches('', 'user.signed_in'), false);
  });

  test('anySelectorMatches', () => {
    assert.ok(anySelectorMatches(['mfa.*', 'user.deleted'], 'user.deleted'));
    assert.ok(anySelectorMatches(['mfa.*', 'user.deleted'], 'mfa.factor_removed'));
    assert.equal(anySelectorMatches(['mfa.*', 'user.deleted'], 'user.updated'), false);
    assert.equal(anySelectorMatches([], 'user.updated'), false);
  });
});

describe('parseSelectorList', () => {
  test('splits on commas and whitespace, drops empties and duplicates, keeps order', () => {
    assert.deepEqual(parseSelectorList('user.signed_in, mfa.*  user.deleted,,user.signed_in'), ['user.signed_in', 'mfa.*', 'user.deleted']);
    assert.deepEqual(parseSelectorList(['user.*', 'mfa.*,user.*', ' * ']), ['user.*', 'mfa.*', '*']);
    assert.deepEqual(parseSelectorList(''), []);
    assert.deepEqual(parseSelectorList(' , \n\t'), []);
  });

  test('does not validate', () => {
    assert.deepEqual(parseSelectorList('Bogus'), ['Bogus']);
  });
});
