import type { CallBudget, Page } from '../../src/api/client.ts';
import type { DeliveriesQuery, DeliveryRecord } from '../../src/domain/contract.ts';
import { selectorMatches } from '../../src/domain/selectors.ts';
import type { DeliveriesSource } from '../../src/commands/tail-deliveries/feed-follower.ts';

// An in-memory delivery feed that answers like the API (after, since, outcome, event_type,
// order, limit, next_cursor) and fails on chosen calls, for tests of tail-deliveries.

export type Fault = () => Error;

export class FakeFeed implements DeliveriesSource {
  readonly records: DeliveryRecord[] = [];
  readonly queries: DeliveriesQuery[] = [];
  readonly budgets: Array<CallBudget | undefined> = [];
  calls = 0;
  /** Call number (1-based) -> the error that call throws. */
  readonly faults = new Map<number, Fault>();
  /** Call number -> answer `after` as if absent (a server repeating records). */
  readonly ignoreAfterOn = new Set<number>();
  /** Runs before each call answers (e.g. to append new attempts). */
  beforeAnswer: ((call: number) => void | Promise<void>) | undefined;
  #sequence = 0;

  constructor(readonly subscriptionId = 'whsub_TEST') {}

  /** Appends attempts; `failed(n)` says which (by sequence number) failed. */
  add(count: number, init: { at?: (n: number) => number; failed?: (n: number) => boolean; latency?: (n: number) => number; eventType?: (n: number) => string } = {}): DeliveryRecord[] {
    const added: DeliveryRecord[] = [];
    for (let i = 0; i < count; i += 1) {
      this.#sequence += 1;
      const n = this.#sequence;
      const failed = init.failed?.(n) ?? false;
      const record: DeliveryRecord = {
        id: `dlv_${String(n).padStart(12, '0')}`,
        subscription_id: this.subscriptionId,
        event_id: `evt_${String(n).padStart(12, '0')}`,
        event_type: init.eventType?.(n) ?? 'user.signed_up',
        attempt: 1,
        attempted_at: new Date(init.at?.(n) ?? Date.now()).toISOString(),
        outcome: failed ? 'failed' : 'succeeded',
        http_status: failed ? 500 : 200,
        error: failed ? 'http_status' : null,
        latency_ms: init.latency?.(n) ?? 10,
        response_excerpt: '',
        next_attempt_at: null,
        dead_lettered: false,
      };
      this.records.push(record);
      added.push(record);
    }
    return added;
  }

  async listDeliveries(id: string, query: DeliveriesQuery, budget?: CallBudget): Promise<Page<DeliveryRecord>> {
    this.calls += 1;
    const call = this.calls;
    this.queries.push({ ...query });
    this.budgets.push(budget);
    await this.beforeAnswer?.(call);
    const fault = this.faults.get(call);
    if (fault) throw fault();
    if (id !== this.subscriptionId) throw new Error(`unexpected subscription ${id}`);
    const limit = query.limit ?? 50;
    const after = this.ignoreAfterOn.has(call) ? undefined : query.after;
    const since = query.since === undefined ? undefined : Date.parse(query.since);
    const descending = query.order === 'desc';
    const ordered = descending ? [...this.records].reverse() : this.records;
    const page: DeliveryRecord[] = [];
    let more = false;
    for (const record of ordered) {
      if (after !== undefined && (descending ? record.id >= after : record.id <= after)) continue;
      if (since !== undefined && Date.parse(record.attempted_at) < since) continue;
      if (query.outcome !== undefined && record.outcome !== query.outcome) continue;
      if (query.event_type !== undefined && !selectorMatches(query.event_type, record.event_type)) continue;
      if (page.length === limit) {
        more = true;
        break;
      }
      page.push(record);
    }
    return { items: page, nextCursor: more ? page[page.length - 1]!.id : null };
  }
}
