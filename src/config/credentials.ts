// Which credentials a command uses, first found wins: a bearer token (flag, then env),
// client credentials from the environment, then the active profile with its client secret
// in the SecretStore.

import { isIP } from 'node:net';
import { AuthError, UsageError } from '../errors.ts';
import { secretAccounts, type SecretStore } from '../secrets/store.ts';
import { DEFAULT_PROFILE, getProfile, type ConfigFile, type Profile } from './config.ts';
import type { Env } from './paths.ts';

export const ENV = {
  token: 'INTELLIAUTH_TOKEN',
  tenantUrl: 'INTELLIAUTH_TENANT_URL',
  clientId: 'INTELLIAUTH_M2M_CLIENT_ID',
  clientSecret: 'INTELLIAUTH_M2M_CLIENT_SECRET',
  audience: 'INTELLIAUTH_API_AUDIENCE',
  profile: 'INTELLIAUTH_PROFILE',
} as const;

export type CredentialSource = 'flag-token' | 'env-token' | 'env-client' | 'profile';

export interface CredentialFlags {
  token?: string | undefined;
  tenantUrl?: string | undefined;
  profile?: string | undefined;
}

export interface Credentials {
  source: CredentialSource;
  /** Normalised: scheme://host[:port], no trailing slash. */
  tenantUrl: string;
  /** The bearer token, for `flag-token` and `env-token`. */
  token?: string;
  clientId?: string;
  audience?: string;
  profileName?: string;
  /** For `env-client` and `profile`; reads the store only when called. */
  getClientSecret?: () => Promise<string>;
}

export interface ResolveCredentialsInput {
  flags: CredentialFlags;
  env: Env;
  config: ConfigFile;
  /** Opened only when a profile's secret is needed (keychain access is slow and may prompt). */
  secretStoreFactory: () => Promise<SecretStore>;
  /** Shown in messages about missing profiles. */
  configFile?: string;
}

export const CREDENTIALS_HINT =
  'run `intelliauth-webhooks login`, or set INTELLIAUTH_TENANT_URL, INTELLIAUTH_M2M_CLIENT_ID and INTELLIAUTH_M2M_CLIENT_SECRET';

export async function resolveCredentials(input: ResolveCredentialsInput): Promise<Credentials> {
  const { flags, env, config } = input;
  const profileChoice = chooseProfile(flags, env, config);
  const profile = getProfile(config, profileChoice.name);
  const flagTenant = flags.tenantUrl ? normalizeTenantUrl(flags.tenantUrl, '--tenant-url') : undefined;
  const envTenant = nonEmpty(env[ENV.tenantUrl]);

  const bearer = nonEmpty(flags.token)
    ? { token: flags.token!, source: 'flag-token' as const }
    : nonEmpty(env[ENV.token])
      ? { token: env[ENV.token]!, source: 'env-token' as const }
      : undefined;
  if (bearer) {
    const tenantUrl =
      flagTenant ??
      (envTenant ? normalizeTenantUrl(envTenant, ENV.tenantUrl) : undefined) ??
      (profile ? normalizeTenantUrl(profile.tenant_url, `profile "${profileChoice.name}"`) : undefined);
    if (!tenantUrl) {
      throw new AuthError('a bearer token needs a tenant URL', {
        hint: `pass --tenant-url or set ${ENV.tenantUrl}`,
      });
    }
    return { source: bearer.source, tenantUrl, token: bearer.token.trim() };
  }

  const clientId = nonEmpty(env[ENV.clientId]);
  const clientSecret = env[ENV.clientSecret];
  if (clientId !== undefined || nonEmpty(clientSecret) !== undefined) {
    const missing = [
      flagTenant || envTenant ? undefined : ENV.tenantUrl,
      clientId ? undefined : ENV.clientId,
      nonEmpty(clientSecret) ? undefined : ENV.clientSecret,
    ].filter((name) => name !== undefined);
    if (missing.length > 0) {
      throw new AuthError(`incomplete client credentials in the environment: ${missing.join(' and ')} not set`, {
        hint: `set ${missing.join(' and ')}, or unset ${ENV.clientId} and ${ENV.clientSecret} to use a profile`,
      });
    }
    const secret = clientSecret!.trim();
    const audience = nonEmpty(env[ENV.audience]);
    return {
      source: 'env-client',
      tenantUrl: flagTenant ?? normalizeTenantUrl(envTenant!, ENV.tenantUrl),
      clientId: clientId!,
      ...(audience ? { audience } : {}),
      getClientSecret: async () => secret,
    };
  }

  if (!profile) {
    if (profileChoice.explicit) {
      const known = Object.keys(config.profiles);
      throw new AuthError(
        `profile "${profileChoice.name}" not found${input.configFile ? ` in ${input.configFile}` : ''}`,
        {
          hint: known.length
            ? `known profiles: ${known.join(', ')}; or run \`intelliauth-webhooks login --profile ${profileChoice.name}\``
            : CREDENTIALS_HINT,
        },
      );
    }
    throw new AuthError('no credentials found', { hint: CREDENTIALS_HINT });
  }
  return fromProfile(profileChoice.name, profile, flagTenant, input.secretStoreFactory);
}

