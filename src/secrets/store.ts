// One interface for every place a secret can live. The keychain is the default; the file
// store backs `--secret-store file` and fallbacks; the env store is read-only; the memory
// store is the fake for unit tests.

export type SecretStoreKind = 'keychain' | 'file' | 'env' | 'memory';

export const KEYCHAIN_SERVICE = 'intelliauth-webhooks';

export interface SecretStore {
  readonly kind: SecretStoreKind;
  /** Human description, e.g. "OS keychain (Secret Service)" or "file store /home/u/.local/share/...". */
  describe(): string;
  /**
   * Proves the store is usable right now (a bounded write/read/delete round trip, or the
   * equivalent). Throws SecretStoreError with a precise reason when it is not.
   */
  probe(): Promise<void>;
  get(account: string): Promise<string | null>;
  set(account: string, secret: string): Promise<void>;
  /** Resolves true when something was deleted, false when there was nothing. */
  delete(account: string): Promise<boolean>;
}

/** Account names, as the keychain shows them. */
export const secretAccounts = {
  signingSecret: (tenantHost: string, subscriptionId: string) => `${tenantHost}/${subscriptionId}`,
  previousSigningSecret: (tenantHost: string, subscriptionId: string) => `${tenantHost}/${subscriptionId}/previous`,
  clientSecret: (tenantHost: string, clientId: string) => `${tenantHost}/client/${clientId}`,
  tokenCache: (tenantHost: string, clientId: string) => `${tenantHost}/token/${clientId}`,
} as const;
