// Read-only store over environment variables, for receivers and CI jobs that are handed
// their secrets in the environment. It cannot hold anything new, so probe/set/delete refuse.

import { SecretStoreError } from '../errors.ts';
import type { SecretStore, SecretStoreKind } from './store.ts';

export const SECRET_ENV_VARS = {
  signingSecret: 'INTELLIAUTH_WEBHOOK_SECRET',
  clientSecret: 'INTELLIAUTH_M2M_CLIENT_SECRET',
} as const;

export type SecretAccountKind = 'signingSecret' | 'previousSigningSecret' | 'clientSecret' | 'tokenCache';

/** Reads an account name built by secretAccounts back into its kind; null when it is not one. */
export function accountKind(account: string): SecretAccountKind | null {
  const parts = account.split('/');
  if (parts.some((part) => part === '')) return null;
  if (parts.length === 2) return 'signingSecret';
  if (parts.length === 3 && parts[1] === 'client') return 'clientSecret';
  if (parts.length === 3 && parts[1] === 'token') return 'tokenCache';
  if (parts.length === 3 && parts[2] === 'previous') return 'previousSigningSecret';
  return null;
}

export interface EnvSecretStoreOptions {
  env?: NodeJS.ProcessEnv;
}

export class EnvSecretStore implements SecretStore {
  readonly kind: SecretStoreKind = 'env';
  private readonly env: NodeJS.ProcessEnv;

  constructor(options: EnvSecretStoreOptions = {}) {
    this.env = options.env ?? process.env;
  }

  describe(): string {
    return `environment (${SECRET_ENV_VARS.signingSecret}, read-only)`;
  }

  async probe(): Promise<void> {
    throw this.readOnly();
  }

  /** Any subscription's signing secret is the one in INTELLIAUTH_WEBHOOK_SECRET; there is no previous one. */
  async get(account: string): Promise<string | null> {
    const kind = accountKind(account);
    if (kind === 'signingSecret' || kind === 'clientSecret') {
      const value = this.env[SECRET_ENV_VARS[kind]];
      return value === undefined || value === '' ? null : value;
    }
    return null;
  }

  async set(_account: string, _secret: string): Promise<void> {
    throw this.readOnly();
  }

  async delete(_account: string): Promise<boolean> {
    throw this.readOnly();
  }

  private readOnly(): SecretStoreError {
    return new SecretStoreError('the environment secret store is read-only; it cannot store or delete secrets', {
      hint: 'use --secret-store keychain or --secret-store file to keep a new secret',
    });
  }
}
