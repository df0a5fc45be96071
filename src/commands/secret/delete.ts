import type { Context } from '../../cli/context.ts';
import { confirmOrRequireYes } from '../../cli/confirm.ts';
import { forgetSigningSecrets } from '../../secrets/signing-secrets.ts';
import type { SecretDeleteOptions } from './index.ts';

export async function run(options: SecretDeleteOptions, context: Context): Promise<void> {
  const { io } = context;
  if (!options.yes && io.canPrompt()) {
    io.warn('the platform shows a signing secret only once: without a copy, the secret has to be rotated');
  }
  await confirmOrRequireYes(context, `Remove the signing secret of ${options.id} stored on this machine?`, options.yes);
  const removed = await forgetSigningSecrets(context, options.id);
  if (context.globals.json) {
    io.printJson({ id: options.id, local_secrets_removed: removed });
    return;
  }
  if (removed.length === 0) io.info(`no signing secret of ${options.id} was stored on this machine`);
  else io.success(`removed the signing secret of ${options.id} from: ${removed.join('; ')}`);
}
