import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { getCommand, type GetOptions } from '../../src/commands/get/index.ts';
import { run } from '../../src/commands/get/run.ts';
import type { Subscription } from '../../src/domain/contract.ts';
import { ApiError, exitCodeFor, UsageError } from '../../src/errors.ts';
import { subscriptionDetails } from '../../src/output/format.ts';
import { importSigningSecret } from '../../src/secrets/signing-secrets.ts';
import { optionsFor, startSubscriptionFixture, type SubscriptionFixture } from '../helpers/subscriptions.ts';

const parse = (argv: string[]) => optionsFor<GetOptions>(getCommand, ['get', ...argv]);

describe('get: argv to options', () => {
  test('the id is the one positional argument', async () => {
    assert.deepEqual(await parse(['whsub_01ABC']), { id: 'whsub_01ABC' });
  });
  test('a missing or blank id is refused', async () => {
    await assert.rejects(parse([]), (error: { code?: string }) => error.code === 'commander.missingArgument');
    await assert.rejects(parse(['  ']), UsageError);
    await assert.rejects(parse(['whsub_1/../x']), UsageError);
  });
});

describe('get: against the emulator', () => {
  let fixture: SubscriptionFixture;
  let sub: Subscription & { signing_secret: string };

  before(async () => {
    fixture = await startSubscriptionFixture();
    sub = await fixture.create({ name: 'billing', url: 'https://billing.example.com/hooks', events: ['user.signed_up', 'user.deleted'], description: 'sync users' });
  });
  after(() => fixture.close());

  test('piped: key<TAB>value lines', async () => {
    const t = fixture.context();
    await run({ id: sub.id }, t.context);
    const { signing_secret: _secret, ...shown } = sub;
    assert.equal(t.stdout(), subscriptionDetails(shown).map(([key, value]) => `${key}\t${value}\n`).join(''));
    assert.match(t.stdout(), /^events\tuser\.signed_up, user\.deleted$/m);
    assert.match(t.stdout(), /^description\tsync users$/m);
    assert.equal(t.stderr(), '');
  });

  test('--json: the subscription object, without any secret', async () => {
    const t = fixture.context({ globals: { json: true } });
    await run({ id: sub.id }, t.context);
    const { signing_secret: _secret, ...expected } = sub;
    assert.deepEqual(JSON.parse(t.stdout()), expected);
    assert.equal(t.stdout().includes(sub.signing_secret), false);
  });

  test('at a terminal: also where the signing secret is stored here', async () => {
    const t = fixture.context({ tty: true });
    await run({ id: sub.id }, t.context);
    assert.match(t.stdout(), /^local secret +not recorded on this machine \(see `secret status`\)$/m);

    const stored = fixture.context({ tty: true });
    await importSigningSecret(stored.context, sub.id, sub.signing_secret);
    await run({ id: sub.id }, stored.context);
    assert.match(stored.stdout(), /^name +billing$/m);
    assert.match(stored.stdout(), /^local secret +the OS keychain \(fingerprint matches\)$/m);
    assert.equal(stored.stdout().includes(sub.signing_secret), false);
  });

  test('an unknown id exits 4 and names the id', async () => {
    const t = fixture.context();
    await assert.rejects(run({ id: 'whsub_01NOSUCHSUBSCRIPTION00000' }, t.context), (error) => {
      assert.ok(error instanceof ApiError);
      assert.equal(exitCodeFor(error), 4);
      assert.match(error.message, /^subscription whsub_01NOSUCHSUBSCRIPTION00000 not found/);
      return true;
    });
    assert.equal(t.stdout(), '');
  });

  test('a read-only token may read', async () => {
    const token = await fixture.emulator.token('webhooks:read');
    const t = fixture.context({ globals: { json: true }, env: { INTELLIAUTH_TOKEN: token } });
    await run({ id: sub.id }, t.context);
    assert.equal(JSON.parse(t.stdout()).id, sub.id);
  });
});
