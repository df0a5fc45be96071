import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Context } from '../../cli/context.ts';
import { CheckFailedError } from '../../errors.ts';
import type { DemoOptions } from './index.ts';

// The README's first command. Every step runs the real CLI as a child process against a
// fresh emulator, so a green demo is also a smoke test of the installed tool.

interface Step<T> {
  title: string;
  run: () => Promise<T>;
}

interface Demo {
  context: Context;
  bin: string;
  home: string;
  env: Record<string, string>;
}

export async function run(options: DemoOptions, context: Context): Promise<number> {
  const { io } = context;
  const home = await mkdtemp(join(tmpdir(), 'intelliauth-demo-'));
  const demo: Demo = { context, bin: process.argv[1]!, home, env: {} };
  let emulator: ChildProcess | undefined;
  let receiver: ChildProcess | undefined;
  try {
    const ready = await step(context, {
      title: 'start the emulator on a free loopback port (private receivers allowed)',
      run: async () => {
        const started = await startEmulator(demo);
        emulator = started.child;
        return started.ready;
      },
    });
    demo.env = childEnv(context, home, {
      INTELLIAUTH_TENANT_URL: ready.tenant_url,
      INTELLIAUTH_M2M_CLIENT_ID: ready.client_id,
      INTELLIAUTH_M2M_CLIENT_SECRET: ready.client_secret,
    });

    const port = await step(context, { title: 'pick a free loopback port for the receiver', run: freePort });
    const url = `http://127.0.0.1:${port}/webhooks/intelliauth`;

    const keychainUsable = await context
      .secretStore()
      .then((store) => store.probe())
      .then(() => true, () => false);
    const secretArgs = keychainUsable ? ['--secret-store', 'keychain'] : ['--secret-store', 'file', '--secret-file', join(home, 'signing-secret')];
    if (!keychainUsable) io.warn(`the OS keychain is not usable here, so the demo keeps the signing secret in a 0600 file under ${home}`);

    const subscription = await step(context, {
      title: `create a subscription for user.* (secret into ${keychainUsable ? 'the OS keychain' : 'a 0600 file'})`,
      run: async () => {
        const result = await cli(demo, ['create', '--json', '--name', 'Demo receiver', '--url', url, '--events', 'user.*', '--description', 'made by intelliauth-webhooks demo', ...secretArgs]);
        return JSON.parse(result) as { id: string; secret_fingerprint: string };
      },
    });
    io.info(`    ${subscription.id}, secret fingerprint ${subscription.secret_fingerprint}`);

    const deliveries = await step(context, {
      title: 'start a receiver through `secret exec`, which hands it the secret in its environment',
      run: async () => {
        const started = await startReceiver(demo, subscription.id, port);
        receiver = started.child;
        return started.lines;
      },
    });

    const arrival = await step(context, {
      title: 'trigger user.signed_up and wait for the delivery to verify at the receiver',
      run: async () => {
        await cli(demo, ['trigger', 'user.signed_up']);
        const line = await deliveries.next(15_000);
        if (!line.startsWith('verified ')) throw new CheckFailedError(`the receiver rejected the delivery: ${line}`);
        return line;
      },
    });
    io.info(`    receiver: ${arrival}`);

    await step(context, {
      title: 'list the subscriptions',
      run: async () => {
        const listing = await cli(demo, ['list']);
        io.info(listing.trimEnd().split('\n').map((line) => `    ${line}`).join('\n'));
      },
    });

    if (options.keep) {
      io.info(`The emulator keeps running at ${ready.tenant_url}. Press Ctrl-C to stop.`);
      await new Promise<void>((resolve) => context.signal.addEventListener('abort', () => resolve(), { once: true }));
    }

    await step(context, {
      title: 'delete the subscription and its stored secret',
      run: () => cli(demo, ['delete', subscription.id, '--yes']),
    });
    io.success('demo complete: everything above ran through the real commands');
    return 0;
  } finally {
    await stopChild(receiver);
    await stopChild(emulator);
    await rm(home, { recursive: true, force: true });
  }
}

