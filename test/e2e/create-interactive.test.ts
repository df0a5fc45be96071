// Interactive `create` through a real pseudo-terminal: the built CLI runs in a tmux pane
// (a private tmux server per test), the test reads the screen and types the answers. Runs
// against an emulator child process and the real keychain (scripts/with-keyring.sh).

import { after, before, describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { BIN, ROOT, startEmulatorProcess, tempHome, type EmulatorProcess } from '../helpers/cli.ts';
import { requireCommand, requireKeychain } from '../helpers/keyring.ts';
import { runBounded, startPane, type Pane } from '../helpers/tmux-pane.ts';

const TEST_TIMEOUT = { timeout: 20_000 };
const fingerprint = (secret: string) => createHash('sha256').update(secret, 'utf8').digest('hex').slice(0, 8);

let emulator: EmulatorProcess;
let home: { dir: string; cleanup: () => Promise<void> };

before(async () => {
  assert.ok(existsSync(join(ROOT, 'dist', 'main.js')), 'build first: node scripts/build.mjs');
  home = await tempHome('iaw-create-tty-');
  emulator = await startEmulatorProcess(['--allow-private-targets']);
});

after(async () => {
  await emulator?.stop();
  await home?.cleanup();
});

/** `intelliauth-webhooks ARGS` in a pseudo-terminal, with the emulator's credentials in its environment. */
function startCliPane(args: string[], extraEnv: Record<string, string> = {}): Promise<Pane> {
  return startPane({ argv: [process.execPath, BIN, ...args], env: emulator.env(home.dir, extraEnv), socketDir: home.dir, cwd: ROOT });
}

async function subscriptionNamed(name: string): Promise<Record<string, any> | undefined> {
  const tokenAnswer = await fetch(`${emulator.tenantUrl}/oauth2/token`, {
    method: 'POST',
    body: new URLSearchParams({ grant_type: 'client_credentials', client_id: emulator.clientId, client_secret: emulator.clientSecret }),
  });
  const { access_token: token } = (await tokenAnswer.json()) as { access_token: string };
  const response = await fetch(`${emulator.tenantUrl}/api/v1/webhooks/subscriptions?limit=100`, { headers: { authorization: `Bearer ${token}` } });
  const body = (await response.json()) as { data: Array<Record<string, any>> };
  return body.data.find((sub) => sub.name === name);
}

function gate(t: TestContext): boolean {
  return requireCommand(t, 'tmux');
}

describe('interactive create in a pseudo-terminal', () => {
  test('answers the prompts: name, URL, events picked in the checkbox, description; the secret goes to the keychain', TEST_TIMEOUT, async (t) => {
    if (!gate(t) || !(await requireKeychain(t)) || !requireCommand(t, 'secret-tool')) return;
    const name = `tty-${randomBytes(4).toString('hex')}`;
    const pane = await startCliPane(['create']);
    try {
      await pane.waitFor(/\? Name/);
      await pane.type(name);
      await pane.keys('Enter');
      await pane.waitFor(/\? Receiver URL/);
      // A refused URL is explained at the prompt and asked again.
      await pane.type('ftp://127.0.0.1/x');
      await pane.keys('Enter');
      await pane.waitFor(/ftp: URLs are refused/);
      await pane.keys('C-u');
      await pane.type('http://127.0.0.1:9/tty');
      await pane.keys('Enter');
      await pane.waitFor(/\? Events to deliver/);
      // user.* is first, then the user types in catalogue order: user.signed_up is the 8th entry.
      for (let i = 0; i < 7; i += 1) await pane.keys('Down');
      await pane.waitFor(/❯\s*◯\s+user\.signed_up/);
      await pane.keys('Space');
      await pane.waitFor(/❯\s*◉\s+user\.signed_up/);
      await pane.keys('Enter');
      await pane.waitFor(/\? Description \(optional\)/);
      await pane.type('made in a terminal');
      await pane.keys('Enter');
      const screen = await pane.waitFor(/EXIT=\d+/);
      assert.match(screen, /EXIT=0/, screen);

      const created = await subscriptionNamed(name);
      assert.ok(created, 'the subscription was created');
      assert.deepEqual(created.events, ['user.signed_up']);
      assert.equal(created.url, 'http://127.0.0.1:9/tty');
      assert.equal(created.description, 'made in a terminal');
      assert.match(screen, new RegExp(`id\\s+${created.id}`), 'the summary is on the screen');
      assert.match(screen, /signing secret\s+the OS keychain/);

      const lookup = await runBounded('secret-tool', ['lookup', 'service', 'intelliauth-webhooks', 'username', `${new URL(emulator.tenantUrl).host}/${created.id}`], process.env);
      assert.equal(lookup.code, 0, lookup.stderr);
      assert.equal(fingerprint(lookup.stdout), created.secret_fingerprint);
      assert.equal(screen.includes(lookup.stdout), false, 'the secret never appears on the screen');
    } finally {
      await pane.close();
    }
  });

  test('keychain unusable: a new file is offered; * is confirmed after a warning', TEST_TIMEOUT, async (t) => {
    if (!gate(t)) return;
    const name = `tty-file-${randomBytes(4).toString('hex')}`;
    const path = join(home.dir, `${name}.secret`);
    const pane = await startCliPane(['create', '--name', name, '--url', 'http://127.0.0.1:9/file'], { DBUS_SESSION_BUS_ADDRESS: 'unix:path=/nonexistent' });
    try {
      await pane.waitFor(/warning: the OS keychain cannot store the secret/);
      await pane.waitFor(/\? The OS keychain cannot take the signing secret\. Where should it go\?/);
      await pane.keys('Enter');
      await pane.waitFor(/\? File for the signing secret/);
      await pane.type(path);
      await pane.keys('Enter');
      await pane.waitFor(/\? Events to deliver/);
      // * is the last entry; the list wraps around.
      await pane.keys('Up');
      await pane.waitFor(/❯\s*◯\s+\*/);
      await pane.keys('Space', 'Enter');
      await pane.waitFor(/warning: the selector \* subscribes to every event type, including every type the platform adds later/);
      await pane.waitFor(/\? Subscribe to every event type, now and in the future\?/);
      await pane.type('y');
      await pane.keys('Enter');
      await pane.waitFor(/\? Description \(optional\)/);
      await pane.keys('Enter');
      const screen = await pane.waitFor(/EXIT=\d+/);
      assert.match(screen, /EXIT=0/, screen);

      const created = await subscriptionNamed(name);
      assert.ok(created);
      assert.deepEqual(created.events, ['*']);
      assert.equal(created.description, null);
      assert.equal((await stat(path)).mode & 0o777, 0o600);
      const secret = (await readFile(path, 'utf8')).trimEnd();
      assert.equal(fingerprint(secret), created.secret_fingerprint);
      assert.equal(screen.includes(secret), false, 'the secret never appears on the screen');
    } finally {
      await pane.close();
    }
  });
});
