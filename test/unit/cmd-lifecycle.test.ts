import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { PassThrough } from 'node:stream';
import { pauseCommand } from '../../src/commands/pause/index.ts';
import { resumeCommand } from '../../src/commands/resume/index.ts';
import { deleteCommand, type DeleteOptions } from '../../src/commands/delete/index.ts';
import type { SetStatusOptions } from '../../src/commands/shared/status-command.ts';
import { run as setStatus } from '../../src/commands/shared/set-status.ts';
import { run as deleteRun } from '../../src/commands/delete/run.ts';
import { paths, type Subscription } from '../../src/domain/contract.ts';
import { ApiError, exitCodeFor, NotFoundError, UsageError } from '../../src/errors.ts';
import { main } from '../../src/main.ts';
import type { Prompter } from '../../src/output/prompter.ts';
import { MemorySecretStore } from '../../src/secrets/memory-store.ts';
import { importSigningSecret, indexEntry } from '../../src/secrets/signing-secrets.ts';
import { optionsFor, startSubscriptionFixture, type SubscriptionFixture } from '../helpers/subscriptions.ts';
import { Capture } from '../helpers/in-process-cli.ts';

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

// At a terminal, pause and resume ask nothing (the id is all they need) and write the same
// lines as elsewhere; the only difference is colour: the ✓ of the summary on stderr is green
// unless NO_COLOR or --no-color says otherwise. stdout (the status) is never styled.

const GREEN_CHECK = '\u001b[32m✓\u001b[39m';
const ESC = '\u001b';

describe('pause and resume at a terminal', () => {
  let fixture: SubscriptionFixture;
  let sub: Subscription;

  before(async () => {
    fixture = await startSubscriptionFixture();
    sub = await fixture.create({ name: 'tty', url: 'https://tty.example.com/h' });
  });
  after(() => fixture.close());

  const statusOnPlatform = async (id: string) => (await fixture.emulator.call('GET', paths.subscription(id))).body.data.status as string;

  /**
   * The whole command line through main() with stdin, stdout and stderr all terminals and
   * stdin left open; the prompter stands for a user who never answers, so a question would
   * hang the command: it must finish well within the time limit without asking anything.
   */
  async function atTerminal(argv: string[], env: Record<string, string | undefined> = {}) {
    const stdin = new PassThrough() as PassThrough & { isTTY?: boolean };
    stdin.isTTY = true;
    const stdout = new Capture(true);
    const stderr = new Capture(true);
    const asked: string[] = [];
    const never = <T>(message: string) => {
      asked.push(message);
      return new Promise<T>(() => {});
    };
    const prompter: Prompter = {
      input: (message) => never(message),
      password: (message) => never(message),
      confirm: (message) => never(message),
      select: (message) => never(message),
      checkbox: (message) => never(message),
    };
    const fullEnv: Record<string, string | undefined> = { ...fixture.env(), ...env };
    for (const key of Object.keys(fullEnv)) if (fullEnv[key] === undefined) delete fullEnv[key];
    let timer: NodeJS.Timeout | undefined;
    const limit = new Promise<'blocked'>((resolve) => {
      timer = setTimeout(() => resolve('blocked'), 10_000);
    });
    try {
      const code = await Promise.race([
        main(argv, {
          streams: { stdin, stdout, stderr },
          env: fullEnv,
          overrides: { secretStore: async () => new MemorySecretStore(), prompter: async () => prompter },
          signals: new EventEmitter() as unknown as Pick<NodeJS.Process, 'on' | 'off'>,
        }),
        limit,
      ]);
      assert.notEqual(code, 'blocked', `\`${argv.join(' ')}\` did not finish at a terminal (asked: ${JSON.stringify(asked)})`);
      return { code, stdout: stdout.text(), stderr: stderr.text(), asked };
    } finally {
      clearTimeout(timer);
      stdin.destroy();
    }
  }

  test('pause then resume: the status on plain stdout, a green ✓ summary on stderr, no question asked', async () => {
    const paused = await atTerminal(['pause', sub.id]);
    assert.equal(paused.code, 0, paused.stderr);
    assert.deepEqual(paused.asked, []);
    assert.equal(paused.stdout, 'paused\n');
    assert.equal(paused.stderr, `${GREEN_CHECK} ${sub.id} (tty) is paused; \`intelliauth-webhooks resume ${sub.id}\` restarts deliveries\n`);
    assert.equal(await statusOnPlatform(sub.id), 'paused');

    const resumed = await atTerminal(['resume', sub.id]);
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.deepEqual(resumed.asked, []);
    assert.equal(resumed.stdout, 'active\n');
    assert.equal(resumed.stderr, `${GREEN_CHECK} ${sub.id} (tty) is active; deliveries go to https://tty.example.com/h\n`);
    assert.equal(await statusOnPlatform(sub.id), 'active');
  });

  test('NO_COLOR or --no-color at a terminal: the same lines without escape codes', async () => {
    const noColorEnv = await atTerminal(['pause', sub.id], { NO_COLOR: '1' });
    assert.equal(noColorEnv.code, 0, noColorEnv.stderr);
    assert.equal(noColorEnv.stdout, 'paused\n');
    assert.equal(noColorEnv.stderr, `✓ ${sub.id} (tty) is paused; \`intelliauth-webhooks resume ${sub.id}\` restarts deliveries\n`);

    const noColorFlag = await atTerminal(['--no-color', 'resume', sub.id]);
    assert.equal(noColorFlag.code, 0, noColorFlag.stderr);
    assert.equal(noColorFlag.stdout, 'active\n');
    assert.equal(noColorFlag.stderr, `✓ ${sub.id} (tty) is active; deliveries go to https://tty.example.com/h\n`);
    assert.ok(!(noColorEnv.stderr + noColorFlag.stderr).includes(ESC));
    assert.deepEqual([...noColorEnv.asked, ...noColorFlag.asked], []);
  });

  test('--json at a terminal: the subscription object, uncoloured, and nothing on stderr', async () => {
    const result = await atTerminal(['--json', 'pause', sub.id]);
    assert.equal(result.code, 0, result.stderr);
    assert.ok(!result.stdout.includes(ESC));
    const printed = JSON.parse(result.stdout) as Subscription;
    assert.equal(printed.id, sub.id);
    assert.equal(printed.status, 'paused');
    assert.equal(result.stderr, '');
    assert.deepEqual(result.asked, []);
    const resumed = await atTerminal(['resume', sub.id]);
    assert.equal(resumed.code, 0, resumed.stderr);
  });

  test('in-process run() at a terminal: may prompt, yet asks nothing', async () => {
    const t = fixture.context({ tty: true, env: { NO_COLOR: '' } });
    assert.equal(t.context.io.canPrompt(), true, 'the context is an interactive terminal');
    await setStatus({ id: sub.id, status: 'paused' }, t.context);
    await setStatus({ id: sub.id, status: 'active' }, t.context);
    assert.deepEqual(t.prompts, []);
    assert.equal(t.stdout(), 'paused\nactive\n');
    assert.equal(
      t.stderr(),
      `${GREEN_CHECK} ${sub.id} (tty) is paused; \`intelliauth-webhooks resume ${sub.id}\` restarts deliveries\n` +
        `${GREEN_CHECK} ${sub.id} (tty) is active; deliveries go to https://tty.example.com/h\n`,
    );
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
