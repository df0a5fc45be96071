// KeychainStore logic with the native module replaced: time bounds, error mapping, the
// Linux pinning, lazy loading and the session-bus pre-check. No keychain needed.

import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { EntryOptions } from '@napi-rs/keyring';
import { SecretStoreError } from '../../src/errors.ts';
import {
  keychainError,
  KeychainStore,
  sessionBusEndpoints,
  type KeyringEntry,
  type KeyringModule,
} from '../../src/secrets/keychain.ts';
import { KEYCHAIN_SERVICE } from '../../src/secrets/store.ts';
import { repoRoot, runChild } from '../helpers/keyring.ts';

interface FakeKeyring {
  module: KeyringModule;
  created: Array<{ service: string; username: string; options: EntryOptions | null | undefined }>;
  signals: AbortSignal[];
  values: Map<string, string>;
  loads: number;
}

type Behaviour = Partial<{
  construct: () => void;
  get: () => Promise<string | null>;
  set: () => Promise<void>;
  delete: () => Promise<boolean>;
}>;

function fakeKeyring(behaviour: Behaviour = {}): FakeKeyring {
  const fake: FakeKeyring = {
    created: [],
    signals: [],
    values: new Map(),
    loads: 0,
    module: undefined as unknown as KeyringModule,
  };
  class FakeEntry implements KeyringEntry {
    constructor(
      private readonly service: string,
      private readonly username: string,
      options?: EntryOptions | null,
    ) {
      behaviour.construct?.();
      fake.created.push({ service, username, options });
    }
    private key() {
      return `${this.service}\n${this.username}`;
    }
    async setPassword(password: string, signal?: AbortSignal | null) {
      if (signal) fake.signals.push(signal);
      if (behaviour.set) return behaviour.set();
      fake.values.set(this.key(), password);
    }
    async getPassword(signal?: AbortSignal | null) {
      if (signal) fake.signals.push(signal);
      if (behaviour.get) return behaviour.get();
      return fake.values.get(this.key()) ?? null;
    }
    async deleteCredential(signal?: AbortSignal | null) {
      if (signal) fake.signals.push(signal);
      if (behaviour.delete) return behaviour.delete();
      return fake.values.delete(this.key());
    }
  }
  fake.module = { AsyncEntry: FakeEntry };
  return fake;
}

function storeWith(fake: FakeKeyring, options: { timeoutMs?: number; platform?: NodeJS.Platform; env?: NodeJS.ProcessEnv } = {}) {
  return new KeychainStore({
    timeoutMs: options.timeoutMs ?? 1000,
    platform: options.platform ?? 'darwin',
    env: options.env ?? {},
    loadKeyring: async () => {
      fake.loads += 1;
      return fake.module;
    },
  });
}

const never = <T>() => new Promise<T>(() => undefined);

