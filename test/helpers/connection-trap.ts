import { createServer, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';

// A TCP listener on 127.0.0.1 that only counts who connects and hangs up at once: used as
// the proxy a CLI must never reach, or as the loopback receiver a refused delivery must
// never reach. Whatever the client meant to send, nothing it says is answered.

export interface ConnectionTrap {
  port: number;
  url: string;
  /** Connections accepted so far. */
  connections(): number;
  close(): Promise<void>;
}

export async function startConnectionTrap(): Promise<ConnectionTrap> {
  let count = 0;
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    count += 1;
    sockets.add(socket);
    socket.on('error', () => {});
    socket.on('close', () => sockets.delete(socket));
    socket.destroy();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    connections: () => count,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
