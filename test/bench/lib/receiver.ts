import { Worker } from 'node:worker_threads';

// A loopback receiver that answers 202 at once, on its own thread so that the bench's
// sending side and its receiving side do not queue behind each other. It counts deliveries
// and, for events whose data carries `bench_sent_at` (ms, performance.timeOrigin + now()),
// records how long after the trigger was sent the delivery arrived.

export interface ReceiverStats {
  count: number;
  firstAt: number;
  lastAt: number;
  /** Milliseconds from trigger sent to delivery received, one per marked delivery. */
  latencies: number[];
}

export interface BenchReceiver {
  url: string;
  stats(): Promise<ReceiverStats>;
  /** Forgets the counts and latencies so far. */
  reset(): Promise<void>;
  /** Resolves once `count` deliveries arrived since the last reset; rejects after timeoutMs. */
  waitFor(count: number, timeoutMs: number): Promise<ReceiverStats>;
  close(): Promise<void>;
}

// Plain JavaScript, evaluated in the worker: no loader needed there.
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const http = require('node:http');
let count = 0, firstAt = 0, lastAt = 0, latencies = [];
const MARK = Buffer.from('"bench_sent_at":');
const server = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const now = performance.timeOrigin + performance.now();
    res.writeHead(202, { 'content-length': '0' });
    res.end();
    const body = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
    if (count === 0) firstAt = now;
    lastAt = now;
    count++;
    const at = body.indexOf(MARK);
    if (at >= 0) {
      const sent = parseFloat(body.subarray(at + MARK.length, at + MARK.length + 40).toString('latin1'));
      if (Number.isFinite(sent)) latencies.push(now - sent);
    }
  });
});
server.keepAliveTimeout = 60000;
server.listen(0, '127.0.0.1', () => parentPort.postMessage({ type: 'ready', port: server.address().port }));
parentPort.on('message', (message) => {
  if (message === 'stats') parentPort.postMessage({ type: 'stats', stats: { count, firstAt, lastAt, latencies } });
  if (message === 'reset') { count = 0; firstAt = 0; lastAt = 0; latencies = []; parentPort.postMessage({ type: 'reset' }); }
  if (message === 'close') server.close(() => parentPort.postMessage({ type: 'closed' }));
});
`;

export async function startBenchReceiver(): Promise<BenchReceiver> {
  const worker = new Worker(WORKER_SOURCE, { eval: true });
  const replies: Array<(message: any) => void> = [];
  let readyResolve: (port: number) => void;
  const ready = new Promise<number>((resolve) => (readyResolve = resolve));
  worker.on('message', (message: { type: string; port?: number }) => {
    if (message.type === 'ready') readyResolve(message.port!);
    else replies.shift()?.(message);
  });
  const ask = (request: string) =>
    new Promise<any>((resolve) => {
      replies.push(resolve);
      worker.postMessage(request);
    });
  const port = await ready;
  const stats = async () => (await ask('stats')).stats as ReceiverStats;
  return {
    url: `http://127.0.0.1:${port}/hooks`,
    stats,
    reset: async () => void (await ask('reset')),
    waitFor: async (count, timeoutMs) => {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const current = await stats();
        if (current.count >= count) return current;
        if (Date.now() > deadline) throw new Error(`receiver got ${current.count} of ${count} deliveries in ${timeoutMs / 1000} s`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    },
    close: async () => {
      await ask('close');
      await worker.terminate();
    },
  };
}
