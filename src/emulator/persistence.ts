import { constants as fsConstants } from 'node:fs';
import { chmod, open, readFile, rename, unlink, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { crc32 } from 'node:zlib';
import { IDEMPOTENCY_WINDOW_SECONDS, type DeadLetter, type DeliveryRecord } from '../domain/contract.ts';
import {
  TenantState,
  type IdempotencyRecord,
  type Op,
  type PendingAttempt,
  type ServerRecord,
  type StateCapture,
  type StoredEvent,
  type StoredSubscription,
} from './state.ts';

// State on disk is a snapshot (STATE, one JSON document, replaced atomically) plus a journal
// (STATE.journal, one line per committed batch of ops: "<crc32 hex> <json>"). A journal
// belongs to the snapshot with the same generation; any other journal is stale and ignored.
// Compaction writes the next generation's journal header first, then renames the snapshot
// into place, then the journal: a crash between the two renames leaves a snapshot that
// already holds everything and a stale journal that loading skips.

export const STATE_FORMAT = 'intelliauth-emulator-state';
const STATE_VERSION = 1;
const JOURNAL_FORMAT = 'intelliauth-emulator-journal';
const LAZY_FLUSH_MS = 50;
const COMPACT_MIN_BYTES = 16 * 1024 * 1024;
const WRITE_CHUNK_BYTES = 1024 * 1024;

export class StateFileError extends Error {
  override name = 'StateFileError';
}

export interface Persistence {
  /** Appends ops already applied to the state. Durable appends resolve once on disk; lazy ones return undefined. */
  append(ops: Op[], durable: boolean): Promise<void> | undefined;
  /** Resolves once everything appended so far (lazy appends too) is on disk; undefined when it already is. */
  flushed(): Promise<void> | undefined;
  close(): Promise<void>;
}

/** For an emulator without --state: nothing to write. */
export const inMemoryPersistence: Persistence = {
  append: (_ops, durable) => (durable ? Promise.resolve() : undefined),
  flushed: () => undefined,
  close: () => Promise.resolve(),
};

interface SnapshotDocument {
  format: string;
  version: number;
  generation: number;
  saved_at: string;
  server: ServerRecord;
  subscriptions: StoredSubscription[];
  events: StoredEvent[];
  feeds: Record<string, DeliveryRecord[]>;
  pending: PendingAttempt[];
  dead_letters: DeadLetter[];
  idempotency: IdempotencyRecord[];
}

export interface LoadedState {
  state: TenantState;
  generation: number;
  /** How many journal lines were replayed, and whether a torn tail was dropped. */
  replayed: number;
  tornTail: boolean;
}

function frame(json: string): string {
  return `${crc32(json).toString(16).padStart(8, '0')} ${json}\n`;
}

function unframe(line: string): unknown {
  if (line.length < 10 || line[8] !== ' ') return undefined;
  const json = line.slice(9);
  if (crc32(json).toString(16).padStart(8, '0') !== line.slice(0, 8)) return undefined;
  try {
    return JSON.parse(json);
  } catch {
    return undefined;
  }
}

async function readIfExists(path: string): Promise<string | null> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
}

function corrupt(path: string, why: string): StateFileError {
  return new StateFileError(
    `the emulator state file ${path} is unreadable (${why}); refusing to start so nothing is lost. ` +
      'Move the file away (and its .journal) to start with an empty tenant.',
  );
}

function parseSnapshot(path: string, text: string): SnapshotDocument {
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch (error) {
    throw corrupt(path, `not valid JSON: ${(error as Error).message}`);
  }
  const doc = document as Partial<SnapshotDocument> | null;
  if (typeof doc !== 'object' || doc === null || doc.format !== STATE_FORMAT) throw corrupt(path, 'not an emulator state file');
  if (doc.version !== STATE_VERSION) throw corrupt(path, `unsupported version ${String(doc.version)}`);
  const server = doc.server as Partial<ServerRecord> | undefined;
  const wellFormed =
    Number.isInteger(doc.generation) &&
    typeof server?.token_key === 'string' &&
    typeof server.tenant_id === 'string' &&
    typeof server.client_id === 'string' &&
    typeof server.client_secret === 'string' &&
    Array.isArray(doc.subscriptions) &&
    Array.isArray(doc.events) &&
    typeof doc.feeds === 'object' &&
    doc.feeds !== null &&
    Array.isArray(doc.pending) &&
    Array.isArray(doc.dead_letters) &&
    Array.isArray(doc.idempotency);
  if (!wellFormed) throw corrupt(path, 'a required section is missing');
  return doc as SnapshotDocument;
}

