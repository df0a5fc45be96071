import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { TIMESTAMP_TOLERANCE_SECONDS } from './contract.ts';

/** HMAC-SHA256 of the raw body, keyed with the secret string's UTF-8 bytes, lowercase hex. */
export function sign(secret: string, rawBody: Uint8Array | string): string {
  return createHmac('sha256', secret).update(rawBody).digest('hex');
}

const HEX_SHA256 = /^[0-9a-f]{64}$/;

/** Constant-time check of a received signature header against the raw body. */
export function signatureMatches(secret: string, rawBody: Uint8Array | string, received: string | undefined | null): boolean {
  if (typeof received !== 'string') return false;
  const candidate = received.trim();
  const expected = Buffer.from(sign(secret, rawBody), 'utf8');
  // Compare equal-length buffers only; a malformed header still costs one comparison.
  const given = HEX_SHA256.test(candidate) ? Buffer.from(candidate, 'utf8') : Buffer.alloc(expected.length);
  const equal = timingSafeEqual(expected, given);
  return equal && HEX_SHA256.test(candidate);
}

/** First 8 hex characters of SHA-256 of the secret: safe to show, enough to match a stored secret. */
export function secretFingerprint(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex').slice(0, 8);
}

export type TimestampVerdict =
  | { ok: true; skewSeconds: number }
  | { ok: false; reason: 'missing' | 'malformed' | 'stale' | 'future'; skewSeconds?: number };

/** Receivers reject a timestamp more than the tolerance away from their clock, either way. */
export function checkTimestamp(
  header: string | undefined | null,
  nowSeconds: number = Math.floor(Date.now() / 1000),
  toleranceSeconds: number = TIMESTAMP_TOLERANCE_SECONDS,
): TimestampVerdict {
  if (header === undefined || header === null || header === '') return { ok: false, reason: 'missing' };
  if (!/^\d{1,12}$/.test(header.trim())) return { ok: false, reason: 'malformed' };
  const skewSeconds = nowSeconds - Number(header.trim());
  if (skewSeconds > toleranceSeconds) return { ok: false, reason: 'stale', skewSeconds };
  if (skewSeconds < -toleranceSeconds) return { ok: false, reason: 'future', skewSeconds };
  return { ok: true, skewSeconds };
}

/** A new signing secret: 32 random bytes, prefixed so it is recognisable in a leak scan. */
export function generateSigningSecret(randomBytes: (n: number) => Buffer): string {
  return `whsec_${randomBytes(32).toString('base64url')}`;
}
