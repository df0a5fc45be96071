// Last resort for a signing secret the API has already handed out (it is shown only once)
// when the store the user asked for failed: put it in a private file, somewhere, anywhere.
// Tries the data directory first, then a fresh private directory under the OS temp dir.

import { chmod, mkdir, mkdtemp, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { SecretStoreError } from '../errors.ts';
import { APP_DIR_NAME } from '../config/paths.ts';
import { createExclusiveFile, describeFsError, SECRET_DIR_MODE } from './secret-file.ts';

export interface FallbackOptions {
  /** Where the second attempt goes; defaults to os.tmpdir(). */
  tmpDir?: string;
  now?: () => Date;
}

const MAX_NAME_ATTEMPTS = 100;

/**
 * Writes `secret` to a new 0600 file in `<appDataDir>/fallback/` (0700),
 * or, if that is impossible, in a new 0700 directory under the temp dir. Never overwrites.
 * Resolves the file's path; throws SecretStoreError only when no location was writable.
 */
export async function writeFallbackSecret(
  appDataDir: string,
  subscriptionId: string,
  secret: string,
  options: FallbackOptions = {},
): Promise<string> {
  const baseName = `${safeName(subscriptionId)}-${timestamp((options.now ?? (() => new Date()))())}`;
  const failures: string[] = [];

  const primary = join(resolve(appDataDir), 'fallback');
  try {
    await preparePrivateDirectory(primary);
    return await writeUnique(primary, baseName, secret);
  } catch (error) {
    failures.push(`${primary}: ${reason(error)}`);
  }

  const temporaryRoot = options.tmpDir ?? tmpdir();
  try {
    // mkdtemp creates a fresh 0700 directory, so nobody can have planted anything in it.
    const directory = await mkdtemp(join(temporaryRoot, `${APP_DIR_NAME}-fallback-`));
    return await writeUnique(directory, baseName, secret);
  } catch (error) {
    failures.push(`${temporaryRoot}: ${reason(error)}`);
  }

  throw new SecretStoreError(`could not write the secret to any fallback file (${failures.join('; ')})`);
}

async function preparePrivateDirectory(directory: string): Promise<void> {
  await mkdir(directory, { recursive: true, mode: SECRET_DIR_MODE });
  const stats = await stat(directory);
  if (!stats.isDirectory()) throw new SecretStoreError('not a directory');
  if (process.platform === 'win32') return;
  if (process.getuid !== undefined && stats.uid !== process.getuid()) {
    throw new SecretStoreError('owned by another user');
  }
  if ((stats.mode & 0o077) !== 0) await chmod(directory, SECRET_DIR_MODE);
}

async function writeUnique(directory: string, baseName: string, secret: string): Promise<string> {
  for (let attempt = 1; attempt <= MAX_NAME_ATTEMPTS; attempt += 1) {
    const suffix = attempt === 1 ? '' : `-${attempt}`;
    const path = join(directory, `${baseName}${suffix}.secret`);
    if ((await createExclusiveFile(path, `${secret}\n`)) === 'created') return path;
  }
  throw new SecretStoreError(`${MAX_NAME_ATTEMPTS} files named ${baseName}* already exist`);
}

function safeName(subscriptionId: string): string {
  const cleaned = subscriptionId
    .replace(/[^A-Za-z0-9_-]+/g, '_')
    .replace(/^[_-]+/, '')
    .slice(0, 100);
  return cleaned === '' ? 'subscription' : cleaned;
}

/** 2026-01-31T12-00-00-123Z: sortable, and free of characters some file systems refuse. */
function timestamp(date: Date): string {
  return date.toISOString().replace(/[:.]/g, '-');
}

function reason(error: unknown): string {
  return error instanceof SecretStoreError ? error.message : describeFsError(error);
}
