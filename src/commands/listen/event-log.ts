import type { ChalkInstance } from 'chalk';
import type { OutStream } from '../../output/io.ts';

// What `listen` prints per delivery: one line (or one NDJSON object) on stdout. Lines are
// gathered and written once per turn of the event loop, so a burst of deliveries costs one
// write, not one per delivery; a stdout nobody reads cannot grow memory without bound.

export type Verdict = 'accepted' | 'duplicate' | 'ignored' | 'rejected';

export interface EventRecord {
  time: string;
  event_id: string | null;
  event_type: string | null;
  attempt: number | null;
  verdict: Verdict;
  /** The HTTP status answered to the platform. */
  status: number;
  /** Why it was rejected or ignored (a VerificationFailure code, or a receiver-level reason). */
  reason?: string;
  /** One line of detail for people; never a secret. */
  message?: string;
  /** Which held secret verified it, when not the current one. */
  secret?: 'previous';
}

export type ForwardOutcome = 'delivered' | 'retrying' | 'failed' | 'dropped';

export interface ForwardRecord {
  time: string;
  event_id: string | null;
  forward: {
    outcome: ForwardOutcome;
    status: number | null;
    latency_ms: number | null;
    attempt: number;
    max_attempts: number;
    /** Network failure or drop reason. */
    error?: string;
    retry_in_ms?: number;
  };
}

/** Batched writes stop here and lines are counted as dropped instead (a stuck consumer). */
const MAX_PENDING_BYTES = 8 * 1024 * 1024;

export class LineWriter {
  private pending: string[] = [];
  private pendingBytes = 0;
  private scheduled = false;
  dropped = 0;

  private broken = false;

  constructor(private readonly stream: OutStream & { writableLength?: number }) {
    // A reader that went away (`listen | head`) must not crash the receiver: lines are then dropped.
    (stream as Partial<Pick<NodeJS.EventEmitter, 'on'>>).on?.('error', () => {
      this.broken = true;
    });
  }

  write(line: string): void {
    if (this.broken) {
      this.dropped += 1;
      return;
    }
    const buffered = this.pendingBytes + (this.stream.writableLength ?? 0);
    if (buffered > MAX_PENDING_BYTES) {
      this.dropped += 1;
      return;
    }
    this.pending.push(line);
    this.pendingBytes += line.length;
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
  }

  flush(): void {
    this.scheduled = false;
    if (this.pending.length === 0) return;
    const text = this.pending.join('');
    this.pending = [];
    this.pendingBytes = 0;
    if (this.broken) return;
    try {
      this.stream.write(text);
    } catch {
      this.broken = true;
    }
  }
}

export interface EventLogOptions {
  json: boolean;
  style: ChalkInstance;
}

export class EventLog {
  constructor(
    private readonly writer: LineWriter,
    private readonly options: EventLogOptions,
  ) {}

  event(record: EventRecord): void {
    this.writer.write(this.options.json ? `${JSON.stringify(record)}\n` : `${this.humanEvent(record)}\n`);
  }

  forward(record: ForwardRecord): void {
    this.writer.write(this.options.json ? `${JSON.stringify(record)}\n` : `${this.humanForward(record)}\n`);
  }

  flush(): void {
    this.writer.flush();
  }

  private humanEvent(record: EventRecord): string {
    const style = this.options.style;
    const verdict = VERDICT_STYLE[record.verdict](style, record.verdict);
    const attempt = record.attempt === null ? '#?' : `#${record.attempt}`;
    const parts = [
      clockTime(record.time),
      printable(record.event_type ?? '-', 40).padEnd(22),
      // evt_ + a 26-character ULID: 30 wide keeps the columns straight.
      printable(record.event_id ?? '-', 64).padEnd(30),
      attempt.padEnd(3),
      `${record.status}`,
      verdict,
    ];
    const notes: string[] = [];
    if (record.reason) notes.push(record.reason);
    if (record.message) notes.push(printable(record.message, 300));
    if (record.secret === 'previous') notes.push('verified with the previous secret');
    if (notes.length === 0) return parts.join('  ');
    return `${parts.join('  ')}${' '.repeat(9 - record.verdict.length)} ${style.dim(`(${notes.join(': ')})`)}`;
  }

  private humanForward(record: ForwardRecord): string {
    const style = this.options.style;
    const { forward } = record;
    const attempt = `attempt ${forward.attempt}/${forward.max_attempts}`;
    const id = printable(record.event_id ?? '-', 64);
    const lead = `${clockTime(record.time)}  ${style.dim('->')} forward ${id}`;
    const answer = forward.status === null ? `${forward.error ?? 'no answer'}` : `HTTP ${forward.status}`;
    const latency = forward.latency_ms === null ? '' : ` in ${forward.latency_ms} ms`;
    switch (forward.outcome) {
      case 'delivered':
        return `${lead} ${style.green(answer)}${latency} (${attempt})`;
      case 'retrying':
        return `${lead} ${style.yellow(answer)}${latency} (${attempt}, retrying in ${forward.retry_in_ms ?? 0} ms)`;
      case 'failed':
        return `${lead} ${style.red(answer)}${latency} (${attempt}, giving up)`;
      case 'dropped':
        return `${lead} ${style.red('dropped')} (${forward.error ?? 'queue full'})`;
    }
  }
}

const VERDICT_STYLE: Record<Verdict, (style: ChalkInstance, text: string) => string> = {
  accepted: (style, text) => style.green(text),
  duplicate: (style, text) => style.cyan(text),
  ignored: (style, text) => style.dim(text),
  rejected: (style, text) => style.red(text),
};

/** HH:MM:SS in local time, from an ISO timestamp. */
function clockTime(iso: string): string {
  const date = new Date(iso);
  const pad = (n: number) => (n < 10 ? `0${n}` : String(n));
  return `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
}

/**
 * Values from a request (even a signed one) go to a terminal: control characters (escape
 * sequences, CR/LF that would forge extra lines) are shown as \u{NN}, and length is bounded.
 */
export function printable(text: string, max: number): string {
  const safe = UNPRINTABLE.test(text) ? text.replace(UNPRINTABLE_ALL, (c) => `\\u{${c.charCodeAt(0).toString(16)}}`) : text;
  return safe.length > max ? `${safe.slice(0, max - 1)}…` : safe;
}

// C0/C1 controls, and the line/paragraph separators and bidi overrides that reorder what a terminal shows.
const UNPRINTABLE_CLASS = '[\\u0000-\\u001f\\u007f-\\u009f\\u2028\\u2029\\u200e\\u200f\\u202a-\\u202e\\u2066-\\u2069]';
const UNPRINTABLE = new RegExp(UNPRINTABLE_CLASS);
const UNPRINTABLE_ALL = new RegExp(UNPRINTABLE_CLASS, 'g');
