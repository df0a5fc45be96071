import { UsageError } from '../../errors.ts';

/** The positional <id> of a subscription command; the platform decides whether it exists. */
export function subscriptionIdArgument(value: unknown): string {
  const id = String(value ?? '').trim();
  if (id === '') throw new UsageError('a subscription id is required');
  if (/[\s/?#]/.test(id)) throw new UsageError(`"${id}" is not a subscription id`, { hint: 'subscription ids look like whsub_01J...' });
  return id;
}
