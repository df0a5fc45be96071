import type { Context } from '../../cli/context.ts';
import { UsageError } from '../../errors.ts';
import { secretFingerprint } from '../../domain/signature.ts';
import { describeLocation, importSigningSecret, indexEntry, preflightDestination } from '../../secrets/signing-secrets.ts';
import { resolveSecretDestination } from '../shared/secret-destination.ts';
import type { SecretImportOptions } from './index.ts';

const MAX_SECRET_INPUT_BYTES = 64 * 1024;

export async function run(options: SecretImportOptions, context: Context): Promise<void> {
  const { io } = context;
  const destination = await resolveSecretDestination(context, options.destination);
  if (destination.kind === 'stdout') throw new UsageError('secret import stores a secret; --secret-store stdout would only print it back');
  // A file that cannot be written is said before the secret is asked for.
  if (destination.kind === 'file') await preflightDestination(context, destination, false);
  const api = await context.api();
  const subscription = await api.getSubscription(options.id);
  const secret = await readSecret(context, options.id);

  const fingerprint = secretFingerprint(secret);
  const matches = fingerprint === subscription.secret_fingerprint;
  if (!matches && !options.force) {
    const padded = secret !== secret.trim() && secretFingerprint(secret.trim()) === subscription.secret_fingerprint;
    throw new UsageError(
      `that secret's fingerprint ${fingerprint} does not match the platform's ${subscription.secret_fingerprint} for ${options.id}; nothing was stored`,
      {
        hint: padded
          ? 'the input has spaces around the secret; remove them'
          : 'a wrong secret would make the receiver reject every delivery; check it is the current secret of this subscription, or pass --force to store it anyway',
      },
    );
  }
  if (!matches) io.warn(`storing a secret whose fingerprint ${fingerprint} does not match the platform's ${subscription.secret_fingerprint} (--force)`);

  const replaced = await indexEntry(context, options.id).catch(() => null);
  const location = await context.uninterruptible(() => importSigningSecret(context, options.id, secret, destination));

  if (context.globals.json) {
    io.printJson({ id: options.id, stored_in: location.store, ...(location.path === undefined ? {} : { path: location.path }), fingerprint, matches_platform: matches });
    return;
  }
  io.success(
    `stored the signing secret of ${options.id} in ${describeLocation(location)} (fingerprint ${fingerprint}${matches ? ', matches the platform' : ', does NOT match the platform'})`,
  );
  if (replaced?.store === 'file' && replaced.path && replaced.path !== location.path) io.info(`${replaced.path} is no longer used for it; delete it once you no longer need it`);
}

async function readSecret(context: Context, id: string): Promise<string> {
  const { io } = context;
  let secret: string;
  if (io.stdinIsTTY) {
    if (!io.canPrompt()) throw new UsageError('no secret to import: pipe it on stdin (prompting is off)');
    secret = await (await context.prompter()).password(`Signing secret of ${id}`);
  } else {
    secret = await readFirstLine(io.stdin);
  }
  if (secret.trim() === '') throw new UsageError('no secret to import: the input is empty');
  return secret;
}

/** The first line of stdin without its line end; bounded so a wrong pipe cannot fill memory. */
async function readFirstLine(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    const buffer = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : Buffer.from(chunk as Uint8Array);
    const newline = buffer.indexOf(0x0a);
    chunks.push(newline === -1 ? buffer : buffer.subarray(0, newline));
    size += buffer.length;
    if (newline !== -1) break;
    if (size > MAX_SECRET_INPUT_BYTES) throw new UsageError(`the secret on stdin is longer than ${MAX_SECRET_INPUT_BYTES} bytes; is that the right input?`);
  }
  return Buffer.concat(chunks).toString('utf8').replace(/\r$/, '');
}
