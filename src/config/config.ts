// The config file: named profiles (tenant, client id, audience, receiver host allowlist)
// and the active one. It never holds a secret: client secrets live in the SecretStore.

import { readFile } from 'node:fs/promises';
import { UsageError } from '../errors.ts';
import { writePrivateFileAtomic } from './atomic-file.ts';

export const CONFIG_VERSION = 1;
export const DEFAULT_PROFILE = 'default';

export interface Profile {
  tenant_url: string;
  client_id: string;
  audience?: string;
  allowed_receiver_hosts?: string[];
}

export interface ConfigFile {
  version: typeof CONFIG_VERSION;
  active_profile?: string;
  profiles: Record<string, Profile>;
}

const PROFILE_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

export function emptyConfig(): ConfigFile {
  return { version: CONFIG_VERSION, profiles: {} };
}

export function validateProfileName(name: string): string {
  if (!PROFILE_NAME.test(name)) {
    throw new UsageError(`invalid profile name "${name}"`, {
      hint: 'use up to 64 letters, digits, ".", "_" or "-", starting with a letter or digit',
    });
  }
  return name;
}

/** A missing file is an empty config; anything unreadable is a UsageError naming the file. */
export async function loadConfig(file: string): Promise<ConfigFile> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return emptyConfig();
    throw new UsageError(`cannot read the config file ${file}: ${(error as Error).message}`, { cause: error });
  }
  return parseConfig(text, file);
}

export function parseConfig(text: string, file: string): ConfigFile {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    const line = jsonErrorLine(text, (error as Error).message);
    throw new UsageError(`the config file ${file} is not valid JSON (line ${line})`, {
      hint: 'fix or delete the file; `intelliauth-webhooks login` writes a new one',
    });
  }
  return validateConfig(raw, file);
}

function validateConfig(raw: unknown, file: string): ConfigFile {
  const invalid = (what: string) =>
    new UsageError(`the config file ${file} is invalid: ${what}`, {
      hint: 'fix or delete the file; `intelliauth-webhooks login` writes a new one',
    });
  if (!isObject(raw)) throw invalid('expected a JSON object');
  if (raw.version !== CONFIG_VERSION) {
    if (typeof raw.version === 'number' && raw.version > CONFIG_VERSION) {
      throw new UsageError(`the config file ${file} has version ${raw.version}, newer than this tool understands`, {
        hint: 'upgrade intelliauth-webhooks',
      });
    }
    throw invalid(`"version" must be ${CONFIG_VERSION}`);
  }
  const config: ConfigFile = { version: CONFIG_VERSION, profiles: {} };
  if (raw.active_profile !== undefined) {
    if (typeof raw.active_profile !== 'string' || !PROFILE_NAME.test(raw.active_profile)) {
      throw invalid('"active_profile" must be a profile name');
    }
    config.active_profile = raw.active_profile;
  }
  const profiles = raw.profiles ?? {};
  if (!isObject(profiles)) throw invalid('"profiles" must be an object');
  for (const [name, value] of Object.entries(profiles)) {
    if (!PROFILE_NAME.test(name)) throw invalid(`profile name "${name}" is not allowed`);
    if (!isObject(value)) throw invalid(`profile "${name}" must be an object`);
    const { tenant_url, client_id, audience, allowed_receiver_hosts } = value;
    if (typeof tenant_url !== 'string' || tenant_url === '') throw invalid(`profile "${name}" needs "tenant_url"`);
    if (typeof client_id !== 'string' || client_id === '') throw invalid(`profile "${name}" needs "client_id"`);
    const profile: Profile = { tenant_url, client_id };
    if (audience !== undefined && audience !== null) {
      if (typeof audience !== 'string') throw invalid(`profile "${name}": "audience" must be a string`);
      profile.audience = audience;
    }
    if (allowed_receiver_hosts !== undefined && allowed_receiver_hosts !== null) {
      if (!Array.isArray(allowed_receiver_hosts) || !allowed_receiver_hosts.every((h) => typeof h === 'string')) {
        throw invalid(`profile "${name}": "allowed_receiver_hosts" must be a list of host names`);
      }
      profile.allowed_receiver_hosts = [...allowed_receiver_hosts];
    }
    // Unknown fields (a pasted client_secret, say) are dropped, so saving never keeps them.
    config.profiles[name] = profile;
  }
  return config;
}

/** Writes only the known fields, atomically, as a 0600 file in a 0700 directory. */
export async function saveConfig(file: string, config: ConfigFile): Promise<void> {
  const clean = validateConfig(JSON.parse(JSON.stringify(config)) as unknown, file);
  await writePrivateFileAtomic(file, `${JSON.stringify(clean, null, 2)}\n`);
}

export function getProfile(config: ConfigFile, name: string): Profile | undefined {
  return Object.hasOwn(config.profiles, name) ? config.profiles[name] : undefined;
}

export function withProfile(config: ConfigFile, name: string, profile: Profile, makeActive = false): ConfigFile {
  validateProfileName(name);
  return {
    ...config,
    profiles: { ...config.profiles, [name]: profile },
    ...(makeActive ? { active_profile: name } : {}),
  };
}

export function withoutProfile(config: ConfigFile, name: string): ConfigFile {
  const profiles = { ...config.profiles };
  delete profiles[name];
  const next: ConfigFile = { version: config.version, profiles };
  if (config.active_profile !== undefined && config.active_profile !== name) next.active_profile = config.active_profile;
  return next;
}

/** 1-based line of a JSON.parse failure (the message carries a character position). */
function jsonErrorLine(text: string, message: string): number {
  const explicit = /line (\d+)/.exec(message);
  if (explicit) return Number(explicit[1]);
  const position = /position (\d+)/.exec(message);
  const offset = position ? Number(position[1]) : text.length;
  return text.slice(0, offset).split('\n').length;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}
