import { exitCodeFor, type CliError } from '../errors.ts';
import type { IO } from '../output/io.ts';

/** A known error as the user sees it: one line, its hint, its cause with --debug; returns its exit code. */
export function reportCliError(io: IO, error: CliError): number {
  io.error(oneLine(error.message));
  if (error.hint) io.hint(error.hint);
  if (io.debugEnabled && error.cause instanceof Error) io.debug(`caused by: ${oneLine(error.cause.message)}`);
  return exitCodeFor(error);
}

export function oneLine(text: string): string {
  const line = text.replace(/\s*\n\s*/g, ' ').trim();
  return line.length > 500 ? `${line.slice(0, 497)}...` : line;
}
