import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

// Independent of the code under test: what the platform says exists (straight over HTTP,
// retrying through injected faults), and where on this machine a subscription's signing
// secret can be found (the keychain via secret-tool, the files the user named, the secret
// index's file paths, fallback files). A secret is lost when the platform holds a
// subscription whose current secret is in none of those places.

export const KEYCHAIN_SERVICE = 'intelliauth-webhooks';

/** The platform's secret_fingerprint: the first 8 hex digits of SHA-256 of the secret. */
export function fingerprintOf(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex').slice(0, 8);
}

export interface PlatformSubscription {
  id: string;
  name: string;
  secret_fingerprint: string;
  previous_secret_expires_at: string | null;
  [key: string]: unknown;
}

export interface PlatformEndpoint {
  tenantUrl: string;
  clientId: string;
  clientSecret: string;
}

export interface PlatformClient {
  /** Every subscription of the tenant (all pages). */
  all(): Promise<PlatformSubscription[]>;
  named(name: string): Promise<PlatformSubscription[]>;
  /** null when the platform says 404. */
  get(id: string): Promise<PlatformSubscription | null>;
  /** Creates a subscription directly (not through the CLI); resolves it with its one-time secret. */
  create(body: { name: string; url: string; events: string[] }): Promise<PlatformSubscription & { signing_secret: string }>;
}

const ATTEMPTS = 12;

/** A client that retries whatever an emulator's --fault-rate throws at it (5xx, 429, resets, stalls). */
export function platformClient(endpoint: PlatformEndpoint): PlatformClient {
  let token: string | undefined;
  const attempt = async (url: string, init: RequestInit): Promise<{ status: number; body: any } | undefined> => {
    try {
      const response = await fetch(url, { ...init, signal: AbortSignal.timeout(10_000) });
      const text = await response.text();
      if (response.status >= 500 || response.status === 429) return undefined;
      return { status: response.status, body: text === '' ? undefined : JSON.parse(text) };
    } catch {
      return undefined;
    }
  };
  const withRetries = async (what: string, run: () => Promise<{ status: number; body: any } | undefined>) => {
    for (let round = 1; round <= ATTEMPTS; round += 1) {
      const answer = await run();
      if (answer) return answer;
      await sleep(Math.min(1000, 100 * round));
    }
    throw new Error(`${what}: no answer from the platform after ${ATTEMPTS} attempts`);
  };
  const getToken = async (): Promise<string> => {
    if (token) return token;
    const form = new URLSearchParams({ grant_type: 'client_credentials', client_id: endpoint.clientId, client_secret: endpoint.clientSecret });
    const answer = await withRetries('token', () => attempt(`${endpoint.tenantUrl}/oauth2/token`, { method: 'POST', body: form }));
    if (answer.status !== 200 || typeof answer.body?.access_token !== 'string') throw new Error(`token request answered ${answer.status}`);
    token = answer.body.access_token as string;
    return token;
  };
  const call = async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
    const bearer = await getToken();
    return withRetries(`${method} ${path}`, () =>
      attempt(`${endpoint.tenantUrl}${path}`, {
        method,
        headers: { authorization: `Bearer ${bearer}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      }),
    );
  };
  const all = async (): Promise<PlatformSubscription[]> => {
    const found: PlatformSubscription[] = [];
    let cursor: string | null = null;
    for (let page = 0; page < 1000; page += 1) {
      const answer = await call('GET', `/api/v1/webhooks/subscriptions?limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
      if (answer.status !== 200) throw new Error(`listing subscriptions answered ${answer.status}`);
      found.push(...(answer.body.data as PlatformSubscription[]));
      cursor = (answer.body.meta?.next_cursor as string | null | undefined) ?? null;
      if (!cursor) return found;
    }
    throw new Error('listing subscriptions did not end');
  };
  return {
    all,
    named: async (name) => (await all()).filter((subscription) => subscription.name === name),
    get: async (id) => {
      const answer = await call('GET', `/api/v1/webhooks/subscriptions/${id}`);
      if (answer.status === 404) return null;
      if (answer.status !== 200) throw new Error(`GET ${id} answered ${answer.status}`);
      return answer.body.data as PlatformSubscription;
    },
    create: async (body) => {
      // One key for every retry: a create whose answer a fault swallowed is answered again.
      const key = `audit-${createHash('sha256').update(`${body.name}${Math.random()}`).digest('hex').slice(0, 24)}`;
      const answer = await call('POST', '/api/v1/webhooks/subscriptions', body, { 'Idempotency-Key': key });
      if (answer.status !== 201) throw new Error(`create answered ${answer.status}: ${JSON.stringify(answer.body)}`);
      return answer.body.data as PlatformSubscription & { signing_secret: string };
    },
  };
}

/** The places on this machine where the CLI could have put a subscription's secret. */
export interface SecretPlaces {
  /** host[:port] of the tenant URL the CLI used: the keychain account and index key start with it. */
  tenantHost: string;
  /** The CLI's XDG_DATA_HOME (the index and the first fallback directory live under it). */
  dataHome: string;
  /** The CLI's TMPDIR (the second fallback directory). */
  tmpDir?: string;
  /** Files the user named (--secret-file) or kept the secret in. */
  files?: string[];
}

export interface FoundSecret {
  place: string;
  secret: string;
}

export async function keychainSecret(tenantHost: string, id: string, env: NodeJS.ProcessEnv = process.env): Promise<string | null> {
  const result = await secretToolLookup(['lookup', 'service', KEYCHAIN_SERVICE, 'username', `${tenantHost}/${id}`], env);
  return result.code === 0 && result.stdout !== '' ? result.stdout : null;
}

/** secret-tool without stdin (nothing to write to a child that may already be gone), killed after 10 s. */
function secretToolLookup(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; stdout: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('secret-tool', args, { env, stdio: ['ignore', 'pipe', 'ignore'] });
    let stdout = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`secret-tool ${args[0]} hung`));
    }, 10_000);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout });
    });
  });
}