async function step<T>(context: Context, current: Step<T>): Promise<T> {
  const { io } = context;
  try {
    const value = await current.run();
    io.info(`${io.err.green('✓')} ${current.title}`);
    return value;
  } catch (error) {
    io.info(`${io.err.red('✗')} ${current.title}`);
    throw error;
  }
}

function childEnv(context: Context, home: string, extra: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(context.env)) if (value !== undefined) env[key] = value;
  // Profiles and tokens of the user's own setup stay out of the demo, and the demo's stay out of theirs.
  Object.assign(env, {
    XDG_CONFIG_HOME: join(home, 'config'),
    XDG_DATA_HOME: join(home, 'data'),
    XDG_CACHE_HOME: join(home, 'cache'),
    INTELLIAUTH_PROFILE: '',
    CI: 'true',
    NO_COLOR: '1',
    ...extra,
  });
  delete env.INTELLIAUTH_TOKEN;
  return env;
}

// The receiver a user would write, following the platform's advice: raw body, HMAC-SHA256,
// constant-time compare, 2xx at once. It gets its secret only from the environment.
const RECEIVER_SOURCE = `
const { createHmac, timingSafeEqual } = require('node:crypto');
const secret = process.env.INTELLIAUTH_WEBHOOK_SECRET;
require('node:http').createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks);
    const expected = Buffer.from(createHmac('sha256', secret).update(body).digest('hex'));
    const given = Buffer.from(String(req.headers['x-intelliauth-signature'] || ''));
    const ok = given.length === expected.length && timingSafeEqual(given, expected);
    res.writeHead(ok ? 202 : 401).end();
    console.log((ok ? 'verified ' : 'rejected ') + req.headers['x-intelliauth-event-type'] + ' ' + req.headers['x-intelliauth-event-id']);
  });
}).listen(Number(process.argv[1]), '127.0.0.1', () => console.log('listening'));
`;

interface LineReader {
  next(timeoutMs: number): Promise<string>;
}

function lineReader(child: ChildProcess): LineReader {
  const queue: string[] = [];
  const waiting: Array<(line: string) => void> = [];
  createInterface({ input: child.stdout! }).on('line', (line) => {
    const waiter = waiting.shift();
    if (waiter) waiter(line);
    else queue.push(line);
  });
  return {
    next: (timeoutMs) =>
      new Promise((resolve, reject) => {
        const queued = queue.shift();
        if (queued !== undefined) return resolve(queued);
        const timer = setTimeout(() => reject(new CheckFailedError(`nothing from the receiver within ${timeoutMs / 1000} s`)), timeoutMs);
        waiting.push((line) => {
          clearTimeout(timer);
          resolve(line);
        });
      }),
  };
}

async function startReceiver(demo: Demo, subscriptionId: string, port: number): Promise<{ child: ChildProcess; lines: LineReader }> {
  const child = spawn(process.execPath, [demo.bin, 'secret', 'exec', subscriptionId, '--', process.execPath, '-e', RECEIVER_SOURCE, String(port)], {
    env: demo.env,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines = lineReader(child);
  const first = await lines.next(10_000);
  if (first !== 'listening') throw new CheckFailedError(`the receiver did not start: ${first}`);
  return { child, lines };
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}

async function stopChild(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}

function startEmulator(demo: Demo): Promise<{ child: ChildProcess; ready: { tenant_url: string; client_id: string; client_secret: string } }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [demo.bin, 'emulator', '--json', '--port', '0', '--allow-private-targets'], {
      env: childEnv(demo.context, demo.home, {}),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let log = '';
    child.stderr!.on('data', (chunk: Buffer) => {
      log += chunk.toString('utf8');
    });
    child.once('exit', (code) => reject(new CheckFailedError(`the emulator exited with ${code}: ${log.trim().split('\n').pop() ?? ''}`)));
    createInterface({ input: child.stdout! }).once('line', (line) => resolve({ child, ready: JSON.parse(line) }));
  });
}

function cli(demo: Demo, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [demo.bin, ...args], { env: demo.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString('utf8');
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString('utf8');
    });
    child.once('exit', (code) => {
      if (code === 0) resolve(stdout);
      else reject(new CheckFailedError(`\`intelliauth-webhooks ${args.join(' ')}\` exited with ${code}: ${stderr.trim().split('\n')[0] ?? ''}`));
    });
  });
}
