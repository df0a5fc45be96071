import { createHash } from 'node:crypto';

/** mulberry32 seeded from SHA-256 of the seed text: the same seed gives the same sequence. */
export function seededRandom(seed: string): () => number {
  let state = createHash('sha256').update(seed, 'utf8').digest().readUInt32LE(0);
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}
