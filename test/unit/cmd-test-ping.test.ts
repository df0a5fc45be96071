import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { testPingCommand, type TestPingOptions } from '../../src/commands/test-ping/index.ts';
import { diagnoseFailure, type FailureFacts } from '../../src/commands/test-ping/diagnose.ts';
import { attemptDetails, run } from '../../src/commands/test-ping/run.ts';
import type { DeliveryRecord } from '../../src/domain/contract.ts';
import { secretFingerprint } from '../../src/domain/signature.ts';
import { CheckFailedError, exitCodeFor, UsageError } from '../../src/errors.ts';
import { IO } from '../../src/output/io.ts';
import { startSpinner } from '../../src/output/spinner.ts';
import { importSigningSecret } from '../../src/secrets/signing-secrets.ts';
import { startReceiver, type Receiver } from '../helpers/receiver.ts';
import { optionsFor, startSubscriptionFixture, type SubscriptionFixture } from '../helpers/subscriptions.ts';

const parse = (argv: string[]) => optionsFor<TestPingOptions>(testPingCommand, ['test-ping', ...argv]);

function record(overrides: Partial<DeliveryRecord>): DeliveryRecord {
  return {
    id: 'dlv_01',
    subscription_id: 'whsub_01',
    event_id: 'evt_01',
    event_type: 'test.ping',
    attempt: 1,
    attempted_at: '2026-01-01T00:00:00.000Z',
    outcome: 'failed',
    http_status: null,
    error: null,
    latency_ms: 12,
    response_excerpt: '',
    next_attempt_at: null,
    dead_lettered: false,
    ...overrides,
  };
}

const facts = (extra: Partial<FailureFacts> = {}): FailureFacts => ({ subscriptionId: 'whsub_01', ...extra });
const status = (code: number) => record({ http_status: code, error: 'http_status' });

describe('test-ping: argv to options', () => {
  test('the id is the one argument', async () => {
    assert.deepEqual(await parse(['whsub_01']), { id: 'whsub_01' });
    await assert.rejects(parse(['a b']), UsageError);
  });
});

