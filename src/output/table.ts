import type { IO } from './io.ts';

// Tables for people at a terminal (cli-table3, loaded only when a table is printed). When
// stdout is not a terminal, rows are tab-separated with no borders or colour, so that
// `cut` and `awk` work without --json.

export interface Column<Row> {
  header: string;
  value: (row: Row) => string;
  /** Optional styling applied at a terminal only. */
  style?: (text: string, row: Row) => string;
}

export async function printTable<Row>(io: IO, columns: ReadonlyArray<Column<Row>>, rows: Iterable<Row>): Promise<void> {
  if (!io.stdoutIsTTY) {
    for (const row of rows) io.print(columns.map((column) => sanitizeCell(column.value(row))).join('\t'));
    return;
  }
  const { default: Table } = await import('cli-table3');
  const table = new Table({
    head: columns.map((column) => io.out.bold(column.header)),
    style: { head: [], border: [] },
    wordWrap: true,
  });
  for (const row of rows) {
    table.push(columns.map((column) => {
      const text = sanitizeCell(column.value(row));
      return column.style ? column.style(text, row) : text;
    }));
  }
  io.print(table.toString());
}

/** Key/value pairs of one object, for `get`-style output at a terminal. */
export async function printDetails(io: IO, pairs: ReadonlyArray<readonly [string, string]>): Promise<void> {
  if (!io.stdoutIsTTY) {
    for (const [key, value] of pairs) io.print(`${key}\t${sanitizeCell(value)}`);
    return;
  }
  const width = Math.max(...pairs.map(([key]) => key.length));
  for (const [key, value] of pairs) io.print(`${io.out.dim(key.padEnd(width))}  ${sanitizeCell(value)}`);
}

/** Server-provided text must not move the cursor or inject escape sequences into a terminal. */
export function sanitizeCell(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g, '�').replace(/[\t\n]/g, ' ');
}
