import type { Context } from '../../cli/context.ts';
import { confirmOrRequireYes } from '../../cli/confirm.ts';
import { ApiError, NotFoundError } from '../../errors.ts';
import { forgetSigningSecrets, indexEntry } from '../../secrets/signing-secrets.ts';
import type { DeleteOptions } from './index.ts';

export async function run(options: DeleteOptions, context: Context): Promise<void> {
  const { io } = context;
  const api = await context.api();
  let label = options.id;
  try {
    if (!options.yes) {
      const subscription = await api.getSubscription(options.id);
      label = `${subscription.id} "${subscription.name}" (${subscription.url})`;
      await confirmOrRequireYes(context, `Delete subscription ${label}?`, options.yes);
    }
    await api.deleteSubscription(options.id);
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) throw await withLeftoverSecretHint(context, options.id, error);
    throw error;
  }

  let removed: string[] = [];
  try {
    removed = await forgetSigningSecrets(context, options.id);
  } catch (error) {
    io.warn(
      `the subscription is deleted, but its local signing secret could not be removed (${error instanceof Error ? error.message : String(error)}); ` +
        `run \`intelliauth-webhooks secret delete ${options.id}\` later`,
    );
  }

  if (context.globals.json) {
    io.printJson({ id: options.id, deleted: true, local_secrets_removed: removed });
    return;
  }
  io.success(`deleted ${label}`);
  io.info(removed.length === 0 ? 'no signing secret of it was stored on this machine' : `removed its signing secret from: ${removed.join('; ')}`);
}

/** Deleted elsewhere (console, another machine): a secret still stored here is useless now. */
async function withLeftoverSecretHint(context: Context, id: string, error: ApiError): Promise<Error> {
  let leftover = false;
  try {
    leftover = (await indexEntry(context, id)) !== null;
  } catch {
    // only a hint
  }
  if (!leftover) return error;
  const hint = `a signing secret of ${id} is still stored on this machine: \`intelliauth-webhooks secret delete ${id}\` removes it`;
  return new NotFoundError(error.message, { hint: error.hint ? `${error.hint}; ${hint}` : hint, cause: error });
}
