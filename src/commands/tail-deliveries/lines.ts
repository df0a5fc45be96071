// One line per delivery attempt, built for a whole page at once so that printing costs one
// write per page however many attempts it holds.

import type { DeliveryRecord } from '../../domain/contract.ts';
import type { IO } from '../../output/io.ts';
import { sanitizeCell } from '../../output/table.ts';

export type LineStyle = 'json' | 'tsv' | 'terminal';

export type PageFormatter = (records: readonly DeliveryRecord[]) => string;

export function lineStyleFor(io: IO, json: boolean): LineStyle {
  if (json) return 'json';
  return io.stdoutIsTTY ? 'terminal' : 'tsv';
}

export function pageFormatter(style: LineStyle, io: IO): PageFormatter {
  const line: (record: DeliveryRecord) => string =
    style === 'json' ? (record) => JSON.stringify(record) : style === 'tsv' ? tsvLine : (record) => terminalLine(record, io);
  // One flat string per page: joining is cheaper to write than a string grown by `+=`.
  return (records) => {
    if (records.length === 0) return '';
    const lines = new Array<string>(records.length);
    for (let i = 0; i < records.length; i += 1) lines[i] = line(records[i]!);
    return `${lines.join('\n')}\n`;
  };
}

/**
 * attempted_at (UTC), event type, event id, attempt, outcome, HTTP status, latency (ms),
 * error kind, dead-lettered; `-` for an empty field so that `awk` keeps its columns.
 */
export function tsvLine(record: DeliveryRecord): string {
  return (
    `${cell(record.attempted_at)}\t${cell(record.event_type)}\t${cell(record.event_id)}\t${num(record.attempt)}\t` +
    `${record.outcome === 'succeeded' ? 'succeeded' : 'failed'}\t${(record.http_status ?? null) === null ? '-' : num(record.http_status)}\t${num(record.latency_ms)}\t` +
    `${record.error ? cell(record.error) : '-'}\t${record.dead_lettered ? 'dead-lettered' : '-'}`
  );
}

const EVENT_TYPE_WIDTH = 22;

export function terminalLine(record: DeliveryRecord, io: IO): string {
  const succeeded = record.outcome === 'succeeded';
  const status = `${succeeded ? '✓' : '✗'} ${(record.http_status ?? null) === null ? '---' : num(record.http_status)}`;
  const parts = [
    io.out.dim(localTime(record.attempted_at)),
    cell(record.event_type).padEnd(EVENT_TYPE_WIDTH),
    cell(record.event_id),
    `#${num(record.attempt)}`,
    succeeded ? io.out.green(status) : io.out.red(status),
    `${num(record.latency_ms)} ms`.padStart(8),
  ];
  if (record.error) parts.push(io.out.red(cell(record.error)));
  if (record.dead_lettered) parts.push(io.out.red.bold('dead-lettered'));
  return parts.join('  ');
}

/** `2026-05-01 14:03:05` in the local time zone: a terminal line is read by a person. */
export function localTime(iso: string): string {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return cell(iso);
  const two = (n: number) => String(n).padStart(2, '0');
  return (
    `${date.getFullYear()}-${two(date.getMonth() + 1)}-${two(date.getDate())} ` +
    `${two(date.getHours())}:${two(date.getMinutes())}:${two(date.getSeconds())}`
  );
}

function cell(text: string): string {
  return sanitizeCell(String(text));
}

/** Numbers as they are; anything else a server might send instead, made harmless. */
function num(value: unknown): string {
  return typeof value === 'number' ? String(value) : cell(String(value));
}
