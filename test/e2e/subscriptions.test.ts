import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { paths, TOKEN_PATH, type CreatedSubscription, type EventType, type Subscription } from '../../src/domain/contract.ts';
import { BIN, ROOT, runCli, startEmulatorProcess, tempHome, type CliResult, type EmulatorProcess } from '../helpers/cli.ts';

// list, get, pause, resume, delete and event-types run as users run them: the built CLI as a
// child process, against an emulator child process. Needs a build (`node scripts/build.mjs`).

const MISSING = 'whsub_01NOSUCHSUBSCRIPTION00000';
const TOTAL = 120;

let home: { dir: string; cleanup: () => Promise<void> };
let statePath: string;
let emulator: EmulatorProcess;
let created: CreatedSubscription[] = [];

async function token(target: EmulatorProcess): Promise<string> {
  const form = new URLSearchParams({ grant_type: 'client_credentials', client_id: target.clientId, client_secret: target.clientSecret });
  const response = await fetch(target.tenantUrl + TOKEN_PATH, { method: 'POST', body: form });
  const body = (await response.json()) as { access_token: string };
  assert.equal(response.status, 200);
  return body.access_token;
}

async function createDirectly(target: EmulatorProcess, bearer: string, index: number): Promise<CreatedSubscription> {
  const response = await fetch(target.tenantUrl + paths.subscriptions(), {
    method: 'POST',
    headers: { authorization: `Bearer ${bearer}`, 'content-type': 'application/json', 'idempotency-key': `e2e-subs-${index}` },
    body: JSON.stringify({ name: `e2e ${index}`, url: `https://hooks.example.com/e2e/${index}`, events: ['user.*'] }),
  });
  const body = (await response.json()) as { data: CreatedSubscription };
  assert.equal(response.status, 201, JSON.stringify(body));
  return body.data;
}

function cli(args: string[], target: EmulatorProcess = emulator): Promise<CliResult> {
  return runCli(args, { env: target.env(home.dir) });
}

function parseJson<T>(result: CliResult): T {
  assert.equal(result.code, 0, `exit ${result.code}: ${result.stderr}`);
  return JSON.parse(result.stdout) as T;
}

before(async () => {
  assert.ok(existsSync(join(ROOT, 'dist', 'main.js')), 'build first: node scripts/build.mjs');
  home = await tempHome('iaw-e2e-subs-');
  statePath = join(home.dir, 'emulator-state.json');
  emulator = await startEmulatorProcess(['--plan', 'enterprise', '--state', statePath]);
});

after(async () => {
  await emulator?.stop();
  await home?.cleanup();
});

describe('an empty tenant', () => {
  test('list --json is an empty array; piped list prints nothing', async () => {
    assert.deepEqual(parseJson(await cli(['list', '--json'])), []);
    const piped = await cli(['list']);
    assert.equal(piped.code, 0, piped.stderr);
    assert.equal(piped.stdout, '');
  });

  test('event-types --json: the catalogue', async () => {
    const catalogue = parseJson<EventType[]>(await cli(['event-types', '--json']));
    assert.ok(catalogue.length > 5);
    for (const entry of catalogue) assert.deepEqual(Object.keys(entry).sort(), ['category', 'description', 'type']);
    assert.ok(catalogue.some((entry) => entry.type === 'user.signed_up'));
  });
});

