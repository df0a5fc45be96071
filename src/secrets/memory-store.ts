// In-memory SecretStore for unit tests: records every call (accounts only, never secrets)
// and can be told to fail any operation.

import type { SecretStore, SecretStoreKind } from './store.ts';

export type MemoryStoreOperation = 'probe' | 'get' | 'set' | 'delete';

export interface MemoryStoreCall {
  operation: MemoryStoreOperation;
  account?: string;
}

export interface MemorySecretStoreOptions {
  initial?: Iterable<readonly [string, string]> | Record<string, string>;
  /** Each present error is thrown (as is) by that operation, after it is logged in `calls`. */
  failOn?: Partial<Record<MemoryStoreOperation, Error>>;
  description?: string;
}

export class MemorySecretStore implements SecretStore {
  readonly kind: SecretStoreKind = 'memory';
  readonly calls: MemoryStoreCall[] = [];
  /** Mutable on purpose: tests switch failures on and off between steps. */
  failOn: Partial<Record<MemoryStoreOperation, Error>>;
  private readonly secrets: Map<string, string>;
  private readonly description: string;

  constructor(options: MemorySecretStoreOptions = {}) {
    const initial = options.initial ?? [];
    this.secrets = new Map(Symbol.iterator in initial ? initial : Object.entries(initial));
    this.failOn = { ...options.failOn };
    this.description = options.description ?? 'memory store (tests)';
  }

  describe(): string {
    return this.description;
  }

  /** A copy of what the store holds now. */
  entries(): Map<string, string> {
    return new Map(this.secrets);
  }

  async probe(): Promise<void> {
    this.record('probe');
  }

  async get(account: string): Promise<string | null> {
    this.record('get', account);
    return this.secrets.get(account) ?? null;
  }

  async set(account: string, secret: string): Promise<void> {
    this.record('set', account);
    this.secrets.set(account, secret);
  }

  async delete(account: string): Promise<boolean> {
    this.record('delete', account);
    return this.secrets.delete(account);
  }

  private record(operation: MemoryStoreOperation, account?: string): void {
    this.calls.push(account === undefined ? { operation } : { operation, account });
    const failure = this.failOn[operation];
    if (failure !== undefined) throw failure;
  }
}
