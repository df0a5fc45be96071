import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { paths, TOKEN_PATH } from '../../src/domain/contract.ts';
import { runCli, startEmulatorProcess, tempHome, type CliResult, type EmulatorProcess } from '../helpers/cli.ts';

// The subscription commands that are not about secrets (update, pause, resume, delete)
// against an emulator failing 30% of API requests (seeded, so every run sees the same
// faults): each ends as asked, or at worst with exit 5 and one line, and `delete` never
// calls a subscription it deleted itself "not found" (its first answer lost on the wire).

const SUBSCRIPTIONS = 6;
let emulator: EmulatorProcess;
let home: { dir: string; cleanup: () => Promise<void> };
let token = '';

/** The platform's answer, asked again until it comes (setup and the final check are not under test). */
async function platform(method: string, path: string, body?: unknown, key?: string): Promise<{ status: number; body: any }> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      if (!token) {
        const form = new URLSearchParams({ grant_type: 'client_credentials', client_id: emulator.clientId, client_secret: emulator.clientSecret });
        const answer = await fetch(emulator.tenantUrl + TOKEN_PATH, { method: 'POST', body: form, signal: AbortSignal.timeout(5000) });
        if (answer.status !== 200) throw new Error(`token: ${answer.status}`);
        token = ((await answer.json()) as { access_token: string }).access_token;
      }
      const response = await fetch(emulator.tenantUrl + path, {
        method,
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', ...(key ? { 'idempotency-key': key } : {}) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(5000),
      });
      const text = await response.text();
      if (response.status === 429 || response.status >= 500) throw new Error(`${method} ${path}: ${response.status}`);
      return { status: response.status, body: text ? JSON.parse(text) : undefined };
    } catch (error) {
      if (attempt >= 30) throw error;
      await sleep(50);
    }
  }
}

before(async () => {
  home = await tempHome('iaw-fault-commands-');
  emulator = await startEmulatorProcess(['--plan', 'enterprise', '--fault-rate', '0.3', '--seed', 'fault-rate-commands']);
});

after(async () => {
  await emulator?.stop();
  await home?.cleanup();
});

test('update, pause, resume and delete under --fault-rate 0.3: done as asked, and delete never says "not found" for what it deleted', { timeout: 180_000 }, async (t) => {
  const ids: string[] = [];
  for (let index = 0; index < SUBSCRIPTIONS; index += 1) {
    const created = await platform('POST', paths.subscriptions(), { name: `faulty ${index}`, url: `https://hooks.example.com/${index}`, events: ['user.*'] }, `fault-commands-${index}`);
    assert.equal(created.status, 201, JSON.stringify(created.body));
    ids.push(created.body.data.id);
  }

  const results: Array<{ args: string[]; result: CliResult }> = [];
  const cli = async (args: string[]) => {
    const result = await runCli([...args, '--json'], { env: emulator.env(home.dir), timeoutMs: 120_000 });
    results.push({ args, result });
    return result;
  };
  for (const id of ids) {
    await cli(['update', id, '--description', `described ${id}`]);
    await cli(['pause', id]);
    await cli(['resume', id]);
    await cli(['pause', id]);
    await cli(['delete', id, '--yes']);
  }

  const unavailable = results.filter(({ result }) => result.code === 5);
  for (const { args, result } of results) {
    assert.ok(result.code === 0 || result.code === 5, `${args.join(' ')}: exit ${result.code}, expected 0 (or 5 after every retry failed): ${result.stderr}`);
    if (result.code === 5) assert.equal(result.stderr.trim().split('\n').filter((line) => line.startsWith('error:')).length, 1, result.stderr);
  }
  // Every call above may be retried (PATCH sets fields; DELETE is idempotent); five
  // attempts each fail together about once in 400.
  assert.ok(unavailable.length <= 1, `commands that gave up: ${unavailable.map(({ args, result }) => `${args.join(' ')} (${result.stderr.trim()})`).join('; ')}`);

  // What the commands said is what the platform now holds.
  const listed = await platform('GET', `${paths.subscriptions()}?limit=100`);
  const remaining = new Set((listed.body.data as Array<{ id: string }>).map((sub) => sub.id));
  for (const { args, result } of results) {
    if (args[0] === 'delete' && result.code === 0) {
      assert.equal(remaining.has(args[1]!), false, `${args[1]} was reported deleted but still exists`);
      assert.deepEqual(JSON.parse(result.stdout), { id: args[1], deleted: true, local_secrets_removed: [] });
    }
  }

  // The faults did hit these commands. (A DELETE whose answer is lost after the deletion,
  // then retried into a 404, is pinned down in test/unit/api-http.test.ts; here it happens
  // only when the seeded draws put a reset on a DELETE.)
  const faults = emulator.log().split('\n').filter((line) => /fault injected: \S+ on (PATCH|DELETE) /.test(line));
  const counts = new Map<string, number>();
  for (const line of faults) {
    const [, kind, method] = /fault injected: (\S+) on (\S+)/.exec(line)!;
    counts.set(`${kind} on ${method}`, (counts.get(`${kind} on ${method}`) ?? 0) + 1);
  }
  t.diagnostic(`faults on these commands: ${[...counts].map(([what, count]) => `${count} ${what}`).join(', ')}; commands that gave up: ${unavailable.length} of ${results.length}`);
  assert.ok(faults.length >= 5, `faults on PATCH and DELETE: ${faults.length}`);
});
