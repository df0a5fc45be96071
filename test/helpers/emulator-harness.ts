import { createServer as createHttpServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { TOKEN_PATH } from '../../src/domain/contract.ts';
import { signatureMatches } from '../../src/domain/signature.ts';
import { startEmulator, type EmulatorLogEntry, type EmulatorOptions, type RunningEmulator } from '../../src/emulator/index.ts';

// Shared by the emulator tests: an in-process emulator with a small JSON client, and a real
// loopback receiver that verifies signatures the documented way (HMAC over the raw bytes).

export interface ApiAnswer {
  status: number;
  headers: Headers;
  body: any;
}

export interface TestEmulator extends RunningEmulator {
  logs: EmulatorLogEntry[];
  token(scope?: string): Promise<string>;
  call(method: string, path: string, init?: { body?: unknown; token?: string | null; headers?: Record<string, string>; rawBody?: string }): Promise<ApiAnswer>;
}

export async function startTestEmulator(options: EmulatorOptions = {}): Promise<TestEmulator> {
  const logs: EmulatorLogEntry[] = [];
  const emulator = await startEmulator({ port: 0, ...options, log: (entry) => logs.push(entry) });
  let cachedToken: string | undefined;
  const token = async (scope?: string): Promise<string> => {
    if (scope === undefined && cachedToken) return cachedToken;
    const form = new URLSearchParams({ grant_type: 'client_credentials', client_id: emulator.clientId, client_secret: emulator.clientSecret });
    if (scope !== undefined) form.set('scope', scope);
    const response = await fetch(emulator.tenantUrl + TOKEN_PATH, { method: 'POST', body: form });
    const body = (await response.json()) as { access_token?: string };
    if (response.status !== 200 || !body.access_token) throw new Error(`token request failed: ${response.status} ${JSON.stringify(body)}`);
    if (scope === undefined) cachedToken = body.access_token;
    return body.access_token;
  };
  const call: TestEmulator['call'] = async (method, path, init = {}) => {
    const headers: Record<string, string> = { ...(init.headers ?? {}) };
    const bearer = init.token === undefined ? await token() : init.token;
    if (bearer !== null) headers.authorization = `Bearer ${bearer}`;
    let body: string | undefined = init.rawBody;
    if (init.body !== undefined) {
      body = JSON.stringify(init.body);
      headers['content-type'] ??= 'application/json';
    }
    const response = await fetch(emulator.tenantUrl + path, { method, headers, body });
    const text = await response.text();
    return { status: response.status, headers: response.headers, body: text === '' ? undefined : JSON.parse(text) };
  };
  return { ...emulator, logs, token, call };
}

export interface ReceivedDelivery {
  path: string;
  headers: IncomingHttpHeaders;
  raw: Buffer;
  json: any;
  /** Which of the receiver's known secrets verify the main and the previous signature headers. */
  signedWith: string | null;
  previousSignedWith: string | null;
  receivedAt: number;
}

export interface ReceiverReply {
  status?: number;
  body?: string;
  delayMs?: number;
}

export interface TestReceiver {
  url: string;
  port: number;
  received: ReceivedDelivery[];
  /** Secrets to verify against; tests add the signing secret once they know it. */
  secrets: string[];
  respond: (delivery: ReceivedDelivery) => ReceiverReply;
  waitFor(count: number, timeoutMs?: number): Promise<ReceivedDelivery[]>;
  close(): Promise<void>;
}

export async function startReceiver(options: { tls?: { key: string; cert: string }; path?: string } = {}): Promise<TestReceiver> {
  let waiters: Array<() => boolean> = [];
  const receiver: TestReceiver = {
    url: '',
    port: 0,
    received: [],
    secrets: [],
    respond: () => ({ status: 202 }),
    waitFor: (count, timeoutMs = 8000) =>
      new Promise((resolve, reject) => {
        const check = () => {
          if (receiver.received.length >= count) {
            clearTimeout(timer);
            resolve(receiver.received);
            return true;
          }
          return false;
        };
        const timer = setTimeout(() => reject(new Error(`receiver got ${receiver.received.length} deliveries, expected ${count}`)), timeoutMs);
        if (!check()) waiters.push(check);
      }),
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  const handler = (request: IncomingMessage, response: ServerResponse) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const raw = Buffer.concat(chunks);
      const signature = request.headers['x-intelliauth-signature'] as string | undefined;
      const previous = request.headers['x-intelliauth-signature-previous'] as string | undefined;
      const delivery: ReceivedDelivery = {
        path: request.url ?? '/',
        headers: request.headers,
        raw,
        json: JSON.parse(raw.toString('utf8')),
        signedWith: receiver.secrets.find((secret) => signatureMatches(secret, raw, signature)) ?? null,
        previousSignedWith: previous === undefined ? null : (receiver.secrets.find((secret) => signatureMatches(secret, raw, previous)) ?? null),
        receivedAt: Date.now(),
      };
      receiver.received.push(delivery);
      const reply = receiver.respond(delivery);
      const finish = () => {
        response.writeHead(reply.status ?? 202, { 'content-type': 'text/plain' });
        response.end(reply.body ?? '');
      };
      if (reply.delayMs) setTimeout(finish, reply.delayMs);
      else finish();
      waiters = waiters.filter((check) => !check());
    });
  };
  const server = options.tls ? createHttpsServer({ key: options.tls.key, cert: options.tls.cert }, handler) : createHttpServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  receiver.port = (server.address() as AddressInfo).port;
  receiver.url = `${options.tls ? 'https' : 'http'}://127.0.0.1:${receiver.port}${options.path ?? '/hooks'}`;
  return receiver;
}

export async function eventually<T>(probe: () => Promise<T | undefined> | T | undefined, timeoutMs = 8000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
