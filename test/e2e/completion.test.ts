// `completion` through the built CLI: the printed scripts load in their shells and complete.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { cleanEnv, runCli, tempHome } from '../helpers/cli.ts';

const PROGRAM = 'intelliauth-webhooks';

function has(shell: string): boolean {
  return spawnSync(shell, ['-c', 'exit 0'], { stdio: 'ignore' }).status === 0;
}

function sq(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`;
}

describe('completion (e2e)', () => {
  let home: { dir: string; cleanup: () => Promise<void> };
  before(async () => {
    home = await tempHome('iaw-completion-e2e-');
  });
  after(() => home?.cleanup());

  test('bash: the printed script passes bash -n, loads, and completes a command prefix and option values', async () => {
    const result = await runCli(['completion', 'bash'], { env: cleanEnv(home.dir) });
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stderr, '');
    const script = join(home.dir, 'completion.bash');
    await writeFile(script, result.stdout);
    assert.equal(spawnSync('bash', ['-n', script], { encoding: 'utf8' }).status, 0);

    const complete = (words: string[]) => {
      const program = [
        `source ${sq(script)}`,
        `complete -p ${PROGRAM} >/dev/null || exit 3`,
        `COMP_WORDS=(${words.map(sq).join(' ')})`,
        `COMP_CWORD=${words.length - 1}`,
        `_intelliauth_webhooks`,
        `printf '%s\\n' "\${COMPREPLY[@]}"`,
      ].join('\n');
      const shell = spawnSync('bash', ['--norc', '--noprofile', '-c', program], { encoding: 'utf8', timeout: 10_000 });
      assert.equal(shell.status, 0, shell.stderr);
      return shell.stdout.split('\n').filter(Boolean);
    };
    assert.deepEqual(complete([PROGRAM, 'cre']), ['create']);
    assert.deepEqual(complete([PROGRAM, 'create', '--secret-store', '']), ['keychain', 'file', 'stdout']);
    assert.ok(complete([PROGRAM, 'auth', '']).includes('status'));
    assert.deepEqual(complete([PROGRAM, 'completion', 'z']), ['zsh']);
  });

  test('zsh and fish: the printed scripts pass their shell syntax checks', async (t) => {
    for (const shell of ['zsh', 'fish'] as const) {
      const result = await runCli(['completion', shell], { env: cleanEnv(home.dir) });
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stdout, shell === 'zsh' ? /^#compdef intelliauth-webhooks/ : /complete -c intelliauth-webhooks/m);
      if (!has(shell)) {
        t.diagnostic(`${shell} is not installed: syntax check skipped`);
        continue;
      }
      const script = join(home.dir, `completion.${shell}`);
      await writeFile(script, result.stdout);
      const check = spawnSync(shell, shell === 'fish' ? ['--no-config', '-n', script] : ['-n', script], { encoding: 'utf8' });
      assert.equal(check.status, 0, check.stderr);
    }
  });

  test('an unknown shell is a usage error naming the choices', async () => {
    const result = await runCli(['completion', 'powershell'], { env: cleanEnv(home.dir) });
    assert.equal(result.code, 2);
    assert.equal(result.stdout, '');
    assert.match(result.stderr, /bash, zsh, fish/);
    const missing = await runCli(['completion'], { env: cleanEnv(home.dir) });
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /missing required argument 'shell'/);
  });
});