async function readSecretText(path: string): Promise<string | null> {
  try {
    const text = (await readFile(path, 'utf8')).replace(/\r?\n$/, '');
    return text === '' ? null : text;
  } catch {
    return null;
  }
}

async function listDir(path: string): Promise<string[]> {
  try {
    return await readdir(path);
  } catch {
    return [];
  }
}

/** Every copy of the subscription's current secret this machine holds, wherever it is. */
export async function findStoredSecrets(id: string, places: SecretPlaces): Promise<FoundSecret[]> {
  const found: FoundSecret[] = [];
  const keychain = await keychainSecret(places.tenantHost, id);
  if (keychain !== null) found.push({ place: 'keychain', secret: keychain });
  const paths = new Set<string>(places.files ?? []);
  const appData = join(places.dataHome, 'intelliauth-webhooks');
  try {
    const index = JSON.parse(await readFile(join(appData, 'signing-secrets.json'), 'utf8')) as { entries?: Record<string, { path?: string }> };
    const path = index.entries?.[`${places.tenantHost}/${id}`]?.path;
    if (path) paths.add(path);
  } catch {
    // no index: nothing recorded there
  }
  for (const name of await listDir(join(appData, 'fallback'))) if (name.startsWith(`${id}-`)) paths.add(join(appData, 'fallback', name));
  if (places.tmpDir) {
    for (const dir of await listDir(places.tmpDir)) {
      if (!dir.startsWith('intelliauth-webhooks-fallback-')) continue;
      for (const name of await listDir(join(places.tmpDir, dir))) if (name.startsWith(`${id}-`)) paths.add(join(places.tmpDir, dir, name));
    }
  }
  for (const path of paths) {
    const secret = await readSecretText(path);
    if (secret !== null) found.push({ place: path, secret });
  }
  return found;
}

export interface AuditVerdict {
  id: string;
  platformFingerprint: string;
  /** Places holding a secret with the platform's fingerprint. */
  matching: string[];
  lost: boolean;
}

/** Is the secret the platform signs with for `id` right now held anywhere on this machine? */
export async function auditSubscription(subscription: PlatformSubscription, places: SecretPlaces): Promise<AuditVerdict> {
  const found = await findStoredSecrets(subscription.id, places);
  const matching = found.filter((copy) => fingerprintOf(copy.secret) === subscription.secret_fingerprint).map((copy) => copy.place);
  return { id: subscription.id, platformFingerprint: subscription.secret_fingerprint, matching, lost: matching.length === 0 };
}
