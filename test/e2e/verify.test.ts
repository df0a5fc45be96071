import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createHmac } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { cleanEnv, ROOT, runCli, tempHome, type CliResult, type RunOptions } from '../helpers/cli.ts';

// `verify` run as users run it, against deliveries built here the documented way: the body is
// compact JSON, signed with HMAC-SHA256 keyed by the secret string (computed with node:crypto
// directly), the timestamp in a separate header. Needs a build (`node scripts/build.mjs`).

const SECRET = 'whsec_e2eCurrentSecret_0123456789abcdefghijklmno';
const OLD_SECRET = 'whsec_e2ePreviousSecret_ZYXWVUTSRQPONMLKJIHGFED';
const WRONG_SECRET = 'whsec_e2eSomebodyElses_aaaaaaaaaaaaaaaaaaaaaaaaa';
const STORED_SECRET = 'whsec_e2eStoredInAFile_bbbbbbbbbbbbbbbbbbbbbbbbb';
const STORED_PREVIOUS = 'whsec_e2eStoredPrevious_cccccccccccccccccccccccc';
const ALL_SECRETS = [SECRET, OLD_SECRET, WRONG_SECRET, STORED_SECRET, STORED_PREVIOUS];
const TENANT = 'tnt_01JE2E0000000000000000000A';

const hmac = (secret: string, body: Uint8Array | string) => createHmac('sha256', Buffer.from(secret, 'utf8')).update(body).digest('hex');
const fingerprint = (secret: string) => createHash('sha256').update(secret, 'utf8').digest('hex').slice(0, 8);
const nowSeconds = () => Math.floor(Date.now() / 1000);

const BODY = JSON.stringify({
  event_id: 'evt_01JE2E00000000000000000001',
  event_type: 'user.signed_up',
  occurred_at: '2025-06-15T14:26:40.000Z',
  tenant: { id: TENANT, slug: 'acme' },
  actor: { kind: 'user', id: 'usr_1', email: 'zoë@example.com' },
  data: { user_id: 'usr_1', test: false },
  delivery: { attempt: 1, subscription_id: 'whsub_01JE2E0000000000000000000' },
});

let home: { dir: string; cleanup: () => Promise<void> };
let bodyFile: string;
const outputs: CliResult[] = [];

async function verify(args: string[], options: { env?: Record<string, string | undefined>; input?: RunOptions['input'] } = {}): Promise<CliResult> {
  const env = cleanEnv(home.dir, { INTELLIAUTH_WEBHOOK_SECRET: SECRET, ...options.env });
  const result = await runCli(['verify', ...args], { env, ...(options.input === undefined ? {} : { input: options.input }) });
  outputs.push(result);
  return result;
}

async function file(name: string, content: string | Buffer): Promise<string> {
  const path = join(home.dir, name);
  await writeFile(path, content);
  return path;
}

before(async () => {
  assert.ok(existsSync(join(ROOT, 'dist', 'main.js')), 'build first: node scripts/build.mjs');
  home = await tempHome('iaw-verify-');
  bodyFile = await file('body.json', BODY);
});

after(async () => {
  // The secrets are in the environment and on stdin of these runs; none may come back out.
  assert.ok(outputs.length > 20);
  for (const { stdout, stderr } of outputs) {
    for (const secret of ALL_SECRETS) {
      assert.equal(stdout.includes(secret), false, `stdout leaks a secret: ${stdout}`);
      assert.equal(stderr.includes(secret), false, `stderr leaks a secret: ${stderr}`);
    }
  }
  await home.cleanup();
});

