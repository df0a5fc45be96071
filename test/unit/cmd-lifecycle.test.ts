import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { pauseCommand } from '../../src/commands/pause/index.ts';
import { resumeCommand } from '../../src/commands/resume/index.ts';
import { deleteCommand, type DeleteOptions } from '../../src/commands/delete/index.ts';
import type { SetStatusOptions } from '../../src/commands/shared/status-command.ts';
import { run as setStatus } from '../../src/commands/shared/set-status.ts';
import { run as deleteRun } from '../../src/commands/delete/run.ts';
import { paths, type Subscription } from '../../src/domain/contract.ts';
import { ApiError, exitCodeFor, NotFoundError, UsageError } from '../../src/errors.ts';
import { MemorySecretStore } from '../../src/secrets/memory-store.ts';
import { importSigningSecret, indexEntry } from '../../src/secrets/signing-secrets.ts';
import { optionsFor, startSubscriptionFixture, type SubscriptionFixture } from '../helpers/subscriptions.ts';

const MISSING = 'whsub_01NOSUCHSUBSCRIPTION00000';

describe('pause, resume, delete: argv to options', () => {
  test('pause and resume carry the status they set', async () => {
    assert.deepEqual(await optionsFor<SetStatusOptions>(pauseCommand, ['pause', 'whsub_1']), { id: 'whsub_1', status: 'paused' });
    assert.deepEqual(await optionsFor<SetStatusOptions>(resumeCommand, ['resume', 'whsub_1']), { id: 'whsub_1', status: 'active' });
    await assert.rejects(optionsFor(pauseCommand, ['pause']), (error: { code?: string }) => error.code === 'commander.missingArgument');
  });
  test('delete: --yes / -y', async () => {
    assert.deepEqual(await optionsFor<DeleteOptions>(deleteCommand, ['delete', 'whsub_1']), { id: 'whsub_1', yes: false });
    assert.deepEqual(await optionsFor<DeleteOptions>(deleteCommand, ['delete', 'whsub_1', '--yes']), { id: 'whsub_1', yes: true });
    assert.deepEqual(await optionsFor<DeleteOptions>(deleteCommand, ['delete', '-y', 'whsub_1']), { id: 'whsub_1', yes: true });
  });
});

describe('pause and resume', () => {
  let fixture: SubscriptionFixture;
  let sub: Subscription;

  before(async () => {
    fixture = await startSubscriptionFixture();
    sub = await fixture.create({ name: 'crm' });
  });
  after(() => fixture.close());

  const statusOnPlatform = async (id: string) => (await fixture.emulator.call('GET', paths.subscription(id))).body.data.status as string;

  test('pause prints the new state on stdout and a summary on stderr; repeating it is fine', async () => {
    for (let round = 0; round < 2; round += 1) {
      const t = fixture.context();
      await setStatus({ id: sub.id, status: 'paused' }, t.context);
      assert.equal(t.stdout(), 'paused\n');
      assert.equal(t.stderr(), `✓ ${sub.id} (crm) is paused; \`intelliauth-webhooks resume ${sub.id}\` restarts deliveries\n`);
      assert.equal(await statusOnPlatform(sub.id), 'paused');
    }
  });

  test('resume --json prints the subscription; repeating it is fine', async () => {
    for (let round = 0; round < 2; round += 1) {
      const t = fixture.context({ globals: { json: true } });
      await setStatus({ id: sub.id, status: 'active' }, t.context);
      const printed = JSON.parse(t.stdout()) as Subscription;
      assert.equal(printed.id, sub.id);
      assert.equal(printed.status, 'active');
      assert.equal(t.stderr(), '');
      assert.equal(await statusOnPlatform(sub.id), 'active');
    }
  });

  test('-q keeps only the data', async () => {
    const t = fixture.context({ globals: { quiet: true } });
    await setStatus({ id: sub.id, status: 'active' }, t.context);
    assert.equal(t.stdout(), 'active\n');
    assert.equal(t.stderr(), '');
  });

  test('an unknown id exits 4 and names it', async () => {
    await assert.rejects(setStatus({ id: MISSING, status: 'paused' }, fixture.context().context), (error) => {
      assert.equal(exitCodeFor(error), 4);
      assert.match((error as Error).message, new RegExp(`subscription ${MISSING} not found`));
      return true;
    });
  });

  test('a read-only token exits 3 naming the missing scope, and changes nothing', async () => {
    const token = await fixture.emulator.token('webhooks:read');
    const t = fixture.context({ env: { INTELLIAUTH_TOKEN: token } });
    await assert.rejects(setStatus({ id: sub.id, status: 'paused' }, t.context), (error) => {
      assert.ok(error instanceof ApiError);
      assert.equal(exitCodeFor(error), 3);
      assert.match(error.message, /the access token lacks the scope webhooks:write/);
      return true;
    });
    assert.equal(await statusOnPlatform(sub.id), 'active');
    assert.equal(t.stdout(), '');
  });
});

