// Where the tool keeps its files, following the XDG base-directory rules. Every function
// takes the environment as an argument so tests (and callers) decide what it contains.

import { homedir } from 'node:os';
import { isAbsolute, join } from 'node:path';

export const APP_DIR_NAME = 'intelliauth-webhooks';

export type Env = Readonly<Record<string, string | undefined>>;

function home(env: Env): string {
  const fromEnv = env.HOME ?? env.USERPROFILE;
  return fromEnv && isAbsolute(fromEnv) ? fromEnv : homedir();
}

/** The XDG rules ignore relative values. */
function xdgBase(env: Env, variable: string, fallback: string[]): string {
  const value = env[variable];
  if (value && isAbsolute(value)) return value;
  return join(home(env), ...fallback);
}

export function configDir(env: Env): string {
  return join(xdgBase(env, 'XDG_CONFIG_HOME', ['.config']), APP_DIR_NAME);
}

export function dataDir(env: Env): string {
  return join(xdgBase(env, 'XDG_DATA_HOME', ['.local', 'share']), APP_DIR_NAME);
}

export function cacheDir(env: Env): string {
  return join(xdgBase(env, 'XDG_CACHE_HOME', ['.cache']), APP_DIR_NAME);
}

export function configFilePath(env: Env): string {
  return join(configDir(env), 'config.json');
}

export function tokenCacheDir(env: Env): string {
  return join(cacheDir(env), 'tokens');
}

export interface Paths {
  configDir: string;
  dataDir: string;
  cacheDir: string;
  configFile: string;
  tokenCacheDir: string;
}

export function resolvePaths(env: Env): Paths {
  return {
    configDir: configDir(env),
    dataDir: dataDir(env),
    cacheDir: cacheDir(env),
    configFile: configFilePath(env),
    tokenCacheDir: tokenCacheDir(env),
  };
}