describe('verify: valid deliveries (exit 0)', () => {
  test('signature, fresh timestamp and expected tenant', async () => {
    const result = await verify(['--body-file', bodyFile, '--signature', hmac(SECRET, BODY), '--timestamp', String(nowSeconds()), '--tenant-id', TENANT]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, `valid: signature matches (current secret ${fingerprint(SECRET)}, X-IntelliAuth-Signature)\n`);
    assert.match(result.stderr, /event evt_01JE2E00000000000000000001 user\.signed_up, tenant tnt_01JE2E0000000000000000000A \(as expected\), attempt 1/);
    assert.match(result.stderr, /timestamp (is \d+ s old|matches this clock|is \d+ s in the future) \(limit 300 s\)/);
  });

  test('body from stdin, byte for byte', async () => {
    const result = await verify(['--signature', hmac(SECRET, BODY)], { input: Buffer.from(BODY, 'utf8') });
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^valid: signature matches \(current secret/);
    assert.match(result.stderr, /timestamp not checked/);
  });

  test('the secret from a named variable, and --quiet leaves only the verdict line', async () => {
    const result = await verify(['--quiet', '--secret-env', 'MY_HOOK_SECRET', '--body-file', bodyFile, '--signature', hmac(SECRET, BODY)], {
      env: { INTELLIAUTH_WEBHOOK_SECRET: undefined, MY_HOOK_SECRET: SECRET },
    });
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^valid: /);
    assert.equal(result.stderr, '');
  });

  test('the secret from the first line of stdin', async () => {
    const result = await verify(['--secret-stdin', '--body-file', bodyFile, '--signature', hmac(SECRET, BODY)], {
      env: { INTELLIAUTH_WEBHOOK_SECRET: undefined },
      input: `${SECRET}\nsecond line ignored\n`,
    });
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^valid: /);
  });

  test('during a rotation grace, a receiver still on the old secret verifies the Previous header', async () => {
    const result = await verify(
      ['--body-file', bodyFile, '--signature', hmac(SECRET, BODY), '--previous-signature', hmac(OLD_SECRET, BODY)],
      { env: { INTELLIAUTH_WEBHOOK_SECRET: OLD_SECRET } },
    );
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, `valid: signature matches (current secret ${fingerprint(OLD_SECRET)}, X-IntelliAuth-Signature-Previous)\n`);
    assert.match(result.stderr, /previous one, valid only until its grace period ends/);
  });

  test("a receiver holding the previous secret in ..._PREVIOUS verifies a delivery signed with it", async () => {
    const result = await verify(['--body-file', bodyFile, '--signature', hmac(OLD_SECRET, BODY)], {
      env: { INTELLIAUTH_WEBHOOK_SECRET_PREVIOUS: OLD_SECRET },
    });
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, new RegExp(`^valid: signature matches \\(previous secret ${fingerprint(OLD_SECRET)}, X-IntelliAuth-Signature\\)`));
  });

  test('--max-skew lets an old capture be checked', async () => {
    const result = await verify(['--body-file', bodyFile, '--signature', hmac(SECRET, BODY), '--timestamp', String(nowSeconds() - 3 * 86_400), '--max-skew', '7d']);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stderr, /limit 604800 s/);
  });
});

