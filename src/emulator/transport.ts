import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { EventEmitter } from 'node:events';
import { isIP } from 'node:net';
import { Pool } from 'undici';
import type { DeliveryErrorKind } from '../domain/contract.ts';
import { RESPONSE_EXCERPT_BYTES } from '../domain/contract.ts';
import { checkResolvedAddress, type UrlPolicy } from '../domain/url-rules.ts';

// One delivery attempt over the wire. Names are resolved here and every address checked
// before connecting; the connection is then pinned to the checked address (a custom lookup),
// so DNS that changes between the check and the connect cannot reach a refused address.

export interface TransportOptions {
  policy: UrlPolicy;
  /** host -> addresses, used instead of DNS (like curl --resolve). */
  resolve: Record<string, string[]>;
  timeoutMs: number;
  userAgent: string;
}

export interface AttemptResult {
  httpStatus: number | null;
  error: DeliveryErrorKind | null;
  latencyMs: number;
  responseExcerpt: string;
  /** A short technical reason for the log (never a secret). */
  detail: string | null;
}

/** Bytes drained after the excerpt to keep a connection reusable; beyond that it is dropped. */
const DRAIN_LIMIT_BYTES = 64 * 1024;
const POOL_IDLE_MS = 60_000;
const CONNECTIONS_PER_POOL = 32;

