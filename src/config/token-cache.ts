// Access tokens reused across runs until shortly before they expire. Each token is stored
// encrypted (AES-256-GCM) under a key derived from the client secret, so the cache is no
// easier to use than the secret itself, and a changed secret just misses.

import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes } from 'node:crypto';
import { readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { requestClientCredentialsToken, type AccessToken, type AccessTokenProvider } from '../api/token.ts';
import type { Http } from '../api/http.ts';
import { AuthError } from '../errors.ts';
import { writePrivateFileAtomic } from './atomic-file.ts';
import type { CredentialSource, Credentials } from './credentials.ts';

const FORMAT_VERSION = 1;
const MAX_MARGIN_MS = 60_000;
const HKDF_INFO = 'intelliauth-webhooks token cache v1';

export interface TokenCacheIdentity {
  tenantUrl: string;
  clientId: string;
  audience?: string | undefined;
  /** The scopes asked for (not those granted): part of what makes two tokens different. */
  scope?: readonly string[] | undefined;
}

interface CacheFile {
  v: number;
  tenant_url: string;
  client_id: string;
  audience: string | null;
  scope: string;
  salt: string;
  iv: string;
  tag: string;
  ciphertext: string;
}

interface CachePayload {
  access_token: string;
  expires_at: number;
  obtained_at: number;
  scope: string[];
}

function scopeKey(scope: readonly string[] | undefined): string {
  return [...new Set(scope ?? [])].sort().join(' ');
}

export function tokenCacheKey(identity: TokenCacheIdentity): string {
  const material = [identity.tenantUrl, identity.clientId, identity.audience ?? '', scopeKey(identity.scope)].join('|');
  return createHash('sha256').update(material).digest('hex');
}

/** `dir` is the tokens directory (Paths.tokenCacheDir). */
export function tokenCacheFile(dir: string, identity: TokenCacheIdentity): string {
  return join(dir, `${tokenCacheKey(identity)}.json`);
}

function deriveKey(clientSecret: string, salt: Buffer): Buffer {
  return Buffer.from(hkdfSync('sha256', Buffer.from(clientSecret, 'utf8'), salt, HKDF_INFO, 32));
}

/** Binds the ciphertext to the file's identity: edited metadata fails to decrypt. */
function additionalData(identity: TokenCacheIdentity): Buffer {
  return Buffer.from(`v${FORMAT_VERSION}|${tokenCacheKey(identity)}`, 'utf8');
}

/** How long before expiry a token stops being handed out: 60 s, less for short-lived tokens. */
export function refreshMarginMs(token: { expiresAt: number; obtainedAt?: number | undefined }): number {
  if (token.obtainedAt === undefined) return MAX_MARGIN_MS;
  return Math.min(MAX_MARGIN_MS, Math.max(0, (token.expiresAt - token.obtainedAt) / 4));
}

export interface CachedToken extends AccessToken {
  obtainedAt: number;
}

export function isFresh(token: CachedToken, now: number): boolean {
  return now < token.expiresAt - refreshMarginMs(token);
}

/** The cached token, or null when there is none, it is stale, or it cannot be decrypted. */
export async function readCachedToken(
  dir: string,
  identity: TokenCacheIdentity,
  clientSecret: string,
  now: number = Date.now(),
): Promise<CachedToken | null> {
  let text: string;
  try {
    text = await readFile(tokenCacheFile(dir, identity), 'utf8');
  } catch {
    return null;
  }
  try {
    const file = JSON.parse(text) as CacheFile;
    if (file.v !== FORMAT_VERSION) return null;
    const decipher = createDecipheriv(
      'aes-256-gcm',
      deriveKey(clientSecret, Buffer.from(file.salt, 'base64')),
      Buffer.from(file.iv, 'base64'),
    );
    decipher.setAAD(additionalData(identity));
    decipher.setAuthTag(Buffer.from(file.tag, 'base64'));
    const plain = Buffer.concat([decipher.update(Buffer.from(file.ciphertext, 'base64')), decipher.final()]);
    const payload = JSON.parse(plain.toString('utf8')) as CachePayload;
    if (typeof payload.access_token !== 'string' || typeof payload.expires_at !== 'number') return null;
    const token: CachedToken = {
      accessToken: payload.access_token,
      expiresAt: payload.expires_at,
      obtainedAt: typeof payload.obtained_at === 'number' ? payload.obtained_at : payload.expires_at,
      scope: Array.isArray(payload.scope) ? payload.scope.filter((s) => typeof s === 'string') : [],
    };
    return isFresh(token, now) ? token : null;
  } catch {
    // Corrupt, truncated, or written under another client secret: a miss.
    return null;
  }
}

export async function writeCachedToken(
  dir: string,
  identity: TokenCacheIdentity,
  clientSecret: string,
  token: CachedToken,
): Promise<void> {
  const salt = randomBytes(16);
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', deriveKey(clientSecret, salt), iv);
  cipher.setAAD(additionalData(identity));
  const payload: CachePayload = {
    access_token: token.accessToken,
    expires_at: token.expiresAt,
    obtained_at: token.obtainedAt,
    scope: token.scope,
  };
  const ciphertext = Buffer.concat([cipher.update(JSON.stringify(payload), 'utf8'), cipher.final()]);
  const file: CacheFile = {
    v: FORMAT_VERSION,
    tenant_url: identity.tenantUrl,
    client_id: identity.clientId,
    audience: identity.audience ?? null,
    scope: scopeKey(identity.scope),
    salt: salt.toString('base64'),
    iv: iv.toString('base64'),
    tag: cipher.getAuthTag().toString('base64'),
    ciphertext: ciphertext.toString('base64'),
  };
  await writePrivateFileAtomic(tokenCacheFile(dir, identity), `${JSON.stringify(file)}\n`);
}

export async function deleteCachedToken(dir: string, identity: TokenCacheIdentity): Promise<boolean> {
  const file = tokenCacheFile(dir, identity);
  try {
    await rm(file);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
}

/**
 * Removes cached tokens (for logout): all of them, or those of one tenant and/or client id
 * whatever their audience and scope. Unreadable files go too. Resolves the number removed.
 */
export async function clearTokenCache(
  dir: string,
  filter: { tenantUrl?: string | undefined; clientId?: string | undefined } = {},
): Promise<number> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw error;
  }
  let removed = 0;
  for (const name of names) {
    const isEntry = /^[0-9a-f]{64}\.json$/.test(name);
    const isLeftover = /^\..*\.tmp$/.test(name);
    if (!isEntry && !isLeftover) continue;
    const path = join(dir, name);
    if (isEntry && (filter.tenantUrl !== undefined || filter.clientId !== undefined)) {
      const meta = await readMetadata(path);
      if (meta) {
        if (filter.tenantUrl !== undefined && meta.tenant_url !== filter.tenantUrl) continue;
        if (filter.clientId !== undefined && meta.client_id !== filter.clientId) continue;
      }
    }
    await rm(path, { force: true });
    removed += isEntry ? 1 : 0;
  }
  return removed;
}

