import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { spawnCli } from '../helpers/cli-process.ts';
import { cleanEnv, tempHome } from '../helpers/cli.ts';
import { requireKeychain } from '../helpers/keyring.ts';

// The README's first command, run the way a new user runs it.
//
// The demo starts an emulator, a `secret exec` receiver (and the receiver under it) and one
// CLI process per step, all with the environment it was started with. The test gives each
// run a unique marker variable and watches /proc for processes carrying it: while the demo
// runs it must see the emulator, the `secret exec` and the receiver (so the watch can see
// what might be left behind), and once the demo has exited none may be left running.

const MARKER_KEY = 'IAW_DEMO_TEST_RUN';

interface MarkedProcess {
  pid: number;
  cmdline: string;
}

/** Running (non-zombie) processes whose initial environment holds MARKER_KEY=marker. */
function markedProcesses(marker: string): MarkedProcess[] {
  const needle = Buffer.from(`\0${MARKER_KEY}=${marker}\0`);
  const found: MarkedProcess[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const environ = Buffer.concat([Buffer.from('\0'), readFileSync(`/proc/${name}/environ`), Buffer.from('\0')]);
      if (!environ.includes(needle)) continue;
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      // "pid (comm) state ...": comm may hold spaces and parentheses.
      if (stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0] === 'Z') continue;
      const cmdline = readFileSync(`/proc/${name}/cmdline`).toString('utf8').replace(/\0+$/, '').replace(/\0/g, ' ');
      found.push({ pid: Number(name), cmdline });
    } catch {
      // ended between the listing and the read, or not ours to read
    }
  }
  return found;
}

interface DemoRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  killedForTimeout: boolean;
  stderr: string;
  /** Argument lists of the marked processes seen while the demo ran, the demo itself excepted. */
  seenWhileRunning: string[];
  /** Marked processes still running once the demo had exited. */
  leftAfterExit: MarkedProcess[];
}

async function runDemoWatched(t: { after: (fn: () => void | Promise<void>) => void }, env: Record<string, string>): Promise<DemoRun> {
  if (process.platform !== 'linux') throw new Error('the demo process watch reads /proc (Linux only)');
  const marker = randomUUID();
  const running = spawnCli(['demo'], { env: { ...env, [MARKER_KEY]: marker }, timeoutMs: 90_000 });
  const seen = new Set<string>();
  const sweep = () => {
    for (const proc of markedProcesses(marker)) if (proc.pid !== running.pid) seen.add(proc.cmdline);
  };
  const watch = setInterval(sweep, 20);
  let result;
  try {
    result = await running.result;
  } finally {
    clearInterval(watch);
  }
  const leftAfterExit = markedProcesses(marker);
  // Whatever the verdict, nothing of this run outlives the test.
  t.after(() => {
    for (const { pid } of leftAfterExit) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone already
      }
    }
  });
  return { ...result, seenWhileRunning: [...seen], leftAfterExit };
}

/** The demo ended by itself with 0, and every process it started had ended too. */
function assertCleanShutdown(run: DemoRun, subscriptionId: string): void {
  assert.equal(run.killedForTimeout, false, 'the demo finished within the time limit');
  assert.equal(run.signal, null);
  assert.equal(run.code, 0, run.stderr);
  const seen = run.seenWhileRunning;
  assert.ok(
    seen.some((line) => / emulator --json --port 0 --allow-private-targets$/.test(line)),
    `the watch saw the demo's emulator; it saw: ${JSON.stringify(seen)}`,
  );
  assert.ok(seen.some((line) => line.includes(` secret exec ${subscriptionId} -- `)), `the watch saw the demo's \`secret exec\`; it saw: ${JSON.stringify(seen)}`);
  assert.ok(
    seen.some((line) => line.startsWith(`${process.execPath} -e `) && line.includes('createHmac')),
    `the watch saw the receiver under \`secret exec\`; it saw: ${JSON.stringify(seen)}`,
  );
  assert.deepEqual(run.leftAfterExit, [], 'no process the demo started is still running after it exited');
}

/** The `list` step printed the demo's subscription, indented, between the trigger step and its own ✓ line. Returns the id. */
function assertListStep(stderr: string): string {
  const created = /^ {4}(whsub_[0-9A-Za-z]+), secret fingerprint [0-9a-f]{8}$/m.exec(stderr);
  assert.ok(created, `the create step names the subscription:\n${stderr}`);
  const id = created[1]!;
  const lines = stderr.split('\n');
  const triggered = lines.findIndex((line) => line.startsWith('✓ trigger user.signed_up'));
  const listed = lines.indexOf('✓ list the subscriptions');
  const deleted = lines.indexOf('✓ delete the subscription and its stored secret');
  assert.ok(triggered >= 0 && listed > triggered && deleted > listed, `steps in order:\n${stderr}`);
  const listing = lines.slice(triggered + 1, listed).filter((line) => line.startsWith(`    ${id}\t`));
  assert.equal(listing.length, 1, `one listing row for ${id} before "✓ list the subscriptions":\n${stderr}`);
  assert.match(listing[0]!, new RegExp(`^ {4}${id}\\tDemo receiver\\thttp://127\\.0\\.0\\.1:\\d+/webhooks/intelliauth\\tuser\\.\\*\\tactive\\t\\S+$`));
  return id;
}

test('demo runs the whole loop with the secret in the keychain', async (t) => {
  if (!(await requireKeychain(t))) return;
  const home = await tempHome();
  t.after(home.cleanup);
  const result = await runDemoWatched(t, cleanEnv(home.dir));
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stderr, /secret into the OS keychain/);
  assert.match(result.stderr, /receiver: verified user\.signed_up evt_/);
  const id = assertListStep(result.stderr);
  assert.match(result.stderr, /demo complete/);
  assertCleanShutdown(result, id);
});

test('demo falls back to a 0600 file when no keychain is usable, and says so', async (t) => {
  const home = await tempHome();
  t.after(home.cleanup);
  const env = cleanEnv(home.dir, { DBUS_SESSION_BUS_ADDRESS: 'unix:path=/nonexistent/bus' });
  const result = await runDemoWatched(t, env);
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stderr, /keychain is not usable here/);
  assert.match(result.stderr, /secret into a 0600 file/);
  assert.match(result.stderr, /receiver: verified user\.signed_up/);
  const id = assertListStep(result.stderr);
  assert.match(result.stderr, /demo complete/);
  assertCleanShutdown(result, id);
  // The warning names the demo's own temporary home (with the secret file in it): removed at the end.
  const demoHome = /keeps the signing secret in a 0600 file under (\S+)$/m.exec(result.stderr)?.[1];
  assert.ok(demoHome, result.stderr);
  assert.equal(existsSync(demoHome), false, `${demoHome} was removed`);
});
