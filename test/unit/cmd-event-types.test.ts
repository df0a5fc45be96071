import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { eventTypesCommand } from '../../src/commands/event-types/index.ts';
import { run } from '../../src/commands/event-types/run.ts';
import { paths, type EventType } from '../../src/domain/contract.ts';
import { optionsFor, startSubscriptionFixture, type SubscriptionFixture } from '../helpers/subscriptions.ts';

describe('event-types', () => {
  let fixture: SubscriptionFixture;
  let catalogue: EventType[];

  before(async () => {
    fixture = await startSubscriptionFixture();
    catalogue = (await fixture.emulator.call('GET', paths.eventTypes())).body.data as EventType[];
    assert.ok(catalogue.length > 5);
  });
  after(() => fixture.close());

  test('takes no arguments', async () => {
    assert.deepEqual(await optionsFor(eventTypesCommand, ['event-types']), {});
    await assert.rejects(optionsFor(eventTypesCommand, ['event-types', 'extra']), (error: { code?: string }) => error.code === 'commander.excessArguments');
  });

  test('--json: the catalogue as the API gives it', async () => {
    const t = fixture.context({ globals: { json: true } });
    await run({}, t.context);
    assert.equal(t.stdout(), `${JSON.stringify(catalogue, null, 2)}\n`);
    assert.equal(t.stderr(), '');
  });

  test('piped: type, category and description separated by tabs', async () => {
    const t = fixture.context();
    await run({}, t.context);
    assert.equal(t.stdout(), catalogue.map((e) => `${e.type}\t${e.category}\t${e.description}\n`).join(''));
    assert.equal(t.stderr(), '');
  });

  test('at a terminal: a table, and how to use the types', async () => {
    const t = fixture.context({ tty: true });
    await run({}, t.context);
    assert.match(t.stdout(), /│ type\s+│ category\s+│ description\s+│/);
    assert.match(t.stdout(), /│ user\.signed_up\s+│ user\s+│/);
    assert.equal(t.stderr(), 'hint: subscribe with `create --events TYPE[,TYPE...]`; `user.*` selects a whole category\n');
  });
});
