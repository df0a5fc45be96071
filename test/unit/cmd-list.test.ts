import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { listCommand, type ListOptions } from '../../src/commands/list/index.ts';
import { run, TTY_TABLE_ROWS } from '../../src/commands/list/run.ts';
import type { ApiClient } from '../../src/api/client.ts';
import type { Context } from '../../src/cli/context.ts';
import { paths, type Subscription } from '../../src/domain/contract.ts';
import { UsageError } from '../../src/errors.ts';
import { optionsFor, startSubscriptionFixture, type SubscriptionFixture } from '../helpers/subscriptions.ts';

const parse = (argv: string[]) => optionsFor<ListOptions>(listCommand, ['list', ...argv]);
const publicFields = ({ signing_secret: _secret, ...rest }: Subscription & { signing_secret?: string }): Subscription => rest;
const tsvRow = (s: Subscription) => [s.id, s.name, s.url, s.events.join(','), s.status, s.created_at].join('\t');

describe('list: argv to options', () => {
  test('defaults: one page of 50', async () => {
    assert.deepEqual(await parse([]), { limit: 50, all: false, status: undefined });
  });
  test('--all pages by 100 unless --limit says otherwise', async () => {
    assert.deepEqual(await parse(['--all']), { limit: 100, all: true, status: undefined });
    assert.deepEqual(await parse(['--all', '--limit', '7']), { limit: 7, all: true, status: undefined });
  });
  test('--status takes active or paused only', async () => {
    assert.deepEqual(await parse(['--status', 'paused', '--limit', '3']), { limit: 3, all: false, status: 'paused' });
    await assert.rejects(parse(['--status', 'stopped']), (error: { code?: string }) => error.code === 'commander.invalidArgument');
  });
  test('--limit outside 1..100 is a usage error naming the flag', async () => {
    await assert.rejects(parse(['--limit', '0']), (error) => error instanceof UsageError && /--limit must be at least 1, got 0/.test(error.message));
    await assert.rejects(parse(['--limit', '101']), (error) => error instanceof UsageError && /--limit must be at most 100/.test(error.message));
    await assert.rejects(parse(['--limit', 'ten']), (error) => error instanceof UsageError && /--limit must be a whole number/.test(error.message));
  });
});

describe('list: against the emulator', () => {
  let fixture: SubscriptionFixture;
  let subs: Subscription[];

  before(async () => {
    fixture = await startSubscriptionFixture();
    subs = [];
    for (let i = 0; i < 3; i += 1) subs.push(publicFields(await fixture.create({ name: `list ${i}`, events: i === 1 ? ['user.signed_up', 'user.deleted'] : ['user.*'] })));
    const paused = await fixture.emulator.call('PATCH', paths.subscription(subs[2]!.id), { body: { status: 'paused' } });
    subs[2] = paused.body.data as Subscription;
  });
  after(() => fixture.close());

  test('piped: tab-separated rows, oldest first, nothing on stderr', async () => {
    const t = fixture.context({ tty: false });
    await run({ limit: 50, all: false, status: undefined }, t.context);
    assert.equal(t.stdout(), subs.map((s) => `${tsvRow(s)}\n`).join(''));
    assert.equal(t.stderr(), '');
  });

  test('--json: exactly the API objects, as one JSON array', async () => {
    const t = fixture.context({ globals: { json: true } });
    await run({ limit: 50, all: false, status: undefined }, t.context);
    assert.equal(t.stdout(), `${JSON.stringify(subs, null, 2)}\n`);
    assert.equal(t.stderr(), '');
  });

  test('--all --json streams the same document as a single page would be', async () => {
    const t = fixture.context({ globals: { json: true } });
    await run({ limit: 2, all: true, status: undefined }, t.context);
    assert.equal(t.stdout(), `${JSON.stringify(subs, null, 2)}\n`);
  });

  test('one page with more left: the page, and a hint on stderr', async () => {
    const t = fixture.context({ tty: false });
    await run({ limit: 2, all: false, status: undefined }, t.context);
    assert.equal(t.stdout(), subs.slice(0, 2).map((s) => `${tsvRow(s)}\n`).join(''));
    assert.equal(t.stderr(), 'hint: more subscriptions exist: use --all or a larger --limit (up to 100)\n');
  });

  test('--status filters after fetching', async () => {
    const t = fixture.context({ globals: { json: true } });
    await run({ limit: 50, all: true, status: 'paused' }, t.context);
    assert.deepEqual(JSON.parse(t.stdout()), [subs[2]]);
    const active = fixture.context({ tty: false });
    await run({ limit: 50, all: false, status: 'active' }, active.context);
    assert.equal(active.stdout(), subs.slice(0, 2).map((s) => `${tsvRow(s)}\n`).join(''));
  });

  test('at a terminal: a table with the six columns and a count on stderr', async () => {
    const t = fixture.context({ tty: true });
    await run({ limit: 50, all: false, status: undefined }, t.context);
    const out = t.stdout();
    const header = out.split('\n').find((line) => line.includes('id'))!;
    assert.match(header, /│ id\s+│ name\s+│ url\s+│ events\s+│ status\s+│ created\s+│/);
    for (const s of subs) {
      assert.ok(out.includes(s.id), `missing ${s.id}`);
      assert.ok(out.includes(s.created_at.replace('T', ' ').slice(0, 16)), 'created shown as a short UTC time');
    }
    assert.ok(out.includes('user.signed_up, user.deleted'));
    assert.ok(out.includes('paused'));
    assert.equal(t.stderr(), '3 subscriptions\n');
  });
});

