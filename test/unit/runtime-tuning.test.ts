import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

// A fresh process each: the flag is process-wide and only shapes collections to come.
async function youngGenerationAfterChurn(tuned: boolean): Promise<{ initial: number; final: number; stderr: string }> {
  const script = `
    import { getHeapSpaceStatistics } from 'node:v8';
    import { keepYoungGenerationSmall } from ${JSON.stringify(new URL('../../src/cli/runtime-tuning.ts', import.meta.url).href)};
    const newSpace = () => getHeapSpaceStatistics().find((space) => space.space_name === 'new_space').space_size;
    const initial = newSpace();
    if (${tuned}) keepYoungGenerationSmall();
    // A streaming command's pattern: a small live set that keeps surviving collections.
    const window = new Array(2000);
    for (let index = 0; index < 400_000; index += 1) window[index % window.length] = { id: 'record-' + index, fields: new Array(8).fill(index) };
    process.stdout.write(JSON.stringify({ initial, final: newSpace() }));
  `;
  const { stdout, stderr } = await promisify(execFile)(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 60_000 });
  return { ...(JSON.parse(stdout) as { initial: number; final: number }), stderr };
}

test('keepYoungGenerationSmall holds V8\'s young generation near its initial size under churn, silently', async () => {
  const [untuned, tuned] = await Promise.all([youngGenerationAfterChurn(false), youngGenerationAfterChurn(true)]);
  assert.ok(untuned.final >= 4 * untuned.initial, `without it the young generation grows (${untuned.initial} -> ${untuned.final} bytes)`);
  assert.ok(tuned.final <= 2 * tuned.initial, `with it the young generation stays small (${tuned.initial} -> ${tuned.final} bytes)`);
  assert.equal(tuned.stderr, '', 'the running V8 knows the flag');
});
