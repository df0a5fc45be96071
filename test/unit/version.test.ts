import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { VERSION } from '../../src/version.ts';
import { runCli } from '../helpers/cli.ts';
import { runInProcess } from '../helpers/in-process-cli.ts';

const packageVersion = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

test('src/version.ts says the version package.json gives', () => {
  assert.equal(VERSION, packageVersion);
});

test('--version and -V print the version and nothing else, from the fast path and the program alike', async () => {
  for (const flag of ['--version', '-V']) {
    const fast = await runCli([flag]);
    assert.deepEqual([fast.code, fast.stdout, fast.stderr], [0, `${packageVersion}\n`, ''], `${flag} (bin)`);
    const program = await runInProcess([flag], { env: {} });
    assert.deepEqual([program.code, program.stdout, program.stderr], [0, `${VERSION}\n`, ''], `${flag} (program)`);
  }
  // With anything else on the line, the program parses it as usual.
  const combined = await runCli(['--version', '--no-input']);
  assert.deepEqual([combined.code, combined.stdout], [0, `${packageVersion}\n`]);
});