/** Reads STATE and its journal; null when there is no state yet. Throws StateFileError when unreadable. */
export async function loadState(path: string, feedLimit: number, now: number = Date.now()): Promise<LoadedState | null> {
  const text = await readIfExists(path);
  if (text === null) return null;
  const snapshot = parseSnapshot(path, text);
  const state = new TenantState(snapshot.server, feedLimit);
  // Order matters for event references: events first, then what points at them, the feed
  // last (a smaller feed limit than last time trims it, which must not free a pending event).
  for (const sub of snapshot.subscriptions) state.apply({ op: 'sub', sub });
  for (const event of snapshot.events) state.apply({ op: 'event', event });
  for (const p of snapshot.pending) state.apply({ op: 'pend', p });
  for (const d of snapshot.dead_letters) state.apply({ op: 'dl', d });
  for (const records of Object.values(snapshot.feeds)) for (const r of records) state.apply({ op: 'rec', r });
  for (const i of snapshot.idempotency) state.apply({ op: 'idem', i });

  let replayed = 0;
  let tornTail = false;
  const journal = await readIfExists(`${path}.journal`);
  if (journal !== null) {
    const lines = journal.split('\n');
    const header = unframe(lines[0] ?? '') as { format?: string; generation?: number } | undefined;
    if (header?.format === JOURNAL_FORMAT && header.generation === snapshot.generation) {
      for (let index = 1; index < lines.length; index += 1) {
        const line = lines[index]!;
        if (line === '' && index === lines.length - 1) break;
        const ops = unframe(line);
        if (!Array.isArray(ops)) {
          // Only the tail can be torn (each batch is fsynced before the next is written).
          if (lines.slice(index + 1).some((later) => later !== '' && unframe(later) !== undefined)) {
            throw corrupt(`${path}.journal`, `line ${index + 1} is damaged and later lines are intact`);
          }
          tornTail = true;
          break;
        }
        state.applyBatch(ops as Op[]);
        replayed += 1;
      }
    }
  }
  state.expireDeadLetters(now);
  state.expireIdempotency(now - IDEMPOTENCY_WINDOW_SECONDS * 1000);
  state.dropUnreferencedEvents();
  return { state, generation: snapshot.generation, replayed, tornTail };
}

/** Buffers strings into large writes. */
class ChunkWriter {
  private parts: string[] = [];
  private pending = 0;
  bytes = 0;

  constructor(private readonly handle: FileHandle) {}

  async write(text: string): Promise<void> {
    this.parts.push(text);
    this.pending += text.length;
    if (this.pending >= WRITE_CHUNK_BYTES) await this.flush();
  }

  async array(items: readonly unknown[]): Promise<void> {
    await this.write('[');
    for (let i = 0; i < items.length; i += 1) await this.write((i === 0 ? '' : ',') + JSON.stringify(items[i]));
    await this.write(']');
  }

  async flush(): Promise<void> {
    if (this.parts.length === 0) return;
    const buffer = Buffer.from(this.parts.join(''), 'utf8');
    this.parts = [];
    this.pending = 0;
    await this.handle.write(buffer);
    this.bytes += buffer.length;
  }
}

async function syncDirectory(path: string): Promise<void> {
  let handle: FileHandle | undefined;
  try {
    handle = await open(dirname(path), fsConstants.O_RDONLY);
    await handle.sync();
  } catch {
    // Some file systems refuse to open or sync a directory; the rename is still atomic there.
  } finally {
    await handle?.close();
  }
}

async function createPrivateFile(path: string): Promise<FileHandle> {
  await unlink(path).catch(() => undefined);
  const handle = await open(path, 'w', 0o600);
  await chmod(path, 0o600);
  return handle;
}

