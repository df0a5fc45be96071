import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';

// Runs the built CLI as a child process, the way users and CI do.

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const BIN = join(ROOT, 'bin', 'intelliauth-webhooks.cjs');

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  env?: Record<string, string | undefined>;
  input?: string | Buffer;
  timeoutMs?: number;
  cwd?: string;
}

/** An environment with no credentials, colour or CI leaking in from the developer's shell. */
export function cleanEnv(home: string, extra: Record<string, string | undefined> = {}): Record<string, string> {
  const keep = ['PATH', 'DBUS_SESSION_BUS_ADDRESS', 'LANG', 'SYSTEMROOT', 'TMPDIR', 'NODE_EXTRA_CA_CERTS'];
  const env: Record<string, string> = {};
  for (const key of keep) {
    const value = process.env[key];
    if (value !== undefined) env[key] = value;
  }
  Object.assign(env, {
    HOME: home,
    XDG_CONFIG_HOME: join(home, 'config'),
    XDG_DATA_HOME: join(home, 'data'),
    XDG_CACHE_HOME: join(home, 'cache'),
    NO_COLOR: '1',
  });
  for (const [key, value] of Object.entries(extra)) {
    if (value === undefined) delete env[key];
    else env[key] = value;
  }
  return env;
}

export async function tempHome(prefix = 'iaw-test-'): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

export function runCli(args: string[], options: RunOptions = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd: options.cwd ?? ROOT,
      env: options.env ?? cleanEnv(tmpdir()),
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => err.push(chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 30_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') });
    });
    child.stdin.on('error', () => {});
    child.stdin.end(options.input ?? '');
  });
}

export interface EmulatorProcess {
  tenantUrl: string;
  tenantId: string;
  clientId: string;
  clientSecret: string;
  child: ChildProcess;
  /** What the emulator wrote on stderr so far (its log). */
  log(): string;
  /** The environment that points the CLI at this emulator with client credentials. */
  env(home: string, extra?: Record<string, string | undefined>): Record<string, string>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Starts `intelliauth-webhooks emulator --json --port 0 ...` and waits for its ready line. */
export function startEmulatorProcess(args: string[] = [], options: { env?: Record<string, string | undefined>; timeoutMs?: number } = {}): Promise<EmulatorProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, 'emulator', '--json', '--port', '0', ...args], {
      cwd: ROOT,
      env: options.env ?? cleanEnv(tmpdir()),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString('utf8');
    });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`emulator did not become ready: ${stderr}`));
    }, options.timeoutMs ?? 15_000);
    const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`emulator exited with ${code} before it was ready: ${stderr}`));
    });
    const lines = createInterface({ input: child.stdout });
    lines.once('line', (line) => {
      clearTimeout(timer);
      const ready = JSON.parse(line) as { tenant_url: string; tenant_id: string; client_id: string; client_secret: string };
      resolve({
        tenantUrl: ready.tenant_url,
        tenantId: ready.tenant_id,
        clientId: ready.client_id,
        clientSecret: ready.client_secret,
        child,
        log: () => stderr,
        env: (home, extra = {}) =>
          cleanEnv(home, {
            INTELLIAUTH_TENANT_URL: ready.tenant_url,
            INTELLIAUTH_M2M_CLIENT_ID: ready.client_id,
            INTELLIAUTH_M2M_CLIENT_SECRET: ready.client_secret,
            ...extra,
          }),
        stop: async (signal = 'SIGTERM') => {
          if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
          child.kill(signal);
          const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
          const code = await exited;
          clearTimeout(killer);
          return code;
        },
      });
    });
  });
}
