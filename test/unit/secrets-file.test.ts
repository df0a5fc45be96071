// File-based secret storage: the file store, user-named secret files, and the fallback.

import { randomBytes } from 'node:crypto';
import { chmod, lstat, mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { SecretStoreError } from '../../src/errors.ts';
import { writeFallbackSecret } from '../../src/secrets/fallback.ts';
import { defaultSecretsDir, FileSecretStore, secretFileName } from '../../src/secrets/file-store.ts';
import { checkSecretFileWritable, readSecretFile, writeNewSecretFile } from '../../src/secrets/secret-file.ts';
import { repoRoot, runChild } from '../helpers/keyring.ts';

const posix = process.platform !== 'win32';
const isRoot = process.getuid?.() === 0;

async function modeOf(path: string): Promise<number> {
  return (await stat(path)).mode & 0o777;
}

let scratch: string;
before(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'secrets-file-'));
});
after(async () => {
  await rm(scratch, { recursive: true, force: true });
});

async function freshDir(label: string): Promise<string> {
  return join(scratch, `${label}-${randomBytes(4).toString('hex')}`);
}

describe('FileSecretStore', () => {
  test('creates a 0700 directory and 0600 files holding exactly the secret', { skip: !posix }, async () => {
    const dir = join(await freshDir('store'), 'nested', 'secrets');
    const store = new FileSecretStore(dir);
    await store.set('tenant.example.com/whsub_01', 'whsec_abc');
    assert.equal(await modeOf(dir), 0o700);
    const path = store.pathFor('tenant.example.com/whsub_01');
    assert.equal(dirname(path), dir);
    assert.equal(await modeOf(path), 0o600);
    assert.equal(await readFile(path, 'utf8'), 'whsec_abc');
  });

  test('round trip: get, overwrite, delete', async () => {
    const store = new FileSecretStore(await freshDir('roundtrip'));
    assert.equal(await store.get('h/whsub_1'), null);
    assert.equal(await store.delete('h/whsub_1'), false);
    await store.set('h/whsub_1', 'one');
    await store.set('h/whsub_1', 'two');
    await store.set('h/whsub_1/previous', 'one');
    assert.equal(await store.get('h/whsub_1'), 'two');
    assert.equal(await store.get('h/whsub_1/previous'), 'one');
    assert.equal(await store.delete('h/whsub_1'), true);
    assert.equal(await store.get('h/whsub_1'), null);
    assert.equal(await store.get('h/whsub_1/previous'), 'one');
  });

  test('writes leave no temporary files, even when the final rename fails', async () => {
    const dir = await freshDir('atomic');
    const store = new FileSecretStore(dir);
    await store.set('h/ok', 'value');
    // A non-empty directory where the secret file should go makes rename() fail.
    const blocked = store.pathFor('h/blocked');
    await mkdir(join(blocked, 'inner'), { recursive: true });
    await assert.rejects(store.set('h/blocked', 'value'), (error: unknown) => {
      assert.ok(error instanceof SecretStoreError);
      assert.match(error.message, new RegExp(`^cannot store the secret in ${dir}: `));
      assert.ok(!error.message.includes('value'));
      return true;
    });
    const names = await readdir(dir);
    assert.deepEqual(names.filter((name) => name.startsWith('.tmp-')), []);
    assert.equal(names.length, 2);
  });

  test('readers see the old or the new secret, never a partial one', async () => {
    const store = new FileSecretStore(await freshDir('concurrent'));
    const values = ['a'.repeat(50_000), 'b'.repeat(60_000)];
    await store.set('h/x', values[0] as string);
    const writes = Array.from({ length: 20 }, (_, i) => store.set('h/x', values[i % 2] as string));
    const reads = Array.from({ length: 40 }, () => store.get('h/x'));
    const [, seen] = await Promise.all([Promise.all(writes), Promise.all(reads)]);
    for (const value of seen) assert.ok(values.includes(value as string), `read a torn value of length ${value?.length}`);
  });

  test('refuses to read a secret file other users can access; writing it again fixes it', { skip: !posix }, async () => {
    const store = new FileSecretStore(await freshDir('loose'));
    await store.set('h/loose', 'v1');
    const path = store.pathFor('h/loose');
    await chmod(path, 0o644);
    await assert.rejects(store.get('h/loose'), (error: unknown) => {
      assert.ok(error instanceof SecretStoreError);
      assert.equal(error.message, `refusing to read the secret file ${path}: other users can access it (mode 0644)`);
      assert.match(error.hint ?? '', /chmod 600/);
      return true;
    });
    await store.set('h/loose', 'v2');
    assert.equal(await modeOf(path), 0o600);
    assert.equal(await store.get('h/loose'), 'v2');
  });

  test('tightens a directory that is too open when writing', { skip: !posix }, async () => {
    const dir = await freshDir('opendir');
    await mkdir(dir, { mode: 0o755 });
    await chmod(dir, 0o755);
    await new FileSecretStore(dir).set('h/x', 'v');
    assert.equal(await modeOf(dir), 0o700);
  });

  test('refuses to follow a symlink put in place of a secret file', { skip: !posix }, async () => {
    const dir = await freshDir('symlink');
    const store = new FileSecretStore(dir);
    await store.set('h/other', 'v');
    const decoy = join(scratch, 'decoy');
    await writeFile(decoy, 'planted', { mode: 0o600 });
    await symlink(decoy, store.pathFor('h/link'));
    await assert.rejects(store.get('h/link'), {
      message: `refusing to read the secret file ${store.pathFor('h/link')}: it is a symbolic link`,
    });
  });

  test('probe round-trips and leaves the directory empty', async () => {
    const dir = await freshDir('probe');
    await new FileSecretStore(dir).probe();
    assert.deepEqual(await readdir(dir), []);
  });

  test('probe fails with a SecretStoreError when the directory cannot be created', async () => {
    const file = join(scratch, `plain-file-${randomBytes(3).toString('hex')}`);
    await writeFile(file, 'x');
    const store = new FileSecretStore(join(file, 'secrets'));
    await assert.rejects(store.probe(), (error: unknown) => {
      assert.ok(error instanceof SecretStoreError);
      assert.match(error.message, /^cannot prepare the file store .*: a parent is not a directory \(ENOTDIR\)$/);
      return true;
    });
  });

  test('file names are safe, distinct and partly readable', () => {
    const accounts = ['h/whsub_1', 'h/whsub_1/previous', 'H/WHSUB_1', '..', '.', '/', '', 'ü/ö', 'a'.repeat(500), 'h/whsub_1 '];
    const names = accounts.map((account) => secretFileName(account));
    assert.equal(new Set(names).size, accounts.length);
    for (const name of names) {
      assert.match(name, /^[A-Za-z0-9][A-Za-z0-9._-]*\.[0-9a-f]{16}\.secret$/);
      assert.ok(name.length < 120);
    }
    assert.ok(secretFileName('tenant.example.com/whsub_01/previous').startsWith('tenant.example.com_whsub_01_previous.'));
    assert.throws(() => new FileSecretStore(scratch).pathFor(''), SecretStoreError);
  });

  test('default directory follows XDG_DATA_HOME, ignoring relative values', () => {
    assert.equal(defaultSecretsDir({ XDG_DATA_HOME: '/data' }), join('/data', 'intelliauth-webhooks', 'secrets'));
    assert.equal(defaultSecretsDir({ XDG_DATA_HOME: 'relative/dir', HOME: '/home/u' }), join('/home/u', '.local', 'share', 'intelliauth-webhooks', 'secrets'));
    assert.equal(new FileSecretStore('/x/y').describe(), 'file store /x/y');
  });
});

