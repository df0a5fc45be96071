import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { isIP, isIPv6 } from 'node:net';
import { DEFAULT_SCOPES, DELIVERY_TIMEOUT_MS, ID_PREFIX, PLAN_QUOTAS, type Plan } from '../domain/contract.ts';
import { newId } from '../domain/ids.ts';
import { WebhooksApi } from './api.ts';
import { DeliveryEngine } from './engine.ts';
import { createFaultInjector } from './faults.ts';
import type { EmulatorLogEntry } from './log.ts';
import { FilePersistence, inMemoryPersistence, loadState, lockStateFile, type Persistence } from './persistence.ts';
import { createRequestHandler } from './server.ts';
import { TenantState, type Op, type ServerRecord } from './state.ts';
import { Transport } from './transport.ts';

// A local stand-in for one IntelliAuth tenant: OAuth client credentials, the webhook API of
// PLATFORM.md Part B, and real signed deliveries with the documented retries and dead letters.

export type { EmulatorLogEntry, FaultKind } from './log.ts';
export { StateFileError } from './persistence.ts';

export interface EmulatorOptions {
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 8787; 0 picks a free port. */
  port?: number;
  /** Default generated, and kept in the state file when statePath is set. */
  clientId?: string;
  clientSecret?: string;
  /** The M2M application's scope allowlist; default webhooks:read and webhooks:write. */
  scopes?: string[];
  /** Subscription quota: starter 5, pro 50, enterprise unlimited. Default pro. */
  plan?: Plan;
  /** Accept http://, loopback, private and localhost receivers (never on the platform). Default false. */
  allowPrivateTargets?: boolean;
  /** Divides every retry delay, dead-letter expiry and grace period. Default 1. */
  timeScale?: number;
  /** Persist the tenant in this file (and FILE.journal) across restarts. */
  statePath?: string;
  /** Fraction of API and token requests answered with a fault. Default 0. */
  faultRate?: number;
  /** Seed for the fault sequence; default random (logged, so a run can be reproduced). */
  seed?: string;
  /** Delivery records kept per subscription. Default 100,000. */
  feedLimit?: number;
  /** host -> addresses used instead of DNS for deliveries, like curl --resolve. */
  resolve?: Record<string, string[]>;
  /** Per-attempt limit. Default 10 s, as documented. */
  deliveryTimeoutMs?: number;
  /** Structured log; never carries a secret or token. */
  log?: (entry: EmulatorLogEntry) => void;
}

export interface RunningEmulator {
  tenantUrl: string;
  tenantId: string;
  tenantSlug: string;
  clientId: string;
  clientSecret: string;
  /** Stops accepting requests, lets in-flight deliveries finish within graceMs (default 5000) or leaves them pending, and flushes the state. */
  close(options?: { graceMs?: number }): Promise<void>;
}

const DEFAULT_PORT = 8787;
const DEFAULT_FEED_LIMIT = 100_000;
const DEFAULT_GRACE_MS = 5000;
const TENANT_SLUG = 'local-emulator';
const USER_AGENT = 'IntelliAuth-Webhooks/1.0 (local emulator)';

interface Settings {
  host: string;
  port: number;
  scopes: string[];
  plan: Plan;
  allowPrivateTargets: boolean;
  timeScale: number;
  faultRate: number;
  feedLimit: number;
  deliveryTimeoutMs: number;
  resolve: Record<string, string[]>;
}

function settingsFrom(options: EmulatorOptions): Settings {
  const fail = (message: string): never => {
    throw new RangeError(`emulator: ${message}`);
  };
  const port = options.port ?? DEFAULT_PORT;
  if (!Number.isInteger(port) || port < 0 || port > 65_535) fail(`port must be an integer from 0 to 65535, got ${port}`);
  const plan = options.plan ?? 'pro';
  if (!(plan in PLAN_QUOTAS)) fail(`plan must be one of ${Object.keys(PLAN_QUOTAS).join(', ')}, got ${String(plan)}`);
  const timeScale = options.timeScale ?? 1;
  if (!(timeScale > 0) || !Number.isFinite(timeScale)) fail(`timeScale must be a positive number, got ${timeScale}`);
  const faultRate = options.faultRate ?? 0;
  if (!(faultRate >= 0 && faultRate <= 1)) fail(`faultRate must be from 0 to 1, got ${faultRate}`);
  const feedLimit = options.feedLimit ?? DEFAULT_FEED_LIMIT;
  if (!Number.isInteger(feedLimit) || feedLimit < 1) fail(`feedLimit must be a positive integer, got ${feedLimit}`);
  const deliveryTimeoutMs = options.deliveryTimeoutMs ?? DELIVERY_TIMEOUT_MS;
  if (!(deliveryTimeoutMs > 0)) fail(`deliveryTimeoutMs must be positive, got ${deliveryTimeoutMs}`);
  const scopes = [...(options.scopes ?? DEFAULT_SCOPES)];
  if (scopes.some((scope) => typeof scope !== 'string' || !/^\S+$/.test(scope))) fail('scopes must be non-empty strings without spaces');
  if (options.statePath !== undefined && (typeof options.statePath !== 'string' || options.statePath.trim() === '')) fail('statePath must be a file path');
  const resolve: Record<string, string[]> = {};
  for (const [host, addresses] of Object.entries(options.resolve ?? {})) {
    const bad = addresses.filter((address) => isIP(address) === 0);
    if (bad.length > 0) fail(`resolve: ${host} maps to something that is not an IP address: ${bad.join(', ')}`);
    resolve[host.toLowerCase()] = [...addresses];
  }
  return {
    host: options.host ?? '127.0.0.1',
    port,
    scopes,
    plan,
    allowPrivateTargets: options.allowPrivateTargets ?? false,
    timeScale,
    faultRate,
    feedLimit,
    deliveryTimeoutMs,
    resolve,
  };
}

