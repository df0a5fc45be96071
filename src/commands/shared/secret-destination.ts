import { Option, type Command } from 'commander';
import type { Context } from '../../cli/context.ts';
import { optionalString } from '../../cli/parse.ts';
import { UsageError } from '../../errors.ts';
import type { SecretDestination } from '../../secrets/signing-secrets.ts';

// The flags of every command that receives a signing secret from the platform (create,
// rotate): where it goes (--secret-store, --secret-file) and the Idempotency-Key of the call
// that hands it out, so an attempt whose answer was lost can be asked for again.

export const SECRET_STORE_CHOICES = ['keychain', 'file', 'stdout'] as const;
export type SecretStoreChoice = (typeof SECRET_STORE_CHOICES)[number];

export interface SecretDestinationFlags {
  secretStore: SecretStoreChoice;
  /** False when the keychain is only the default. */
  secretStoreExplicit: boolean;
  secretFile: string | undefined;
}

const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/;

export function addSecretDestinationOptions(command: Command): Command {
  return command
    .addOption(new Option('--secret-store <store>', 'where the signing secret goes (default keychain)').choices(SECRET_STORE_CHOICES))
    .option('--secret-file <path>', 'with --secret-store file: a new file, created with mode 0600 (never overwritten)');
}

export function parseSecretDestinationFlags(opts: Record<string, unknown>): SecretDestinationFlags {
  const secretFile = optionalString(opts.secretFile);
  const storeFlag = optionalString(opts.secretStore) as SecretStoreChoice | undefined;
  if (storeFlag !== undefined && !SECRET_STORE_CHOICES.includes(storeFlag)) {
    throw new UsageError(`--secret-store must be one of ${SECRET_STORE_CHOICES.join(', ')}, got "${storeFlag}"`);
  }
  if (secretFile !== undefined && storeFlag !== undefined && storeFlag !== 'file') {
    throw new UsageError(`--secret-file goes with --secret-store file, not --secret-store ${storeFlag}`);
  }
  if (secretFile !== undefined && secretFile.trim() === '') throw new UsageError('--secret-file needs a path');
  return {
    secretStore: storeFlag ?? (secretFile !== undefined ? 'file' : 'keychain'),
    secretStoreExplicit: storeFlag !== undefined || secretFile !== undefined,
    secretFile,
  };
}

export function parseIdempotencyKey(value: unknown): string | undefined {
  const key = optionalString(value);
  if (key !== undefined && !IDEMPOTENCY_KEY.test(key)) {
    throw new UsageError('--idempotency-key must be 1 to 255 printable characters without spaces');
  }
  return key;
}

/** The destination the flags name; asks for a missing --secret-file at a terminal. */
export async function resolveSecretDestination(context: Context, flags: SecretDestinationFlags): Promise<SecretDestination> {
  switch (flags.secretStore) {
    case 'keychain':
      return { kind: 'keychain' };
    case 'stdout':
      return { kind: 'stdout' };
    case 'file': {
      if (flags.secretFile !== undefined) return { kind: 'file', path: flags.secretFile };
      if (!context.io.canPrompt()) throw new UsageError('--secret-store file needs --secret-file PATH (a new file)');
      const prompter = await context.prompter();
      const path = (await prompter.input('New file for the signing secret (created with mode 0600):')).trim();
      if (path === '') throw new UsageError('no file given; nothing was changed');
      return { kind: 'file', path };
    }
  }
}