describe('verify: invalid deliveries (exit 7)', () => {
  test('a tampered body', async () => {
    const tampered = await file('tampered.json', BODY.replace('usr_1', 'usr_2'));
    const result = await verify(['--body-file', tampered, '--signature', hmac(SECRET, BODY)]);
    assert.equal(result.code, 7, result.stderr);
    assert.equal(result.stdout, '');
    assert.match(result.stderr, new RegExp(`error: invalid: X-IntelliAuth-Signature does not match the body \\(secret fingerprint ${fingerprint(SECRET)}\\)`));
    assert.match(result.stderr, /hint: check that the body is the exact raw bytes/);
  });

  test('a body with a newline added by an editor gets a pointed hint', async () => {
    const withNewline = await file('newline.json', `${BODY}\n`);
    const result = await verify(['--body-file', withNewline, '--signature', hmac(SECRET, BODY)]);
    assert.equal(result.code, 7, result.stderr);
    assert.match(result.stderr, /ends with a newline/);
  });

  test('a tampered signature', async () => {
    const good = hmac(SECRET, BODY);
    const result = await verify(['--body-file', bodyFile, '--signature', `${good.slice(0, -2)}${good.endsWith('00') ? '11' : '00'}`]);
    assert.equal(result.code, 7, result.stderr);
    assert.match(result.stderr, /does not match the body/);
  });

  test('the wrong secret: the message shows its fingerprint, not the secret', async () => {
    const result = await verify(['--body-file', bodyFile, '--signature', hmac(SECRET, BODY)], { env: { INTELLIAUTH_WEBHOOK_SECRET: WRONG_SECRET } });
    assert.equal(result.code, 7, result.stderr);
    assert.match(result.stderr, new RegExp(`secret fingerprint ${fingerprint(WRONG_SECRET)}`));
    assert.match(result.stderr, /INTELLIAUTH_WEBHOOK_SECRET/);
  });

  test('a malformed signature', async () => {
    const result = await verify(['--body-file', bodyFile, '--signature', `sha256=${hmac(SECRET, BODY)}`]);
    assert.equal(result.code, 7, result.stderr);
    assert.match(result.stderr, /"sha256=" prefix/);
  });

  test('a stale timestamp', async () => {
    const result = await verify(['--body-file', bodyFile, '--signature', hmac(SECRET, BODY), '--timestamp', String(nowSeconds() - 1000)]);
    assert.equal(result.code, 7, result.stderr);
    assert.match(result.stderr, /error: invalid: timestamp is 10\d\d s old \(limit 300 s\)/);
    assert.match(result.stderr, /hint: the signature matches; .*replay/);
  });

  test('a future timestamp', async () => {
    const result = await verify(['--body-file', bodyFile, '--signature', hmac(SECRET, BODY), '--timestamp', String(nowSeconds() + 1000)]);
    assert.equal(result.code, 7, result.stderr);
    assert.match(result.stderr, /error: invalid: timestamp is (?:9\d\d|1000) s in the future \(limit 300 s\)/);
  });

  test('the wrong tenant', async () => {
    const result = await verify(['--body-file', bodyFile, '--signature', hmac(SECRET, BODY), '--tenant-id', 'tnt_OTHER']);
    assert.equal(result.code, 7, result.stderr);
    assert.match(result.stderr, new RegExp(`error: invalid: tenant\\.id is ${TENANT}, expected tnt_OTHER`));
  });

  test('a signed body that is not JSON', async () => {
    const text = 'hello';
    const result = await verify(['--signature', hmac(SECRET, text)], { input: text });
    assert.equal(result.code, 7, result.stderr);
    assert.match(result.stderr, /error: invalid: body is not valid JSON/);
  });
});

