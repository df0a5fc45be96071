import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm, stat, writeFile, mkdir, chmod } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  emptyConfig,
  getProfile,
  loadConfig,
  parseConfig,
  saveConfig,
  validateProfileName,
  withProfile,
  withoutProfile,
  type ConfigFile,
} from '../../src/config/config.ts';
import { UsageError } from '../../src/errors.ts';

let root: string;
before(async () => {
  root = await mkdtemp(join(tmpdir(), 'iaw-config-'));
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

const sample: ConfigFile = {
  version: 1,
  active_profile: 'prod',
  profiles: {
    prod: { tenant_url: 'https://acme-corp.intelliauth.io', client_id: 'app_1', audience: 'https://api', allowed_receiver_hosts: ['*.dev.example.com'] },
    dev: { tenant_url: 'http://127.0.0.1:8787', client_id: 'app_2' },
  },
};

describe('config file', () => {
  test('a missing file is an empty config', async () => {
    assert.deepEqual(await loadConfig(join(root, 'nope', 'config.json')), emptyConfig());
  });

  test('save then load round-trips; file 0600 in a 0700 directory; no temp files left', async () => {
    const dir = join(root, 'rt', 'intelliauth-webhooks');
    const file = join(dir, 'config.json');
    await saveConfig(file, sample);
    assert.deepEqual(await loadConfig(file), sample);
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    assert.equal((await stat(dir)).mode & 0o777, 0o700);
    assert.deepEqual(await readdir(dir), ['config.json']);
  });

  test('saving over an existing looser file leaves a 0600 file; an existing looser dir becomes 0700', async () => {
    const dir = join(root, 'loose');
    await mkdir(dir, { mode: 0o755 });
    await chmod(dir, 0o755);
    const file = join(dir, 'config.json');
    await writeFile(file, '{}', { mode: 0o644 });
    await saveConfig(file, sample);
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    assert.equal((await stat(dir)).mode & 0o777, 0o700);
  });

  test('never writes unknown fields such as a pasted client secret', async () => {
    const file = join(root, 'secretless', 'config.json');
    const withSecret = {
      ...sample,
      profiles: { prod: { ...sample.profiles.prod!, client_secret: 'cs_leak' } },
    } as unknown as ConfigFile;
    await saveConfig(file, withSecret);
    const text = await readFile(file, 'utf8');
    assert.ok(!text.includes('cs_leak'));
    assert.ok(!text.includes('client_secret'));
    const loaded = parseConfig(JSON.stringify(withSecret), 'x');
    assert.equal('client_secret' in loaded.profiles.prod!, false);
  });

  test('invalid JSON -> UsageError naming the file and the line', async () => {
    const file = join(root, 'bad.json');
    await writeFile(file, '{\n  "version": 1,\n  "profiles": {,\n}\n');
    await assert.rejects(loadConfig(file), (error: unknown) => {
      assert.ok(error instanceof UsageError);
      assert.equal(error.message, `the config file ${file} is not valid JSON (line 3)`);
      return true;
    });
  });

  test('truncated JSON reports the last line', () => {
    assert.throws(() => parseConfig('{\n"version": 1,\n"profiles": {', '/c.json'), /not valid JSON \(line 3\)/);
  });

  test('wrong shapes are UsageErrors that say what is wrong', () => {
    assert.throws(() => parseConfig('[]', '/c.json'), /invalid: expected a JSON object/);
    assert.throws(() => parseConfig('{"version": 2, "profiles": {}}', '/c.json'), /version 2, newer than this tool/);
    assert.throws(() => parseConfig('{"profiles": {}}', '/c.json'), /"version" must be 1/);
    assert.throws(() => parseConfig('{"version": 1, "profiles": {"p": {"client_id": "a"}}}', '/c.json'), /profile "p" needs "tenant_url"/);
    assert.throws(
      () => parseConfig('{"version": 1, "profiles": {"p": {"tenant_url": "https://a", "client_id": "a", "allowed_receiver_hosts": "x"}}}', '/c.json'),
      /allowed_receiver_hosts/,
    );
    assert.throws(() => parseConfig('{"version": 1, "profiles": {"bad name": {}}}', '/c.json'), /profile name "bad name"/);
  });

  test('profile helpers', () => {
    let config = withProfile(emptyConfig(), 'default', { tenant_url: 'https://a.example', client_id: 'c' }, true);
    assert.equal(config.active_profile, 'default');
    assert.equal(getProfile(config, 'default')?.client_id, 'c');
    assert.equal(getProfile(config, 'toString'), undefined);
    config = withoutProfile(config, 'default');
    assert.equal(config.active_profile, undefined);
    assert.deepEqual(config.profiles, {});
    assert.throws(() => validateProfileName('../x'), UsageError);
    assert.equal(validateProfileName('prod-eu.1'), 'prod-eu.1');
  });
});