describe('secret files named by the user', () => {
  test('writeNewSecretFile creates a 0600 file with the secret and a newline', async () => {
    const path = join(await freshDir('new'), 'signing.secret');
    await mkdir(dirname(path));
    await writeNewSecretFile(path, 'whsec_123');
    assert.equal(await readFile(path, 'utf8'), 'whsec_123\n');
    if (posix) assert.equal(await modeOf(path), 0o600);
    assert.equal(await readSecretFile(path), 'whsec_123');
  });

  test('the mode is 0600 whatever the umask', { skip: !posix }, async () => {
    const dir = await freshDir('umask');
    await mkdir(dir);
    const previous = process.umask(0);
    try {
      await writeNewSecretFile(join(dir, 's'), 'v');
    } finally {
      process.umask(previous);
    }
    assert.equal(await modeOf(join(dir, 's')), 0o600);
  });

  test('never overwrites an existing file', async () => {
    const dir = await freshDir('exists');
    await mkdir(dir);
    const path = join(dir, 'taken');
    await writeFile(path, 'precious');
    await assert.rejects(writeNewSecretFile(path, 'new'), {
      name: 'SecretStoreError',
      message: `refusing to overwrite existing file ${path}`,
    });
    assert.equal(await readFile(path, 'utf8'), 'precious');
  });

  test('never writes through a symlink, even a dangling one', { skip: !posix }, async () => {
    const dir = await freshDir('dangling');
    await mkdir(dir);
    const target = join(dir, 'target');
    const link = join(dir, 'link');
    await symlink(target, link);
    await assert.rejects(writeNewSecretFile(link, 'v'), { message: `refusing to overwrite existing file ${link}` });
    await assert.rejects(lstat(target), { code: 'ENOENT' });
    await assert.rejects(checkSecretFileWritable(link), { message: `refusing to overwrite existing file ${link}` });
  });

  test('checkSecretFileWritable accepts a new file in a writable directory and writes nothing', async () => {
    const dir = await freshDir('check');
    await mkdir(dir);
    await checkSecretFileWritable(join(dir, 'new.secret'));
    assert.deepEqual(await readdir(dir), []);
  });

  test('checkSecretFileWritable names the reason before anything is asked of the API', async () => {
    const dir = await freshDir('reasons');
    await mkdir(dir);
    const existing = join(dir, 'existing');
    await writeFile(existing, 'x');
    await assert.rejects(checkSecretFileWritable(existing), {
      name: 'SecretStoreError',
      message: `refusing to overwrite existing file ${existing}`,
    });
    const missingDir = join(dir, 'missing');
    await assert.rejects(checkSecretFileWritable(join(missingDir, 's')), {
      message: `cannot write the secret file ${join(missingDir, 's')}: directory ${missingDir} does not exist`,
    });
    await assert.rejects(checkSecretFileWritable(join(existing, 's')), {
      message: `cannot write the secret file ${join(existing, 's')}: a parent of it is not a directory`,
    });
    await assert.rejects(checkSecretFileWritable(join(existing, 'sub', 's')), {
      message: `cannot write the secret file ${join(existing, 'sub', 's')}: a parent of it is not a directory`,
    });
  });

  test('checkSecretFileWritable: a directory the user cannot write to', { skip: !posix, timeout: 20_000 }, async (t) => {
    const dir = await freshDir('readonly');
    await mkdir(dir);
    await chmod(dir, 0o555);
    const target = join(dir, 's');
    const expected = `cannot write the secret file ${target}: directory ${dir} is not writable`;
    if (!isRoot) {
      await assert.rejects(checkSecretFileWritable(target), { message: expected });
      return;
    }
    // root may write anywhere, so check as an unprivileged user in a child process, when
    // that user can reach both this Node binary and the repository.
    await chmod(scratch, 0o755);
    const reachable = await runChild(process.execPath, ['-e', `require('fs').accessSync(${JSON.stringify(repoRoot)})`], {
      uid: 65534,
      gid: 65534,
    }).catch(() => undefined);
    if (reachable?.code !== 0) {
      t.skip(`running as root, and user nobody cannot run ${process.execPath} on ${repoRoot}`);
      return;
    }
    const moduleUrl = new URL('src/secrets/secret-file.ts', `file://${repoRoot}`).href;
    const code = [
      `const { checkSecretFileWritable } = await import(${JSON.stringify(moduleUrl)});`,
      `try { await checkSecretFileWritable(${JSON.stringify(target)}); console.log('accepted'); }`,
      `catch (error) { console.log(error.message); }`,
    ].join('\n');
    const child = await runChild(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
      uid: 65534,
      gid: 65534,
    });
    assert.equal(child.stdout.trim(), expected, `exit ${child.code}: ${child.stderr}`);
  });

  test('readSecretFile reports missing and empty files', async () => {
    const dir = await freshDir('read');
    await mkdir(dir);
    await assert.rejects(readSecretFile(join(dir, 'none')), { message: `secret file ${join(dir, 'none')} does not exist` });
    await writeFile(join(dir, 'empty'), '\n');
    await assert.rejects(readSecretFile(join(dir, 'empty')), { message: `secret file ${join(dir, 'empty')} is empty` });
    await writeFile(join(dir, 'crlf'), 'abc\r\n');
    assert.equal(await readSecretFile(join(dir, 'crlf')), 'abc');
  });
});

