import { connect, createServer, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { mulberry32 } from './flaky-receiver.ts';

// A loopback TCP proxy that drops connections: a seeded-random share of the connections it
// accepts is cut after a random number of answer bytes, which lands mid-headers, mid-body or
// between two answers of a keep-alive connection. Clients see resets and answers cut short,
// the way a flaky network or a restarting load balancer shows them.

const REQUEST_LINE = /(?:^|\r\n)(?:GET|POST|PATCH|PUT|DELETE|HEAD) \/\S* HTTP\/1\.1\r\n/g;

export interface DropProxy {
  url: string;
  /** Connections accepted, how many of them were cut, and requests seen (request lines counted). */
  stats(): { connections: number; dropped: number; requests: number };
  close(): Promise<void>;
}

export async function startDropProxy(options: { targetPort: number; dropRate: number; seed: number; maxCutBytes?: number }): Promise<DropProxy> {
  const random = mulberry32(options.seed);
  const maxCut = options.maxCutBytes ?? 4096;
  const sockets = new Set<Socket>();
  let connections = 0;
  let dropped = 0;
  let requests = 0;
  const server = createServer((client) => {
    connections += 1;
    const cutAfter = random() < options.dropRate ? Math.floor(random() * maxCut) : Number.POSITIVE_INFINITY;
    const upstream = connect(options.targetPort, '127.0.0.1');
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => undefined);
    }
    let forwarded = 0;
    let wasCut = false;
    const cut = () => {
      if (wasCut) return;
      wasCut = true;
      dropped += 1;
      client.resetAndDestroy();
      upstream.destroy();
    };
    client.on('data', (chunk: Buffer) => {
      requests += chunk.toString('latin1').match(REQUEST_LINE)?.length ?? 0;
      upstream.write(chunk);
    });
    client.on('end', () => upstream.end());
    client.on('close', () => upstream.destroy());
    upstream.on('data', (chunk: Buffer) => {
      if (wasCut) return;
      if (forwarded + chunk.length <= cutAfter) {
        forwarded += chunk.length;
        client.write(chunk);
        return;
      }
      const part = chunk.subarray(0, Math.max(0, cutAfter - forwarded));
      forwarded = cutAfter;
      if (part.length > 0) client.write(part, cut);
      else cut();
    });
    upstream.on('end', () => client.end());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    stats: () => ({ connections, dropped, requests }),
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
