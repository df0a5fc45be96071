import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

// Access tokens are stateless: the claims plus an HMAC keyed with the server key, which is
// persisted with the state, so tokens issued before a restart still verify after it.

export interface TokenClaims {
  /** The client id the token was issued to. */
  sub: string;
  scopes: string[];
  /** Unix seconds. */
  iat: number;
  exp: number;
  aud: string | null;
}

const PREFIX = 'iaemu';

function mac(key: Buffer, payload: string): Buffer {
  return createHmac('sha256', key).update(`${PREFIX}.${payload}`).digest();
}

export function issueToken(key: Buffer, claims: TokenClaims): string {
  const payload = Buffer.from(JSON.stringify({ ...claims, jti: randomBytes(9).toString('base64url') })).toString('base64url');
  return `${PREFIX}.${payload}.${mac(key, payload).toString('base64url')}`;
}

/** The claims of a genuine, unexpired token, or null. */
export function verifyToken(key: Buffer, token: string, nowSeconds: number = Math.floor(Date.now() / 1000)): TokenClaims | null {
  const parts = token.split('.');
  if (parts.length !== 3 || parts[0] !== PREFIX) return null;
  const [, payload, signature] = parts as [string, string, string];
  const given = Buffer.from(signature, 'base64url');
  const expected = mac(key, payload);
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return null;
  let claims: unknown;
  try {
    claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
  } catch {
    return null;
  }
  if (!isClaims(claims) || claims.exp <= nowSeconds) return null;
  return { sub: claims.sub, scopes: claims.scopes, iat: claims.iat, exp: claims.exp, aud: claims.aud };
}

function isClaims(value: unknown): value is TokenClaims {
  if (typeof value !== 'object' || value === null) return false;
  const claims = value as Record<string, unknown>;
  return (
    typeof claims.sub === 'string' &&
    Array.isArray(claims.scopes) &&
    claims.scopes.every((scope) => typeof scope === 'string') &&
    typeof claims.iat === 'number' &&
    typeof claims.exp === 'number' &&
    (claims.aud === null || typeof claims.aud === 'string')
  );
}
