import { randomBytes } from 'node:crypto';

// Prefixed ids with a ULID tail: 48-bit time then 80 random bits, Crockford base32, so
// ids of one kind sort in creation order. Monotonic within a millisecond.
const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

let lastTime = -1;
let lastRandom: Uint8Array = new Uint8Array(10);

function incrementRandom(bytes: Uint8Array): Uint8Array {
  const next = Uint8Array.from(bytes);
  for (let i = next.length - 1; i >= 0; i -= 1) {
    if (next[i]! < 255) {
      next[i]! += 1;
      return next;
    }
    next[i] = 0;
  }
  return next;
}

export function ulid(now: number = Date.now()): string {
  now = Math.floor(now);
  if (now <= lastTime) {
    lastRandom = incrementRandom(lastRandom);
    now = lastTime;
  } else {
    lastTime = now;
    lastRandom = Uint8Array.from(randomBytes(10));
  }
  let time = '';
  let t = now;
  for (let i = 0; i < 10; i += 1) {
    time = ALPHABET[t % 32]! + time;
    t = Math.floor(t / 32);
  }
  let bits = 0n;
  for (const byte of lastRandom) bits = (bits << 8n) | BigInt(byte);
  let random = '';
  for (let i = 0; i < 16; i += 1) {
    random = ALPHABET[Number(bits & 31n)]! + random;
    bits >>= 5n;
  }
  return time + random;
}

export function newId(prefix: string, now?: number): string {
  return prefix + ulid(now);
}

/** The millisecond time a ULID-tailed id was made at, or null for a malformed id. */
export function idTime(id: string): number | null {
  const tail = id.slice(id.indexOf('_') + 1);
  if (tail.length !== 26) return null;
  if ([...tail].some((char) => !ALPHABET.includes(char))) return null;
  let time = 0;
  for (const char of tail.slice(0, 10)) time = time * 32 + ALPHABET.indexOf(char);
  return time;
}
