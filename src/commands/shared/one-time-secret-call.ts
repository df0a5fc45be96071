import type { Context } from '../../cli/context.ts';
import { reportCliError } from '../../cli/report-error.ts';
import { CliError, InterruptedError } from '../../errors.ts';

// create and rotate make the platform show a signing secret once. Before their call an
// interruption leaves nothing behind, and the message says so. From the call until the
// secret is stored, signals wait (context.uninterruptible); a second one ends the process
// as soon as that step returns, so an error meanwhile is reported by the step itself.

/** The checks and prompts before the call; interrupted, it says `nothingDone` ("nothing was created"). */
export async function beforeTheCall<T>(context: Context, nothingDone: string, prepare: () => Promise<T>): Promise<T> {
  let prepared: T;
  try {
    prepared = await prepare();
  } catch (error) {
    if (error instanceof InterruptedError && !error.message.includes(nothingDone)) {
      throw new InterruptedError(`${error.message}; ${nothingDone}`);
    }
    throw error;
  }
  if (context.signal.aborted) throw new InterruptedError(`interrupted; ${nothingDone}`);
  return prepared;
}

/**
 * Runs the call and the secret's hand-off inside context.uninterruptible. A known error
 * while a signal waits is reported here (the way back to the secret, such as the
 * Idempotency-Key in its hint, would otherwise be lost with the process) and becomes its exit code.
 */
export async function reportedIfInterrupted<T>(context: Context, step: () => Promise<T>): Promise<T | number> {
  try {
    return await step();
  } catch (error) {
    if (!context.signal.aborted || !(error instanceof CliError)) throw error;
    return reportCliError(context.io, error);
  }
}
