// Writing a secret to a file the user named (`--secret-file`), and the small file-system
// primitives the file store and the fallback share. New secret files are always created
// with O_CREAT|O_EXCL and mode 0600, so an existing file (or a planted symlink) is never
// followed or overwritten.

import { constants } from 'node:fs';
import { access, lstat, open, readFile, stat, unlink } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { SecretStoreError } from '../errors.ts';

export const SECRET_FILE_MODE = 0o600;
export const SECRET_DIR_MODE = 0o700;

/** Creates `path` with mode 0600 and `secret + "\n"` in it; refuses when anything exists there. */
export async function writeNewSecretFile(path: string, secret: string): Promise<void> {
  const target = resolve(path);
  const outcome = await createExclusiveFile(target, `${secret}\n`);
  if (outcome === 'exists') {
    throw new SecretStoreError(`refusing to overwrite existing file ${target}`, {
      hint: 'choose a path that does not exist yet; the secret is never written over another file',
    });
  }
}

/**
 * Checks, before anything irreversible happens (such as asking the API for a secret that is
 * shown only once), that writeNewSecretFile(path) is going to succeed.
 */
export async function checkSecretFileWritable(path: string): Promise<void> {
  const target = resolve(path);
  const directory = dirname(target);
  if (await pathExists(target, `cannot write the secret file ${target}`)) {
    throw new SecretStoreError(`refusing to overwrite existing file ${target}`, {
      hint: 'choose a path that does not exist yet; the secret is never written over another file',
    });
  }
  let directoryStats;
  try {
    directoryStats = await stat(directory);
  } catch (error) {
    if (errorCode(error) === 'ENOENT') {
      throw new SecretStoreError(`cannot write the secret file ${target}: directory ${directory} does not exist`);
    }
    if (errorCode(error) === 'ENOTDIR') {
      throw new SecretStoreError(`cannot write the secret file ${target}: a parent of it is not a directory`);
    }
    throw new SecretStoreError(`cannot write the secret file ${target}: ${describeFsError(error)}`, { cause: error });
  }
  if (!directoryStats.isDirectory()) {
    throw new SecretStoreError(`cannot write the secret file ${target}: ${directory} is not a directory`);
  }
  try {
    await access(directory, constants.W_OK | constants.X_OK);
  } catch (error) {
    const reason = errorCode(error) === 'EROFS' ? 'is on a read-only file system' : 'is not writable';
    throw new SecretStoreError(`cannot write the secret file ${target}: directory ${directory} ${reason}`, {
      cause: error,
    });
  }
}

/** Reads a secret file written by writeNewSecretFile (or by hand): one line, trailing newline dropped. */
export async function readSecretFile(path: string): Promise<string> {
  const target = resolve(path);
  let text: string;
  try {
    text = await readFile(target, 'utf8');
  } catch (error) {
    if (errorCode(error) === 'ENOENT') throw new SecretStoreError(`secret file ${target} does not exist`);
    throw new SecretStoreError(`cannot read the secret file ${target}: ${describeFsError(error)}`, { cause: error });
  }
  const secret = stripLineEnd(text);
  if (secret === '') throw new SecretStoreError(`secret file ${target} is empty`);
  return secret;
}

/** lstat-based: a dangling symlink counts as existing, as it would for O_EXCL. */
async function pathExists(path: string, failurePrefix: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch (error) {
    if (errorCode(error) === 'ENOENT') return false;
    if (errorCode(error) === 'ENOTDIR') throw new SecretStoreError(`${failurePrefix}: a parent of it is not a directory`);
    throw new SecretStoreError(`${failurePrefix}: ${describeFsError(error)}`, { cause: error });
  }
}

export function stripLineEnd(text: string): string {
  return text.replace(/\r?\n$/, '');
}

/**
 * Creates a new file with mode 0600, writes `content`, fsyncs it and its directory.
 * Resolves 'exists' (touching nothing) when the name is taken. A half-written file is removed.
 * Skip the directory fsync when the caller renames the file and syncs afterwards anyway.
 */
export async function createExclusiveFile(
  path: string,
  content: string,
  options: { syncDirectory?: boolean } = {},
): Promise<'created' | 'exists'> {
  let handle;
  try {
    handle = await open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, SECRET_FILE_MODE);
  } catch (error) {
    if (errorCode(error) === 'EEXIST') return 'exists';
    throw error;
  }
  try {
    // The umask can only remove bits; this makes the mode exact even under odd umasks.
    await handle.chmod(SECRET_FILE_MODE);
    await handle.writeFile(content, 'utf8');
    await handle.sync();
    await handle.close();
  } catch (error) {
    await handle.close().catch(() => undefined);
    await unlink(path).catch(() => undefined);
    throw error;
  }
  if (options.syncDirectory ?? true) await fsyncDirectory(dirname(path));
  return 'created';
}

/** Makes a rename or a new directory entry durable. Not possible on Windows, and a no-op there. */
export async function fsyncDirectory(directory: string): Promise<void> {
  if (process.platform === 'win32') return;
  const handle = await open(directory, constants.O_RDONLY);
  try {
    await handle.sync();
  } catch (error) {
    // Some file systems (certain FUSE and network mounts) cannot fsync a directory.
    if (errorCode(error) !== 'EINVAL' && errorCode(error) !== 'ENOTSUP') throw error;
  } finally {
    await handle.close();
  }
}

export function errorCode(error: unknown): string | undefined {
  if (typeof error === 'object' && error !== null && 'code' in error) {
    const code = (error as { code: unknown }).code;
    return typeof code === 'string' ? code : undefined;
  }
  return undefined;
}

/** "permission denied (EACCES)"-style text without the path Node puts in its messages. */
export function describeFsError(error: unknown): string {
  const code = errorCode(error);
  const known: Record<string, string> = {
    EACCES: 'permission denied',
    EPERM: 'operation not permitted',
    EROFS: 'read-only file system',
    ENOSPC: 'no space left on device',
    EDQUOT: 'disk quota exceeded',
    ENOENT: 'no such file or directory',
    ENOTDIR: 'a parent is not a directory',
    EISDIR: 'is a directory',
    EEXIST: 'already exists',
    ELOOP: 'is a symbolic link',
    EIO: 'input/output error',
  };
  if (code !== undefined) return `${known[code] ?? 'file system error'} (${code})`;
  return error instanceof Error ? error.message : String(error);
}