async function writeSnapshotFile(tmpPath: string, capture: StateCapture, generation: number): Promise<number> {
  const handle = await createPrivateFile(tmpPath);
  try {
    const out = new ChunkWriter(handle);
    const head = { format: STATE_FORMAT, version: STATE_VERSION, generation, saved_at: new Date().toISOString(), server: capture.server };
    await out.write(`${JSON.stringify(head).slice(0, -1)},\n"subscriptions":`);
    await out.array(capture.subscriptions);
    await out.write(',\n"events":');
    await out.array(capture.events);
    await out.write(',\n"feeds":{');
    for (let i = 0; i < capture.feeds.length; i += 1) {
      const [id, records] = capture.feeds[i]!;
      await out.write(`${i === 0 ? '' : ','}\n${JSON.stringify(id)}:`);
      await out.array(records);
    }
    await out.write('},\n"pending":');
    await out.array(capture.pending);
    await out.write(',\n"dead_letters":');
    await out.array(capture.dead_letters);
    await out.write(',\n"idempotency":');
    await out.array(capture.idempotency);
    await out.write('}\n');
    await out.flush();
    await handle.sync();
    return out.bytes;
  } finally {
    await handle.close();
  }
}

async function writeJournalHeader(tmpPath: string, generation: number): Promise<{ handle: FileHandle; bytes: number }> {
  const handle = await createPrivateFile(tmpPath);
  const header = Buffer.from(frame(JSON.stringify({ format: JOURNAL_FORMAT, generation })), 'utf8');
  await handle.write(header);
  await handle.sync();
  return { handle, bytes: header.length };
}

interface Waiter {
  resolve: () => void;
  reject: (error: Error) => void;
}

/** Snapshot + journal with group commit. Open it with `FilePersistence.open`. */
export class FilePersistence implements Persistence {
  private buffer: string[] = [];
  private waiters: Waiter[] = [];
  private running: Promise<void> | null = null;
  private timer: NodeJS.Timeout | null = null;
  private failure: Error | null = null;
  private closed = false;
  private journalBytes = 0;
  private snapshotBytes = 0;

  private constructor(
    private readonly path: string,
    private readonly capture: () => StateCapture,
    private readonly onError: (message: string) => void,
    private handle: FileHandle | null,
    private generation: number,
  ) {}

  /**
   * Writes a fresh snapshot of `state` (so loading never replays the same journal twice and a
   * torn tail is gone) and starts a new journal. `generation` is the loaded one (0 when new).
   */
  static async open(path: string, state: TenantState, generation: number, onError: (message: string) => void): Promise<FilePersistence> {
    const persistence = new FilePersistence(path, () => state.capture(Date.now()), onError, null, generation);
    await persistence.compact();
    if (persistence.failure) throw new StateFileError(`cannot write the emulator state file ${path}: ${persistence.failure.message}`);
    return persistence;
  }

  append(ops: Op[], durable: boolean): Promise<void> | undefined {
    if (this.closed) return durable ? Promise.reject(new Error('the emulator state is closed')) : undefined;
    this.buffer.push(frame(JSON.stringify(ops)));
    if (!durable) {
      this.kick(LAZY_FLUSH_MS);
      return undefined;
    }
    if (this.failure) return Promise.reject(this.failure);
    const done = new Promise<void>((resolve, reject) => this.waiters.push({ resolve, reject }));
    this.kick(0);
    return done;
  }

