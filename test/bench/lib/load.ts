// Load generators: a closed loop (as fast as the other side answers) and an open loop (a fixed
// rate whatever the answers do).

/**
 * Runs `task(i)` for i in 0..count-1 with at most `concurrency` under way: a closed loop,
 * as fast as the other side takes them.
 */
export async function closedLoop(count: number, concurrency: number, task: (index: number) => Promise<void>): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < count) await task(next++);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, lane));
}

/**
 * Starts `task(i)` at a fixed rate whatever the answers do (an open loop: slow answers do
 * not slow the sender, so queueing shows up in the measured latency).
 */
export async function openLoop(count: number, perSecond: number, task: (index: number) => Promise<void>): Promise<void> {
  const started = performance.now();
  const running = new Set<Promise<void>>();
  for (let index = 0; index < count; index++) {
    const due = started + (index * 1000) / perSecond;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((resolve) => setTimeout(resolve, wait));
    const work = task(index).finally(() => running.delete(work));
    running.add(work);
  }
  await Promise.all(running);
}
