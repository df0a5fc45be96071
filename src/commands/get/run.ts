import type { Context } from '../../cli/context.ts';
import type { Subscription } from '../../domain/contract.ts';
import { subscriptionDetails } from '../../output/format.ts';
import { printDetails } from '../../output/table.ts';
import { describeLocation, indexEntry } from '../../secrets/signing-secrets.ts';
import type { GetOptions } from './index.ts';

export async function run(options: GetOptions, context: Context): Promise<void> {
  const api = await context.api();
  const subscription = await api.getSubscription(options.id);
  if (context.globals.json) {
    context.io.printJson(subscription);
    return;
  }
  const details = subscriptionDetails(subscription);
  if (context.io.stdoutIsTTY) details.push(['local secret', await localSecretSummary(context, subscription)]);
  await printDetails(context.io, details);
}

/** From the local index only (no keychain access, which may be slow or prompt). */
async function localSecretSummary(context: Context, subscription: Subscription): Promise<string> {
  let entry;
  try {
    entry = await indexEntry(context, subscription.id);
  } catch (error) {
    return `unknown (${error instanceof Error ? error.message : String(error)})`;
  }
  if (entry === null) return 'not recorded on this machine (see `secret status`)';
  const match = entry.fingerprint === subscription.secret_fingerprint ? 'fingerprint matches' : `stale: fingerprint ${entry.fingerprint}`;
  return `${describeLocation(entry)} (${match})`;
}
