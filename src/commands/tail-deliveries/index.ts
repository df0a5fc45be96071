import { resolve } from 'node:path';
import { Command, Option } from 'commander';
import type { Binder } from '../../cli/command.ts';
import { parseDuration, parseInteger } from '../../cli/parse.ts';
import type { DeliveryOutcome } from '../../domain/contract.ts';
import { parseDurationSeconds } from '../../domain/duration.ts';
import { isValidSelector } from '../../domain/selectors.ts';
import { UsageError } from '../../errors.ts';
import { subscriptionIdArgument } from '../shared/subscription-id.ts';

export const DEFAULT_BACKLOG = 20;
export const MAX_BACKLOG = 1000;
export const DEFAULT_WINDOW_SECONDS = 300;
export const DEFAULT_MIN_ATTEMPTS = 10;

/** `--since 15m` (relative to when the run starts) or `--since 2026-05-01T12:00:00Z`. */
export type SinceSpec = { kind: 'ago'; seconds: number } | { kind: 'at'; epochMs: number };

export interface TailOptions {
  subscriptionId: string;
  since: SinceSpec | undefined;
  outcome: DeliveryOutcome | undefined;
  eventType: string | undefined;
  follow: boolean;
  /** Absolute path. */
  checkpoint: string | undefined;
  /** Attempts shown first when neither --since nor a checkpoint says where to start. */
  limit: number;
  /** Percent, 0 <= p < 100; undefined without --alert-failure-rate. */
  alertFailureRate: number | undefined;
  windowSeconds: number;
  minAttempts: number;
  stats: boolean;
}

export function tailDeliveriesCommand(bind: Binder): Command {
  const command = new Command('tail-deliveries')
    .description('Print a subscription\'s delivery attempts as they happen, never losing the place; can alert on a failure rate')
    .argument('<id>', 'subscription id (whsub_...)')
    .option('--since <when>', 'start with every attempt since then: a duration (15m, 24h) or a timestamp (2026-05-01T12:00:00Z)')
    .option('--limit <n>', `without --since or a checkpoint: how many recent attempts to show first (0-${MAX_BACKLOG})`, String(DEFAULT_BACKLOG))
    .addOption(new Option('--outcome <outcome>', 'only attempts with this outcome').choices(['succeeded', 'failed']))
    .option('--event-type <selector>', 'only these event types: user.signed_up, user.* or *')
    .option('--no-follow', 'print what there is and exit instead of following new attempts')
    .option('--checkpoint <file>', 'resume after the last attempt recorded in FILE, and record it there after each batch')
    .option('--alert-failure-rate <pct>', 'exit 8 as soon as the failure rate in the window exceeds PCT percent')
    .option('--window <duration>', 'sliding window for --alert-failure-rate and --stats (default 5m)')
    .option('--min-attempts <n>', `never alert on fewer attempts than this in the window (default ${DEFAULT_MIN_ATTEMPTS})`)
    .option('--stats', 'keep a summary on stderr: attempts, failure rate in the window, p50/p95 latency')
    .addHelpText(
      'after',
      [
        '',
        'Output: one line per attempt (time, event type, event id, attempt, status, latency, error kind,',
        'dead-lettered) in colour at a terminal, tab-separated fields when piped, NDJSON with --json.',
        '',
        'The feed is read after the last delivery id printed, so API errors, rate limits and dropped',
        'connections cause neither gaps nor duplicates. With --checkpoint, a run starts after the last',
        'attempt the previous run printed (the file overrides --since and --limit), so a job run every',
        'few minutes sees each attempt exactly once. A checkpoint belongs to one subscription.',
        '',
        'Health check: `tail-deliveries ID --no-follow --alert-failure-rate 10` judges the window ending',
        'now and exits 8 above 10% (0 otherwise); following, it exits 8 as soon as the rate is exceeded.',
        'Ctrl-C stops following and exits 0.',
      ].join('\n'),
    );
  return bind(command, ([id], opts): TailOptions => toTailOptions(id, opts), () => import('./run.ts'));
}

export function toTailOptions(id: unknown, opts: Record<string, unknown>): TailOptions {
  const alertFailureRate = opts.alertFailureRate === undefined ? undefined : parsePercent('--alert-failure-rate', opts.alertFailureRate);
  const stats = opts.stats === true;
  const outcome = opts.outcome as DeliveryOutcome | undefined;
  if (outcome !== undefined && outcome !== 'succeeded' && outcome !== 'failed') {
    throw new UsageError(`--outcome must be succeeded or failed, got "${String(outcome)}"`);
  }
  if (alertFailureRate !== undefined && outcome !== undefined) {
    throw new UsageError('--alert-failure-rate needs both outcomes: drop --outcome');
  }
  if (opts.window !== undefined && alertFailureRate === undefined && !stats) {
    throw new UsageError('--window applies only with --alert-failure-rate or --stats');
  }
  if (opts.minAttempts !== undefined && alertFailureRate === undefined) {
    throw new UsageError('--min-attempts applies only with --alert-failure-rate');
  }
  const eventType = opts.eventType === undefined ? undefined : String(opts.eventType).trim();
  if (eventType !== undefined && !isValidSelector(eventType)) {
    throw new UsageError(`--event-type must be an event type or selector such as user.signed_up, user.* or *, got "${eventType}"`);
  }
  const checkpoint = opts.checkpoint === undefined ? undefined : String(opts.checkpoint);
  if (checkpoint !== undefined && checkpoint.trim() === '') throw new UsageError('--checkpoint needs a file name');
  return {
    subscriptionId: subscriptionIdArgument(id),
    since: opts.since === undefined ? undefined : parseSince(String(opts.since)),
    outcome,
    eventType: eventType === '*' ? undefined : eventType,
    follow: opts.follow !== false,
    checkpoint: checkpoint === undefined ? undefined : resolve(checkpoint),
    limit: parseInteger('--limit', opts.limit ?? DEFAULT_BACKLOG, { min: 0, max: MAX_BACKLOG }),
    alertFailureRate,
    windowSeconds: opts.window === undefined ? DEFAULT_WINDOW_SECONDS : parseDuration('--window', opts.window, { min: 1, max: 7 * 86_400 }),
    minAttempts: opts.minAttempts === undefined ? DEFAULT_MIN_ATTEMPTS : parseInteger('--min-attempts', opts.minAttempts, { min: 1 }),
    stats,
  };
}

const TIMESTAMP = /^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}(?::?\d{2})?)?)?$/i;

/** A duration back from now, or an ISO 8601 timestamp (a date alone means its midnight UTC). */
export function parseSince(text: string): SinceSpec {
  const trimmed = text.trim();
  const seconds = parseDurationSeconds(trimmed);
  if (seconds !== null) return { kind: 'ago', seconds };
  if (TIMESTAMP.test(trimmed)) {
    const epochMs = Date.parse(trimmed.replace(' ', 'T'));
    if (!Number.isNaN(epochMs)) return { kind: 'at', epochMs };
  }
  throw new UsageError(`--since must be a duration like 15m or 24h, or a timestamp like 2026-05-01T12:00:00Z, got "${text}"`);
}

function parsePercent(flag: string, value: unknown): number {
  const text = String(value).trim().replace(/%$/, '');
  const parsed = Number(text);
  if (text === '' || !Number.isFinite(parsed)) throw new UsageError(`${flag} must be a percentage like 5 or 12.5, got "${String(value)}"`);
  if (parsed < 0 || parsed >= 100) throw new UsageError(`${flag} must be from 0 to below 100, got ${parsed}`);
  return parsed;
}