  flushed(): Promise<void> | undefined {
    // After a write failure nothing reaches the disk any more (it was reported): reads go on.
    if (this.failure || this.closed) return undefined;
    if (this.buffer.length > 0) {
      const done = new Promise<void>((resolve, reject) => this.waiters.push({ resolve, reject }));
      this.kick(0);
      return done.catch(() => undefined);
    }
    // Lines already taken by the running write are on disk when it ends.
    return this.running?.catch(() => undefined) ?? undefined;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.buffer.length > 0 && !this.running) this.running = this.run();
    while (this.running) await this.running;
    await this.handle?.close();
    this.handle = null;
  }

  private kick(delayMs: number): void {
    if (this.running) return; // the running loop picks the lines up
    if (delayMs === 0) {
      if (this.timer) clearTimeout(this.timer);
      this.timer = null;
      this.running = this.run();
    } else if (!this.timer) {
      this.timer = setTimeout(() => {
        this.timer = null;
        if (!this.running) this.running = this.run();
      }, delayMs);
    }
  }

  private async run(): Promise<void> {
    try {
      while (this.buffer.length > 0) {
        const lines = this.buffer;
        const waiters = this.waiters;
        this.buffer = [];
        this.waiters = [];
        try {
          if (this.failure) throw this.failure;
          const bytes = Buffer.from(lines.join(''), 'utf8');
          await this.handle!.write(bytes);
          await this.handle!.datasync();
          this.journalBytes += bytes.length;
          for (const waiter of waiters) waiter.resolve();
        } catch (error) {
          this.fail(error as Error);
          for (const waiter of waiters) waiter.reject(this.failure!);
        }
        if (!this.failure && this.journalBytes > Math.max(COMPACT_MIN_BYTES, this.snapshotBytes)) await this.compact();
      }
    } finally {
      this.running = null;
    }
  }

  private fail(error: Error): void {
    if (this.failure) return;
    this.failure = new Error(`writing the emulator state failed: ${error.message}`);
    this.onError(this.failure.message);
  }

  /**
   * Replaces snapshot and journal with the next generation. Lines still buffered are
   * already in the captured state: they are covered by the snapshot, not rewritten.
   */
  private async compact(): Promise<void> {
    const coveredLines = this.buffer;
    const coveredWaiters = this.waiters;
    this.buffer = [];
    this.waiters = [];
    const capture = this.capture();
    const next = this.generation + 1;
    let journal: { handle: FileHandle; bytes: number } | undefined;
    try {
      journal = await writeJournalHeader(`${this.path}.journal.tmp`, next);
      const snapshotBytes = await writeSnapshotFile(`${this.path}.tmp`, capture, next);
      await rename(`${this.path}.tmp`, this.path);
      this.snapshotBytes = snapshotBytes;
    } catch (error) {
      await journal?.handle.close();
      if (!this.handle) {
        this.fail(error as Error);
        for (const waiter of coveredWaiters) waiter.reject(this.failure!);
        return;
      }
      // The old snapshot and journal are still the state: put the covered lines back.
      this.onError(`compacting the emulator state failed (${(error as Error).message}); keeping the journal`);
      this.buffer = coveredLines.concat(this.buffer);
      this.waiters = coveredWaiters.concat(this.waiters);
      this.snapshotBytes = Math.max(this.snapshotBytes, this.journalBytes) * 2;
      return;
    }
    try {
      // From here the new snapshot is live; the old journal is stale whatever happens next.
      await rename(`${this.path}.journal.tmp`, `${this.path}.journal`);
      await syncDirectory(this.path);
    } catch (error) {
      this.fail(error as Error);
    }
    await this.handle?.close();
    this.handle = journal.handle;
    this.generation = next;
    this.journalBytes = journal.bytes;
    for (const waiter of coveredWaiters) {
      if (this.failure) waiter.reject(this.failure);
      else waiter.resolve();
    }
  }
}

/** An exclusive claim on a state file, so two emulators never write the same one. */
export async function lockStateFile(path: string): Promise<() => Promise<void>> {
  const lockPath = `${path}.lock`;
  for (let tries = 0; tries < 2; tries += 1) {
    try {
      const handle = await open(lockPath, 'wx', 0o600);
      await handle.write(String(process.pid));
      await handle.close();
      return () => unlink(lockPath).catch(() => undefined);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== 'EEXIST') throw new StateFileError(`cannot use the emulator state file ${path}: ${code ?? (error as Error).message}${code === 'ENOENT' ? ' (does its directory exist?)' : ''}`);
    }
    const holder = Number((await readIfExists(lockPath))?.trim());
    if (Number.isInteger(holder) && holder > 0 && processAlive(holder)) {
      throw new StateFileError(`the emulator state file ${path} is in use by process ${holder}`);
    }
    await unlink(lockPath).catch(() => undefined); // left by a process that died
  }
  throw new StateFileError(`could not lock the emulator state file ${path}`);
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