describe('delete', () => {
  let fixture: SubscriptionFixture;

  before(async () => {
    fixture = await startSubscriptionFixture();
  });
  after(() => fixture.close());

  const exists = async (id: string) => (await fixture.emulator.call('GET', paths.subscription(id))).status === 200;

  test('without a terminal and without --yes: exit 2, nothing deleted', async () => {
    const sub = await fixture.create({ name: 'keep me', url: 'https://keep.example.com/h' });
    const t = fixture.context({ tty: false });
    await assert.rejects(deleteRun({ id: sub.id, yes: false }, t.context), (error) => {
      assert.ok(error instanceof UsageError);
      assert.equal(exitCodeFor(error), 2);
      assert.equal(error.message, `Delete subscription ${sub.id} "keep me" (https://keep.example.com/h): refusing without confirmation`);
      assert.equal(error.hint, 'pass --yes to confirm (no interactive terminal to ask on)');
      return true;
    });
    assert.equal(await exists(sub.id), true);
    assert.equal(t.stdout(), '');
  });

  test('at a terminal: asks with the name and URL; "no" deletes nothing', async () => {
    const sub = await fixture.create({ name: 'ask me', url: 'https://ask.example.com/h' });
    const t = fixture.context({ tty: true, answers: [{ match: 'Delete subscription', answer: false }] });
    await assert.rejects(deleteRun({ id: sub.id, yes: false }, t.context), /cancelled; nothing was changed/);
    assert.deepEqual(t.prompts, [{ kind: 'confirm', message: `Delete subscription ${sub.id} "ask me" (https://ask.example.com/h)?` }]);
    assert.equal(await exists(sub.id), true);
  });

  test('at a terminal: "yes" deletes it and its locally stored secrets', async () => {
    const sub = await fixture.create({ name: 'gone', url: 'https://gone.example.com/h' });
    const store = new MemorySecretStore();
    const t = fixture.context({ tty: true, secretStore: store, answers: [{ match: 'Delete subscription', answer: true }] });
    await importSigningSecret(t.context, sub.id, sub.signing_secret);
    assert.equal(store.entries().size, 1);
    await deleteRun({ id: sub.id, yes: false }, t.context);
    assert.equal(await exists(sub.id), false);
    assert.equal(store.entries().size, 0);
    assert.equal(await indexEntry(t.context, sub.id), null);
    assert.equal(t.stdout(), '');
    assert.equal(t.stderr(), `✓ deleted ${sub.id} "gone" (https://gone.example.com/h)\nremoved its signing secret from: the OS keychain\n`);
  });

  test('--yes --json: no question, the report as JSON', async () => {
    const sub = await fixture.create();
    const store = new MemorySecretStore();
    const t = fixture.context({ globals: { json: true }, secretStore: store });
    await importSigningSecret(t.context, sub.id, sub.signing_secret);
    await deleteRun({ id: sub.id, yes: true }, t.context);
    assert.deepEqual(JSON.parse(t.stdout()), { id: sub.id, deleted: true, local_secrets_removed: ['the OS keychain'] });
    assert.equal(t.stderr(), '');
    assert.equal(await exists(sub.id), false);
    assert.deepEqual(t.prompts, []);
  });

  test('--yes without local secrets says so', async () => {
    const sub = await fixture.create();
    const t = fixture.context();
    await deleteRun({ id: sub.id, yes: true }, t.context);
    assert.equal(t.stderr(), `✓ deleted ${sub.id}\nno signing secret of it was stored on this machine\n`);
  });

  test('an unknown id exits 4; a secret still stored for it is pointed out', async () => {
    const plain = fixture.context();
    await assert.rejects(deleteRun({ id: MISSING, yes: true }, plain.context), (error) => {
      assert.equal(exitCodeFor(error), 4);
      assert.match((error as Error).message, new RegExp(`subscription ${MISSING} not found`));
      return true;
    });
    const leftover = fixture.context();
    await importSigningSecret(leftover.context, MISSING, 'whsec_leftover_0000000000000000000000000');
    await assert.rejects(deleteRun({ id: MISSING, yes: false }, leftover.context), (error) => {
      assert.ok(error instanceof NotFoundError);
      assert.equal(exitCodeFor(error), 4);
      assert.match(error.hint ?? '', new RegExp(`\`intelliauth-webhooks secret delete ${MISSING}\` removes it`));
      return true;
    });
  });

  test('a read-only token exits 3 naming the scope, and deletes nothing', async () => {
    const sub = await fixture.create();
    const token = await fixture.emulator.token('webhooks:read');
    const t = fixture.context({ env: { INTELLIAUTH_TOKEN: token } });
    await assert.rejects(deleteRun({ id: sub.id, yes: true }, t.context), (error) => {
      assert.equal(exitCodeFor(error), 3);
      assert.match((error as Error).message, /lacks the scope webhooks:write/);
      return true;
    });
    assert.equal(await exists(sub.id), true);
  });
});
