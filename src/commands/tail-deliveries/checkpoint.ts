// The --checkpoint file: where the next run of `tail-deliveries` starts, so a job run every
// few minutes sees each attempt once. Replaced atomically (temporary file, fsync, rename),
// so a crash leaves either the old or the new checkpoint, never half of one.
//
// Not written with config/atomic-file.ts: that makes the parent directory private (0700),
// which is right for our own config directory but not for a directory the user named.

import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { CliError, UsageError } from '../../errors.ts';

export const CHECKPOINT_FORMAT = 'intelliauth-webhooks-tail-checkpoint';
export const CHECKPOINT_VERSION = 1;

/** Where a run resumes: after a delivery id, or (nothing seen yet) from `since` or the feed's start. */
export interface ResumePoint {
  after: string | null;
  since: string | null;
}

export interface Checkpoint extends ResumePoint {
  subscriptionId: string;
}

interface CheckpointDocument {
  format: string;
  version: number;
  subscription_id: string;
  after: string | null;
  since: string | null;
  saved_at: string;
}

/** The checkpoint in `file`, or null when there is none yet. Refuses one made for another subscription. */
export async function readCheckpoint(file: string, subscriptionId: string): Promise<Checkpoint | null> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return null;
    throw new UsageError(`cannot read the checkpoint ${file}: ${describeFsError(error)}`);
  }
  const document = parseDocument(text);
  if (!document) {
    throw new UsageError(`${file} is not a tail-deliveries checkpoint`, {
      hint: 'name a new file, or delete this one to start again from the most recent attempts',
    });
  }
  if (document.subscription_id !== subscriptionId) {
    throw new UsageError(`the checkpoint ${file} belongs to subscription ${document.subscription_id}, not ${subscriptionId}`, {
      hint: 'use one checkpoint file per subscription',
    });
  }
  return { subscriptionId, after: document.after, since: document.since };
}

export async function writeCheckpoint(file: string, checkpoint: Checkpoint, now: number = Date.now()): Promise<void> {
  const document: CheckpointDocument = {
    format: CHECKPOINT_FORMAT,
    version: CHECKPOINT_VERSION,
    subscription_id: checkpoint.subscriptionId,
    after: checkpoint.after,
    since: checkpoint.since,
    saved_at: new Date(now).toISOString(),
  };
  await replaceFileAtomically(file, `${JSON.stringify(document)}\n`);
}

function parseDocument(text: string): CheckpointDocument | null {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof value !== 'object' || value === null) return null;
  const doc = value as Partial<CheckpointDocument>;
  const nullableString = (field: unknown) => field === null || (typeof field === 'string' && field !== '');
  if (doc.format !== CHECKPOINT_FORMAT || doc.version !== CHECKPOINT_VERSION) return null;
  if (typeof doc.subscription_id !== 'string' || doc.subscription_id === '') return null;
  if (!nullableString(doc.after) || !nullableString(doc.since)) return null;
  if (typeof doc.since === 'string' && Number.isNaN(Date.parse(doc.since))) return null;
  return doc as CheckpointDocument;
}

async function replaceFileAtomically(file: string, contents: string): Promise<void> {
  const dir = dirname(file);
  await mkdir(dir, { recursive: true });
  const temporary = join(dir, `.${basename(file)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  let renamed = false;
  try {
    const handle = await open(temporary, 'wx', 0o644);
    try {
      await handle.writeFile(contents, 'utf8');
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temporary, file);
    renamed = true;
  } finally {
    if (!renamed) await rm(temporary, { force: true }).catch(() => undefined);
  }
}

/**
 * Saves checkpoints in the background, one write at a time: a save while a write is in
 * flight replaces any save still waiting, so a fast feed costs one write per write time,
 * not one per page. flush() waits until the last save is on disk and reports a failure.
 */
export class CheckpointWriter {
  readonly file: string;
  readonly #now: () => number;
  #waiting: Checkpoint | undefined;
  #running: Promise<void> | undefined;
  #failure: unknown;
  #lastWritten: string | undefined;

  constructor(file: string, now: () => number = Date.now) {
    this.file = file;
    this.#now = now;
  }

  save(checkpoint: Checkpoint): void {
    if (this.#failure !== undefined) return;
    this.#waiting = checkpoint;
    this.#start();
  }

  #start(): void {
    if (this.#running) return;
    // .finally runs on a later tick, so it always clears what was just assigned; a save that
    // came after the loop ended but before that tick starts a new loop.
    this.#running = this.#drain().finally(() => {
      this.#running = undefined;
      if (this.#waiting && this.#failure === undefined) this.#start();
    });
  }

  /** Waits for every save so far; throws if one failed. */
  async flush(): Promise<void> {
    while (this.#running) await this.#running;
    if (this.#failure !== undefined) {
      throw new CliError(`cannot save the checkpoint ${this.file}: ${describeFsError(this.#failure)}`, {
        hint: 'the next run may repeat attempts printed by this one',
      });
    }
  }

  async #drain(): Promise<void> {
    while (this.#waiting && this.#failure === undefined) {
      const checkpoint = this.#waiting;
      this.#waiting = undefined;
      const key = `${checkpoint.after}\u0000${checkpoint.since}`;
      if (key === this.#lastWritten) continue;
      try {
        await writeCheckpoint(this.file, checkpoint, this.#now());
        this.#lastWritten = key;
      } catch (error) {
        this.#failure = error;
      }
    }
  }
}

export function describeFsError(error: unknown): string {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  switch (code) {
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'ENOSPC':
      return 'no space left on the device';
    case 'EROFS':
      return 'read-only file system';
    case 'EISDIR':
      return 'it is a directory';
    case 'ENOTDIR':
    case 'EEXIST': // from mkdir: a file stands where a directory should be
      return 'a part of the path is not a directory';
    default:
      return error instanceof Error ? error.message.replace(/\s+/g, ' ') : String(error);
  }
}
