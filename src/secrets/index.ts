// Entry point for the secret stores: pick one by kind, plus the helpers for secret files.

import type { SecretStore, SecretStoreKind } from './store.ts';
import { EnvSecretStore } from './env-store.ts';
import { FileSecretStore } from './file-store.ts';
import { KeychainStore } from './keychain.ts';
import { MemorySecretStore, type MemorySecretStoreOptions } from './memory-store.ts';

export interface CreateSecretStoreOptions {
  /** Keychain: bound for each call (default 5000 ms). */
  timeoutMs?: number;
  /** File store: its directory (default $XDG_DATA_HOME/intelliauth-webhooks/secrets). */
  fileDir?: string;
  /** Env store: the environment to read (default process.env). */
  env?: NodeJS.ProcessEnv;
  memory?: MemorySecretStoreOptions;
}

export function createSecretStore(kind: SecretStoreKind, options: CreateSecretStoreOptions = {}): SecretStore {
  switch (kind) {
    case 'keychain':
      return new KeychainStore(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs });
    case 'file':
      return new FileSecretStore(options.fileDir);
    case 'env':
      return new EnvSecretStore(options.env === undefined ? {} : { env: options.env });
    case 'memory':
      return new MemorySecretStore(options.memory);
  }
}

export { KEYCHAIN_SERVICE, secretAccounts } from './store.ts';
export type { SecretStore, SecretStoreKind } from './store.ts';
export { DEFAULT_KEYCHAIN_TIMEOUT_MS, KeychainStore, type KeychainStoreOptions } from './keychain.ts';
export { defaultSecretsDir, FileSecretStore } from './file-store.ts';
export { EnvSecretStore, SECRET_ENV_VARS, type EnvSecretStoreOptions } from './env-store.ts';
export { MemorySecretStore, type MemorySecretStoreOptions } from './memory-store.ts';
export { checkSecretFileWritable, readSecretFile, writeNewSecretFile } from './secret-file.ts';
export { writeFallbackSecret, type FallbackOptions } from './fallback.ts';
