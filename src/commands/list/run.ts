import { once } from 'node:events';
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
  const reader = watchReader(context.io);
  const sink = createSink(context);
  const keep = (subscription: Subscription) => options.status === undefined || subscription.status === options.status;

  if (options.all) {
    for await (const subscription of api.iterateSubscriptions({ pageSize: options.limit })) {
      // `list --all | head`: once the reader has gone, the remaining pages are not wanted.
      if (reader.gone) return;
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
        await drained(io);
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
      await drained(io);
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

/** Waits while stdout is a slow pipe, so pages are not fetched faster than they can be written. */
async function drained(io: IO): Promise<void> {
  const stream = io.stdout as Partial<NodeJS.WritableStream> & { writableNeedDrain?: boolean };
  if (stream.writableNeedDrain !== true || typeof stream.once !== 'function') return;
  const emitter = stream as NodeJS.EventEmitter;
  const ac = new AbortController();
  try {
    // A reader that went away never drains; 'close' ends the wait too.
    await Promise.race([once(emitter, 'drain', { signal: ac.signal }), once(emitter, 'close', { signal: ac.signal })]);
  } catch (error) {
    if (!isReaderGone(error)) throw error;
  } finally {
    ac.abort();
  }
}

/**
 * Notices stdout's reader going away (EPIPE), which is how `| head` ends a listing: not an
 * error, so it is not reported as one. The listener stays: the last write may fail later.
 */
function watchReader(io: IO): { readonly gone: boolean } {
  const state = { gone: false };
  const stream = io.stdout as Partial<NodeJS.EventEmitter>;
  if (typeof stream.on !== 'function') return state;
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (isReaderGone(error)) {
      state.gone = true;
      return;
    }
    throw error;
  });
  return state;
}

function isReaderGone(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | null)?.code;
  return code === 'EPIPE' || code === 'ERR_STREAM_DESTROYED';
}
