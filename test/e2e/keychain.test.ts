// KeychainStore against a real Secret Service (gnome-keyring, started by
// scripts/with-keyring.sh), checked from the outside with secret-tool, plus the failure
// modes that must end quickly with a precise message instead of hanging.

import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { SecretStoreError } from '../../src/errors.ts';
import { KeychainStore } from '../../src/secrets/keychain.ts';
import { KEYCHAIN_SERVICE } from '../../src/secrets/store.ts';
import {
  envWithoutSessionBus,
  probeKeychainInChild,
  repoRoot,
  requireCommand,
  requireKeychain,
  requireLinux,
  runChild,
} from '../helpers/keyring.ts';

const TEST_TIMEOUT = { timeout: 20_000 };

function uniqueAccount(label: string): string {
  return `test.example.com/${label}-${randomBytes(6).toString('hex')}`;
}

async function secretTool(args: string[], input?: string) {
  const result = await runChild('secret-tool', args, input === undefined ? {} : { input });
  assert.equal(result.killed, false, 'secret-tool hung');
  return result;
}

describe('KeychainStore with a real Secret Service', () => {
  // Test entries other than the interop ones live under their own service name, so counting
  // entries is not disturbed by other tests using the keychain at the same time.
  const isolatedService = `${KEYCHAIN_SERVICE}-test-${randomBytes(4).toString('hex')}`;

  test('a secret set through the store is what secret-tool finds (attributes service + username)', TEST_TIMEOUT, async (t) => {
    if (!(await requireKeychain(t)) || !requireCommand(t, 'secret-tool')) return;
    const store = new KeychainStore();
    const account = uniqueAccount('whsub_interop');
    const secret = `whsec_${randomBytes(16).toString('hex')}`;
    await store.set(account, secret);
    try {
      const lookup = await secretTool(['lookup', 'service', KEYCHAIN_SERVICE, 'username', account]);
      assert.equal(lookup.code, 0, lookup.stderr);
      assert.equal(lookup.stdout, secret);
    } finally {
      assert.equal(await store.delete(account), true);
    }
    const afterDelete = await secretTool(['lookup', 'service', KEYCHAIN_SERVICE, 'username', account]);
    assert.notEqual(afterDelete.code, 0, 'the entry is gone after delete');
  });

  test('a secret stored by secret-tool is read by the store', TEST_TIMEOUT, async (t) => {
    if (!(await requireKeychain(t)) || !requireCommand(t, 'secret-tool')) return;
    const store = new KeychainStore();
    const account = uniqueAccount('whsub_external');
    const secret = `whsec_${randomBytes(16).toString('hex')}`;
    const stored = await secretTool(
      ['store', '--label=intelliauth-webhooks test', 'service', KEYCHAIN_SERVICE, 'username', account],
      secret,
    );
    assert.equal(stored.code, 0, stored.stderr);
    try {
      assert.equal(await store.get(account), secret);
    } finally {
      assert.equal(await store.delete(account), true);
    }
  });

  test('get, overwrite and delete round trip', TEST_TIMEOUT, async (t) => {
    if (!(await requireKeychain(t)) || !requireCommand(t, 'secret-tool')) return;
    const store = new KeychainStore({ service: isolatedService });
    const account = uniqueAccount('whsub_roundtrip');
    assert.equal(await store.get(account), null);
    await store.set(account, 'first value');
    await store.set(account, 'second value');
    assert.equal(await store.get(account), 'second value');

    const search = await secretTool(['search', '--all', 'service', isolatedService, 'username', account]);
    assert.equal(search.stdout.match(/^\[/gm)?.length, 1, `one keychain item after overwriting:\n${search.stdout}`);

    assert.equal(await store.delete(account), true);
    assert.equal(await store.get(account), null);
    assert.equal(await store.delete(account), false);
  });

  test('probe succeeds and leaves nothing behind', TEST_TIMEOUT, async (t) => {
    if (!(await requireKeychain(t)) || !requireCommand(t, 'secret-tool')) return;
    const store = new KeychainStore({ service: isolatedService });
    await store.probe();
    const search = await secretTool(['search', '--all', 'service', isolatedService]);
    assert.equal(search.stdout, '', `no probe entries remain:\n${search.stdout}`);
  });

  test('a locked keychain gives a precise error, not a hang', TEST_TIMEOUT, async (t) => {
    if (!(await requireKeychain(t)) || !requireCommand(t, 'dbus-send')) return;
    // Locking the shared keyring would break concurrent tests, so this one gets a private
    // keyring of its own: a nested with-keyring session, thrown away afterwards.
    const lock = [
      `const { execFileSync } = await import('node:child_process');`,
      `execFileSync('dbus-send', ['--session', '--print-reply', '--dest=org.freedesktop.secrets',`,
      `  '/org/freedesktop/secrets', 'org.freedesktop.Secret.Service.Lock',`,
      `  'array:objpath:/org/freedesktop/secrets/collection/login'], { stdio: 'ignore' });`,
    ].join('\n');
    const outcome = await probeKeychainInChild(envWithoutSessionBus(), {
      timeoutMs: 5000,
      wrapper: ['bash', join(repoRoot, 'scripts/with-keyring.sh')],
      before: lock,
    });
    assert.equal(outcome.child.killed, false);
    assert.equal(outcome.ok, false);
    assert.equal(outcome.name, 'SecretStoreError');
    assert.equal(
      outcome.message,
      'the OS keychain is locked: unlocking it was refused or no unlock prompt could be shown',
    );
  });
});

describe('KeychainStore when the keychain cannot be reached', () => {
  let scratch: string;
  before(async () => {
    scratch = await mkdtemp(join(tmpdir(), 'keychain-e2e-'));
  });
  after(async () => {
    await rm(scratch, { recursive: true, force: true });
  });

  test('no session bus at all', TEST_TIMEOUT, async (t) => {
    if (!requireLinux(t)) return;
    const outcome = await probeKeychainInChild(envWithoutSessionBus(), { timeoutMs: 5000 });
    assert.equal(outcome.child.killed, false);
    assert.equal(outcome.ok, false);
    assert.equal(outcome.name, 'SecretStoreError');
    assert.equal(
      outcome.message,
      'the OS keychain is not reachable: no D-Bus session bus (DBUS_SESSION_BUS_ADDRESS is not set)',
    );
    assert.match(outcome.hint ?? '', /--secret-store file/);
  });

  test('DBUS_SESSION_BUS_ADDRESS pointing to nothing', TEST_TIMEOUT, async (t) => {
    if (!requireLinux(t)) return;
    const missing = join(scratch, 'no-bus-here');
    const outcome = await probeKeychainInChild(
      envWithoutSessionBus({ DBUS_SESSION_BUS_ADDRESS: `unix:path=${missing}` }),
      { timeoutMs: 5000 },
    );
    assert.equal(outcome.child.killed, false);
    assert.equal(outcome.ok, false);
    assert.equal(
      outcome.message,
      `the OS keychain is not reachable: cannot connect to the D-Bus session bus (${missing}: no such socket, ENOENT)`,
    );
  });

  test('DBUS_SESSION_BUS_ADDRESS that is not an address', TEST_TIMEOUT, async (t) => {
    if (!requireLinux(t)) return;
    const outcome = await probeKeychainInChild(envWithoutSessionBus({ DBUS_SESSION_BUS_ADDRESS: 'garbage' }), {
      timeoutMs: 5000,
    });
    assert.equal(outcome.ok, false);
    assert.equal(outcome.message, 'the OS keychain is not reachable: DBUS_SESSION_BUS_ADDRESS is not a valid D-Bus address');
  });

  test('a bus that accepts connections but never answers: bounded, and the process exits', TEST_TIMEOUT, async (t) => {
    if (!requireLinux(t)) return;
    const socketPath = join(scratch, 'silent-bus');
    const connections: Socket[] = [];
    const silentBus: Server = createServer((socket) => {
      connections.push(socket);
      socket.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => silentBus.listen(socketPath, resolve));
    try {
      const outcome = await probeKeychainInChild(
        envWithoutSessionBus({ DBUS_SESSION_BUS_ADDRESS: `unix:path=${socketPath}` }),
        { timeoutMs: 1000 },
      );
      assert.equal(outcome.child.killed, false, 'the child must end by itself');
      assert.equal(outcome.child.code, 0);
      assert.equal(outcome.ok, false);
      assert.equal(
        outcome.message,
        'the OS keychain is not reachable: the D-Bus session bus did not answer within 1 s',
      );
      assert.ok(connections.length >= 1, 'the child did try the bus');
    } finally {
      for (const socket of connections) socket.destroy();
      await new Promise<void>((resolve) => silentBus.close(() => resolve()));
    }
  });

  test('a bus without any Secret Service', TEST_TIMEOUT, async (t) => {
    if (!requireLinux(t) || !requireCommand(t, 'dbus-run-session')) return;
    // A session bus that cannot start services on demand (no service directories).
    const config = join(scratch, 'bus-without-services.conf');
    await writeFile(
      config,
      [
        '<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"',
        ' "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">',
        '<busconfig>',
        '  <type>session</type>',
        `  <listen>unix:dir=${scratch}</listen>`,
        '  <auth>EXTERNAL</auth>',
        '  <policy context="default">',
        '    <allow send_destination="*" eavesdrop="true"/>',
        '    <allow eavesdrop="true"/>',
        '    <allow own="*"/>',
        '  </policy>',
        '</busconfig>',
        '',
      ].join('\n'),
    );
    const outcome = await probeKeychainInChild(envWithoutSessionBus(), {
      timeoutMs: 5000,
      wrapper: ['dbus-run-session', `--config-file=${config}`, '--'],
    });
    assert.equal(outcome.child.killed, false);
    assert.equal(outcome.ok, false);
    assert.equal(
      outcome.message,
      'the OS keychain is not reachable: no Secret Service (such as gnome-keyring or KeePassXC) is running on the D-Bus session bus',
    );
  });

  test('errors are SecretStoreError instances in-process too', TEST_TIMEOUT, async (t) => {
    if (!requireLinux(t)) return;
    const store = new KeychainStore({ env: { DBUS_SESSION_BUS_ADDRESS: 'garbage' }, timeoutMs: 5000 });
    await assert.rejects(store.get('x/y'), (error: unknown) => {
      assert.ok(error instanceof SecretStoreError);
      return true;
    });
  });
});
