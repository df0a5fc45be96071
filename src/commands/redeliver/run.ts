import type { Context } from '../../cli/context.ts';
import { confirmOrRequireYes } from '../../cli/confirm.ts';
import { ApiError, CliError, InterruptedError, type ErrorOptions } from '../../errors.ts';
import { sanitizeCell } from '../../output/table.ts';
import type { RedeliverOptions } from './index.ts';

// `redeliver`: one POST per event, in order. A failure does not stop the others; the summary
// names every event that failed, and the exit code is the first failure's.

export interface RedeliveryResult {
  event_id: string;
  ok: boolean;
  error?: string;
}

const NAMED_IN_SUMMARY = 10;

export async function run(options: RedeliverOptions, context: Context): Promise<void> {
  const { io } = context;
  const api = await context.api();
  // One clear error for a wrong subscription id or missing credentials, instead of one per event.
  const subscription = await api.getSubscription(options.id);
  let eventIds = options.eventIds;
  if (options.allDeadLetters) {
    eventIds = (await api.listDeadLetters(subscription.id)).map((letter) => letter.event_id);
    if (eventIds.length === 0) {
      if (context.globals.json) io.printJson([]);
      io.info(`no dead letters to redeliver for ${subscription.id}`);
      return;
    }
    if (!options.yes && io.canPrompt()) {
      const count = `${eventIds.length} dead-lettered event${eventIds.length === 1 ? '' : 's'}`;
      await confirmOrRequireYes(context, `Redeliver ${count} to ${sanitizeCell(subscription.url)}?`, false);
    }
  }

  const results: RedeliveryResult[] = [];
  const failures: Array<{ eventId: string; error: unknown }> = [];
  for (const eventId of eventIds) {
    if (context.signal.aborted) break;
    try {
      await api.redeliver(subscription.id, eventId);
      results.push({ event_id: eventId, ok: true });
      if (!context.globals.json) io.print(resultLine(context, eventId, null));
    } catch (error) {
      if (context.signal.aborted) break;
      const message = error instanceof Error ? error.message : String(error);
      results.push({ event_id: eventId, ok: false, error: message });
      failures.push({ eventId, error });
      if (!context.globals.json) io.print(resultLine(context, eventId, message));
    }
  }
  if (context.globals.json) io.printJson(results);

  const notAttempted = eventIds.slice(results.length);
  if (notAttempted.length > 0) {
    throw new InterruptedError(
      `interrupted after ${results.length} of ${eventIds.length} events; not replayed (or not confirmed): ${nameSome(notAttempted)}`,
    );
  }
  const scheduled = results.length - failures.length;
  if (failures.length === 0) {
    io.success(`${scheduled} event${scheduled === 1 ? '' : 's'} scheduled for redelivery to ${subscription.id}`);
    return;
  }
  const first = failures[0]!;
  const summary =
    `${failures.length} of ${results.length} redeliveries failed: ${nameSome(failures.map((failure) => failure.eventId))}` +
    (scheduled > 0 ? ` (${scheduled} scheduled)` : '');
  throw likeError(first.error, summary, { hint: first.error instanceof CliError ? first.error.hint : undefined });
}

function resultLine(context: Context, eventId: string, failure: string | null): string {
  const { io } = context;
  if (!io.stdoutIsTTY) return failure === null ? `${eventId}\tscheduled` : `${eventId}\tfailed\t${sanitizeCell(failure)}`;
  return failure === null
    ? `${io.out.green('✓')} ${eventId}  scheduled`
    : `${io.out.red('✗')} ${eventId}  failed: ${sanitizeCell(failure)}`;
}

function nameSome(ids: string[]): string {
  const shown = ids.slice(0, NAMED_IN_SUMMARY).join(', ');
  return ids.length > NAMED_IN_SUMMARY ? `${shown} and ${ids.length - NAMED_IN_SUMMARY} more` : shown;
}

/** A new error with `message` that maps to the same exit code as `error`. */
function likeError(error: unknown, message: string, options: { hint?: string | undefined }): CliError {
  const extra: ErrorOptions = { cause: error, ...(options.hint === undefined ? {} : { hint: options.hint }) };
  if (error instanceof ApiError) {
    return new ApiError({ status: error.status, code: error.code, message, ...(options.hint === undefined ? {} : { hint: options.hint }) });
  }
  if (error instanceof CliError) {
    const Same = error.constructor as new (message: string, options?: ErrorOptions) => CliError;
    return new Same(message, extra);
  }
  return new CliError(message, extra);
}
