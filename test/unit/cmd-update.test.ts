import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Context } from '../../src/cli/context.ts';
import { hasChanges, toUpdateOptions, type UpdateOptions } from '../../src/commands/update/index.ts';
import { run } from '../../src/commands/update/run.ts';
import { ApiError, EXIT_CODES, exitCodeFor, InterruptedError, UsageError } from '../../src/errors.ts';
import { MemorySecretStore } from '../../src/secrets/memory-store.ts';
import { makeTestContext, type ScriptedAnswer, type TestContext } from '../helpers/context.ts';
import { startTestEmulator, type TestEmulator } from '../helpers/emulator-harness.ts';
import { emulatorEnv } from '../helpers/subscriptions.ts';

// `update` in-process against an in-process emulator, with the terminal on and off.

let emulator: TestEmulator;
let home: string;
let subscriptionId: string;

before(async () => {
  emulator = await startTestEmulator({ allowPrivateTargets: true });
});

after(async () => {
  await emulator.close({ graceMs: 0 });
});

beforeEach(async () => {
  if (home) await rm(home, { recursive: true, force: true });
  home = await mkdtemp(join(tmpdir(), 'iaw-update-'));
  const created = await emulator.call('POST', '/api/v1/webhooks/subscriptions', {
    body: { name: 'before', url: 'http://127.0.0.1:9/old', events: ['user.signed_up'], description: 'old text' },
  });
  assert.equal(created.status, 201);
  subscriptionId = created.body.data.id;
});

function env(extra: Record<string, string> = {}): Record<string, string> {
  return emulatorEnv(emulator, home, extra);
}

function setup(options: { tty?: boolean; json?: boolean; answers?: ScriptedAnswer[] } = {}): TestContext {
  return makeTestContext({
    tty: options.tty ?? false,
    env: env(),
    secretStore: new MemorySecretStore(),
    answers: options.answers ?? [],
    globals: { json: options.json ?? false },
  });
}

function opts(raw: Record<string, unknown>, id = subscriptionId): UpdateOptions {
  return toUpdateOptions(id, { events: [], ...raw });
}

async function current(): Promise<Record<string, any>> {
  const answer = await emulator.call('GET', `/api/v1/webhooks/subscriptions/${subscriptionId}`);
  assert.equal(answer.status, 200);
  return answer.body.data;
}

async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  assert.fail('expected the command to fail');
}

describe('update: argv to options', () => {
  test('flags become the changes; an empty description clears it', () => {
    const parsed = opts({ name: 'n', url: 'https://h.example.com/', events: ['user.*,mfa.factor_added'], description: '' }, ' whsub_1 ');
    assert.deepEqual(parsed, {
      id: 'whsub_1',
      name: 'n',
      url: 'https://h.example.com/',
      events: ['user.*', 'mfa.factor_added'],
      description: null,
      allEvents: false,
      force: false,
    });
    assert.equal(hasChanges(parsed), true);
    assert.equal(hasChanges(opts({ force: true })), false);
    assert.deepEqual(opts({ allEvents: true }).events, ['*']);
    assert.throws(() => opts({ allEvents: true, events: ['user.*'] }), /--all-events/);
    assert.throws(() => opts({ events: ['Nope!'] }), /not event selectors/);
    assert.throws(() => opts({}, '  '), /the subscription id must not be empty/);
  });
});

