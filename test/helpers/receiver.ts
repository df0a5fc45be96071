import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

// A webhook receiver on loopback that checks signatures exactly as the platform's
// documentation tells receivers to: HMAC-SHA256 over the raw bytes, compared in constant
// time. Written independently of src/ so a bug there cannot hide here.

export interface ReceivedDelivery {
  headers: IncomingMessage['headers'];
  rawBody: Buffer;
  body: Record<string, unknown>;
  signatureValid: boolean;
  previousSignatureValid: boolean;
  receivedAt: number;
}

export interface ReceiverOptions {
  /** Secrets to verify the main signature header with (any match counts). */
  secrets?: () => string[];
  /** Answer for each request; default 202. */
  respond?: (delivery: ReceivedDelivery, res: ServerResponse) => void;
}

export interface Receiver {
  url: string;
  deliveries: ReceivedDelivery[];
  /** Resolves once `count` deliveries have arrived, or rejects after timeoutMs. */
  waitFor(count: number, timeoutMs?: number): Promise<ReceivedDelivery[]>;
  close(): Promise<void>;
}

export function hmacHex(secret: string, body: Buffer): string {
  return createHmac('sha256', secret).update(body).digest('hex');
}

function constantTimeMatch(secret: string, body: Buffer, header: string | string[] | undefined): boolean {
  if (typeof header !== 'string') return false;
  const expected = Buffer.from(hmacHex(secret, body));
  const given = Buffer.from(header);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

export async function startReceiver(options: ReceiverOptions = {}): Promise<Receiver> {
  const deliveries: ReceivedDelivery[] = [];
  const waiters: Array<{ count: number; resolve: () => void }> = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const rawBody = Buffer.concat(chunks);
      const secrets = options.secrets?.() ?? [];
      const delivery: ReceivedDelivery = {
        headers: req.headers,
        rawBody,
        body: safeParse(rawBody),
        signatureValid: secrets.some((s) => constantTimeMatch(s, rawBody, req.headers['x-intelliauth-signature'])),
        previousSignatureValid: secrets.some((s) => constantTimeMatch(s, rawBody, req.headers['x-intelliauth-signature-previous'])),
        receivedAt: Date.now(),
      };
      deliveries.push(delivery);
      if (options.respond) options.respond(delivery, res);
      else res.writeHead(202).end();
      for (const waiter of [...waiters]) {
        if (deliveries.length >= waiter.count) {
          waiters.splice(waiters.indexOf(waiter), 1);
          waiter.resolve();
        }
      }
    });
  });
  server.keepAliveTimeout = 1000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/webhooks/intelliauth`,
    deliveries,
    waitFor(count, timeoutMs = 10_000) {
      if (deliveries.length >= count) return Promise.resolve(deliveries.slice());
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`only ${deliveries.length} of ${count} deliveries arrived`)), timeoutMs);
        waiters.push({
          count,
          resolve: () => {
            clearTimeout(timer);
            resolve(deliveries.slice());
          },
        });
      });
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function safeParse(raw: Buffer): Record<string, unknown> {
  try {
    return JSON.parse(raw.toString('utf8')) as Record<string, unknown>;
  } catch {
    return {};
  }
}
