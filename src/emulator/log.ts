import type { DeliveryErrorKind, DeliveryOutcome } from '../domain/contract.ts';

// Structured log entries. None of them may carry a secret, a token or a request body:
// request lines show the path without the query, deliveries show outcomes only. Every entry
// has a one-line human `message`; the other fields are for machines.

export type FaultKind = 'internal_error' | 'unavailable' | 'rate_limited' | 'reset' | 'stall';

export type EmulatorLogEntry =
  | {
      kind: 'request';
      time: string;
      message: string;
      request_id: string;
      method: string;
      path: string;
      status: number;
      duration_ms: number;
      /** Set when the answer was replaced or delayed by fault injection. */
      fault: FaultKind | null;
    }
  | {
      kind: 'fault';
      time: string;
      message: string;
      request_id: string;
      method: string;
      path: string;
      fault: FaultKind;
    }
  | {
      kind: 'delivery';
      time: string;
      message: string;
      subscription_id: string;
      event_id: string;
      event_type: string;
      delivery_id: string;
      attempt: number;
      outcome: DeliveryOutcome;
      http_status: number | null;
      error: DeliveryErrorKind | null;
      detail: string | null;
      latency_ms: number;
      next_attempt_at: string | null;
      dead_lettered: boolean;
    }
  | {
      kind: 'notice';
      time: string;
      level: 'info' | 'warn' | 'error';
      message: string;
    };