describe('KeychainStore (fake native module)', () => {
  test('set, get, delete go through AsyncEntry with the intelliauth-webhooks service', async () => {
    const fake = fakeKeyring();
    const store = storeWith(fake);
    await store.set('host/whsub_1', 's3cret');
    assert.equal(await store.get('host/whsub_1'), 's3cret');
    assert.equal(await store.delete('host/whsub_1'), true);
    assert.equal(await store.get('host/whsub_1'), null);
    assert.equal(await store.delete('host/whsub_1'), false);
    assert.ok(fake.created.every((entry) => entry.service === KEYCHAIN_SERVICE && entry.username === 'host/whsub_1'));
    assert.ok(fake.signals.length >= 5 && fake.signals.every((signal) => !signal.aborted));
  });

  test('on Linux every entry is pinned to the Secret Service (never the kernel keyring)', async (t) => {
    const bus = await answeringBus(t);
    const fake = fakeKeyring();
    const store = storeWith(fake, { platform: 'linux', env: { DBUS_SESSION_BUS_ADDRESS: `unix:path=${bus.path}` } });
    await store.set('a/b', 'v');
    await store.get('a/b');
    assert.ok(fake.created.length >= 2);
    for (const entry of fake.created) assert.deepEqual(entry.options, { linux: { store: 'secret-service' } });
  });

  test('other platforms pass no Linux options', async () => {
    const fake = fakeKeyring();
    await storeWith(fake, { platform: 'win32' }).set('a/b', 'v');
    assert.equal(fake.created[0]?.options, undefined);
  });

  test('the native module is loaded on first use, not on construction', async () => {
    const fake = fakeKeyring();
    const store = storeWith(fake);
    assert.equal(fake.loads, 0);
    await store.get('a/b');
    assert.equal(fake.loads, 1);
  });

  test('a call that never completes is cut off after timeoutMs with a clear error, and its signal aborted', async () => {
    const fake = fakeKeyring({ get: never });
    const store = storeWith(fake, { timeoutMs: 200 });
    await assert.rejects(store.get('a/b'), {
      name: 'SecretStoreError',
      message: 'the OS keychain (macOS Keychain) did not answer within 0.2 s',
    });
    assert.equal(fake.signals.length, 1);
    assert.equal(fake.signals[0]?.aborted, true);
  });

  test('the whole probe shares one time bound', async () => {
    const fake = fakeKeyring({ delete: never });
    const store = storeWith(fake, { timeoutMs: 300, platform: 'freebsd' });
    await assert.rejects(store.probe(), {
      message: 'the OS keychain (Secret Service) did not answer within 0.3 s',
    });
  });

  test('probe writes, reads back and deletes a throwaway probe/ account', async () => {
    const fake = fakeKeyring();
    await storeWith(fake).probe();
    assert.equal(fake.created.length, 1);
    assert.match(fake.created[0]?.username ?? '', /^probe\/[0-9a-f]{12}$/);
    assert.equal(fake.values.size, 0);
  });

  test('probe fails when the keychain returns something else than was stored, and still cleans up', async () => {
    const fake = fakeKeyring({ get: async () => 'not what was written' });
    await assert.rejects(storeWith(fake).probe(), {
      message: 'the OS keychain did not return the value that was just stored in it',
    });
    assert.equal(fake.values.size, 0);
  });

  test('a failing module load is a SecretStoreError', async () => {
    const store = new KeychainStore({
      platform: 'darwin',
      loadKeyring: () => Promise.reject(new Error('Cannot find native binding')),
    });
    await assert.rejects(store.get('a/b'), {
      name: 'SecretStoreError',
      message: 'the OS keychain support could not be loaded: Cannot find native binding',
    });
  });

  test('a throwing constructor (how the binding reports bus trouble) is mapped', async () => {
    const fake = fakeKeyring({
      construct: () => {
        throw new Error('Platform failure: DBus error: The name org.freedesktop.secrets was not provided by any .service files');
      },
    });
    await assert.rejects(storeWith(fake).set('a/b', 'v'), {
      name: 'SecretStoreError',
      message:
        'the OS keychain is not reachable: no Secret Service (such as gnome-keyring or KeePassXC) is running on the D-Bus session bus',
    });
  });

  test('secrets never appear in error messages', async () => {
    const fake = fakeKeyring({ set: () => Promise.reject(new Error('Platform failure: something odd')) });
    await assert.rejects(storeWith(fake).set('a/b', 'top-secret-value'), (error: unknown) => {
      assert.ok(error instanceof SecretStoreError);
      assert.equal(error.message, 'the OS keychain failed: Platform failure: something odd');
      assert.ok(!error.message.includes('top-secret-value'));
      return true;
    });
  });
});

