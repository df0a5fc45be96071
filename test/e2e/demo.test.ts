import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cleanEnv, runCli, tempHome } from '../helpers/cli.ts';
import { requireKeychain } from '../helpers/keyring.ts';

// The README's first command, run the way a new user runs it.

test('demo runs the whole loop with the secret in the keychain', async (t) => {
  if (!(await requireKeychain(t))) return;
  const home = await tempHome();
  t.after(home.cleanup);
  const result = await runCli(['demo'], { env: cleanEnv(home.dir), timeoutMs: 90_000 });
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stderr, /secret into the OS keychain/);
  assert.match(result.stderr, /receiver: verified user\.signed_up evt_/);
  assert.match(result.stderr, /demo complete/);
});

test('demo falls back to a 0600 file when no keychain is usable, and says so', async (t) => {
  const home = await tempHome();
  t.after(home.cleanup);
  const env = cleanEnv(home.dir, { DBUS_SESSION_BUS_ADDRESS: 'unix:path=/nonexistent/bus' });
  const result = await runCli(['demo'], { env, timeoutMs: 90_000 });
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stderr, /keychain is not usable here/);
  assert.match(result.stderr, /secret into a 0600 file/);
  assert.match(result.stderr, /receiver: verified user\.signed_up/);
});
