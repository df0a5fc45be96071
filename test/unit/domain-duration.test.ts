import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { formatDuration, parseDurationSeconds } from '../../src/domain/duration.ts';

describe('parseDurationSeconds', () => {
  const valid: Array<[string, number]> = [
    ['0', 0],
    ['90', 90],
    ['1.5', 1.5],
    ['90s', 90],
    ['90m', 5400],
    ['24h', 86_400],
    ['7d', 604_800],
    ['1w', 604_800],
    ['1h30m', 5400],
    ['1h 30m', 5400],
    ['2d 3h', 183_600],
    ['1.5h', 5400],
    ['500ms', 0.5],
    ['1m500ms', 60.5],
    ['5m5s', 305],
    [' 24H ', 86_400],
    ['0s', 0],
  ];
  for (const [text, seconds] of valid) {
    test(`${JSON.stringify(text)} is ${seconds} s`, () => {
      assert.equal(parseDurationSeconds(text), seconds);
    });
  }

  for (const text of ['', '   ', 'abc', '-5', '-5m', '1 h', '1h30', 'h', '5x', '1e3', '1h-30m', '.5h', '5.h', 'forever', '1h,30m', '1 30m']) {
    test(`${JSON.stringify(text)} is not a duration`, () => {
      assert.equal(parseDurationSeconds(text), null);
    });
  }
});

describe('formatDuration', () => {
  const cases: Array<[number, string]> = [
    [0, '0s'],
    [0.25, '250ms'],
    [1, '1s'],
    [45, '45s'],
    [60, '1m'],
    [90, '1m 30s'],
    [3600, '1h'],
    [5400, '1h 30m'],
    [5430, '1h 30m'],
    [86_400, '1d'],
    [183_600, '2d 3h'],
    [172_800 + 300, '2d 5m'],
    [52_560, '14h 36m'],
    [604_800, '7d'],
  ];
  for (const [seconds, text] of cases) {
    test(`${seconds} s is ${text}`, () => {
      assert.equal(formatDuration(seconds), text);
    });
  }

  test('round-trips through the parser for whole units', () => {
    for (const seconds of [45, 90, 3600, 5400, 86_400, 183_600]) {
      assert.equal(parseDurationSeconds(formatDuration(seconds)), seconds);
    }
  });
});