describe(`${TOTAL} subscriptions (enterprise plan)`, () => {
  before(async () => {
    const bearer = await token(emulator);
    created = [];
    for (let i = 0; i < TOTAL; i += 1) created.push(await createDirectly(emulator, bearer, i));
  });

  test('list --all --json returns every one, oldest first, as valid JSON', async () => {
    const listed = parseJson<Subscription[]>(await cli(['list', '--all', '--json']));
    assert.equal(listed.length, TOTAL);
    assert.deepEqual(listed.map((s) => s.id), created.map((s) => s.id));
    assert.equal(JSON.stringify(listed).includes('signing_secret'), false);
  });

  test('list --all --limit 7 --json pages by 7 and still returns every one', async () => {
    const listed = parseJson<Subscription[]>(await cli(['list', '--all', '--limit', '7', '--json']));
    assert.deepEqual(listed.map((s) => s.id), created.map((s) => s.id));
  });

  test('list without --all: one page of 50 and a hint on stderr', async () => {
    const result = await cli(['list', '--json']);
    assert.equal(parseJson<Subscription[]>(result).length, 50);
    assert.equal(result.stderr, 'hint: more subscriptions exist: use --all or a larger --limit (up to 100)\n');
  });

  test('list --all piped: one tab-separated row each', async () => {
    const result = await cli(['list', '--all']);
    assert.equal(result.code, 0, result.stderr);
    const rows = result.stdout.trimEnd().split('\n');
    assert.equal(rows.length, TOTAL);
    assert.deepEqual(rows[0]!.split('\t'), [created[0]!.id, 'e2e 0', 'https://hooks.example.com/e2e/0', 'user.*', 'active', created[0]!.created_at]);
    assert.equal(result.stderr, '');
  });

  test('list --all into a reader that stops early (like `| head -1`) ends quietly with 0', async () => {
    const child = spawn(process.execPath, [BIN, 'list', '--all', '--limit', '5'], { cwd: ROOT, env: emulator.env(home.dir), stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    child.stdout.once('data', () => child.stdout.destroy());
    const killer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    const code = await new Promise<number | null>((resolve) => child.once('close', (exitCode) => resolve(exitCode)));
    clearTimeout(killer);
    assert.equal(code, 0, stderr);
    assert.equal(stderr, '');
  });

  test('get --json, and exit 4 naming an unknown id', async () => {
    const sub = created[3]!;
    const got = parseJson<Subscription>(await cli(['get', sub.id, '--json']));
    const { signing_secret: _secret, ...expected } = sub;
    assert.deepEqual(got, expected);
    const missing = await cli(['get', MISSING, '--json']);
    assert.equal(missing.code, 4);
    assert.equal(missing.stdout, '');
    assert.match(missing.stderr, new RegExp(`^error: subscription ${MISSING} not found`));
  });

  test('pause --json: the subscription, paused; repeating it is fine', async () => {
    const sub = created[4]!;
    assert.equal(parseJson<Subscription>(await cli(['pause', sub.id, '--json'])).status, 'paused');
    assert.equal(parseJson<Subscription>(await cli(['pause', sub.id, '--json'])).status, 'paused');
    const paused = parseJson<Subscription[]>(await cli(['list', '--all', '--status', 'paused', '--json']));
    assert.deepEqual(paused.map((s) => s.id), [sub.id]);
  });

  test('resume: --json the subscription, piped the new status alone', async () => {
    const sub = created[4]!;
    assert.equal(parseJson<Subscription>(await cli(['resume', sub.id, '--json'])).status, 'active');
    const piped = await cli(['resume', sub.id]);
    assert.equal(piped.code, 0, piped.stderr);
    assert.equal(piped.stdout, 'active\n');
  });

  test('pause and resume of an unknown id exit 4 naming it', async () => {
    for (const command of ['pause', 'resume']) {
      const missing = await cli([command, MISSING]);
      assert.equal(missing.code, 4, command);
      assert.match(missing.stderr, new RegExp(`subscription ${MISSING} not found`));
    }
  });

  test('delete without --yes and without a terminal: exit 2, nothing deleted', async () => {
    const sub = created[5]!;
    const refused = await cli(['delete', sub.id]);
    assert.equal(refused.code, 2);
    assert.equal(refused.stdout, '');
    assert.match(refused.stderr, /refusing without confirmation/);
    assert.match(refused.stderr, /pass --yes to confirm/);
    assert.equal(parseJson<Subscription>(await cli(['get', sub.id, '--json'])).id, sub.id);
  });

  test('delete --yes --json deletes; a second delete exits 4', async () => {
    const sub = created[6]!;
    assert.deepEqual(parseJson(await cli(['delete', sub.id, '--yes', '--json'])), { id: sub.id, deleted: true, local_secrets_removed: [] });
    assert.equal((await cli(['get', sub.id])).code, 4);
    const again = await cli(['delete', sub.id, '--yes']);
    assert.equal(again.code, 4);
    assert.match(again.stderr, new RegExp(`subscription ${sub.id} not found`));
    created.splice(6, 1);
  });
});

describe('a read-only client (emulator restarted with --scopes webhooks:read)', () => {
  let readOnly: EmulatorProcess;
  before(async () => {
    await emulator.stop();
    readOnly = await startEmulatorProcess(['--plan', 'enterprise', '--state', statePath, '--scopes', 'webhooks:read']);
    emulator = readOnly;
  });

  test('reading works', async () => {
    assert.equal(parseJson<Subscription[]>(await cli(['list', '--all', '--json'], readOnly)).length, TOTAL - 1);
    assert.equal(parseJson<Subscription>(await cli(['get', created[0]!.id, '--json'], readOnly)).id, created[0]!.id);
  });

  test('pause, resume and delete exit 3 and name the missing scope; nothing changes', async () => {
    const sub = created[0]!;
    for (const args of [['pause', sub.id], ['resume', sub.id], ['delete', sub.id, '--yes'], ['pause', sub.id, '--json']]) {
      const result = await cli(args, readOnly);
      assert.equal(result.code, 3, `${args.join(' ')}: ${result.stderr}`);
      assert.equal(result.stdout, '');
      assert.match(result.stderr, /^error: the access token lacks the scope webhooks:write/m);
    }
    const after = parseJson<Subscription>(await cli(['get', sub.id, '--json'], readOnly));
    assert.equal(after.status, 'active');
  });
});