describe('verify --headers-file', () => {
  test('a raw capture with a request line and CRLF supplies signature and timestamp', async () => {
    const headers = await file(
      'headers.txt',
      [
        'POST /hooks/intelliauth HTTP/1.1',
        'host: receiver.example.com',
        'content-type: application/json',
        `x-intelliauth-signature: ${hmac(SECRET, BODY)}`,
        'x-intelliauth-event-id: evt_01JE2E00000000000000000001',
        'x-intelliauth-event-type: user.signed_up',
        'x-intelliauth-delivery-attempt: 1',
        `x-intelliauth-timestamp: ${nowSeconds()}`,
        '',
        '',
      ].join('\r\n'),
    );
    const result = await verify(['--headers-file', headers, '--body-file', bodyFile, '--tenant-id', TENANT]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^valid: signature matches \(current secret/);
    assert.doesNotMatch(result.stderr, /timestamp not checked/);
  });

  test('a stale timestamp in the file is checked', async () => {
    const headers = await file('stale-headers.txt', `X-IntelliAuth-Signature: ${hmac(SECRET, BODY)}\nX-IntelliAuth-Timestamp: ${nowSeconds() - 4000}\n`);
    const result = await verify(['--headers-file', headers, '--body-file', bodyFile]);
    assert.equal(result.code, 7, result.stderr);
    assert.match(result.stderr, /timestamp is \d+ s old/);
  });

  test('flags override the file, and say so', async () => {
    const headers = await file('override-headers.txt', `X-IntelliAuth-Signature: ${'0'.repeat(64)}\nX-IntelliAuth-Timestamp: 1\n`);
    const result = await verify(['--headers-file', headers, '--body-file', bodyFile, '--signature', hmac(SECRET, BODY), '--timestamp', String(nowSeconds())]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stderr, /--signature overrides the value in/);
    assert.match(result.stderr, /--timestamp overrides the value in/);
  });

  test('a signature header given twice with different values is refused (exit 2)', async () => {
    const headers = await file('dup-headers.txt', `X-IntelliAuth-Signature: ${hmac(SECRET, BODY)}\nx-intelliauth-signature: ${'f'.repeat(64)}\n`);
    const result = await verify(['--headers-file', headers, '--body-file', bodyFile]);
    assert.equal(result.code, 2, result.stderr);
    assert.match(result.stderr, /gives X-IntelliAuth-Signature more than once with different values; refusing to pick one/);
  });

  test('a capture without a signature header is an invalid delivery (exit 7)', async () => {
    const headers = await file('nosig-headers.txt', 'X-IntelliAuth-Event-Id: evt_1\n');
    const result = await verify(['--headers-file', headers, '--body-file', bodyFile]);
    assert.equal(result.code, 7, result.stderr);
    assert.match(result.stderr, /no X-IntelliAuth-Signature header/);
  });

  test('a file with no delivery headers at all is a usage error', async () => {
    const headers = await file('other.txt', 'Host: x\nAccept: */*\n');
    const result = await verify(['--headers-file', headers, '--body-file', bodyFile]);
    assert.equal(result.code, 2, result.stderr);
    assert.match(result.stderr, /no X-IntelliAuth-\* headers found/);
  });
});

describe('verify --subscription', () => {
  // Secrets stored in files, recorded in the secret index the way `create --secret-store file`
  // and `rotate` leave them (src/secrets/signing-secrets.ts); the tenant host comes from the credentials.
  const subscription = 'whsub_01JE2E0000000000000000000';
  let env: Record<string, string | undefined>;

  before(async () => {
    const current = await file('stored-current.secret', `${STORED_SECRET}\n`);
    const previous = await file('stored-previous.secret', `${STORED_PREVIOUS}\n`);
    await chmod(current, 0o600);
    await chmod(previous, 0o600);
    const dataDir = join(home.dir, 'data', 'intelliauth-webhooks');
    await mkdir(dataDir, { recursive: true });
    const expiresAt = new Date(Date.now() + 3600_000).toISOString();
    const index = {
      version: 1,
      entries: {
        [`acme.example.com/${subscription}`]: {
          store: 'file',
          path: current,
          fingerprint: fingerprint(STORED_SECRET),
          stored_at: new Date().toISOString(),
          previous: { store: 'file', path: previous, fingerprint: fingerprint(STORED_PREVIOUS), expires_at: expiresAt },
        },
      },
    };
    await writeFile(join(dataDir, 'signing-secrets.json'), JSON.stringify(index));
    env = {
      INTELLIAUTH_WEBHOOK_SECRET: undefined,
      INTELLIAUTH_TENANT_URL: 'https://acme.example.com',
      INTELLIAUTH_M2M_CLIENT_ID: 'client_e2e',
      INTELLIAUTH_M2M_CLIENT_SECRET: 'not-used-offline',
    };
  });

  test('verifies with the stored current secret', async () => {
    const result = await verify(['--subscription', subscription, '--body-file', bodyFile, '--signature', hmac(STORED_SECRET, BODY)], { env });
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, `valid: signature matches (current secret ${fingerprint(STORED_SECRET)}, X-IntelliAuth-Signature)\n`);
  });

  test('verifies with the stored previous secret while its grace lasts', async () => {
    const result = await verify(['--subscription', subscription, '--body-file', bodyFile, '--signature', hmac(STORED_PREVIOUS, BODY)], { env });
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, new RegExp(`^valid: signature matches \\(previous secret ${fingerprint(STORED_PREVIOUS)}`));
  });

  test('a mismatch names both stored fingerprints', async () => {
    const result = await verify(['--json', '--subscription', subscription, '--body-file', bodyFile, '--signature', hmac(WRONG_SECRET, BODY)], { env });
    assert.equal(result.code, 7, result.stderr);
    const verdict = JSON.parse(result.stdout) as { reason: string; message: string; secretFingerprints: unknown };
    assert.equal(verdict.reason, 'signature_mismatch');
    assert.match(verdict.message, new RegExp(`current ${fingerprint(STORED_SECRET)}, previous ${fingerprint(STORED_PREVIOUS)}`));
    assert.deepEqual(verdict.secretFingerprints, { current: fingerprint(STORED_SECRET), previous: fingerprint(STORED_PREVIOUS) });
  });
});