describe('keychainError: native messages observed from @napi-rs/keyring', () => {
  const cases: Array<[string, string]> = [
    [
      'Platform failure: DBus error: Using X11 for dbus-daemon autolaunch was disabled at compile time, set your DBUS_SESSION_BUS_ADDRESS instead',
      'the OS keychain is not reachable: no D-Bus session bus (DBUS_SESSION_BUS_ADDRESS is not set)',
    ],
    [
      'Platform failure: DBus error: Failed to connect to socket /run/user/1000/bus: No such file or directory',
      'the OS keychain is not reachable: cannot connect to the D-Bus session bus (/run/user/1000/bus: No such file or directory)',
    ],
    [
      'Platform failure: DBus error: Address does not contain a colon',
      'the OS keychain is not reachable: DBUS_SESSION_BUS_ADDRESS is not a valid D-Bus address',
    ],
    [
      'Platform failure: DBus error: The name org.freedesktop.secrets was not provided by any .service files',
      'the OS keychain is not reachable: no Secret Service (such as gnome-keyring or KeePassXC) is running on the D-Bus session bus',
    ],
    [
      'Platform failure: DBus error: Did not receive a reply. Possible causes include: the remote application did not send a reply, the message bus security policy blocked the reply, the reply timeout expired, or the network connection was broken.',
      'the OS keychain (Secret Service) did not answer: its D-Bus call timed out',
    ],
    [
      "Couldn't access platform storage: Secret Service: unlock prompt was dismissed",
      'the OS keychain is locked: unlocking it was refused or no unlock prompt could be shown',
    ],
    [
      "Couldn't access platform storage: Secret Service: object locked",
      'the OS keychain is locked: unlocking it was refused or no unlock prompt could be shown',
    ],
    [
      "Couldn't access platform storage: Secret Service: no result found",
      'the OS keychain has no default keyring to store secrets in',
    ],
    [
      'Entry is matched by 2 credentials: [...]',
      'the OS keychain holds more than one entry for host/whsub_1; remove the duplicates',
    ],
  ];
  for (const [native, expected] of cases) {
    test(native.slice(0, 70), () => {
      const error = keychainError(new Error(native), 'host/whsub_1');
      assert.ok(error instanceof SecretStoreError);
      assert.equal(error.message, expected);
    });
  }

  test('a SecretStoreError passes through unchanged', () => {
    const original = new SecretStoreError('already precise');
    assert.equal(keychainError(original), original);
  });
});

