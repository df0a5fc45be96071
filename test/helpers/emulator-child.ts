import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { Pool } from 'undici';
import { API_PREFIX, EMULATOR_EVENTS_PATH, TOKEN_PATH, type DeadLetter, type DeliveryRecord, type Subscription } from '../../src/domain/contract.ts';
import { BIN, ROOT } from './cli.ts';

// For the reliability suites: the emulator as a child process that can be SIGKILLed and
// restarted on the same --state, and a keep-alive, pipelining API client (undici Pool) fast
// enough to trigger tens of thousands of events and to read whole feeds, retrying the
// faults an emulator with --fault-rate injects.

const LOG_TAIL_BYTES = 256 * 1024;

export interface EmulatorChild {
  tenantUrl: string;
  clientId: string;
  clientSecret: string;
  child: ChildProcess;
  /** The end of the emulator's log (stderr), for failure messages. */
  logTail(): string;
  /** How many log lines matched `countLines` so far. */
  counted(): number;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Sends `signal` and waits for the exit (SIGKILL after 15 s). */
  stop(signal?: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Starts `intelliauth-webhooks emulator --json --port 0 ARGS` and waits for its ready line. */
export function spawnEmulator(
  args: string[],
  env: Record<string, string>,
  options: { timeoutMs?: number; countLines?: RegExp } = {},
): Promise<EmulatorChild> {
  const timeoutMs = options.timeoutMs ?? 30_000;
  const child = spawn(process.execPath, [BIN, 'emulator', '--json', '--port', '0', ...args], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let tail = '';
  let counted = 0;
  if (options.countLines) {
    const pattern = options.countLines;
    createInterface({ input: child.stderr! }).on('line', (line) => {
      if (pattern.test(line)) counted += 1;
    });
  }
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (chunk: string) => {
    tail += chunk;
    if (tail.length > 2 * LOG_TAIL_BYTES) tail = tail.slice(-LOG_TAIL_BYTES);
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const stop = async (signal: NodeJS.Signals = 'SIGTERM') => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    const killer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    const result = await exited;
    clearTimeout(killer);
    return result;
  };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`the emulator did not become ready in ${timeoutMs} ms: ${tail.slice(-4000)}`));
    }, timeoutMs);
    void exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`the emulator exited (${code ?? signal}) before it was ready: ${tail.slice(-4000)}`));
    });
    createInterface({ input: child.stdout! }).once('line', (line) => {
      clearTimeout(timer);
      try {
        const ready = JSON.parse(line) as { tenant_url: string; client_id: string; client_secret: string };
        resolve({
          tenantUrl: ready.tenant_url,
          clientId: ready.client_id,
          clientSecret: ready.client_secret,
          child,
          logTail: () => tail,
          counted: () => counted,
          exited,
          stop,
        });
      } catch (error) {
        child.kill('SIGKILL');
        reject(error as Error);
      }
    });
  });
}

export interface Answer<T> {
  status: number;
  data: T;
  meta: Record<string, unknown>;
}

export class TransportFailure extends Error {
  override name = 'TransportFailure';
}

export interface ApiPoolOptions {
  connections?: number;
  pipelining?: number;
  /** How often a 5xx, 429 or network failure is asked again before giving up (0: never). */
  retries?: number;
}

/** A pooled client for one emulator. Only loopback origins are ever used. */
export class ApiPool {
  readonly pool: Pool;
  readonly #endpoint: { tenantUrl: string; clientId: string; clientSecret: string };
  readonly #retries: number;
  #token: Promise<string> | undefined;

  constructor(endpoint: { tenantUrl: string; clientId: string; clientSecret: string }, options: ApiPoolOptions = {}) {
    const origin = new URL(endpoint.tenantUrl);
    if (origin.hostname !== '127.0.0.1') throw new Error(`refusing a non-loopback emulator at ${endpoint.tenantUrl}`);
    this.#endpoint = endpoint;
    this.#retries = options.retries ?? 0;
    this.pool = new Pool(origin.origin, {
      connections: options.connections ?? 8,
      pipelining: options.pipelining ?? 1,
      keepAliveTimeout: 4000,
      headersTimeout: 15_000,
      bodyTimeout: 15_000,
    });
  }

