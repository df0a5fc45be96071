import { open, readFile, rm, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Context } from '../cli/context.ts';
import { NotFoundError, SecretFallbackError, SecretStoreError, UsageError } from '../errors.ts';
import { secretFingerprint } from '../domain/signature.ts';
import { ensurePrivateDir, writePrivateFileAtomic } from '../config/atomic-file.ts';
import { secretAccounts } from './store.ts';
import { checkSecretFileWritable, describeFsError, errorCode, readSecretFile, stripLineEnd, writeNewSecretFile } from './secret-file.ts';
import { writeFallbackSecret } from './fallback.ts';

// Where each subscription's signing secret lives. The platform shows a secret once, so the
// tool records (in a small index without any secret in it) which store holds it, and
// remembers the previous secret of a rotation until its grace period ends.

export type SecretDestination = { kind: 'keychain' } | { kind: 'file'; path: string } | { kind: 'stdout' };

export interface SecretLocation {
  /** external: handed to stdout, so only the user's secret manager holds it. */
  store: 'keychain' | 'file' | 'external';
  /** For file locations. */
  path?: string;
  fingerprint: string;
  /** True when the secret landed in a fallback file because the asked-for store failed. */
  fallback?: boolean;
}

export interface IndexEntry extends SecretLocation {
  stored_at: string;
  previous?: SecretLocation & { expires_at: string | null };
}

interface IndexFile {
  version: 1;
  entries: Record<string, IndexEntry>;
}

export interface StoredSigningSecrets {
  current: string;
  previous: string | null;
  previousExpiresAt: string | null;
  /** A description of where the current secret is, for messages. */
  location: string;
  fingerprint: string;
}

function indexPath(context: Context): string {
  return join(context.paths.dataDir, 'signing-secrets.json');
}

