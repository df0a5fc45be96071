import { Command, Option } from 'commander';
import type { Binder } from '../../cli/command.ts';
import { parseInteger } from '../../cli/parse.ts';
import { LIST_LIMIT, type SubscriptionStatus } from '../../domain/contract.ts';

export interface ListOptions {
  /** One page of this many, or with --all the page size. */
  limit: number;
  all: boolean;
  status: SubscriptionStatus | undefined;
}

export function listCommand(bind: Binder): Command {
  const command = new Command('list')
    .description('List webhook subscriptions, oldest first')
    .option('--limit <n>', `how many to show (${LIST_LIMIT.min}-${LIST_LIMIT.max}; with --all: the page size)`)
    .option('--all', 'follow every page to the end; printed as pages arrive')
    .addOption(new Option('--status <status>', 'show only subscriptions in this state (filtered here, after each page)').choices(['active', 'paused']))
    .addHelpText(
      'after',
      [
        '',
        'Output: a table at a terminal, tab-separated rows (no header) when piped, a JSON array with --json.',
        'Without --all a hint on stderr says when more subscriptions exist. At a terminal, --all prints',
        'a table for each 500 rows, so a long listing never waits for the last page before showing anything.',
      ].join('\n'),
    );
  return bind(command, (_args, opts): ListOptions => {
    const all = opts.all === true;
    return {
      limit: opts.limit === undefined ? (all ? LIST_LIMIT.max : LIST_LIMIT.default) : parseInteger('--limit', opts.limit, { min: LIST_LIMIT.min, max: LIST_LIMIT.max }),
      all,
      status: opts.status as SubscriptionStatus | undefined,
    };
  }, () => import('./run.ts'));
}
