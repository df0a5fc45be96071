import { createServer } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

// A loopback webhook receiver for load tests: answers 500 to a seeded-random fraction of
// deliveries and 202 to the rest, and records, for every request, which event and attempt it
// carried and what it answered. It does not verify signatures (the signature tests do);
// it only has to be cheap at thousands of requests a second.

export interface ReceivedAttempt {
  eventId: string;
  attempt: number;
  status: number;
  /** Date.now() when the answer was sent. */
  at: number;
  /** The `epoch` option's value when the request's connection was accepted. */
  epoch: number;
}

export interface FlakyReceiver {
  url: string;
  requests: ReceivedAttempt[];
  close(): Promise<void>;
}

/** mulberry32: a small seeded generator, so a run's failure pattern depends only on arrival order. */
export function mulberry32(seed: number): () => number {
  let state = seed | 0;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/**
 * `epoch` tells which sender a connection belongs to: a test that restarts the emulator bumps
 * it once the old process is gone, so a request says which process made it.
 */
export async function startFlakyReceiver(options: { failRate: number; seed: number; epoch?: () => number }): Promise<FlakyReceiver> {
  const random = mulberry32(options.seed);
  const requests: ReceivedAttempt[] = [];
  const sockets = new Set<Socket>();
  const epochs = new WeakMap<Socket, number>();
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const status = random() < options.failRate ? 500 : 202;
      requests.push({
        eventId: String(req.headers['x-intelliauth-event-id'] ?? ''),
        attempt: Number(req.headers['x-intelliauth-delivery-attempt'] ?? 0),
        status,
        at: Date.now(),
        epoch: epochs.get(req.socket) ?? 0,
      });
      res.writeHead(status, { 'content-type': 'text/plain', 'content-length': status === 500 ? '9' : '2' });
      res.end(status === 500 ? 'try again' : 'ok');
    });
  });
  server.keepAliveTimeout = 5000;
  server.on('connection', (socket) => {
    epochs.set(socket, options.epoch?.() ?? 0);
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hooks`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
