import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { Pool } from 'undici';
import { EMULATOR_EVENTS_PATH, TOKEN_PATH, paths } from '../../../src/domain/contract.ts';

// The emulator as users run it (`intelliauth-webhooks emulator`, a child process), plus the
// few API calls the bench makes itself to fill it: straight HTTP over a keep-alive pool,
// so seeding costs as little as possible and measures the emulator, not a client.

export interface BenchEmulator {
  tenantUrl: string;
  clientId: string;
  clientSecret: string;
  child: ChildProcess;
  pool: Pool;
  /** An access token from POST /oauth2/token (fetched once). */
  token(): Promise<string>;
  /** The environment that points the CLI at this emulator with client credentials. */
  env(base: NodeJS.ProcessEnv): NodeJS.ProcessEnv;
  stop(): Promise<void>;
}

export async function startBenchEmulator(bin: string, args: string[], baseEnv: NodeJS.ProcessEnv, nodeArgs: string[] = []): Promise<BenchEmulator> {
  const child = spawn(process.execPath, [...nodeArgs, bin, 'emulator', '--json', '--port', '0', ...args], { env: baseEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  // The emulator logs every request and delivery on stderr: drained, as a terminal would.
  child.stderr!.on('data', (chunk: Buffer) => {
    if (log.length < 16_384) log += chunk.toString('utf8');
  });
  const ready = await new Promise<{ tenant_url: string; client_id: string; client_secret: string }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`emulator not ready after 30 s: ${log}`)), 30_000);
    child.once('exit', (code) => reject(new Error(`emulator exited with ${code}: ${log}`)));
    createInterface({ input: child.stdout! }).once('line', (line) => {
      clearTimeout(timer);
      resolve(JSON.parse(line));
    });
  });
  const pool = new Pool(ready.tenant_url, { connections: 8 });
  let token: Promise<string> | undefined;
  return {
    tenantUrl: ready.tenant_url,
    clientId: ready.client_id,
    clientSecret: ready.client_secret,
    child,
    pool,
    token: () => (token ??= fetchToken(pool, ready.client_id, ready.client_secret)),
    env: (base) => ({
      ...base,
      INTELLIAUTH_TENANT_URL: ready.tenant_url,
      INTELLIAUTH_M2M_CLIENT_ID: ready.client_id,
      INTELLIAUTH_M2M_CLIENT_SECRET: ready.client_secret,
    }),
    stop: async () => {
      await pool.close();
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(killer);
    },
  };
}

async function fetchToken(pool: Pool, clientId: string, clientSecret: string): Promise<string> {
  const form = new URLSearchParams({ grant_type: 'client_credentials', client_id: clientId, client_secret: clientSecret });
  const response = await pool.request({
    method: 'POST',
    path: TOKEN_PATH,
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: form.toString(),
  });
  const body = (await response.body.json()) as { access_token?: string };
  if (response.statusCode !== 200 || typeof body.access_token !== 'string') throw new Error(`token request answered ${response.statusCode}`);
  return body.access_token;
}

async function call(emulator: BenchEmulator, method: 'GET' | 'POST', path: string, json?: unknown): Promise<{ status: number; body: any }> {
  const response = await emulator.pool.request({
    method,
    path,
    headers: { authorization: `Bearer ${await emulator.token()}`, ...(json === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(json === undefined ? {} : { body: JSON.stringify(json) }),
  });
  const text = await response.body.text();
  return { status: response.statusCode, body: text === '' ? null : JSON.parse(text) };
}

export async function createSubscription(emulator: BenchEmulator, name: string, url: string, events: string[]): Promise<{ id: string; secret: string }> {
  const { status, body } = await call(emulator, 'POST', paths.subscriptions(), { name, url, events });
  if (status !== 201) throw new Error(`create answered ${status}: ${JSON.stringify(body)}`);
  return { id: body.data.id, secret: body.data.signing_secret };
}

/** Emits one event through POST /_emulator/events; resolves when the emulator accepted it. */
export async function trigger(emulator: BenchEmulator, eventType: string, data?: Record<string, unknown>): Promise<void> {
  const { status, body } = await call(emulator, 'POST', EMULATOR_EVENTS_PATH, { event_type: eventType, ...(data ? { data } : {}) });
  if (status !== 202) throw new Error(`trigger answered ${status}: ${JSON.stringify(body)}`);
}

export async function feedLength(emulator: BenchEmulator, subscriptionId: string): Promise<number> {
  let count = 0;
  let after: string | undefined;
  for (;;) {
    const query = new URLSearchParams({ limit: '100', ...(after ? { after } : {}) });
    const { status, body } = await call(emulator, 'GET', `${paths.deliveries(subscriptionId)}?${query}`);
    if (status !== 200) throw new Error(`deliveries answered ${status}`);
    count += body.data.length;
    if (body.data.length === 0 || body.meta.next_cursor === null) return count;
    after = body.data.at(-1).id;
  }
}
