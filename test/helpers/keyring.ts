// Gate for tests that need a real OS keychain (run them through scripts/with-keyring.sh).
// Locally they skip when none is reachable; with CI=true they fail instead, so CI cannot
// go green by silently skipping the keychain.

import { spawn, spawnSync } from 'node:child_process';
import type { TestContext } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { KeychainStore } from '../../src/secrets/keychain.ts';

export const repoRoot = fileURLToPath(new URL('../../', import.meta.url));

export function isCi(env: NodeJS.ProcessEnv = process.env): boolean {
  return ['true', '1', 'yes'].includes((env.CI ?? '').toLowerCase());
}

interface KeychainStatus {
  available: boolean;
  reason: string;
}

// Probing costs a D-Bus round trip; one answer per test process is enough.
let cachedStatus: Promise<KeychainStatus> | undefined;

function keychainStatus(): Promise<KeychainStatus> {
  cachedStatus ??= new KeychainStore({ timeoutMs: 5000 }).probe().then(
    () => ({ available: true, reason: 'the OS keychain answered a probe' }),
    (error: unknown) => ({
      available: false,
      reason: `${error instanceof Error ? error.message : String(error)}${
        process.env.WITH_KEYRING_ACTIVE === '1' ? '' : ' (run the tests through scripts/with-keyring.sh)'
      }`,
    }),
  );
  return cachedStatus;
}

export async function keychainAvailable(): Promise<boolean> {
  return (await keychainStatus()).available;
}

/** Resolves true when the test can go on; otherwise skips it, or fails it under CI=true. */
export async function requireKeychain(t: TestContext): Promise<boolean> {
  const status = await keychainStatus();
  return requireThat(t, status.available, `no usable OS keychain: ${status.reason}`);
}

/** Same gate for an external command the test runs (secret-tool, dbus-run-session, ...). */
export function requireCommand(t: TestContext, command: string): boolean {
  const found = spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
  return requireThat(t, found, `${command} is not installed`);
}

/** Skips (or, under CI, fails) a test that only makes sense on Linux. */
export function requireLinux(t: TestContext): boolean {
  if (process.platform === 'linux') return true;
  t.skip('Linux only');
  return false;
}

function requireThat(t: TestContext, ok: boolean, reason: string): boolean {
  if (ok) return true;
  if (isCi()) throw new Error(`CI=true and the keychain test cannot run: ${reason}`);
  t.skip(reason);
  return false;
}

export interface ChildResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** True when the child had to be killed for running past `killAfterMs`. */
  killed: boolean;
}

/** Runs a command, collecting its output; kills it (and reports so) after killAfterMs. */
export function runChild(
  command: string,
  args: string[],
  options: { env?: NodeJS.ProcessEnv; input?: string; killAfterMs?: number; uid?: number; gid?: number } = {},
): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: repoRoot,
      env: options.env ?? process.env,
      stdio: 'pipe',
      ...(options.uid === undefined ? {} : { uid: options.uid }),
      ...(options.gid === undefined ? {} : { gid: options.gid }),
    });
    let stdout = '';
    let stderr = '';
    let killed = false;
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => {
      killed = true;
      child.kill('SIGKILL');
    }, options.killAfterMs ?? 15_000);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, killed });
    });
    // A child that exits before reading its input (a failed start) closes the pipe: EPIPE
    // here is not the test's concern, its exit is.
    child.stdin.on('error', () => undefined);
    child.stdin.end(options.input ?? '');
  });
}

export interface ChildProbeOutcome {
  ok: boolean;
  name?: string;
  message?: string;
  hint?: string;
}

/**
 * Runs `new KeychainStore({ timeoutMs }).probe()` in a fresh Node process (so the native
 * library sees `env`), through `wrapper` if given (e.g. ['dbus-run-session', '--']).
 */
export async function probeKeychainInChild(
  env: NodeJS.ProcessEnv,
  options: { timeoutMs: number; wrapper?: string[]; before?: string; killAfterMs?: number },
): Promise<ChildProbeOutcome & { child: ChildResult }> {
  const moduleUrl = pathToFileURL(`${repoRoot}src/secrets/keychain.ts`).href;
  const code = [
    `const { KeychainStore } = await import(${JSON.stringify(moduleUrl)});`,
    options.before ?? '',
    `try {`,
    `  await new KeychainStore({ timeoutMs: ${options.timeoutMs} }).probe();`,
    `  console.log(JSON.stringify({ ok: true }));`,
    `} catch (error) {`,
    `  console.log(JSON.stringify({ ok: false, name: error.name, message: error.message, hint: error.hint }));`,
    `}`,
  ].join('\n');
  const nodeArgs = ['--import', 'tsx', '--input-type=module', '-e', code];
  const [command, args] =
    options.wrapper === undefined
      ? [process.execPath, nodeArgs]
      : [options.wrapper[0] as string, [...options.wrapper.slice(1), process.execPath, ...nodeArgs]];
  const child = await runChild(command, args, { env, killAfterMs: options.killAfterMs ?? 15_000 });
  const line = child.stdout.trim().split('\n').at(-1) ?? '';
  let outcome: ChildProbeOutcome;
  try {
    outcome = JSON.parse(line) as ChildProbeOutcome;
  } catch {
    throw new Error(
      `the probe child printed no result (exit ${child.code}, signal ${child.signal}, killed ${child.killed}):\n${child.stdout}\n${child.stderr}`,
    );
  }
  return { ...outcome, child };
}

/** process.env without the variables that lead libdbus to a session bus or a display. */
export function envWithoutSessionBus(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.DBUS_SESSION_BUS_ADDRESS;
  delete env.XDG_RUNTIME_DIR;
  delete env.DISPLAY;
  delete env.WAYLAND_DISPLAY;
  return { ...env, ...extra };
}