describe('session bus pre-check', () => {
  test('sessionBusEndpoints reads the address forms libdbus accepts', () => {
    assert.deepEqual(sessionBusEndpoints({ DBUS_SESSION_BUS_ADDRESS: 'unix:path=/run/user/1000/bus' }), [
      { path: '/run/user/1000/bus', label: '/run/user/1000/bus', implicit: false },
    ]);
    assert.deepEqual(sessionBusEndpoints({ DBUS_SESSION_BUS_ADDRESS: 'unix:path=/tmp/a%20b,guid=abc' }), [
      { path: '/tmp/a b', label: '/tmp/a b', implicit: false },
    ]);
    assert.deepEqual(sessionBusEndpoints({ DBUS_SESSION_BUS_ADDRESS: 'unix:abstract=/tmp/dbus-x;tcp:host=127.0.0.1,port=5555' }), [
      { path: '\0/tmp/dbus-x', label: '@/tmp/dbus-x', implicit: false },
      { host: '127.0.0.1', port: 5555, label: '127.0.0.1:5555', implicit: false },
    ]);
    assert.deepEqual(sessionBusEndpoints({ XDG_RUNTIME_DIR: '/run/user/7' }), [
      { path: '/run/user/7/bus', label: '/run/user/7/bus', implicit: true },
    ]);
    assert.deepEqual(sessionBusEndpoints({}), []);
    assert.equal(sessionBusEndpoints({ DBUS_SESSION_BUS_ADDRESS: 'launchd:env=DBUS_LAUNCHD_SESSION_BUS_SOCKET' }), 'unchecked');
    assert.throws(() => sessionBusEndpoints({ DBUS_SESSION_BUS_ADDRESS: 'garbage' }), {
      message: 'the OS keychain is not reachable: DBUS_SESSION_BUS_ADDRESS is not a valid D-Bus address',
    });
  });

  let scratch: string;
  before(async () => {
    scratch = await mkdtemp(join(tmpdir(), 'keychain-unit-'));
  });
  after(async () => {
    await rm(scratch, { recursive: true, force: true });
  });

  test('no bus: fails before loading the native module', async () => {
    const fake = fakeKeyring();
    const store = storeWith(fake, { platform: 'linux', env: {} });
    await assert.rejects(store.get('a/b'), {
      message: 'the OS keychain is not reachable: no D-Bus session bus (DBUS_SESSION_BUS_ADDRESS is not set)',
    });
    assert.equal(fake.loads, 0);
  });

  test('XDG_RUNTIME_DIR without a bus socket counts as no bus', async () => {
    const fake = fakeKeyring();
    const store = storeWith(fake, { platform: 'linux', env: { XDG_RUNTIME_DIR: scratch } });
    await assert.rejects(store.get('a/b'), {
      message: 'the OS keychain is not reachable: no D-Bus session bus (DBUS_SESSION_BUS_ADDRESS is not set)',
    });
  });

  test('a silent bus is cut off by the time bound, before the native module is touched', async () => {
    const path = join(scratch, 'silent');
    const sockets: Socket[] = [];
    const server: Server = createServer((socket) => void sockets.push(socket));
    await new Promise<void>((resolve) => server.listen(path, resolve));
    try {
      const fake = fakeKeyring();
      const store = storeWith(fake, { platform: 'linux', timeoutMs: 300, env: { DBUS_SESSION_BUS_ADDRESS: `unix:path=${path}` } });
      await assert.rejects(store.get('a/b'), {
        message: 'the OS keychain is not reachable: the D-Bus session bus did not answer within 0.3 s',
      });
      assert.equal(fake.loads, 0);
      assert.equal(sockets.length, 1);
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  test('the bus is checked once per store', async (t) => {
    const bus = await answeringBus(t);
    const fake = fakeKeyring();
    const store = storeWith(fake, { platform: 'linux', env: { DBUS_SESSION_BUS_ADDRESS: `unix:path=${bus.path}` } });
    await store.get('a/b');
    await store.get('a/b');
    assert.equal(bus.connections(), 1);
    assert.equal(fake.loads, 2);
  });
});

test('importing the secrets module and creating a KeychainStore does not load the native addon', { timeout: 20_000 }, async (t) => {
  if (process.platform !== 'linux') {
    t.skip('reads /proc/self/maps');
    return;
  }
  const code = [
    `const { readFileSync } = await import('node:fs');`,
    `const { createSecretStore } = await import(${JSON.stringify(new URL('src/secrets/index.ts', `file://${repoRoot}`).href)});`,
    `createSecretStore('keychain');`,
    `console.log(readFileSync('/proc/self/maps', 'utf8').includes('keyring.linux') ? 'loaded' : 'not loaded');`,
  ].join('\n');
  const result = await runChild(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code]);
  assert.equal(result.stdout.trim(), 'not loaded', result.stderr);
});

/** A unix socket that answers the first line of the D-Bus handshake, like a live bus would. */
async function answeringBus(
  t: { after: (fn: () => Promise<void>) => void },
): Promise<{ path: string; connections: () => number }> {
  const directory = await mkdtemp(join(tmpdir(), 'keychain-bus-'));
  const path = join(directory, 'bus');
  let connections = 0;
  const sockets: Socket[] = [];
  const server = createServer((socket) => {
    connections += 1;
    sockets.push(socket);
    socket.once('data', () => socket.write('REJECTED EXTERNAL\r\n'));
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(path, resolve));
  t.after(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await rm(directory, { recursive: true, force: true });
  });
  return { path, connections: () => connections };
}