  token(): Promise<string> {
    this.#token ??= this.#fetchToken().catch((error: unknown) => {
      this.#token = undefined;
      throw error;
    });
    return this.#token;
  }

  async #fetchToken(): Promise<string> {
    const form = new URLSearchParams({ grant_type: 'client_credentials', client_id: this.#endpoint.clientId, client_secret: this.#endpoint.clientSecret }).toString();
    const body = await this.#send('POST', TOKEN_PATH, form, 'application/x-www-form-urlencoded', null);
    return (body as { access_token: string }).access_token;
  }

  /** One API call; the envelope's data and meta. Throws TransportFailure when the retries ran out. */
  async call<T>(method: string, path: string, body?: unknown): Promise<Answer<T>> {
    const token = await this.token();
    const { status, parsed } = await this.#sendWithStatus(method, path, body === undefined ? undefined : JSON.stringify(body), 'application/json', token);
    const envelope = parsed as { data?: T; meta?: Record<string, unknown> };
    return { status, data: envelope.data as T, meta: envelope.meta ?? {} };
  }

  async #send(method: string, path: string, body: string | undefined, contentType: string, token: string | null): Promise<unknown> {
    return (await this.#sendWithStatus(method, path, body, contentType, token)).parsed;
  }

  /** Retries 5xx, 429, dropped connections and cut-off bodies; a 4xx is thrown at once. */
  async #sendWithStatus(method: string, path: string, body: string | undefined, contentType: string, token: string | null): Promise<{ status: number; parsed: unknown }> {
    let lastProblem = '';
    for (let attempt = 0; attempt <= this.#retries; attempt += 1) {
      if (attempt > 0) await sleep(Math.min(1000, 10 * 2 ** Math.min(attempt, 7)));
      let status: number;
      let text: string;
      try {
        const headers: Record<string, string> = {};
        if (token !== null) headers.authorization = `Bearer ${token}`;
        if (body !== undefined) headers['content-type'] = contentType;
        const response = await this.pool.request({ method: method as 'GET', path, headers, ...(body === undefined ? {} : { body }) });
        status = response.statusCode;
        text = await response.body.text();
      } catch (error) {
        lastProblem = `${(error as Error).name}: ${(error as Error).message}`;
        continue;
      }
      if (status >= 500 || status === 429) {
        lastProblem = `HTTP ${status}`;
        continue;
      }
      if (status >= 400) throw new Error(`${method} ${path} answered ${status}: ${text.slice(0, 500)}`);
      try {
        return { status, parsed: text === '' ? {} : JSON.parse(text) };
      } catch {
        lastProblem = `unparsable body (${text.length} bytes)`;
      }
    }
    throw new TransportFailure(`${method} ${path}: no answer after ${this.#retries + 1} tries (${lastProblem})`);
  }

  createSubscription(input: { name: string; url: string; events: string[] }): Promise<Answer<Subscription & { signing_secret: string }>> {
    return this.call('POST', `${API_PREFIX}/subscriptions`, input);
  }

  async subscriptions(): Promise<Subscription[]> {
    const all: Subscription[] = [];
    let cursor: string | null = null;
    do {
      const page: Answer<Subscription[]> = await this.call<Subscription[]>('GET', `${API_PREFIX}/subscriptions?limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
      all.push(...page.data);
      cursor = (page.meta.next_cursor as string | null | undefined) ?? null;
    } while (cursor !== null);
    return all;
  }

  async deadLetters(subscriptionId: string): Promise<DeadLetter[]> {
    return (await this.call<DeadLetter[]>('GET', `${API_PREFIX}/subscriptions/${subscriptionId}/dead-letters`)).data;
  }

  /** One page of the feed, oldest first after `after`. */
  async feedPage(subscriptionId: string, query: { after?: string | null; order?: 'asc' | 'desc'; limit?: number }): Promise<Answer<DeliveryRecord[]>> {
    const params = new URLSearchParams({ limit: String(query.limit ?? 100), order: query.order ?? 'asc' });
    if (query.after) params.set('after', query.after);
    return this.call<DeliveryRecord[]>('GET', `${API_PREFIX}/subscriptions/${subscriptionId}/deliveries?${params}`);
  }

  /** The whole feed, oldest first, following next_cursor. */
  async feed(subscriptionId: string): Promise<DeliveryRecord[]> {
    const all: DeliveryRecord[] = [];
    let after: string | null = null;
    for (;;) {
      const page: Answer<DeliveryRecord[]> = await this.feedPage(subscriptionId, { after });
      all.push(...page.data);
      const next = page.meta.next_cursor as string | null | undefined;
      if (!next || page.data.length === 0) return all;
      after = next;
    }
  }

  /** Emits one tenant event through the emulator's control endpoint (exempt from injected faults). */
  async trigger(eventType: string): Promise<string> {
    return (await this.call<{ event_id: string }>('POST', EMULATOR_EVENTS_PATH, { event_type: eventType })).data.event_id;
  }

  close(): Promise<void> {
    return this.pool.destroy();
  }
}
