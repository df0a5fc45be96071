import { Command, Option } from 'commander';
import type { Binder } from '../../cli/command.ts';
import { optionalString, parseDuration } from '../../cli/parse.ts';
import { UsageError } from '../../errors.ts';
import { TIMESTAMP_TOLERANCE_SECONDS } from '../../domain/contract.ts';

export const DEFAULT_SECRET_ENV = 'INTELLIAUTH_WEBHOOK_SECRET';

export type SecretSource =
  | { kind: 'default-env' }
  | { kind: 'env'; variable: string }
  | { kind: 'stdin' }
  | { kind: 'subscription'; subscriptionId: string };

export interface VerifyOptions {
  secretSource: SecretSource;
  signature: string | undefined;
  previousSignature: string | undefined;
  timestamp: string | undefined;
  tenantId: string | undefined;
  maxSkewSeconds: number;
  bodyFile: string | undefined;
  headersFile: string | undefined;
}

export function verifyCommand(bind: Binder): Command {
  const command = new Command('verify')
    .description('Check a received delivery as a receiver must: its signature over the raw body, its timestamp and its tenant')
    .addOption(new Option('--subscription <id>', "use the subscription's locally stored signing secret (and its previous one during a grace period)").conflicts(['secretEnv', 'secretStdin']))
    .addOption(new Option('--secret-env <var>', `read the signing secret from environment variable VAR (and VAR_PREVIOUS, if set, as the previous one)`).conflicts(['secretStdin']))
    .option('--secret-stdin', 'read the signing secret from the first line of stdin (the body must then come from --body-file)')
    .option('--signature <hex>', 'the X-IntelliAuth-Signature header value')
    .option('--previous-signature <hex>', 'the X-IntelliAuth-Signature-Previous header value')
    .option('--timestamp <unix>', 'the X-IntelliAuth-Timestamp header value; checked only when given')
    .option('--tenant-id <id>', "the tenant id the receiver expects in the body's tenant.id")
    .option('--max-skew <duration>', 'how far the timestamp may be from this clock, either way (seconds, or e.g. 5m, 7d)', String(TIMESTAMP_TOLERANCE_SECONDS))
    .option('--body-file <file>', 'the raw request body, byte for byte (default: stdin)')
    .option('--headers-file <file>', 'raw HTTP request headers copied from a log or capture; --signature, --previous-signature and --timestamp override what it holds')
    .addHelpText(
      'after',
      [
        '',
        `Without a secret option, the secret comes from ${DEFAULT_SECRET_ENV} (and ${DEFAULT_SECRET_ENV}_PREVIOUS).`,
        'The secret is never accepted as a flag value: flags show in the process list and shell history.',
        'A signature made with any secret held (current or previous), in either signature header, is valid.',
        'Exit code 0 when the delivery is valid, 7 when it is not; with --json the verdict is printed either way.',
        '',
        'Example:',
        `  ${DEFAULT_SECRET_ENV}=... intelliauth-webhooks verify --headers-file headers.txt --body-file body.json --tenant-id tnt_123`,
      ].join('\n'),
    );
  return bind(command, (_args, opts): VerifyOptions => ({
    secretSource: toSecretSource(opts),
    signature: optionalString(opts.signature),
    previousSignature: optionalString(opts.previousSignature),
    timestamp: optionalString(opts.timestamp),
    tenantId: optionalString(opts.tenantId),
    maxSkewSeconds: parseDuration('--max-skew', opts.maxSkew, { min: 0 }),
    bodyFile: optionalString(opts.bodyFile),
    headersFile: optionalString(opts.headersFile),
  }), () => import('./run.ts'));
}

function toSecretSource(opts: Record<string, unknown>): SecretSource {
  if (typeof opts.subscription === 'string') return { kind: 'subscription', subscriptionId: opts.subscription };
  if (opts.secretStdin === true) return { kind: 'stdin' };
  if (typeof opts.secretEnv === 'string') return { kind: 'env', variable: checkVariableName(opts.secretEnv) };
  return { kind: 'default-env' };
}

/** Refuses, without echoing it, a value that looks like the secret itself rather than a variable name. */
function checkVariableName(name: string): string {
  if (/^whsec_/i.test(name) || name.length > 100 || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
    throw new UsageError('--secret-env takes the name of an environment variable, not the secret itself', {
      hint: `e.g. --secret-env ${DEFAULT_SECRET_ENV}`,
    });
  }
  return name;
}
