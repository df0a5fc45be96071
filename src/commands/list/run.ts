import type { Context } from '../../cli/context.ts';
import { LIST_LIMIT, type Subscription } from '../../domain/contract.ts';
import type { IO } from '../../output/io.ts';
import { formatEvents, formatShortTime, styleStatus } from '../../output/format.ts';
import { printTable, type Column } from '../../output/table.ts';
import type { ListOptions } from './index.ts';

/** Rows per table at a terminal with --all: bounded memory, and the header comes back now and then. */
export const TTY_TABLE_ROWS = 500;

export async function run(options: ListOptions, context: Context): Promise<void> {
  const api = await context.api();
  // `list --all | head`: once the reader has gone, the remaining pages are not wanted. The
  // listener stays: the last write may fail after the listing ends.
  let readerGone = false;
  context.io.onStdoutReaderGone(() => (readerGone = true));
  const sink = createSink(context);
  const keep = (subscription: Subscription) => options.status === undefined || subscription.status === options.status;

  if (options.all) {
    for await (const subscription of api.iterateSubscriptions({ pageSize: options.limit })) {
      if (readerGone) return;
      if (keep(subscription)) await sink.add(subscription);
    }
    await sink.end();
    return;
  }

  const page = await api.listSubscriptions({ limit: options.limit });
  for (const subscription of page.items) if (keep(subscription)) await sink.add(subscription);
  await sink.end();
  if (page.nextCursor !== null) {
    context.io.hint(`more subscriptions exist: use --all${options.limit < LIST_LIMIT.max ? ` or a larger --limit (up to ${LIST_LIMIT.max})` : ''}`);
  }
}

interface Sink {
  add(subscription: Subscription): Promise<void>;
  end(): Promise<void>;
}

function createSink(context: Context): Sink {
  const { io } = context;
  if (context.globals.json) return jsonArraySink(io);
  if (!io.stdoutIsTTY) {
    return {
      add: async (subscription) => {
        await printTable(io, columns(io), [subscription]);
        await io.stdoutDrained();
      },
      end: async () => {},
    };
  }
  return ttyTableSink(io);
}

/**
 * Writes the same text JSON.stringify(array, null, 2) would, one element at a time, so a
 * listing of any length streams instead of sitting in memory.
 */
function jsonArraySink(io: IO): Sink {
  let count = 0;
  return {
    add: async (subscription) => {
      const element = JSON.stringify(subscription, null, 2).replace(/\n/g, '\n  ');
      io.write(`${count === 0 ? '[\n' : ',\n'}  ${element}`);
      count += 1;
      await io.stdoutDrained();
    },
    end: async () => {
      io.write(count === 0 ? '[]\n' : '\n]\n');
    },
  };
}

function ttyTableSink(io: IO): Sink {
  let rows: Subscription[] = [];
  let total = 0;
  const flush = async () => {
    if (rows.length > 0) await printTable(io, columns(io), rows);
    rows = [];
  };
  return {
    add: async (subscription) => {
      rows.push(subscription);
      total += 1;
      if (rows.length >= TTY_TABLE_ROWS) await flush();
    },
    end: async () => {
      await flush();
      io.info(total === 0 ? 'no subscriptions' : `${total} subscription${total === 1 ? '' : 's'}`);
    },
  };
}

function columns(io: IO): Array<Column<Subscription>> {
  return [
    { header: 'id', value: (s) => s.id },
    { header: 'name', value: (s) => s.name },
    { header: 'url', value: (s) => s.url },
    { header: 'events', value: (s) => (io.stdoutIsTTY ? formatEvents(s.events) : s.events.join(',')) },
    { header: 'status', value: (s) => s.status, style: (text) => styleStatus(io, text) },
    { header: 'created', value: (s) => (io.stdoutIsTTY ? formatShortTime(s.created_at) : s.created_at) },
  ];
}