describe('update without a terminal', () => {
  test('nothing to change is a usage error', async () => {
    const s = setup();
    const error = await rejection(run(opts({ force: true }), s.context));
    assert.ok(error instanceof UsageError);
    assert.equal(error.message, 'nothing to change');
    assert.equal(exitCodeFor(error), 2);
  });

  test('changes the given fields and prints the updated subscription', async () => {
    const s = setup();
    await run(opts({ name: 'after', events: ['user.*'] }), s.context);
    const now = await current();
    assert.equal(now.name, 'after');
    assert.deepEqual(now.events, ['user.*']);
    assert.equal(now.url, 'http://127.0.0.1:9/old', 'untouched');
    assert.equal(now.description, 'old text', 'untouched');
    assert.match(s.stdout(), new RegExp(`^id\\t${subscriptionId}\\nname\\tafter\\nurl\\thttp://127\\.0\\.0\\.1:9/old\\nevents\\tuser\\.\\*\\n`));
    assert.equal(s.stderr(), `✓ updated ${subscriptionId}: name, events\n`);
  });

  test('--json prints the subscription object', async () => {
    const s = setup({ json: true });
    await run(opts({ description: '', url: 'http://127.0.0.1:9/new' }), s.context);
    const printed = JSON.parse(s.stdout());
    assert.equal(printed.id, subscriptionId);
    assert.equal(printed.description, null);
    assert.equal(printed.url, 'http://127.0.0.1:9/new');
    assert.equal(printed.signing_secret, undefined);
    assert.equal(s.stderr(), '');
  });

  test('the URL is checked as in create: against a real tenant a private receiver is refused before any call', async () => {
    const s = setup();
    const context: Context = {
      ...s.context,
      credentials: async () => ({ source: 'env-token', tenantUrl: 'https://acme-corp.intelliauth.io', token: 'unused' }),
      api: async () => assert.fail('no API call may happen'),
    };
    const error = await rejection(run(opts({ url: 'https://192.168.1.20/hook' }), context));
    assert.ok(error instanceof UsageError);
    assert.equal(error.message, '--url: receiver URL refused: 192.168.1.20 is a private RFC 1918 address');
  });

  test('events: * needs --all-events; unknown types are refused with suggestions', async () => {
    const star = await rejection(run(opts({ events: ['*'] }), setup().context));
    assert.match(star.message, /refusing without --all-events/);
    const unknown = await rejection(run(opts({ events: ['user.singed_in'] }), setup().context));
    assert.equal(unknown.message, '--events: unknown event type user.singed_in (did you mean user.signed_in?)');
    assert.deepEqual((await current()).events, ['user.signed_up'], 'nothing was changed');
    await run(opts({ allEvents: true }), setup().context);
    assert.deepEqual((await current()).events, ['*']);
  });

  test('a receiver outside the profile\'s allowed hosts needs --force', async () => {
    await mkdir(join(home, 'config', 'intelliauth-webhooks'), { recursive: true });
    await writeFile(
      join(home, 'config', 'intelliauth-webhooks', 'config.json'),
      JSON.stringify({ version: 1, profiles: { dev: { tenant_url: emulator.tenantUrl, client_id: emulator.clientId, allowed_receiver_hosts: ['*.dev.example.com'] } } }),
    );
    // Credentials come from the environment, but the user named the profile: its allowlist applies.
    const make = () => makeTestContext({ env: env(), globals: { profile: 'dev' } });
    const error = await rejection(run(opts({ url: 'https://hooks.prod.example.com/in' }), make().context));
    assert.ok(error instanceof UsageError);
    assert.equal(error.message, 'receiver host hooks.prod.example.com is outside the hosts allowed for profile "dev" (allowed_receiver_hosts: *.dev.example.com)');
    await run(opts({ url: 'https://hooks.dev.example.com/in' }), make().context);
    assert.equal((await current()).url, 'https://hooks.dev.example.com/in');
    const forced = make();
    await run(opts({ url: 'https://hooks.prod.example.com/in', force: true }), forced.context);
    assert.equal((await current()).url, 'https://hooks.prod.example.com/in');
    assert.match(forced.stderr(), /warning: receiver host hooks\.prod\.example\.com is outside .*going ahead because of --force/);
  });

  test('an unknown subscription exits 4, naming it', async () => {
    const error = await rejection(run(opts({ name: 'x' }, 'whsub_01ZZZZZZZZZZZZZZZZZZZZZZZZ'), setup().context));
    assert.equal(exitCodeFor(error), 4);
    assert.match(error.message, /subscription whsub_01ZZZZZZZZZZZZZZZZZZZZZZZZ not found/);
  });
});

