import { UsageError } from '../errors.ts';
import { parseDurationSeconds } from '../domain/duration.ts';

// Turning flag text into typed values, with one-line errors that name the flag.

export function parseInteger(flag: string, value: unknown, range: { min?: number; max?: number } = {}): number {
  const text = String(value).trim();
  if (!/^-?\d+$/.test(text)) throw new UsageError(`${flag} must be a whole number, got "${text}"`);
  return checkRange(flag, Number(text), range);
}

export function parseNumber(flag: string, value: unknown, range: { min?: number; max?: number } = {}): number {
  const text = String(value).trim();
  const parsed = Number(text);
  if (text === '' || !Number.isFinite(parsed)) throw new UsageError(`${flag} must be a number, got "${text}"`);
  return checkRange(flag, parsed, range);
}

export function parseDuration(flag: string, value: unknown, range: { min?: number; max?: number } = {}): number {
  const text = String(value);
  const seconds = parseDurationSeconds(text);
  if (seconds === null) throw new UsageError(`${flag} must be a duration like 90s, 15m, 24h or 7d, got "${text}"`);
  return checkRange(flag, seconds, range, (n) => `${n}s`);
}

export function optionalString(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

function checkRange(flag: string, value: number, range: { min?: number; max?: number }, show = (n: number) => String(n)): number {
  if (range.min !== undefined && value < range.min) throw new UsageError(`${flag} must be at least ${show(range.min)}, got ${show(value)}`);
  if (range.max !== undefined && value > range.max) throw new UsageError(`${flag} must be at most ${show(range.max)}, got ${show(value)}`);
  return value;
}