describe('verify --json', () => {
  test('a valid verdict on stdout, exit 0', async () => {
    const timestamp = nowSeconds();
    const result = await verify(['--json', '--body-file', bodyFile, '--signature', hmac(SECRET, BODY), '--timestamp', String(timestamp), '--tenant-id', TENANT]);
    assert.equal(result.code, 0, result.stderr);
    const verdict = JSON.parse(result.stdout) as Record<string, unknown>;
    assert.equal(verdict.valid, true);
    assert.equal(verdict.matchedWith, 'current');
    assert.equal(verdict.header, 'signature');
    assert.equal(typeof verdict.timestampSkewSeconds, 'number');
    assert.deepEqual(verdict.event, {
      eventId: 'evt_01JE2E00000000000000000001',
      eventType: 'user.signed_up',
      occurredAt: '2025-06-15T14:26:40.000Z',
      tenantId: TENANT,
      tenantSlug: 'acme',
      attempt: 1,
      subscriptionId: 'whsub_01JE2E0000000000000000000',
    });
    assert.deepEqual(verdict.secretFingerprints, { current: fingerprint(SECRET), previous: null });
  });

  test('an invalid verdict on stdout first, then the error on stderr, exit 7', async () => {
    const result = await verify(['--json', '--body-file', bodyFile, '--signature', hmac(WRONG_SECRET, BODY)]);
    assert.equal(result.code, 7, result.stderr);
    const verdict = JSON.parse(result.stdout) as Record<string, unknown>;
    assert.deepEqual(verdict, {
      valid: false,
      reason: 'signature_mismatch',
      message: `X-IntelliAuth-Signature does not match the body (secret fingerprint ${fingerprint(SECRET)})`,
      secretFingerprints: { current: fingerprint(SECRET), previous: null },
    });
    assert.match(result.stderr, /error: invalid: /);
  });
});

describe('verify: usage errors (exit 2)', () => {
  test('a missing body file, in one line', async () => {
    const result = await verify(['--body-file', join(home.dir, 'nope.json'), '--signature', hmac(SECRET, BODY)]);
    assert.equal(result.code, 2, result.stderr);
    assert.match(result.stderr, /^error: cannot read --body-file .*nope\.json: no such file\n/);
  });

  test('no secret anywhere', async () => {
    const result = await verify(['--body-file', bodyFile, '--signature', hmac(SECRET, BODY)], { env: { INTELLIAUTH_WEBHOOK_SECRET: undefined } });
    assert.equal(result.code, 2, result.stderr);
    assert.match(result.stderr, /no signing secret to verify with/);
  });

  test('no signature source', async () => {
    const result = await verify(['--body-file', bodyFile]);
    assert.equal(result.code, 2, result.stderr);
    assert.match(result.stderr, /no signature to verify/);
  });

  test('--secret-stdin without --body-file', async () => {
    const result = await verify(['--secret-stdin', '--signature', hmac(SECRET, BODY)], { input: `${SECRET}\n` });
    assert.equal(result.code, 2, result.stderr);
    assert.match(result.stderr, /--secret-stdin needs --body-file/);
  });

  test('the secret passed to --secret-env is refused without being echoed', async () => {
    const result = await verify(['--secret-env', SECRET, '--body-file', bodyFile, '--signature', hmac(SECRET, BODY)]);
    assert.equal(result.code, 2, result.stderr);
    assert.match(result.stderr, /--secret-env takes the name of an environment variable/);
  });

  test('an unset --secret-env variable', async () => {
    const result = await verify(['--secret-env', 'NOT_SET_ANYWHERE', '--body-file', bodyFile, '--signature', hmac(SECRET, BODY)]);
    assert.equal(result.code, 2, result.stderr);
    assert.match(result.stderr, /environment variable NOT_SET_ANYWHERE is not set/);
  });

  test('two secret sources at once', async () => {
    const result = await verify(['--secret-env', 'X', '--secret-stdin', '--body-file', bodyFile, '--signature', hmac(SECRET, BODY)]);
    assert.equal(result.code, 2, result.stderr);
  });

  test('a body over 10 MiB', async () => {
    const big = Buffer.alloc(10 * 1024 * 1024 + 1, 0x20);
    const result = await verify(['--signature', hmac(SECRET, BODY)], { input: big });
    assert.equal(result.code, 2, result.stderr);
    assert.match(result.stderr, /the body on stdin is larger than 10 MiB/);
  });

  test('a bad --max-skew', async () => {
    const result = await verify(['--body-file', bodyFile, '--signature', hmac(SECRET, BODY), '--max-skew', 'soon']);
    assert.equal(result.code, 2, result.stderr);
    assert.match(result.stderr, /--max-skew must be a duration/);
  });
});
