import type { ApiClient } from '../api/client.ts';
import type { TokenProvider } from '../config/token-cache.ts';
import type { Credentials } from '../config/credentials.ts';
import type { ConfigFile } from '../config/config.ts';
import type { Paths } from '../config/paths.ts';
import type { SecretStore } from '../secrets/store.ts';
import type { IO } from '../output/io.ts';
import type { Prompter } from '../output/prompter.ts';
import type { GlobalOptions } from './global-options.ts';

export type Env = Readonly<Record<string, string | undefined>>;

/**
 * Everything a command's run() needs, created lazily: a command that never calls the API
 * never loads undici, one that never stores a secret never loads the keychain binding.
 */
export interface Context {
  readonly io: IO;
  readonly env: Env;
  readonly globals: GlobalOptions;
  readonly paths: Paths;
  /** Aborted on SIGINT/SIGTERM; long-running commands stop cleanly when it fires. */
  readonly signal: AbortSignal;
  /** Runs fn with interrupts held back, for steps that must finish (storing a secret). */
  uninterruptible<T>(fn: () => Promise<T>): Promise<T>;
  /**
   * Runs fn with SIGINT, SIGTERM and SIGHUP handed to onSignal instead of interrupting the
   * command (no abort, no forced exit): for `secret exec`, which forwards them to its child
   * and waits for it to end.
   */
  forwardSignals<T>(onSignal: (signal: NodeJS.Signals) => void, fn: () => Promise<T>): Promise<T>;
  /** Current time; injectable for tests. */
  now(): number;
  config(): Promise<ConfigFile>;
  credentials(): Promise<Credentials>;
  tokenProvider(): Promise<TokenProvider>;
  api(): Promise<ApiClient>;
  /** The OS keychain unless a test or the environment swapped it. */
  secretStore(): Promise<SecretStore>;
  prompter(): Promise<Prompter>;
}

export interface ContextOverrides {
  secretStore?: () => Promise<SecretStore>;
  prompter?: () => Promise<Prompter>;
  now?: () => number;
}
