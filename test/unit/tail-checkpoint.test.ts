import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile, chmod } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CheckpointWriter, readCheckpoint, writeCheckpoint, CHECKPOINT_FORMAT } from '../../src/commands/tail-deliveries/checkpoint.ts';
import { CliError, UsageError } from '../../src/errors.ts';

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'iaw-tail-cp-'));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

describe('checkpoint file', () => {
  test('round trip, and no checkpoint yet is null', async () => {
    await withDir(async (dir) => {
      const file = join(dir, 'nested', 'tail.checkpoint');
      assert.equal(await readCheckpoint(file, 'whsub_A'), null);
      await writeCheckpoint(file, { subscriptionId: 'whsub_A', after: 'dlv_01', since: null });
      assert.deepEqual(await readCheckpoint(file, 'whsub_A'), { subscriptionId: 'whsub_A', after: 'dlv_01', since: null });
      const document = JSON.parse(await readFile(file, 'utf8'));
      assert.equal(document.format, CHECKPOINT_FORMAT);
      assert.equal(document.subscription_id, 'whsub_A');
      await writeCheckpoint(file, { subscriptionId: 'whsub_A', after: null, since: '2026-05-01T00:00:00.000Z' });
      assert.deepEqual(await readCheckpoint(file, 'whsub_A'), { subscriptionId: 'whsub_A', after: null, since: '2026-05-01T00:00:00.000Z' });
    });
  });

  test('a checkpoint of another subscription is refused', async () => {
    await withDir(async (dir) => {
      const file = join(dir, 'tail.checkpoint');
      await writeCheckpoint(file, { subscriptionId: 'whsub_A', after: 'dlv_01', since: null });
      await assert.rejects(readCheckpoint(file, 'whsub_B'), (error: unknown) => {
        assert.ok(error instanceof UsageError);
        assert.match(error.message, /belongs to subscription whsub_A, not whsub_B/);
        return true;
      });
    });
  });

  test('a file that is not a checkpoint is refused, not overwritten', async () => {
    await withDir(async (dir) => {
      for (const content of ['', 'not json', '{"format":"something-else","version":1}', '[]', JSON.stringify({ format: CHECKPOINT_FORMAT, version: 1, subscription_id: 'whsub_A', after: 5, since: null })]) {
        const file = join(dir, 'other');
        await writeFile(file, content);
        await assert.rejects(readCheckpoint(file, 'whsub_A'), (error: unknown) => error instanceof UsageError && /is not a tail-deliveries checkpoint/.test(error.message));
        assert.equal(await readFile(file, 'utf8'), content);
      }
    });
  });

  test('each write replaces the file whole: a reader never sees part of one, and no temporary file is left', async () => {
    await withDir(async (dir) => {
      const file = join(dir, 'tail.checkpoint');
      await writeCheckpoint(file, { subscriptionId: 'whsub_A', after: 'dlv_0000', since: null });
      let reads = 0;
      let writing = true;
      const reader = (async () => {
        while (writing) {
          const checkpoint = await readCheckpoint(file, 'whsub_A');
          assert.match(checkpoint!.after!, /^dlv_\d{4}$/);
          reads += 1;
        }
      })();
      for (let i = 1; i <= 150; i += 1) {
        await writeCheckpoint(file, { subscriptionId: 'whsub_A', after: `dlv_${String(i).padStart(4, '0')}`, since: null });
      }
      writing = false;
      await reader;
      assert.ok(reads > 0);
      assert.equal((await readCheckpoint(file, 'whsub_A'))!.after, 'dlv_0150');
      assert.deepEqual(await readdir(dir), ['tail.checkpoint']);
    });
  });
});

describe('CheckpointWriter', () => {
  test('coalesces saves made while a write is running and flush waits for the last one', async () => {
    await withDir(async (dir) => {
      const file = join(dir, 'cp');
      const writer = new CheckpointWriter(file);
      for (let i = 1; i <= 200; i += 1) writer.save({ subscriptionId: 'whsub_A', after: `dlv_${i}`, since: null });
      await writer.flush();
      assert.equal((await readCheckpoint(file, 'whsub_A'))!.after, 'dlv_200');
      writer.save({ subscriptionId: 'whsub_A', after: 'dlv_201', since: null });
      await writer.flush();
      assert.equal((await readCheckpoint(file, 'whsub_A'))!.after, 'dlv_201');
      await writer.flush();
    });
  });

  test('a failed write is reported by flush', { skip: process.getuid?.() === 0 ? 'root ignores directory permissions' : false }, async () => {
    await withDir(async (dir) => {
      const locked = join(dir, 'locked');
      await mkdir(locked);
      await chmod(locked, 0o500);
      const writer = new CheckpointWriter(join(locked, 'cp'));
      writer.save({ subscriptionId: 'whsub_A', after: 'dlv_1', since: null });
      await assert.rejects(writer.flush(), (error: unknown) => error instanceof CliError && /cannot save the checkpoint/.test(error.message));
    });
  });

  test('a failed write is reported by flush (path under a regular file)', async () => {
    await withDir(async (dir) => {
      const blocker = join(dir, 'file');
      await writeFile(blocker, 'x');
      const writer = new CheckpointWriter(join(blocker, 'cp'));
      writer.save({ subscriptionId: 'whsub_A', after: 'dlv_1', since: null });
      await assert.rejects(writer.flush(), (error: unknown) => error instanceof CliError && /cannot save the checkpoint .*not a directory/.test(error.message));
    });
  });
});