function newServerRecord(options: EmulatorOptions): ServerRecord {
  return {
    token_key: randomBytes(32).toString('base64'),
    tenant_id: newId(ID_PREFIX.tenant),
    tenant_slug: TENANT_SLUG,
    client_id: options.clientId ?? newId(ID_PREFIX.application),
    client_secret: options.clientSecret ?? randomBytes(32).toString('base64url'),
  };
}

function listen(server: Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (error: Error) => reject(error);
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      const address = server.address();
      resolve(typeof address === 'object' && address !== null ? address.port : port);
    });
  });
}

export async function startEmulator(options: EmulatorOptions = {}): Promise<RunningEmulator> {
  const settings = settingsFrom(options);
  const userLog = options.log;
  const log = userLog
    ? (entry: EmulatorLogEntry): void => {
        try {
          userLog(entry);
        } catch {
          // a failing log sink must not break the emulator
        }
      }
    : undefined;
  const notice = (level: 'info' | 'warn' | 'error', message: string) => log?.({ kind: 'notice', time: new Date().toISOString(), level, message });

  const cleanups: Array<() => Promise<void>> = [];
  const cleanUp = async () => {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
  };
  try {
    let state: TenantState;
    let persistence: Persistence = inMemoryPersistence;
    if (options.statePath !== undefined) {
      cleanups.push(await lockStateFile(options.statePath));
      const loaded = await loadState(options.statePath, settings.feedLimit);
      if (loaded) {
        state = loaded.state;
        notice('info', `state loaded from ${options.statePath}: ${state.subscriptions.size} subscriptions, ${state.pendingCount} pending attempts, ${state.deadLetterCount} dead letters`);
        if (loaded.tornTail) notice('warn', 'the state journal ended in a torn write (the emulator stopped mid-write); that last change was dropped');
      } else {
        state = new TenantState(newServerRecord(options), settings.feedLimit);
      }
      // Credentials given explicitly replace the stored ones (and tokens issued to another client id stop working).
      const stored = state.server;
      if ((options.clientId !== undefined && options.clientId !== stored.client_id) || (options.clientSecret !== undefined && options.clientSecret !== stored.client_secret)) {
        state.server = { ...stored, client_id: options.clientId ?? stored.client_id, client_secret: options.clientSecret ?? stored.client_secret };
      }
      const filePersistence = await FilePersistence.open(options.statePath, state, loaded?.generation ?? 0, (message) => notice('error', message));
      persistence = filePersistence;
      cleanups.push(() => filePersistence.close());
    } else {
      state = new TenantState(newServerRecord(options), settings.feedLimit);
    }

    const transport = new Transport({
      policy: { allowPrivateTargets: settings.allowPrivateTargets },
      resolve: settings.resolve,
      timeoutMs: settings.deliveryTimeoutMs,
      userAgent: USER_AGENT,
    });
    cleanups.push(() => transport.close());

    // The engine observes every commit; it is created right below and used only after that.
    let engine: DeliveryEngine | undefined;
    const commit = (ops: Op[], durable: boolean): Promise<void> | undefined => {
      state.applyBatch(ops);
      const written = persistence.append(ops, durable);
      // What the API changes reaches receivers only once it is on disk: a crash must not
      // leave a receiver holding an event that the restarted platform never heard of.
      if (durable && written) return written.then(() => engine?.observe(ops));
      engine?.observe(ops);
      return written;
    };
    engine = new DeliveryEngine({ state, transport, commit, timeScale: settings.timeScale, random: Math.random, log });
    const tokenKey = Buffer.from(state.server.token_key, 'base64');
    const api = new WebhooksApi({
      state,
      engine,
      tokenKey,
      config: { plan: settings.plan, scopes: settings.scopes, allowPrivateTargets: settings.allowPrivateTargets, timeScale: settings.timeScale },
    });

    let seed = options.seed;
    if (settings.faultRate > 0 && seed === undefined) {
      seed = randomBytes(6).toString('hex');
      notice('info', `fault injection at rate ${settings.faultRate} with seed ${seed} (pass it as the seed to repeat this run)`);
    }
    const server = createServer(
      { keepAliveTimeout: 5000 },
      createRequestHandler({
        api,
        commit,
        flushed: () => persistence.flushed(),
        nextFault: createFaultInjector(settings.faultRate, seed ?? ''),
        log,
        tokenEndpoint: { clientId: state.server.client_id, clientSecret: state.server.client_secret, scopes: settings.scopes, tokenKey },
      }),
    );
    const port = await listen(server, settings.port, settings.host);
    engine.start();

    const urlHost = isIPv6(settings.host) ? `[${settings.host}]` : settings.host;
    let closing: Promise<void> | null = null;
    const close = async (closeOptions: { graceMs?: number } = {}): Promise<void> => {
      const graceMs = closeOptions.graceMs ?? DEFAULT_GRACE_MS;
      const serverClosed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      await engine.stop(graceMs);
      // API calls in progress get a moment to answer; then their connections are cut.
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([serverClosed, new Promise<void>((resolve) => (timer = setTimeout(resolve, Math.min(graceMs, 1000))))]);
      clearTimeout(timer);
      server.closeAllConnections();
      await serverClosed;
      await cleanUp();
    };
    return {
      tenantUrl: `http://${urlHost}:${port}`,
      tenantId: state.server.tenant_id,
      tenantSlug: state.server.tenant_slug,
      clientId: state.server.client_id,
      clientSecret: state.server.client_secret,
      close: (closeOptions) => (closing ??= close(closeOptions)),
    };
  } catch (error) {
    await cleanUp();
    throw error;
  }
}