async function readIndex(context: Context): Promise<IndexFile> {
  let text: string;
  try {
    text = await readFile(indexPath(context), 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { version: 1, entries: {} };
    throw error;
  }
  try {
    const parsed = JSON.parse(text) as IndexFile;
    if (parsed && typeof parsed === 'object' && parsed.entries && typeof parsed.entries === 'object') return parsed;
  } catch {
    // fall through
  }
  throw new UsageError(`${indexPath(context)} is not a valid secret index`, { hint: 'move it aside; stored secrets themselves are untouched' });
}

async function updateIndex(context: Context, key: string, entry: IndexEntry | null): Promise<void> {
  await withIndexLock(indexPath(context), async () => {
    const index = await readIndex(context);
    if (entry === null) delete index.entries[key];
    else index.entries[key] = entry;
    await writePrivateFileAtomic(indexPath(context), `${JSON.stringify(index, null, 2)}\n`);
  });
}

const INDEX_LOCK_WAIT_MS = 5_000;

/**
 * Runs fn while holding `<index>.lock`, so runs in parallel (a script creating several
 * subscriptions at once) do not overwrite each other's entries. The lock holds the owner's
 * pid; a lock whose owner is gone is taken over.
 */
async function withIndexLock<T>(file: string, fn: () => Promise<T>): Promise<T> {
  const lock = `${file}.lock`;
  await ensurePrivateDir(dirname(lock));
  const deadline = Date.now() + INDEX_LOCK_WAIT_MS;
  for (;;) {
    try {
      const handle = await open(lock, 'wx', 0o600);
      try {
        await handle.writeFile(String(process.pid), 'utf8');
      } finally {
        await handle.close();
      }
      break;
    } catch (error) {
      if (errorCode(error) !== 'EEXIST') throw error;
      const state = await lockState(lock);
      if (state === 'released') continue;
      if (state === 'abandoned') {
        await rm(lock, { force: true });
        continue;
      }
      if (Date.now() > deadline) throw new Error(`${lock} is held by another run of the tool (remove it if none is running)`);
      await sleep(20);
    }
  }
  try {
    return await fn();
  } finally {
    await rm(lock, { force: true });
  }
}

/** held: wait; released: gone meanwhile, try again; abandoned: its owner ended without removing it. */
async function lockState(lock: string): Promise<'held' | 'released' | 'abandoned'> {
  let owner: number;
  let modifiedAt: number;
  try {
    owner = Number((await readFile(lock, 'utf8')).trim());
    modifiedAt = (await stat(lock)).mtimeMs;
  } catch (error) {
    if (errorCode(error) === 'ENOENT') return 'released';
    throw error;
  }
  // No pid yet: being written right now, unless its owner died in between long ago.
  if (!Number.isInteger(owner) || owner <= 0) return Date.now() - modifiedAt > INDEX_LOCK_WAIT_MS ? 'abandoned' : 'held';
  try {
    process.kill(owner, 0);
    return 'held';
  } catch (error) {
    return errorCode(error) === 'ESRCH' ? 'abandoned' : 'held';
  }
}

export async function tenantHost(context: Context): Promise<string> {
  const credentials = await context.credentials();
  return new URL(credentials.tenantUrl).host;
}

export function describeLocation(location: SecretLocation): string {
  if (location.store === 'keychain') return 'the OS keychain';
  if (location.store === 'external') return 'stdout (not stored locally)';
  return `${location.fallback ? 'fallback file' : 'file'} ${location.path}`;
}

export async function indexEntry(context: Context, subscriptionId: string): Promise<IndexEntry | null> {
  const host = await tenantHost(context);
  const index = await readIndex(context);
  return index.entries[secretAccounts.signingSecret(host, subscriptionId)] ?? null;
}

/**
 * Checks, before anything is created or rotated, that the destination can take a secret;
 * otherwise throws a one-line error naming a destination that would work.
 */
export async function preflightDestination(context: Context, destination: SecretDestination, allowTerminal: boolean): Promise<void> {
  switch (destination.kind) {
    case 'keychain': {
      const store = await context.secretStore();
      try {
        await store.probe();
      } catch (error) {
        const reason = error instanceof Error ? error.message : String(error);
        throw new SecretStoreError(`the OS keychain cannot store the secret: ${reason}; nothing was changed`, {
          hint: 'use --secret-store file --secret-file PATH (a new 0600 file), or --secret-store stdout piped into your secret manager',
        });
      }
      return;
    }
    case 'file':
      try {
        await checkSecretFileWritable(destination.path);
      } catch (error) {
        const reason = error instanceof Error ? error.message : String(error);
        throw new SecretStoreError(`cannot write the secret to ${destination.path}: ${reason}; nothing was changed`, {
          hint: 'name a new file in a writable directory with --secret-file, or use --secret-store keychain',
        });
      }
      return;
    case 'stdout':
      if (context.io.stdoutIsTTY && !allowTerminal) {
        throw new UsageError('--secret-store stdout would print the secret on your terminal; nothing was changed', {
          hint: 'pipe stdout into your secret manager, or pass --yes to print it here anyway',
        });
      }
      return;
  }
}

export interface HandOffInput {
  subscriptionId: string;
  secret: string;
  destination: SecretDestination;
  /** For a rotation: keep the secret being replaced until this time (null: forget it now). */
  rotation?: { previousExpiresAt: string | null };
}

export interface HandOffResult {
  location: SecretLocation;
  description: string;
}

/**
 * Puts a secret the platform has just shown (once) where the user asked. If that fails,
 * the secret goes to a private fallback file and SecretFallbackError (exit 6) is thrown:
 * it is never lost and never printed.
 */
export async function handOffSecret(context: Context, input: HandOffInput): Promise<HandOffResult> {
  return context.uninterruptible(async () => {
    const host = await tenantHost(context);
    const key = secretAccounts.signingSecret(host, input.subscriptionId);
    const fingerprint = secretFingerprint(input.secret);
    const before = input.rotation ? await readCurrentForRotation(context, key) : null;
    let location: SecretLocation;
    try {
      location = await writeToDestination(context, key, input.secret, input.destination, fingerprint);
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      const fallbackPath = await writeFallbackSecret(context.paths.dataDir, input.subscriptionId, input.secret);
      const fallback: SecretLocation = { store: 'file', path: fallbackPath, fingerprint, fallback: true };
      await recordSafely(context, key, { ...fallback, stored_at: new Date(context.now()).toISOString() });
      throw new SecretFallbackError(`storing the signing secret failed (${reason}); it was saved to ${fallbackPath} (mode 0600)`, fallbackPath, {
        hint: `move it into your secret store, e.g. \`intelliauth-webhooks secret import ${input.subscriptionId} < ${fallbackPath}\`, then delete the file`,
      });
    }
    const entry: IndexEntry = { ...location, stored_at: new Date(context.now()).toISOString() };
    if (input.rotation && before && input.rotation.previousExpiresAt !== null) {
      // The new secret is stored already: failing to keep the old one must not lose its index entry.
      try {
        entry.previous = await keepPrevious(context, host, input.subscriptionId, before, input.rotation.previousExpiresAt);
      } catch (error) {
        context.io.warn(
          `could not keep the previous secret until its grace ends (${error instanceof Error ? error.message : String(error)}); only the new one is stored`,
        );
      }
    } else if (input.rotation) {
      await forgetPrevious(context, host, input.subscriptionId);
    }
    await recordSafely(context, key, entry);
    return { location, description: describeLocation(location) };
  });
}

async function writeToDestination(
  context: Context,
  key: string,
  secret: string,
  destination: SecretDestination,
  fingerprint: string,
): Promise<SecretLocation> {
  switch (destination.kind) {
    case 'keychain': {
      const store = await context.secretStore();
      await store.set(key, secret);
      const readBack = await store.get(key);
      if (readBack !== secret) throw new SecretStoreError('the keychain did not return the secret just stored');
      return { store: 'keychain', fingerprint };
    }
    case 'file': {
      // Absolute in the index: commands run later from another directory must find it.
      const path = resolve(destination.path);
      await writeNewSecretFile(path, secret);
      return { store: 'file', path, fingerprint };
    }
    case 'stdout':
      await writeSecretToStdout(context.io.stdout, `${secret}\n`);
      return { store: 'external', fingerprint };
  }
}

/**
 * Writes the secret to stdout and waits a turn of the event loop for a write error. Node
 * writes to pipes, files and terminals synchronously on POSIX and reports a failure (a
 * reader that went away: EPIPE) as an 'error' event on the next tick; caught here, it sends
 * the secret to the fallback file instead of crashing the process and losing it.
 */
async function writeSecretToStdout(stream: Context['io']['stdout'], text: string): Promise<void> {
  const emitter = stream as Partial<Pick<NodeJS.EventEmitter, 'on' | 'off'>>;
  let failure: unknown;
  const onError = (error: unknown) => {
    failure ??= error;
  };
  emitter.on?.('error', onError);
  try {
    stream.write(text);
    await new Promise<void>((resolve) => setImmediate(resolve));
  } catch (error) {
    failure ??= error;
  }
  if (failure === undefined) {
    emitter.off?.('error', onError);
    return;
  }
  // Left in place: once stdout is broken, later writes fail too and must not crash the process.
  const reason = errorCode(failure) === 'EPIPE' ? 'the reading end of the pipe closed (EPIPE)' : describeFsError(failure);
  throw new SecretStoreError(`writing it to stdout failed: ${reason}`);
}

/** The index is a convenience; failing to update it must not turn a stored secret into an error. */
async function recordSafely(context: Context, key: string, entry: IndexEntry | null): Promise<void> {
  try {
    await updateIndex(context, key, entry);
  } catch (error) {
    context.io.warn(`could not update the secret index (${error instanceof Error ? error.message : String(error)})`);
  }
}

interface CurrentSecret {
  secret: string;
  location: SecretLocation;
}

async function readCurrentForRotation(context: Context, key: string): Promise<CurrentSecret | null> {
  const index = await readIndex(context).catch(() => null);
  const entry = index?.entries[key];
  try {
    if (entry?.store === 'file' && entry.path) return { secret: await readSecretFile(entry.path), location: entry };
    if (entry?.store === 'external') return null;
    const store = await context.secretStore();
    const secret = await store.get(key);
    return secret === null ? null : { secret, location: { store: 'keychain', fingerprint: secretFingerprint(secret) } };
  } catch {
    return null;
  }
}

async function keepPrevious(
  context: Context,
  host: string,
  subscriptionId: string,
  before: CurrentSecret,
  expiresAt: string,
): Promise<IndexEntry['previous']> {
  if (before.location.store === 'file') {
    // Only the location: an older rotation's `previous` must not nest ever deeper in the index.
    const { previous: _older, stored_at: _storedAt, ...location } = before.location as Partial<IndexEntry> & SecretLocation;
    return { ...location, expires_at: expiresAt };
  }
  const store = await context.secretStore();
  await store.set(secretAccounts.previousSigningSecret(host, subscriptionId), before.secret);
  return { store: 'keychain', fingerprint: before.location.fingerprint, expires_at: expiresAt };
}

async function forgetPrevious(context: Context, host: string, subscriptionId: string): Promise<void> {
  try {
    const store = await context.secretStore();
    await store.delete(secretAccounts.previousSigningSecret(host, subscriptionId));
  } catch {
    // nothing stored, or the keychain is unusable: either way there is nothing to keep
  }
}

/** The stored secrets of a subscription, dropping a previous secret whose grace has ended. */
export async function readSigningSecrets(context: Context, subscriptionId: string): Promise<StoredSigningSecrets> {
  const host = await tenantHost(context);
  const key = secretAccounts.signingSecret(host, subscriptionId);
  const index = await readIndex(context);
  const entry = index.entries[key];
  let current: string | null;
  let location: string;
  if (entry?.store === 'external') {
    throw new NotFoundError(`the signing secret of ${subscriptionId} was handed to stdout and is not stored locally`, {
      hint: `import it with \`intelliauth-webhooks secret import ${subscriptionId}\` (reads stdin), or set INTELLIAUTH_WEBHOOK_SECRET`,
    });
  }
  if (entry?.store === 'file' && entry.path) {
    current = await readSecretFile(entry.path);
    location = describeLocation(entry);
  } else {
    const store = await context.secretStore();
    current = await store.get(key);
    location = 'the OS keychain';
  }
  if (current === null) {
    throw new NotFoundError(`no signing secret is stored for ${subscriptionId} on ${host}`, {
      hint: `import it with \`intelliauth-webhooks secret import ${subscriptionId}\` (reads stdin), or rotate it to get a new one`,
    });
  }
  let previous: string | null = null;
  let previousExpiresAt: string | null = null;
  if (entry?.previous) {
    const expiresAt = entry.previous.expires_at;
    if (expiresAt !== null && Date.parse(expiresAt) > context.now()) {
      previous = await readPrevious(context, host, subscriptionId, entry.previous);
      previousExpiresAt = expiresAt;
    } else {
      await forgetPrevious(context, host, subscriptionId);
      if (entry.previous.store === 'file' && entry.previous.path) {
        const removed = await removeSecretFile(entry.previous.path, entry.previous.fingerprint);
        if (removed !== null) context.io.debug(`the grace of the previous secret of ${subscriptionId} has ended: removed ${removed}`);
      }
      const { previous: _expired, ...rest } = entry;
      await recordSafely(context, key, rest);
    }
  }
  return { current, previous, previousExpiresAt, location, fingerprint: secretFingerprint(current) };
}

async function readPrevious(context: Context, host: string, subscriptionId: string, location: SecretLocation): Promise<string | null> {
  try {
    if (location.store === 'file' && location.path) return await readSecretFile(location.path);
    const store = await context.secretStore();
    return await store.get(secretAccounts.previousSigningSecret(host, subscriptionId));
  } catch {
    return null;
  }
}

/** Removes every locally stored secret of a subscription (current and previous) and its index entry. */
export async function forgetSigningSecrets(context: Context, subscriptionId: string): Promise<string[]> {
  const host = await tenantHost(context);
  const key = secretAccounts.signingSecret(host, subscriptionId);
  const removed: string[] = [];
  const entry = (await readIndex(context)).entries[key];
  const store = await context.secretStore();
  for (const account of [key, secretAccounts.previousSigningSecret(host, subscriptionId)]) {
    try {
      if (await store.delete(account)) removed.push('the OS keychain');
    } catch {
      // an unusable keychain holds nothing we could remove
    }
  }
  for (const location of [entry, entry?.previous]) {
    if (location?.store === 'file' && location.path) {
      const outcome = await removeSecretFile(location.path, location.fingerprint);
      if (outcome !== null) removed.push(outcome);
    }
  }
  if (entry) await updateIndex(context, key, null);
  return [...new Set(removed)];
}

/**
 * Deletes a file this tool wrote a secret to, unless it no longer holds that secret (the
 * user may have reused the path); says what happened, or null when it is gone already.
 */
async function removeSecretFile(path: string, fingerprint: string): Promise<string | null> {
  let held: string;
  try {
    held = stripLineEnd(await readFile(path, 'utf8'));
  } catch (error) {
    if (errorCode(error) === 'ENOENT') return null;
    return `file ${path} (left in place: ${describeFsError(error)})`;
  }
  if (secretFingerprint(held) !== fingerprint) return `file ${path} (left in place: it no longer holds this secret)`;
  try {
    await rm(path);
    return `file ${path}`;
  } catch (error) {
    if (errorCode(error) === 'ENOENT') return null;
    return `file ${path} (left in place: ${describeFsError(error)})`;
  }
}

/** Stores a secret put in place by hand (`secret import`) in the keychain or a new file, and records where. */
export async function importSigningSecret(
  context: Context,
  subscriptionId: string,
  secret: string,
  destination: Extract<SecretDestination, { kind: 'keychain' | 'file' }> = { kind: 'keychain' },
): Promise<SecretLocation> {
  const host = await tenantHost(context);
  const key = secretAccounts.signingSecret(host, subscriptionId);
  const location = await writeToDestination(context, key, secret, destination, secretFingerprint(secret));
  await updateIndex(context, key, { ...location, stored_at: new Date(context.now()).toISOString() });
  return location;
}

