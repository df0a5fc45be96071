import type { Context } from '../../cli/context.ts';
import type { EventType } from '../../domain/contract.ts';
import { printTable } from '../../output/table.ts';
import type { EventTypesOptions } from './index.ts';

export async function run(_options: EventTypesOptions, context: Context): Promise<void> {
  const api = await context.api();
  const catalogue = await api.listEventTypes();
  if (context.globals.json) {
    context.io.printJson(catalogue);
    return;
  }
  await printTable<EventType>(
    context.io,
    [
      { header: 'type', value: (t) => t.type },
      { header: 'category', value: (t) => t.category },
      { header: 'description', value: (t) => t.description },
    ],
    catalogue,
  );
  if (context.io.stdoutIsTTY) context.io.hint('subscribe with `create --events TYPE[,TYPE...]`; `user.*` selects a whole category');
}
