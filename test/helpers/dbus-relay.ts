import { rm } from 'node:fs/promises';
import { connect, createServer, type Server, type Socket } from 'node:net';

// A byte relay in front of the real D-Bus session bus, on a socket of the test's own. The CLI
// pointed at it (DBUS_SESSION_BUS_ADDRESS) talks to the real keychain until the test cuts the
// relay: from then on every keychain call fails at once, as when the keychain daemon dies
// between the check before a create and the store after it.

export interface DbusRelay {
  /** The DBUS_SESSION_BUS_ADDRESS to give the CLI. */
  address: string;
  /** Connections relayed so far. */
  readonly connections: number;
  /** Stops relaying: open connections are closed and new ones refused. */
  cut(): Promise<void>;
  close(): Promise<void>;
}

/** Where a `unix:path=` or `unix:abstract=` bus address points; undefined for other transports. */
export function busSocketPath(address: string | undefined): string | undefined {
  const first = address?.split(';')[0];
  if (!first?.startsWith('unix:')) return undefined;
  for (const pair of first.slice('unix:'.length).split(',')) {
    const [key, value] = [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)];
    const decoded = decodeURIComponent(value);
    if (key === 'path') return decoded;
    if (key === 'abstract') return `\0${decoded}`;
  }
  return undefined;
}

export async function startDbusRelay(socketPath: string, busAddress: string | undefined = process.env.DBUS_SESSION_BUS_ADDRESS): Promise<DbusRelay | undefined> {
  const target = busSocketPath(busAddress);
  if (target === undefined) return undefined;
  const sockets = new Set<Socket>();
  let connections = 0;
  let open = true;
  const server: Server = createServer((client) => {
    if (!open) {
      client.destroy();
      return;
    }
    connections += 1;
    const bus = connect({ path: target });
    sockets.add(client);
    sockets.add(bus);
    const closeBoth = () => {
      client.destroy();
      bus.destroy();
      sockets.delete(client);
      sockets.delete(bus);
    };
    client.on('error', closeBoth).on('close', closeBoth);
    bus.on('error', closeBoth).on('close', closeBoth);
    client.pipe(bus);
    bus.pipe(client);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, () => resolve());
  });
  const stop = async () => {
    if (!open) return;
    open = false;
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await rm(socketPath, { force: true });
  };
  return {
    address: `unix:path=${socketPath}`,
    get connections() {
      return connections;
    },
    cut: stop,
    close: stop,
  };
}