describe('test-ping: a hint for each cause', () => {
  test('401/403 with the stored secret matching the platform: inject it with secret exec', () => {
    const d = diagnoseFailure(status(401), facts({ platformFingerprint: 'abcd1234', stored: { fingerprint: 'abcd1234', location: 'the OS keychain' } }));
    assert.equal(d.message, 'test delivery failed: the receiver answered 401');
    assert.equal(
      d.hint,
      "a 401 usually means the receiver's signing secret does not match; the platform signs with the secret of fingerprint abcd1234; " +
        'this machine holds abcd1234 in the OS keychain; start the receiver with it: `intelliauth-webhooks secret exec whsub_01 -- <your receiver command>`',
    );
  });

  test('403 with an outdated stored secret: rotate', () => {
    const d = diagnoseFailure(status(403), facts({ platformFingerprint: 'abcd1234', stored: { fingerprint: 'ffff0000', location: 'file /s' } }));
    assert.match(d.hint, /^a 403 usually means/);
    assert.match(d.hint, /this machine holds ffff0000 \(file \/s\), an outdated one: rotate \(`intelliauth-webhooks rotate whsub_01`\)/);
  });

  test('401 with nothing stored, or the store unreadable', () => {
    assert.match(diagnoseFailure(status(401), facts({ stored: null })).hint, /this machine holds no secret for whsub_01: import it/);
    assert.match(diagnoseFailure(status(401), facts()).hint, /start the receiver with the stored secret: `intelliauth-webhooks secret exec whsub_01 --/);
  });

  test('5xx: answer 2xx for events the receiver rejects', () => {
    for (const code of [500, 502, 503]) {
      const d = diagnoseFailure(status(code), facts());
      assert.equal(d.message, `test delivery failed: the receiver answered ${code}`);
      assert.match(d.hint, /answer 2xx for events the receiver chooses to reject/);
    }
  });

  test('3xx: redirects are not followed', () => {
    const d = diagnoseFailure(status(301), facts());
    assert.equal(d.message, 'test delivery failed: the receiver answered 301 (a redirect)');
    assert.match(d.hint, /redirects are not followed: point the subscription at the final URL \(`intelliauth-webhooks update whsub_01 --url URL`\)/);
  });

  test('other 4xx: check the path and method', () => {
    assert.match(diagnoseFailure(status(404), facts()).hint, /check the URL path and that the receiver accepts a POST/);
  });

  test('timeout: answer first, work later', () => {
    const d = diagnoseFailure(record({ error: 'timeout' }), facts());
    assert.equal(d.message, 'test delivery failed: the receiver did not answer within 10 s (timeout)');
    assert.match(d.hint, /answer 2xx first and do the work afterwards/);
  });

  test('tls: a self-signed or invalid certificate', () => {
    assert.match(diagnoseFailure(record({ error: 'tls' }), facts()).hint, /self-signed, expired, or not issued for its name/);
  });

  test('dns and connection: not reachable from the internet (tunnel or emulator); on the emulator, is it running', () => {
    for (const error of ['dns', 'connection'] as const) {
      const platform = diagnoseFailure(record({ error }), facts({ emulator: false }));
      assert.match(platform.message, new RegExp(`\\(${error}\\)$`));
      assert.match(platform.hint, /reachable from the internet: .*tunnel, or for local work use the emulator \(`intelliauth-webhooks emulator --allow-private-targets`\)/);
      const local = diagnoseFailure(record({ error }), facts({ emulator: true }));
      assert.match(local.hint, /check that the receiver is running and listening/);
    }
  });

  test('url_not_allowed: the name resolves to a private address', () => {
    const d = diagnoseFailure(record({ error: 'url_not_allowed' }), facts());
    assert.match(d.message, /resolves to a private or loopback address \(url_not_allowed\)/);
    assert.match(d.hint, /only to public addresses/);
  });
});

describe('test-ping: the attempt as shown', () => {
  test('status, error, latency, event, and a shortened excerpt', () => {
    const details = new Map(attemptDetails(record({ http_status: 500, error: 'http_status', response_excerpt: 'x'.repeat(400) })));
    assert.equal(details.get('http status'), '500');
    assert.equal(details.get('error'), 'http_status');
    assert.equal(details.get('latency'), '12 ms');
    assert.equal(details.get('event'), 'evt_01 (test.ping)');
    assert.equal(details.get('response'), `${'x'.repeat(300)}…`);
    assert.equal(new Map(attemptDetails(record({}))).get('response'), '(empty)');
    assert.equal(new Map(attemptDetails(record({}))).get('http status'), 'none (no answer)');
  });
});

describe('spinner', () => {
  function io(tty: boolean, quiet = false) {
    const chunks: string[] = [];
    const stream = { isTTY: tty, write: (chunk: string | Uint8Array) => (chunks.push(String(chunk)), true) };
    const stdin = new PassThrough();
    return { io: new IO({ stdin, stdout: { write: () => true, isTTY: tty }, stderr: stream }, { NO_COLOR: '1' }, { quiet }), chunks };
  }

  test('draws on a terminal stderr and erases its line when stopped', () => {
    const { io: terminal, chunks } = io(true);
    const spinner = startSpinner(terminal, 'waiting');
    spinner.stop();
    spinner.stop();
    assert.equal(chunks[0], '\r\u001b[2K⠋ waiting');
    assert.equal(chunks.at(-1), '\r\u001b[2K');
    assert.equal(chunks.length, 2, 'stop is idempotent');
  });

  test('silent without a terminal, and with --quiet', () => {
    for (const [tty, quiet] of [[false, false], [true, true]] as const) {
      const { io: quietIo, chunks } = io(tty, quiet);
      startSpinner(quietIo, 'waiting').stop();
      assert.deepEqual(chunks, []);
    }
  });
});

describe('test-ping: against the emulator', () => {
  let fixture: SubscriptionFixture;
  let ok: Receiver;
  let rejecting: Receiver;
  before(async () => {
    fixture = await startSubscriptionFixture();
    ok = await startReceiver({ respond: (_d, res) => res.writeHead(200).end('pong') });
    rejecting = await startReceiver({ respond: (_d, res) => res.writeHead(401).end('bad\u001b[31m signature') });
  });
  after(async () => {
    await ok.close();
    await rejecting.close();
    await fixture.close();
  });

  test('a 2xx at a terminal: spinner on stderr only, details on stdout, exit 0', async () => {
    const sub = await fixture.create({ url: ok.url });
    const t = fixture.context({ tty: true });
    await run({ id: sub.id }, t.context);
    assert.match(t.stdout(), /^outcome +succeeded$/m);
    assert.match(t.stdout(), /^response +pong$/m);
    assert.doesNotMatch(t.stdout(), /⠋|\u001b\[2K/);
    assert.match(t.stderr(), /^\r\u001b\[2K⠋ sending test\.ping to the receiver of whsub_\w+ \(the platform waits up to 10 s\)/);
    assert.match(t.stderr(), /\r\u001b\[2K✓ the receiver answered 200 in \d+ ms\n$/);
    assert.equal(ok.deliveries.length, 1);
  });

  test('piped: no spinner', async () => {
    const sub = await fixture.create({ url: ok.url });
    const t = fixture.context();
    await run({ id: sub.id }, t.context);
    assert.match(t.stderr(), /^✓ the receiver answered 200 in \d+ ms\n$/);
    assert.match(t.stdout(), /^outcome\tsucceeded$/m);
  });

  test('a 401: exit 7, the response sanitised, the stored and platform fingerprints in the hint', async () => {
    const sub = await fixture.create({ url: rejecting.url });
    const t = fixture.context();
    await importSigningSecret(t.context, sub.id, sub.signing_secret);
    const fp = secretFingerprint(sub.signing_secret);
    await assert.rejects(run({ id: sub.id }, t.context), (error: Error) => {
      assert.ok(error instanceof CheckFailedError);
      assert.equal(exitCodeFor(error), 7);
      assert.equal(error.message, 'test delivery failed: the receiver answered 401');
      assert.match(error.hint ?? '', new RegExp(`platform signs with the secret of fingerprint ${fp}; this machine holds ${fp} in the OS keychain`));
      return true;
    });
    assert.match(t.stdout(), /^response\tbad�\[31m signature$/m);
  });

  test('--json: the record on stdout, still exit 7 on failure', async () => {
    const sub = await fixture.create({ url: rejecting.url });
    const t = fixture.context({ globals: { json: true } });
    await assert.rejects(run({ id: sub.id }, t.context), CheckFailedError);
    const printed = JSON.parse(t.stdout()) as DeliveryRecord;
    assert.equal(printed.subscription_id, sub.id);
    assert.equal(printed.http_status, 401);
    assert.equal(printed.outcome, 'failed');
  });
});
