import type { Context } from '../../cli/context.ts';
import { confirmOrRequireYes } from '../../cli/confirm.ts';
import { readSigningSecrets } from '../../secrets/signing-secrets.ts';
import type { SecretRevealOptions } from './index.ts';

export async function run(options: SecretRevealOptions, context: Context): Promise<void> {
  const { io } = context;
  const secrets = await readSigningSecrets(context, options.id);
  await confirmOrRequireYes(context, `Print the signing secret of ${options.id} (fingerprint ${secrets.fingerprint}) on stdout?`, options.yes);
  io.warn(`printing the signing secret of ${options.id}: whoever has it can forge deliveries; keep it out of chats, tickets, logs and shell history`);
  if (context.globals.json) {
    io.printJson({
      id: options.id,
      signing_secret: secrets.current,
      fingerprint: secrets.fingerprint,
      previous_signing_secret: secrets.previous,
      previous_expires_at: secrets.previousExpiresAt,
    });
    return;
  }
  io.print(secrets.current);
}
