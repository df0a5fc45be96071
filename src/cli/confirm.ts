import { UsageError } from '../errors.ts';
import type { Context } from './context.ts';

/**
 * Asks before something destructive. At a terminal it prompts (unless --yes); without one
 * it never prompts and requires --yes, so CI jobs fail fast instead of hanging.
 */
export async function confirmOrRequireYes(context: Context, question: string, yes: boolean, flagHint = '--yes'): Promise<void> {
  if (yes) return;
  if (!context.io.canPrompt()) {
    throw new UsageError(`${question.replace(/\?$/, '')}: refusing without confirmation`, {
      hint: `pass ${flagHint} to confirm (no interactive terminal to ask on)`,
    });
  }
  const prompter = await context.prompter();
  if (!(await prompter.confirm(question, { default: false }))) throw new UsageError('cancelled; nothing was changed');
}
