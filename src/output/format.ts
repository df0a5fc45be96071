import type { Subscription } from '../domain/contract.ts';
import type { IO } from './io.ts';

/** `2026-11-27 14:03:05 CET (13:03:05 UTC)`: both, because operators compare with logs in either. */
export function formatLocalAndUtc(iso: string, timeZone?: string): string {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  const local = new Intl.DateTimeFormat('en-CA', {
    year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit',
    hourCycle: 'h23', timeZoneName: 'short', ...(timeZone ? { timeZone } : {}),
  }).format(date).replace(',', '');
  return `${local} (${date.toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC')})`;
}

/** `2026-11-27 13:03` in UTC: compact, for table cells. */
export function formatShortTime(iso: string): string {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : date.toISOString().replace('T', ' ').slice(0, 16);
}

export function formatEvents(events: readonly string[], max = 60): string {
  const text = events.join(', ');
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

export function styleStatus(io: IO, status: string): string {
  return status === 'active' ? io.out.green(status) : io.out.yellow(status);
}

/** The rows `get`, `create` and `update` show for one subscription. */
export function subscriptionDetails(subscription: Subscription): Array<readonly [string, string]> {
  return [
    ['id', subscription.id],
    ['name', subscription.name],
    ['url', subscription.url],
    ['events', subscription.events.join(', ')],
    ['description', subscription.description ?? ''],
    ['status', subscription.status],
    ['created', subscription.created_at],
    ['updated', subscription.updated_at],
    ['secret fingerprint', subscription.secret_fingerprint],
    ...(subscription.previous_secret_expires_at
      ? [['previous secret until', formatLocalAndUtc(subscription.previous_secret_expires_at)] as const]
      : []),
  ];
}
