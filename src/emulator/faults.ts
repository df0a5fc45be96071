import type { FaultKind } from './log.ts';
import { seededRandom } from './prng.ts';

// Fault injection for API and token requests: with probability `rate`, one of the faults a
// client must survive. The draws come from a seeded generator in request-arrival order, so
// the same seed and the same sequence of requests give the same faults.

export const FAULT_KINDS: readonly FaultKind[] = ['internal_error', 'unavailable', 'rate_limited', 'reset', 'stall'];
export const STALL_MS = 2000;
export const RATE_LIMIT_RETRY_AFTER_SECONDS = 1;

export function createFaultInjector(rate: number, seed: string): () => FaultKind | null {
  if (!(rate > 0)) return () => null;
  const random = seededRandom(seed);
  return () => {
    if (random() >= rate) return null;
    return FAULT_KINDS[Math.min(FAULT_KINDS.length - 1, Math.floor(random() * FAULT_KINDS.length))]!;
  };
}