async function readMetadata(path: string): Promise<Pick<CacheFile, 'tenant_url' | 'client_id'> | null> {
  try {
    const parsed = JSON.parse(await readFile(path, 'utf8')) as Partial<CacheFile>;
    if (typeof parsed.tenant_url === 'string' && typeof parsed.client_id === 'string') {
      return { tenant_url: parsed.tenant_url, client_id: parsed.client_id };
    }
  } catch {
    // unreadable: treated as removable
  }
  return null;
}

export interface TokenProviderOptions {
  credentials: Credentials;
  /** Transport for the tenant's token endpoint (its base URL is the tenant). */
  http: Http;
  /** The tokens directory (Paths.tokenCacheDir); without it tokens live in memory only. */
  tokenCacheDir?: string | undefined;
  /** Scopes to ask for; by default the tenant grants the application's own. */
  scope?: readonly string[] | undefined;
  now?: () => number;
}

export interface TokenStatus {
  source: CredentialSource;
  /** Epoch ms; null for a bearer token given as is. */
  expiresAt: number | null;
  /** Granted scopes; null for a bearer token given as is. */
  scope: string[] | null;
  /** True when the token came from the on-disk cache rather than a fresh exchange. */
  fromCache: boolean;
}

/**
 * Hands out the access token for API calls: a bearer token given as is, or a
 * client-credentials token from the cache or a fresh exchange.
 */
