import type { Context } from '../../cli/context.ts';
import type { DeadLetter } from '../../domain/contract.ts';
import { formatDuration } from '../../domain/duration.ts';
import { formatShortTime } from '../../output/format.ts';
import { printTable, type Column } from '../../output/table.ts';
import type { DeadLettersOptions } from './index.ts';

export async function run(options: DeadLettersOptions, context: Context): Promise<void> {
  const { io } = context;
  const api = await context.api();
  const letters = await api.listDeadLetters(options.id);
  if (context.globals.json) {
    io.printJson(letters);
    return;
  }
  if (letters.length === 0) {
    io.info(`no dead letters for ${options.id}`);
    return;
  }
  await printTable(io, deadLetterColumns(io.stdoutIsTTY, context.now()), letters);
  io.info(
    `${letters.length} dead-lettered event${letters.length === 1 ? '' : 's'}; replay with ` +
      `\`intelliauth-webhooks redeliver ${options.id} --all-dead-letters\` once the receiver is fixed`,
  );
}

/** At a terminal: short UTC times and the time left; otherwise ISO 8601 for scripts. */
export function deadLetterColumns(terminal: boolean, now: number): Array<Column<DeadLetter>> {
  const time = (iso: string) => (terminal ? formatShortTime(iso) : iso);
  return [
    { header: 'EVENT ID', value: (letter) => letter.event_id },
    { header: 'TYPE', value: (letter) => letter.event_type },
    { header: 'DEAD-LETTERED (UTC)', value: (letter) => time(letter.dead_lettered_at) },
    { header: 'ATTEMPTS', value: (letter) => String(letter.attempts) },
    { header: 'LAST ERROR', value: (letter) => lastError(letter) },
    {
      header: 'EXPIRES (UTC)',
      value: (letter) => (terminal ? `${time(letter.expires_at)} (${timeLeft(letter.expires_at, now)})` : letter.expires_at),
    },
  ];
}

export function lastError(letter: Pick<DeadLetter, 'last_error' | 'last_http_status'>): string {
  if (letter.last_error === 'http_status' || (letter.last_error === null && letter.last_http_status !== null)) {
    return letter.last_http_status === null ? 'http_status' : `HTTP ${letter.last_http_status}`;
  }
  return letter.last_error ?? 'unknown';
}

export function timeLeft(iso: string, now: number): string {
  const seconds = (Date.parse(iso) - now) / 1000;
  if (Number.isNaN(seconds)) return 'unknown';
  if (seconds <= 0) return 'expired';
  return `in ${formatDuration(Math.max(1, Math.floor(seconds)))}`;
}
