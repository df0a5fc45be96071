import type { Context } from '../../cli/context.ts';
import { confirmOrRequireYes } from '../../cli/confirm.ts';
import { CliError, SecretStoreError } from '../../errors.ts';
import { chooseProfile, ENV, normalizeTenantUrl } from '../../config/credentials.ts';
import { getProfile, loadConfig, saveConfig, withoutProfile, type Profile } from '../../config/config.ts';
import { clearTokenCache } from '../../config/token-cache.ts';
import { secretAccounts, type SecretStore } from '../../secrets/store.ts';
import type { LogoutOptions } from './index.ts';

interface Outcome {
  profile: string;
  tenant_url: string;
  client_id: string;
  client_secret_removed: boolean;
  cached_tokens_removed: number;
  profile_removed: boolean;
}

export async function run(options: LogoutOptions, context: Context): Promise<void> {
  const { io } = context;
  const config = await context.config();
  const names = options.all ? Object.keys(config.profiles) : [chooseProfile({ profile: options.profile }, context.env, config).name];
  const targets = names.flatMap((name) => {
    const profile = getProfile(config, name);
    return profile ? [{ name, profile, tenantUrl: tenantOf(profile) }] : [];
  });

  if (options.all && targets.length > 0) {
    const forget = options.forgetProfile ? ' and remove them' : '';
    await confirmOrRequireYes(context, `Log out of ${plural(targets.length, 'profile')} (${names.join(', ')})${forget}?`, options.yes);
  }

  // Local token files first: they go whatever happens to the keychain afterwards.
  const outcomes: Outcome[] = [];
  for (const { name, profile, tenantUrl } of targets) {
    const removed = await clearTokenCache(context.paths.tokenCacheDir, { tenantUrl, clientId: profile.client_id });
    outcomes.push({
      profile: name,
      tenant_url: tenantUrl,
      client_id: profile.client_id,
      client_secret_removed: false,
      cached_tokens_removed: removed,
      profile_removed: false,
    });
  }
  // With --all, tokens of credentials from the environment (no profile) go too.
  const otherTokens = options.all ? await clearTokenCache(context.paths.tokenCacheDir) : 0;

  if (targets.length > 0) {
    const store = await context.secretStore();
    await removeSecrets(store, targets, outcomes);
    warnAboutSharedClients(context, targets.map((target) => target.name), config.profiles);
  }

  if (options.forgetProfile && targets.length > 0) {
    const file = context.paths.configFile;
    let fresh = await loadConfig(file);
    for (const { name } of targets) fresh = withoutProfile(fresh, name);
    await saveConfig(file, fresh);
    for (const outcome of outcomes) outcome.profile_removed = true;
  }

  if (context.globals.json) {
    io.printJson({ profiles: outcomes, cached_tokens_removed: outcomes.reduce((sum, o) => sum + o.cached_tokens_removed, otherTokens) });
  }
  describe(context, options, names, outcomes, otherTokens, config.active_profile);
}

/** Secrets are filed per tenant host and client id, so two profiles may share one entry. */
async function removeSecrets(store: SecretStore, targets: Array<{ name: string; profile: Profile; tenantUrl: string }>, outcomes: Outcome[]): Promise<void> {
  const removedAccounts = new Set<string>();
  for (const [index, { name, profile }] of targets.entries()) {
    const account = accountOf(profile);
    if (removedAccounts.has(account)) continue;
    try {
      if (await store.delete(account)) {
        removedAccounts.add(account);
        outcomes[index]!.client_secret_removed = true;
      }
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      const storeHint = error instanceof CliError && error.hint ? error.hint.replace(/[,;]?\s*(otherwise\s+|or\s+)?use --secret-store file\.?/i, '').trim() : '';
      throw new SecretStoreError(`cannot remove the client secret of profile "${name}" from ${store.describe()}: ${reason}`, {
        hint: `${storeHint ? `${storeHint}; ` : ''}its cached tokens were removed and the profile kept; run logout again once the keychain answers`,
        cause: error,
      });
    }
  }
}

function warnAboutSharedClients(context: Context, loggedOut: string[], profiles: Record<string, Profile>): void {
  const accounts = new Set(loggedOut.map((name) => accountOf(profiles[name]!)));
  const sharing = Object.entries(profiles)
    .filter(([name, profile]) => !loggedOut.includes(name) && accounts.has(accountOf(profile)))
    .map(([name]) => `"${name}"`);
  if (sharing.length > 0) {
    context.io.warn(`profile ${sharing.join(', ')} used the same client and secret, and needs \`login\` again too`);
  }
}

function describe(context: Context, options: LogoutOptions, names: string[], outcomes: Outcome[], otherTokens: number, activeBefore: string | undefined): void {
  const { io } = context;
  if (outcomes.length === 0) {
    io.info(options.all ? 'no profiles are configured; nothing to log out of' : `no profile "${names[0]}" in ${context.paths.configFile}; nothing to remove`);
  }
  for (const outcome of outcomes) {
    const who = `profile "${outcome.profile}" (client ${outcome.client_id} at ${outcome.tenant_url})`;
    const removed = [
      outcome.client_secret_removed ? 'its client secret from the keychain' : undefined,
      outcome.cached_tokens_removed > 0 ? plural(outcome.cached_tokens_removed, 'cached token') : undefined,
    ].filter((item) => item !== undefined);
    if (removed.length > 0) io.success(`Logged out of ${who}: removed ${removed.join(' and ')}`);
    else io.info(`${who}: no stored client secret or cached token; nothing to remove`);
    if (outcome.profile_removed) {
      io.success(`Removed profile "${outcome.profile}" from ${context.paths.configFile}${activeBefore === outcome.profile ? ' (it was the active profile)' : ''}`);
    }
  }
  if (otherTokens > 0) io.info(`removed ${plural(otherTokens, 'other cached token')}`);
  const fromEnv = [ENV.token, ENV.clientId, ENV.clientSecret].filter((name) => (context.env[name] ?? '').trim() !== '');
  if (fromEnv.length > 0) io.info(`credentials in the environment (${fromEnv.join(', ')}) are not affected`);
}

/** The tenant as saved; a malformed one (hand-edited) is used as is so its entries can still go. */
function tenantOf(profile: Profile): string {
  try {
    return normalizeTenantUrl(profile.tenant_url);
  } catch {
    return profile.tenant_url;
  }
}

function accountOf(profile: Profile): string {
  let host: string;
  try {
    host = new URL(tenantOf(profile)).host;
  } catch {
    host = profile.tenant_url;
  }
  return secretAccounts.clientSecret(host, profile.client_id);
}

function plural(count: number, word: string): string {
  return `${count} ${word}${count === 1 ? '' : 's'}`;
}
