import { Command, Option } from 'commander';
import type { Binder } from '../../cli/command.ts';
import { optionalString, parseDuration, parseInteger } from '../../cli/parse.ts';
import { UsageError } from '../../errors.ts';
import { TIMESTAMP_TOLERANCE_SECONDS } from '../../domain/contract.ts';
import { isValidSelector, parseSelectorList } from '../../domain/selectors.ts';
import { subscriptionIdArgument } from '../shared/subscription-id.ts';

export const DEFAULT_SECRET_ENV = 'INTELLIAUTH_WEBHOOK_SECRET';
export const DEFAULT_PATH = '/webhooks/intelliauth';

export type ListenSecretSource =
  | { kind: 'subscription'; subscriptionId: string }
  /** named: false when no flag was given and the documented variable is used by default. */
  | { kind: 'env'; variable: string; named: boolean };

export interface ListenOptions {
  secretSource: ListenSecretSource;
  host: string;
  port: number;
  path: string;
  tenantId: string | undefined;
  /** Selectors of the event types handled; ['*'] handles everything. */
  events: string[];
  forwardTo: URL | undefined;
  maxSkewSeconds: number;
}

export function listenCommand(bind: Binder): Command {
  const command = new Command('listen')
    .description('Run a local reference receiver: verify, check, dedupe and log each delivery, optionally forwarding it to your app')
    .addOption(new Option('--subscription <id>', "verify with the subscription's locally stored signing secret (and its previous one during a grace period)").conflicts(['secretEnv']))
    .option('--secret-env <var>', 'read the signing secret from environment variable VAR (and VAR_PREVIOUS, if set, as the previous one)')
    .option('--host <address>', 'address to listen on', '127.0.0.1')
    .option('--port <port>', 'port to listen on (0 picks a free one)', '3000')
    .option('--path <path>', 'the path deliveries are POSTed to; any other path answers 404', DEFAULT_PATH)
    .option('--tenant-id <id>', 'the tenant id expected in tenant.id; other tenants are answered 200 and logged as rejected')
    .option('--events <selectors>', 'event types handled (types, categories like user.*, or *); others are answered 200 and logged as ignored', '*')
    .option('--forward-to <url>', 'replay each accepted delivery (same body bytes and IntelliAuth headers) to your app at this http(s) URL')
    .option('--max-skew <duration>', 'how far the timestamp may be from this clock, either way', String(TIMESTAMP_TOLERANCE_SECONDS))
    .addHelpText(
      'after',
      [
        '',
        `Without --subscription or --secret-env, the secret comes from ${DEFAULT_SECRET_ENV} (and ${DEFAULT_SECRET_ENV}_PREVIOUS).`,
        'The secret is never accepted as a flag value. A stored secret is re-read every 30 s and after a',
        'signature mismatch, so a rotation done meanwhile is picked up without a restart.',
        '',
        'Answers: 200 for accepted, duplicate (same event_id within the last 10,000), ignored (type not in',
        '--events) and rejected-by-the-application (wrong tenant) deliveries, since anything else is retried;',
        '401 for a missing or wrong signature or a timestamp outside the window; 400 for a signed body that',
        'is not an event; 413 over 1 MiB; 404 for other paths; 405 for other methods.',
        'One line per delivery on stdout (NDJSON with --json); start-up, notes and the summary on stderr.',
        '',
        'Example (a complete local loop, no secret handled by hand):',
        '  intelliauth-webhooks emulator --allow-private-targets &',
        `  intelliauth-webhooks create --name local --url http://127.0.0.1:3000${DEFAULT_PATH} --events 'user.*'`,
        '  intelliauth-webhooks listen --subscription whsub_... --forward-to http://127.0.0.1:8080/hooks',
        '  intelliauth-webhooks trigger user.signed_up',
      ].join('\n'),
    );
  return bind(command, (_args, opts): ListenOptions => toListenOptions(opts), () => import('./run.ts'));
}

export function toListenOptions(opts: Record<string, unknown>): ListenOptions {
  return {
    secretSource: toSecretSource(opts),
    host: checkHost(String(opts.host ?? '127.0.0.1')),
    port: parseInteger('--port', opts.port ?? '3000', { min: 0, max: 65535 }),
    path: checkPath(String(opts.path ?? DEFAULT_PATH)),
    tenantId: checkTenantId(optionalString(opts.tenantId)),
    events: checkEvents(String(opts.events ?? '*')),
    forwardTo: opts.forwardTo === undefined ? undefined : checkForwardUrl(String(opts.forwardTo)),
    maxSkewSeconds: parseDuration('--max-skew', opts.maxSkew ?? String(TIMESTAMP_TOLERANCE_SECONDS), { min: 1 }),
  };
}

function toSecretSource(opts: Record<string, unknown>): ListenSecretSource {
  if (typeof opts.subscription === 'string') return { kind: 'subscription', subscriptionId: subscriptionIdArgument(opts.subscription) };
  if (typeof opts.secretEnv === 'string') return { kind: 'env', variable: checkVariableName(opts.secretEnv), named: true };
  return { kind: 'env', variable: DEFAULT_SECRET_ENV, named: false };
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

function checkHost(host: string): string {
  const trimmed = host.trim();
  if (trimmed === '' || /[\s/]/.test(trimmed)) throw new UsageError(`--host must be an address or host name, got "${host}"`);
  return trimmed.startsWith('[') && trimmed.endsWith(']') ? trimmed.slice(1, -1) : trimmed;
}

function checkPath(path: string): string {
  if (!path.startsWith('/') || /[\s?#]/.test(path)) {
    throw new UsageError(`--path must start with / and hold no spaces, ? or #, got "${path}"`, { hint: `e.g. --path ${DEFAULT_PATH}` });
  }
  return path;
}

function checkTenantId(tenantId: string | undefined): string | undefined {
  if (tenantId === undefined) return undefined;
  const trimmed = tenantId.trim();
  if (trimmed === '') throw new UsageError('--tenant-id needs a tenant id (tnt_...)');
  return trimmed;
}

function checkEvents(text: string): string[] {
  const selectors = parseSelectorList(text);
  if (selectors.length === 0) throw new UsageError('--events needs at least one selector, e.g. user.signed_up, user.* or *');
  const bad = selectors.filter((selector) => !isValidSelector(selector));
  if (bad.length > 0) {
    throw new UsageError(`--events: ${bad.map((s) => `"${s}"`).join(', ')} ${bad.length === 1 ? 'is not a selector' : 'are not selectors'}`, {
      hint: 'a selector is *, a category such as user.*, or a type such as user.signed_up',
    });
  }
  return selectors.includes('*') ? ['*'] : selectors;
}

function checkForwardUrl(text: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UsageError(`--forward-to must be an absolute http(s) URL, got "${text}"`, { hint: 'e.g. --forward-to http://127.0.0.1:8080/webhooks' });
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError(`--forward-to must use http or https, got ${url.protocol}`);
  if (url.username !== '' || url.password !== '') throw new UsageError('--forward-to must not carry a user name or password');
  url.hash = '';
  return url;
}