const TLS_CODES = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_REVOKED',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'CERT_SIGNATURE_FAILURE',
  'HOSTNAME_MISMATCH',
  'INVALID_CA',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'ECONNRESET_TLS',
]);
const DNS_CODES = new Set(['ENOTFOUND', 'EAI_AGAIN', 'EAI_FAIL', 'EAI_NODATA', 'EAI_NONAME', 'ENODATA', 'ESERVFAIL']);
const TIMEOUT_CODES = new Set(['UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'ETIMEDOUT']);

export function classifyError(error: unknown): DeliveryErrorKind {
  for (let cause: unknown = error, depth = 0; cause && depth < 5; cause = (cause as { cause?: unknown }).cause, depth += 1) {
    const code = String((cause as { code?: unknown }).code ?? '');
    if (TLS_CODES.has(code) || code.startsWith('ERR_SSL_') || code.startsWith('ERR_TLS_') || /CERT/.test(code)) return 'tls';
    if (DNS_CODES.has(code)) return 'dns';
    if (TIMEOUT_CODES.has(code)) return 'timeout';
  }
  return 'connection';
}

function describe(error: unknown): string {
  const parts: string[] = [];
  for (let cause: unknown = error, depth = 0; cause && depth < 3; cause = (cause as { cause?: unknown }).cause, depth += 1) {
    const code = (cause as { code?: unknown }).code;
    parts.push(typeof code === 'string' ? code : ((cause as Error).message ?? String(cause)));
  }
  return parts.join(' <- ');
}

/**
 * The abort handle undici accepts (an emitter with `aborted` and `reason`): much cheaper per
 * attempt than an AbortController, which matters at thousands of attempts a second.
 */
class AttemptAbort extends EventEmitter {
  aborted = false;
  reason: Error | undefined;

  abort(reason: Error): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason;
    this.emit('abort');
  }
}

type Resolution = { ok: true; address: string | null } | { ok: false; error: DeliveryErrorKind; detail: string };

function lookupAll(host: string): Promise<LookupAddress[]> {
  return new Promise((resolve, reject) => {
    dnsLookup(host, { all: true, verbatim: true }, (error, addresses) => (error ? reject(error) : resolve(addresses)));
  });
}

interface PoolSlot {
  pool: Pool;
  lastUsed: number;
}

export class Transport {
  private readonly pools = new Map<string, PoolSlot>();
  private readonly active = new Set<AttemptAbort>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(private readonly options: TransportOptions) {
    this.sweeper = setInterval(() => this.closeIdlePools(), POOL_IDLE_MS);
    this.sweeper.unref();
  }

  /** POSTs `body` to `url`. Never throws: every failure is an AttemptResult. */
  async post(url: URL, body: string, headers: Record<string, string>): Promise<AttemptResult> {
    const started = performance.now();
    const elapsed = () => Math.round(performance.now() - started);
    const resolution = await this.resolveTarget(url);
    if (!resolution.ok) {
      return { httpStatus: null, error: resolution.error, latencyMs: elapsed(), responseExcerpt: '', detail: resolution.detail };
    }
    const abort = new AttemptAbort();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      abort.abort(new Error('delivery timeout'));
    }, this.options.timeoutMs);
    this.active.add(abort);
    try {
      const response = await this.pool(url, resolution.address).request({
        path: `${url.pathname}${url.search}`,
        method: 'POST',
        headers: { ...headers, 'user-agent': this.options.userAgent },
        body,
        signal: abort,
      });
      const excerpt = await readExcerpt(response.body);
      const ok = response.statusCode >= 200 && response.statusCode < 300;
      return {
        httpStatus: response.statusCode,
        error: ok ? null : 'http_status',
        latencyMs: elapsed(),
        responseExcerpt: excerpt,
        detail: ok ? null : `HTTP ${response.statusCode}`,
      };
    } catch (error) {
      const kind = timedOut ? 'timeout' : classifyError(error);
      const detail = timedOut ? `no answer within ${this.options.timeoutMs} ms` : abort.aborted ? 'abandoned at shutdown' : describe(error);
      return { httpStatus: null, error: kind, latencyMs: elapsed(), responseExcerpt: '', detail };
    } finally {
      clearTimeout(timer);
      this.active.delete(abort);
    }
  }

  /** Cuts every attempt in flight (at shutdown, after the grace period). */
  abortAll(): void {
    for (const abort of this.active) abort.abort(new Error('the emulator is stopping'));
  }

  async close(): Promise<void> {
    clearInterval(this.sweeper);
    const pools = [...this.pools.values()].map((slot) => slot.pool);
    this.pools.clear();
    await Promise.all(pools.map((pool) => pool.destroy().catch(() => undefined)));
  }

  /** The address to pin the connection to, or null to let the connector resolve. */
  private async resolveTarget(url: URL): Promise<Resolution> {
    const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
    const strict = !this.options.policy.allowPrivateTargets;
    // A URL stored under a laxer policy (an earlier run with private targets allowed).
    if (strict && url.protocol !== 'https:') return { ok: false, error: 'url_not_allowed', detail: `${url.protocol}// receivers are refused` };
    let addresses: string[];
    const override = this.options.resolve[host]; // URL host names are already lower case
    if (override) addresses = override;
    else if (isIP(host) !== 0) addresses = [host];
    else if (!strict) return { ok: true, address: null };
    else {
      try {
        addresses = (await lookupAll(host)).map((entry) => entry.address);
      } catch (error) {
        return { ok: false, error: 'dns', detail: describe(error) };
      }
    }
    if (addresses.length === 0) return { ok: false, error: 'dns', detail: `${host} has no addresses` };
    for (const address of addresses) {
      const refusal = checkResolvedAddress(address, this.options.policy);
      if (refusal !== null) return { ok: false, error: 'url_not_allowed', detail: `${host} resolves to ${address}: ${refusal}` };
    }
    return { ok: true, address: addresses[0]! };
  }

  private pool(url: URL, address: string | null): Pool {
    const key = `${url.origin}|${address ?? ''}`;
    const now = Date.now();
    const existing = this.pools.get(key);
    if (existing) {
      existing.lastUsed = now;
      return existing.pool;
    }
    const pinned =
      address === null
        ? undefined
        : (_host: string, options: { all?: boolean }, callback: (...args: unknown[]) => void) => {
            const family = isIP(address);
            if (options.all) callback(null, [{ address, family }]);
            else callback(null, address, family);
          };
    const pool = new Pool(url.origin, {
      connections: CONNECTIONS_PER_POOL,
      headersTimeout: this.options.timeoutMs,
      bodyTimeout: this.options.timeoutMs,
      connect: {
        timeout: this.options.timeoutMs,
        rejectUnauthorized: true,
        ...(pinned ? { lookup: pinned } : {}),
      },
    });
    this.pools.set(key, { pool, lastUsed: now });
    return pool;
  }

  private closeIdlePools(): void {
    const cutoff = Date.now() - POOL_IDLE_MS;
    for (const [key, slot] of this.pools) {
      if (slot.lastUsed < cutoff) {
        this.pools.delete(key);
        slot.pool.close().catch(() => undefined);
      }
    }
  }
}

/** The first RESPONSE_EXCERPT_BYTES of the body; a body much larger than that drops the connection. */
async function readExcerpt(body: AsyncIterable<Buffer> & { destroy(error?: Error): unknown }): Promise<string> {
  const kept: Buffer[] = [];
  let keptBytes = 0;
  let seen = 0;
  for await (const chunk of body) {
    if (keptBytes < RESPONSE_EXCERPT_BYTES) {
      const part = chunk.subarray(0, RESPONSE_EXCERPT_BYTES - keptBytes);
      kept.push(part);
      keptBytes += part.length;
    }
    seen += chunk.length;
    if (seen > DRAIN_LIMIT_BYTES) {
      body.destroy();
      break;
    }
  }
  return new TextDecoder('utf-8', { fatal: false }).decode(Buffer.concat(kept)).replace(/\uFFFD$/, '');
}