describe('update with a read-only token', () => {
  test('exits 3 naming the missing scope webhooks:write, and changes nothing', async () => {
    const before = await current();
    const token = await emulator.token('webhooks:read');
    const s = makeTestContext({ env: env({ INTELLIAUTH_TOKEN: token }), secretStore: new MemorySecretStore() });
    const error = await rejection(
      run(opts({ name: 'after', url: 'http://127.0.0.1:9/new', events: ['user.*'], description: 'new text' }), s.context),
    );
    assert.ok(error instanceof ApiError, `expected an ApiError, got ${String(error)}`);
    assert.equal(error.status, 403);
    assert.equal(exitCodeFor(error), EXIT_CODES.auth);
    assert.equal(exitCodeFor(error), 3);
    assert.match(error.message, /^the access token lacks the scope webhooks:write\b/);
    assert.equal(error.hint, 'use a token that includes webhooks:write');
    assert.deepEqual(await current(), before, 'nothing was changed');
    assert.equal(s.stdout(), '');
    assert.doesNotMatch(s.stderr(), /updated/);
  });

  test('--json: the same refusal, and no JSON document on stdout', async () => {
    const token = await emulator.token('webhooks:read');
    const s = makeTestContext({ env: env({ INTELLIAUTH_TOKEN: token }), globals: { json: true } });
    const error = await rejection(run(opts({ name: 'after' }), s.context));
    assert.equal(exitCodeFor(error), 3);
    assert.match(error.message, /lacks the scope webhooks:write/);
    assert.equal((await current()).name, 'before');
    assert.equal(s.stdout(), '');
  });
});

describe('update at a terminal', () => {
  test('without change flags, asks for each field with its current value', async () => {
    const s = setup({
      tty: true,
      answers: [
        { match: 'Name', answer: 'renamed' },
        { match: 'Receiver URL', answer: 'http://127.0.0.1:9/old' },
        { match: 'Events', answer: ['user.signed_up', 'mfa.*'] },
        { match: 'Description', answer: '-' },
      ],
    });
    await run(opts({}), s.context);
    const now = await current();
    assert.equal(now.name, 'renamed');
    assert.deepEqual(now.events, ['user.signed_up', 'mfa.*']);
    assert.equal(now.description, null);
    assert.equal(now.url, 'http://127.0.0.1:9/old');
    assert.deepEqual(s.prompts.map((p) => p.kind), ['input', 'input', 'checkbox', 'input']);
    assert.match(s.stderr(), new RegExp(`updated ${subscriptionId}: name, events, description`));
  });

  test('answers equal to the current values change nothing', async () => {
    const before = await current();
    const s = setup({
      tty: true,
      answers: [
        { match: 'Name', answer: 'before' },
        { match: 'Receiver URL', answer: 'http://127.0.0.1:9/old' },
        { match: 'Events', answer: ['user.signed_up'] },
        { match: 'Description', answer: 'old text' },
      ],
    });
    await run(opts({}), s.context);
    assert.equal(s.stderr(), `no field changed; ${subscriptionId} was left as it was\n`);
    assert.equal(s.stdout(), '');
    assert.deepEqual(await current(), before);
  });

  test('Ctrl-C at a prompt changes nothing', async () => {
    const s = setup({ tty: true });
    const context: Context = {
      ...s.context,
      prompter: async () => ({
        input: async () => {
          throw Object.assign(new Error('force closed'), { name: 'ExitPromptError' });
        },
        password: async () => '',
        confirm: async () => false,
        select: async () => assert.fail('no select'),
        checkbox: async () => [],
      }),
    };
    const error = await rejection(run(opts({}), context));
    assert.ok(error instanceof InterruptedError);
    assert.equal(error.message, 'cancelled; nothing was changed');
    assert.equal((await current()).name, 'before');
  });
});
