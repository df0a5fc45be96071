import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { Pool } from 'undici';
import { DELIVERY_HEADERS, ID_PREFIX } from '../../../src/domain/contract.ts';
import { newId } from '../../../src/domain/ids.ts';
import { sign } from '../../../src/domain/signature.ts';
import { benchEnv } from '../lib/env.ts';
import { closedLoop, openLoop } from '../lib/load.ts';
import { quantile, readCpuSeconds } from '../lib/measure.ts';
import { profileArgs } from '../lib/profile.ts';
import { ms, rate, type BenchContext, type Figure } from '../lib/report.ts';

// Target 6: `listen` verifies >= 3,000 deliveries/s on loopback, and answers with p99 under
// 5 ms. Signed deliveries come from here over keep-alive connections: 16 at a time for
// throughput, then at a fixed rate (an open loop) for the answer times.

const THROUGHPUT_DELIVERIES = 30_000;
const CONCURRENCY = 16;
const LATENCY_RATE = 1_000;
const LATENCY_SECONDS = 5;
const SECRET_VARIABLE = 'BENCH_SIGNING_SECRET';

interface Delivery {
  body: string;
  headers: Record<string, string>;
}

export async function benchListen(context: BenchContext): Promise<Figure[]> {
  const secret = `whsec_${randomBytes(32).toString('base64url')}`;
  const env = { ...benchEnv(join(context.scratch, 'home-listen')), [SECRET_VARIABLE]: secret };
  const child = spawn(process.execPath, [...profileArgs(context.profileDir, 'listen'), context.bin, 'listen', '--secret-env', SECRET_VARIABLE, '--port', '0', '--json'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let printed = 0;
  // One NDJSON line per delivery: read and counted, as a pipeline would consume them.
  child.stdout.on('data', (chunk: Buffer) => {
    for (let at = chunk.indexOf(10); at !== -1; at = chunk.indexOf(10, at + 1)) printed++;
  });
  const url = await new Promise<string>((resolve, reject) => {
    let stderr = '';
    const timer = setTimeout(() => reject(new Error(`listen not ready after 30 s: ${stderr}`)), 30_000);
    child.once('exit', (code) => reject(new Error(`listen exited with ${code}: ${stderr}`)));
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString('utf8');
      const match = /listening on (http:\/\/\S+)/.exec(stderr);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]!);
      }
    });
  });
  const target = new URL(url);
  const pool = new Pool(target.origin, { connections: CONCURRENCY, pipelining: 1 });
  let refused = 0;
  const send = async (delivery: Delivery): Promise<number> => {
    const started = performance.now();
    const response = await pool.request({ method: 'POST', path: target.pathname, headers: delivery.headers, body: delivery.body });
    await response.body.dump();
    if (response.statusCode !== 200) refused++;
    return performance.now() - started;
  };
  try {
    const total = Math.round(THROUGHPUT_DELIVERIES * context.scale);
    context.log(`listen: ${total.toLocaleString('en-US')} deliveries, ${CONCURRENCY} at a time`);
    // Signed beforehand, so the sender's HMACs are not part of the measurement.
    await closedLoop(200, CONCURRENCY, async () => void (await send(signedDelivery(secret))));
    const deliveries = Array.from({ length: total }, () => signedDelivery(secret));
    const cpuBefore = readCpuSeconds(child.pid);
    const started = performance.now();
    await closedLoop(total, CONCURRENCY, async (index) => void (await send(deliveries[index]!)));
    const seconds = (performance.now() - started) / 1000;
    const throughput = total / seconds;
    const cpuSeconds = cpuBefore === null ? null : readCpuSeconds(child.pid)! - cpuBefore;

    const latencyCount = Math.round(LATENCY_RATE * LATENCY_SECONDS * context.scale);
    context.log(`listen: answer times at ${LATENCY_RATE}/s for ${latencyCount / LATENCY_RATE} s`);
    const timed = Array.from({ length: latencyCount }, () => signedDelivery(secret));
    const times: number[] = [];
    await openLoop(latencyCount, LATENCY_RATE, async (index) => void times.push(await send(timed[index]!)));
    if (refused > 0) throw new Error(`listen refused ${refused} correctly signed deliveries`);
    if (printed < total) throw new Error(`listen printed ${printed} lines for ${total} deliveries`);

    return [
      {
        name: '6 listen: verified deliveries per second',
        measured:
          `${rate(throughput, 'deliveries')} (${total.toLocaleString('en-US')} in ${seconds.toFixed(1)} s, ${CONCURRENCY} connections` +
          (cpuSeconds === null ? ')' : `; ${rate(total / cpuSeconds, 'deliveries')} per CPU-second of listen)`),
        target: '≥ 3,000 deliveries/s',
        pass: throughput >= 3000,
      },
      {
        name: `6 listen: answer time at ${LATENCY_RATE}/s`,
        measured: `p99 ${ms(quantile(times, 0.99))}, p50 ${ms(quantile(times, 0.5))} (${times.length.toLocaleString('en-US')} deliveries, open loop)`,
        target: 'p99 < 5 ms',
        pass: quantile(times, 0.99) < 5,
      },
    ];
  } finally {
    await pool.close();
    child.kill('SIGTERM');
    await new Promise((resolve) => (child.exitCode !== null ? resolve(null) : child.once('exit', resolve)));
  }
}

function signedDelivery(secret: string): Delivery {
  const eventId = newId(ID_PREFIX.event);
  const body = JSON.stringify({
    event_id: eventId,
    event_type: 'user.signed_in',
    occurred_at: new Date().toISOString(),
    tenant: { id: 'tnt_01JBENCH0000000000000000000', slug: 'bench' },
    actor: { kind: 'user', id: 'usr_01JBENCH0000000000000000000', email: 'ada@example.com' },
    data: { user_id: 'usr_01JBENCH0000000000000000000', email: 'ada@example.com', ip: '203.0.113.7', method: 'password' },
    delivery: { attempt: 1, subscription_id: 'whsub_01JBENCH0000000000000000000' },
  });
  return {
    body,
    headers: {
      'content-type': 'application/json',
      [DELIVERY_HEADERS.signature]: sign(secret, body),
      [DELIVERY_HEADERS.eventId]: eventId,
      [DELIVERY_HEADERS.eventType]: 'user.signed_in',
      [DELIVERY_HEADERS.attempt]: '1',
      [DELIVERY_HEADERS.timestamp]: String(Math.floor(Date.now() / 1000)),
    },
  };
}