describe('list: empty tenant', () => {
  let fixture: SubscriptionFixture;
  before(async () => {
    fixture = await startSubscriptionFixture();
  });
  after(() => fixture.close());

  test('--json prints [] and piped prints nothing', async () => {
    const json = fixture.context({ globals: { json: true } });
    await run({ limit: 100, all: true, status: undefined }, json.context);
    assert.equal(json.stdout(), '[]\n');
    const piped = fixture.context();
    await run({ limit: 50, all: false, status: undefined }, piped.context);
    assert.equal(piped.stdout(), '');
    assert.equal(piped.stderr(), '');
  });

  test('at a terminal it says so instead of drawing an empty table', async () => {
    const t = fixture.context({ tty: true });
    await run({ limit: 50, all: false, status: undefined }, t.context);
    assert.equal(t.stdout(), '');
    assert.equal(t.stderr(), 'no subscriptions\n');
  });
});

describe('list --all: 130 subscriptions', () => {
  let fixture: SubscriptionFixture;
  let ids: string[];
  before(async () => {
    fixture = await startSubscriptionFixture({ plan: 'enterprise' });
    ids = [];
    for (let i = 0; i < 130; i += 1) ids.push((await fixture.create()).id);
  });
  after(() => fixture.close());

  test('every page is followed; rows are written as pages arrive', async () => {
    const t = fixture.context({ globals: { json: true } });
    const api = await t.context.api();
    // Record how much had been written when each page was asked for.
    const writtenAtRequest: number[] = [];
    const spy = Object.create(api) as ApiClient;
    spy.listSubscriptions = async (options) => {
      writtenAtRequest.push(t.stdout().length);
      return api.listSubscriptions(options);
    };
    const context: Context = { ...t.context, api: async () => spy };
    await run({ limit: 25, all: true, status: undefined }, context);
    const listed = JSON.parse(t.stdout()) as Subscription[];
    assert.deepEqual(listed.map((s) => s.id), ids);
    assert.equal(writtenAtRequest.length, 6);
    assert.equal(writtenAtRequest[0], 0);
    for (let page = 1; page < writtenAtRequest.length; page += 1) {
      assert.ok(writtenAtRequest[page]! > writtenAtRequest[page - 1]!, `page ${page + 1} was requested before page ${page} was printed`);
    }
  });

  test('piped: one row per subscription, no hint', async () => {
    const t = fixture.context();
    await run({ limit: 100, all: true, status: undefined }, t.context);
    assert.deepEqual(t.stdout().trimEnd().split('\n').map((line) => line.split('\t')[0]), ids);
    assert.equal(t.stderr(), '');
  });
});

describe(`list --all at a terminal: more than ${TTY_TABLE_ROWS} rows`, () => {
  let fixture: SubscriptionFixture;
  before(async () => {
    fixture = await startSubscriptionFixture({ plan: 'enterprise' });
    for (let i = 0; i <= TTY_TABLE_ROWS; i += 1) await fixture.create();
  });
  after(() => fixture.close());

  test(`a table per ${TTY_TABLE_ROWS} rows, so nothing waits for the last page`, async () => {
    const t = fixture.context({ tty: true });
    await run({ limit: 100, all: true, status: undefined }, t.context);
    const headers = t.stdout().split('\n').filter((line) => /│ id\s+│ name/.test(line));
    assert.equal(headers.length, 2);
    assert.equal(t.stdout().match(/│ whsub_/g)?.length, TTY_TABLE_ROWS + 1);
    assert.equal(t.stderr(), `${TTY_TABLE_ROWS + 1} subscriptions\n`);
  });
});
