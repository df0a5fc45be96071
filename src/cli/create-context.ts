import type { ApiClient } from '../api/client.ts';
import type { Http } from '../api/http.ts';
import type { ConfigFile } from '../config/config.ts';
import type { Credentials } from '../config/credentials.ts';
import { resolvePaths } from '../config/paths.ts';
import type { TokenProvider } from '../config/token-cache.ts';
import type { IO } from '../output/io.ts';
import type { Prompter } from '../output/prompter.ts';
import type { SecretStore } from '../secrets/store.ts';
import { VERSION } from '../version.ts';
import type { Context, ContextOverrides, Env } from './context.ts';
import type { GlobalOptions } from './global-options.ts';

export interface ContextInput {
  io: IO;
  env: Env;
  globals: GlobalOptions;
  signal: AbortSignal;
  uninterruptible: <T>(fn: () => Promise<T>) => Promise<T>;
  /** Default: signals are not forwarded (fn just runs). */
  forwardSignals?: Context['forwardSignals'] | undefined;
  overrides?: ContextOverrides | undefined;
}

/** Memoises an async factory so each dependency is built at most once, on first use. */
function lazy<T>(factory: () => Promise<T>): () => Promise<T> {
  let value: Promise<T> | undefined;
  return () => (value ??= factory());
}

export function createContext(input: ContextInput): Context {
  const { io, env, globals, signal, overrides } = input;
  const paths = resolvePaths(env);
  const now = overrides?.now ?? Date.now;

  const config = lazy(async (): Promise<ConfigFile> => {
    const { loadConfig } = await import('../config/config.ts');
    return loadConfig(paths.configFile);
  });

  const secretStore = overrides?.secretStore
    ? lazy(overrides.secretStore)
    : lazy(async (): Promise<SecretStore> => {
        const { KeychainStore } = await import('../secrets/keychain.ts');
        return new KeychainStore({ env: { ...env } });
      });

  const credentials = lazy(async (): Promise<Credentials> => {
    const { resolveCredentials } = await import('../config/credentials.ts');
    return resolveCredentials({
      flags: { token: globals.token, tenantUrl: globals.tenantUrl, profile: globals.profile },
      env,
      config: await config(),
      secretStoreFactory: secretStore,
      configFile: paths.configFile,
    });
  });

  const http = lazy(async (): Promise<Http> => {
    const { createHttp } = await import('../api/http.ts');
    const { tenantUrl } = await credentials();
    return createHttp({
      baseUrl: tenantUrl,
      env,
      userAgent: `intelliauth-webhooks/${VERSION} node/${process.versions.node}`,
      ...(globals.timeoutMs === undefined ? {} : { timeoutMs: globals.timeoutMs }),
      ...(globals.debug ? { trace: (line: string) => io.debug(line) } : {}),
    });
  });

  const tokenProvider = lazy(async (): Promise<TokenProvider> => {
    const { TokenProvider } = await import('../config/token-cache.ts');
    return new TokenProvider({ credentials: await credentials(), http: await http(), tokenCacheDir: paths.tokenCacheDir, now });
  });

  const api = lazy(async (): Promise<ApiClient> => {
    const { ApiClient } = await import('../api/client.ts');
    return new ApiClient({ http: await http(), tokenProvider: await tokenProvider(), signal });
  });

  const prompter = overrides?.prompter
    ? lazy(overrides.prompter)
    : lazy(async (): Promise<Prompter> => {
        const { createInquirerPrompter } = await import('../output/prompter.ts');
        return createInquirerPrompter(io);
      });

  return {
    io,
    env,
    globals,
    paths,
    signal,
    uninterruptible: input.uninterruptible,
    forwardSignals: input.forwardSignals ?? ((_onSignal, fn) => fn()),
    now,
    config,
    credentials,
    tokenProvider,
    api,
    secretStore,
    prompter,
  };
}