describe('writeFallbackSecret', () => {
  const fixedNow = () => new Date('2026-01-31T12:00:00.123Z');

  test('writes a 0600 file under <appDataDir>/fallback (0700)', async () => {
    const dataDir = await freshDir('data');
    const path = await writeFallbackSecret(dataDir, 'whsub_01ABC', 'whsec_fallback', { now: fixedNow });
    assert.equal(dirname(path), join(dataDir, 'fallback'));
    assert.equal(basename(path), 'whsub_01ABC-2026-01-31T12-00-00-123Z.secret');
    assert.equal(await readFile(path, 'utf8'), 'whsec_fallback\n');
    if (posix) {
      assert.equal(await modeOf(path), 0o600);
      assert.equal(await modeOf(dirname(path)), 0o700);
    }
  });

  test('never overwrites: the same subscription and instant gives a second file', async () => {
    const dataDir = await freshDir('twice');
    const first = await writeFallbackSecret(dataDir, 'whsub_1', 'first', { now: fixedNow });
    const second = await writeFallbackSecret(dataDir, 'whsub_1', 'second', { now: fixedNow });
    assert.notEqual(first, second);
    assert.equal(await readFile(first, 'utf8'), 'first\n');
    assert.equal(await readFile(second, 'utf8'), 'second\n');
    assert.match(basename(second), /-2\.secret$/);
  });

  test('a hostile subscription id cannot move the file out of the fallback directory', async () => {
    const dataDir = await freshDir('hostile');
    const path = await writeFallbackSecret(dataDir, '../../etc/passwd', 's', { now: fixedNow });
    assert.equal(dirname(path), join(dataDir, 'fallback'));
    assert.ok(!basename(path).startsWith('.'));
  });

  test('an unusable data directory falls back to a private directory under the temp dir', async () => {
    const blocker = join(scratch, `blocker-${randomBytes(3).toString('hex')}`);
    await writeFile(blocker, 'not a directory');
    const tmpRoot = await freshDir('tmproot');
    await mkdir(tmpRoot);
    const path = await writeFallbackSecret(join(blocker, 'data'), 'whsub_2', 'rescued', { tmpDir: tmpRoot, now: fixedNow });
    assert.equal(dirname(dirname(path)), tmpRoot);
    assert.match(basename(dirname(path)), /^intelliauth-webhooks-fallback-/);
    assert.equal(await readFile(path, 'utf8'), 'rescued\n');
    if (posix) {
      assert.equal(await modeOf(dirname(path)), 0o700);
      assert.equal(await modeOf(path), 0o600);
    }
  });

  test('only when nothing is writable does it throw, naming each place and never the secret', async () => {
    const blocker = join(scratch, `blocker-${randomBytes(3).toString('hex')}`);
    await writeFile(blocker, 'not a directory');
    await assert.rejects(
      writeFallbackSecret(join(blocker, 'data'), 'whsub_3', 'do-not-print-me', { tmpDir: join(blocker, 'tmp') }),
      (error: unknown) => {
        assert.ok(error instanceof SecretStoreError);
        assert.match(error.message, /^could not write the secret to any fallback file \(/);
        assert.ok(error.message.includes(join(blocker, 'data', 'fallback')));
        assert.ok(error.message.includes(join(blocker, 'tmp')));
        assert.ok(!error.message.includes('do-not-print-me'));
        return true;
      },
    );
  });
});