function fromProfile(
  name: string,
  profile: Profile,
  flagTenant: string | undefined,
  secretStoreFactory: () => Promise<SecretStore>,
): Credentials {
  const profileTenant = normalizeTenantUrl(profile.tenant_url, `profile "${name}"`);
  // The secret was filed under the tenant it was saved for, even when --tenant-url points elsewhere.
  const account = secretAccounts.clientSecret(new URL(profileTenant).host, profile.client_id);
  const getClientSecret = async (): Promise<string> => {
    const store = await secretStoreFactory();
    const secret = await store.get(account);
    if (!secret) {
      throw new AuthError(`no client secret stored for profile "${name}" in ${store.describe()}`, {
        hint: `run \`intelliauth-webhooks login --profile ${name}\` again`,
      });
    }
    return secret;
  };
  return {
    source: 'profile',
    tenantUrl: flagTenant ?? profileTenant,
    clientId: profile.client_id,
    ...(profile.audience ? { audience: profile.audience } : {}),
    profileName: name,
    getClientSecret,
  };
}

/** The profile name in effect and whether the user named it (flag or env) rather than defaulting. */
export function chooseProfile(flags: CredentialFlags, env: Env, config: ConfigFile): { name: string; explicit: boolean } {
  const named = nonEmpty(flags.profile) ?? nonEmpty(env[ENV.profile]);
  if (named) return { name: named, explicit: true };
  return { name: config.active_profile ?? DEFAULT_PROFILE, explicit: config.active_profile !== undefined };
}

/**
 * Checks and normalises a tenant URL: https, or plain http for loopback hosts only (the
 * emulator); no user info, no path beyond "/", no query or fragment. `origin` names where
 * the value came from, for the message.
 */
export function normalizeTenantUrl(raw: string, origin = 'the tenant URL'): string {
  const value = raw.trim();
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new UsageError(`${origin}: "${value}" is not a URL`, { hint: 'use the form https://<tenant>-<org>.<domain>' });
  }
  const shown = `${url.protocol}//${url.host}`;
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new UsageError(`${origin}: ${url.protocol} URLs are not supported; use https`);
  }
  if (url.protocol === 'http:' && !isLoopbackHost(url.hostname)) {
    throw new UsageError(`${origin}: plain http is allowed only for loopback hosts (the local emulator); use https`, {
      hint: `https://${url.host}`,
    });
  }
  if (url.username || url.password) {
    throw new UsageError(`${origin}: the URL must not contain a user name or password`);
  }
  if (url.pathname !== '/' && url.pathname !== '') {
    throw new UsageError(`${origin}: the tenant URL takes no path (got ${url.pathname})`, {
      hint: `use ${shown}; the tool adds /api/v1/... itself`,
    });
  }
  if (url.search || url.hash || value.includes('?') || value.includes('#')) {
    throw new UsageError(`${origin}: the tenant URL takes no query or fragment`, { hint: `use ${shown}` });
  }
  return shown;
}

export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.toLowerCase().replace(/^\[|\]$/g, '');
  if (host === 'localhost') return true;
  const family = isIP(host);
  if (family === 4) return host.startsWith('127.');
  if (family === 6) return host === '::1' || host === '0:0:0:0:0:0:0:1' || /^::ffff:127\./.test(host) || /^::ffff:7f/.test(host);
  return false;
}

function nonEmpty(value: string | undefined): string | undefined {
  const trimmed = value?.trim();
  return trimmed ? trimmed : undefined;
}
