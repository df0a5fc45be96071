import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { homedir } from 'node:os';
import { cacheDir, configDir, configFilePath, dataDir, resolvePaths, tokenCacheDir } from '../../src/config/paths.ts';

describe('XDG paths', () => {
  test('XDG variables win when absolute', () => {
    const env = { HOME: '/home/u', XDG_CONFIG_HOME: '/x/config', XDG_DATA_HOME: '/x/data', XDG_CACHE_HOME: '/x/cache' };
    assert.equal(configDir(env), '/x/config/intelliauth-webhooks');
    assert.equal(dataDir(env), '/x/data/intelliauth-webhooks');
    assert.equal(cacheDir(env), '/x/cache/intelliauth-webhooks');
    assert.equal(configFilePath(env), '/x/config/intelliauth-webhooks/config.json');
    assert.equal(tokenCacheDir(env), '/x/cache/intelliauth-webhooks/tokens');
  });

  test('defaults under HOME; relative XDG values are ignored as the spec says', () => {
    const env = { HOME: '/home/u', XDG_CONFIG_HOME: 'relative/dir', XDG_CACHE_HOME: '' };
    assert.deepEqual(resolvePaths(env), {
      configDir: '/home/u/.config/intelliauth-webhooks',
      dataDir: '/home/u/.local/share/intelliauth-webhooks',
      cacheDir: '/home/u/.cache/intelliauth-webhooks',
      configFile: '/home/u/.config/intelliauth-webhooks/config.json',
      tokenCacheDir: '/home/u/.cache/intelliauth-webhooks/tokens',
    });
  });

  test('without HOME in the env, the OS home directory', () => {
    assert.equal(configDir({}), `${homedir()}/.config/intelliauth-webhooks`);
  });
});
