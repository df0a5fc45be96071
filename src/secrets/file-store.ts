// A secret store made of plain files, for machines without a usable OS keychain.
//
// Layout: one file per account in a 0700 directory, each file 0600 and holding exactly the
// secret (no newline). Writes go to a temporary file that is fsynced and renamed over the
// target, then the directory is fsynced, so a crash leaves the old or the new secret, never
// a torn one.
//
// Permissions policy: the store fixes its own directory (chmod 0700) when it finds it looser,
// because that only exposes account names. It refuses to read a secret file that other users
// could read or that another user owns, and says how to fix it, because such a secret may
// already have been copied; silently tightening it would hide that.

import { createHash, randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { chmod, mkdir, open, rename, stat, unlink } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { dataDir, type Env } from '../config/paths.ts';
import { SecretStoreError } from '../errors.ts';
import type { SecretStore, SecretStoreKind } from './store.ts';
import {
  createExclusiveFile,
  describeFsError,
  errorCode,
  fsyncDirectory,
  SECRET_DIR_MODE,
  SECRET_FILE_MODE,
} from './secret-file.ts';

export function defaultSecretsDir(env: Env = process.env): string {
  return join(dataDir(env), 'secrets');
}

/**
 * A file name that is safe for any account string: a readable prefix for people looking at
 * the directory, plus a hash of the exact account so distinct accounts never collide (also
 * on case-insensitive file systems) and names stay short.
 */
export function secretFileName(account: string): string {
  const readable = account
    .replace(/[^A-Za-z0-9._-]+/g, '_')
    .replace(/^[._-]+/, '')
    .slice(0, 80);
  const digest = createHash('sha256').update(account, 'utf8').digest('hex').slice(0, 16);
  return `${readable === '' ? 'secret' : readable}.${digest}.secret`;
}

export class FileSecretStore implements SecretStore {
  readonly kind: SecretStoreKind = 'file';
  readonly dir: string;

  constructor(dir: string = defaultSecretsDir()) {
    this.dir = resolve(dir);
  }

  describe(): string {
    return `file store ${this.dir}`;
  }

  pathFor(account: string): string {
    if (account === '') throw new SecretStoreError('a secret account name must not be empty');
    return join(this.dir, secretFileName(account));
  }

  async probe(): Promise<void> {
    const account = `probe/${randomBytes(6).toString('hex')}`;
    const value = randomBytes(16).toString('hex');
    await this.set(account, value);
    try {
      const readBack = await this.get(account);
      if (readBack !== value) {
        throw new SecretStoreError(`the file store ${this.dir} did not return what was written to it`);
      }
    } finally {
      await this.delete(account);
    }
  }

  async get(account: string): Promise<string | null> {
    const path = this.pathFor(account);
    let handle;
    try {
      // O_NOFOLLOW: a symlink planted in place of a secret file is an error, not a redirect.
      handle = await open(path, constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0));
    } catch (error) {
      if (errorCode(error) === 'ENOENT') return null;
      if (errorCode(error) === 'ELOOP') {
        throw new SecretStoreError(`refusing to read the secret file ${path}: it is a symbolic link`);
      }
      throw new SecretStoreError(`cannot read the secret file ${path}: ${describeFsError(error)}`, { cause: error });
    }
    try {
      const stats = await handle.stat();
      if (!stats.isFile()) throw new SecretStoreError(`refusing to read ${path}: it is not a regular file`);
      assertPrivate(path, stats);
      return await handle.readFile('utf8');
    } catch (error) {
      if (error instanceof SecretStoreError) throw error;
      throw new SecretStoreError(`cannot read the secret file ${path}: ${describeFsError(error)}`, { cause: error });
    } finally {
      await handle.close();
    }
  }

  async set(account: string, secret: string): Promise<void> {
    const path = this.pathFor(account);
    await this.ensureDirectory();
    const temporary = join(this.dir, `.tmp-${randomBytes(8).toString('hex')}`);
    try {
      await createExclusiveFile(temporary, secret, { syncDirectory: false });
      await rename(temporary, path);
      await fsyncDirectory(this.dir);
    } catch (error) {
      await unlink(temporary).catch(() => undefined);
      throw new SecretStoreError(`cannot store the secret in ${this.dir}: ${describeFsError(error)}`, { cause: error });
    }
  }

  async delete(account: string): Promise<boolean> {
    const path = this.pathFor(account);
    try {
      await unlink(path);
    } catch (error) {
      if (errorCode(error) === 'ENOENT') return false;
      throw new SecretStoreError(`cannot delete the secret file ${path}: ${describeFsError(error)}`, { cause: error });
    }
    await fsyncDirectory(this.dir).catch(() => undefined);
    return true;
  }

  private async ensureDirectory(): Promise<void> {
    try {
      await mkdir(this.dir, { recursive: true, mode: SECRET_DIR_MODE });
      const stats = await stat(this.dir);
      if (!stats.isDirectory()) throw new SecretStoreError(`the file store path ${this.dir} is not a directory`);
      if (process.platform === 'win32') return;
      if (process.getuid !== undefined && stats.uid !== process.getuid()) {
        throw new SecretStoreError(`refusing to use the file store ${this.dir}: it is owned by another user`);
      }
      if ((stats.mode & 0o077) !== 0) await chmod(this.dir, SECRET_DIR_MODE);
    } catch (error) {
      if (error instanceof SecretStoreError) throw error;
      throw new SecretStoreError(`cannot prepare the file store ${this.dir}: ${describeFsError(error)}`, {
        cause: error,
      });
    }
  }
}

function assertPrivate(path: string, stats: { mode: number; uid: number }): void {
  if (process.platform === 'win32') return;
  if (process.getuid !== undefined && stats.uid !== process.getuid()) {
    throw new SecretStoreError(`refusing to read the secret file ${path}: it is owned by another user`);
  }
  if ((stats.mode & 0o077) !== 0) {
    const mode = (stats.mode & 0o777).toString(8).padStart(4, '0');
    throw new SecretStoreError(`refusing to read the secret file ${path}: other users can access it (mode ${mode})`, {
      hint: `run: chmod ${SECRET_FILE_MODE.toString(8)} '${path}' - and consider rotating the secret, since it may have been read`,
    });
  }
}
