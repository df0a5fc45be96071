// The documented delivery retry schedule: attempt 1 at once, then each delay after the
// previous attempt, with about ±10% jitter; dead-lettered after the sixth failure.

export const RETRY_DELAYS_SECONDS = [60, 5 * 60, 30 * 60, 2 * 3600, 12 * 3600] as const;
export const MAX_ATTEMPTS = RETRY_DELAYS_SECONDS.length + 1;
export const JITTER_FRACTION = 0.1;

/**
 * Delay in milliseconds before attempt `nextAttempt` (2..MAX_ATTEMPTS), or null when the
 * previous attempt was the last. `random` returns [0, 1); `timeScale` divides the delay.
 */
export function retryDelayMs(nextAttempt: number, random: () => number = Math.random, timeScale = 1): number | null {
  if (!Number.isInteger(nextAttempt) || nextAttempt < 2 || nextAttempt > MAX_ATTEMPTS) return null;
  const base = RETRY_DELAYS_SECONDS[nextAttempt - 2]! * 1000;
  const jitter = 1 + (random() * 2 - 1) * JITTER_FRACTION;
  return (base * jitter) / timeScale;
}

/** Client-side backoff for API retries: exponential, capped, jittered over the upper half ([ceiling/2, ceiling]). */
export function backoffMs(retry: number, baseMs: number, capMs: number, random: () => number = Math.random): number {
  const ceiling = Math.min(capMs, baseMs * 2 ** Math.max(0, retry - 1));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}