export class TokenProvider implements AccessTokenProvider {
  readonly #credentials: Credentials;
  readonly #http: Http;
  readonly #dir: string | undefined;
  readonly #identity: TokenCacheIdentity | undefined;
  readonly #scope: readonly string[] | undefined;
  readonly #now: () => number;
  #current: CachedToken | undefined;
  #fromCache = false;
  #pending: Promise<CachedToken> | undefined;
  #clientSecret: string | undefined;

  constructor(options: TokenProviderOptions) {
    this.#credentials = options.credentials;
    this.#http = options.http;
    this.#dir = options.tokenCacheDir;
    this.#scope = options.scope;
    this.#now = options.now ?? Date.now;
    const { clientId, tenantUrl, audience } = options.credentials;
    this.#identity = clientId ? { tenantUrl, clientId, audience, scope: options.scope } : undefined;
  }

  get refreshable(): boolean {
    return this.#credentials.token === undefined;
  }

  get source(): CredentialSource {
    return this.#credentials.source;
  }

  async getToken(signal?: AbortSignal): Promise<string> {
    if (this.#credentials.token !== undefined) return this.#credentials.token;
    if (this.#current && isFresh(this.#current, this.#now())) return this.#current.accessToken;
    this.#pending ??= this.#obtain(signal).finally(() => {
      this.#pending = undefined;
    });
    return (await this.#pending).accessToken;
  }

  async invalidate(): Promise<void> {
    this.#current = undefined;
    this.#fromCache = false;
    if (this.#dir && this.#identity) await deleteCachedToken(this.#dir, this.#identity).catch(() => false);
  }

  /** For `auth status`: obtains a token if needed, then reports what is known about it. */
  async status(): Promise<TokenStatus> {
    if (this.#credentials.token !== undefined) {
      return { source: this.#credentials.source, expiresAt: null, scope: null, fromCache: false };
    }
    await this.getToken();
    const token = this.#current!;
    return { source: this.#credentials.source, expiresAt: token.expiresAt, scope: [...token.scope], fromCache: this.#fromCache };
  }

  async #obtain(signal: AbortSignal | undefined): Promise<CachedToken> {
    const identity = this.#identity;
    const getSecret = this.#credentials.getClientSecret;
    if (!identity || !getSecret) {
      throw new AuthError('no client credentials to obtain an access token with');
    }
    this.#clientSecret ??= await getSecret();
    const secret = this.#clientSecret;
    if (this.#dir) {
      const cached = await readCachedToken(this.#dir, identity, secret, this.#now());
      if (cached) {
        this.#current = cached;
        this.#fromCache = true;
        return cached;
      }
    }
    const obtainedAt = this.#now();
    const fresh = await requestClientCredentialsToken(this.#http, {
      clientId: identity.clientId,
      clientSecret: secret,
      audience: identity.audience,
      scope: this.#scope,
      now: this.#now,
      ...(signal ? { signal } : {}),
    });
    const token: CachedToken = { ...fresh, obtainedAt };
    this.#current = token;
    this.#fromCache = false;
    if (this.#dir) {
      // The cache only saves a round trip; a read-only or full disk must not fail the command.
      await writeCachedToken(this.#dir, identity, secret, token).catch(() => undefined);
    }
    return token;
  }
}
