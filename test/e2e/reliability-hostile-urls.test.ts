import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { checkReceiverUrl } from '../../src/domain/url-rules.ts';
import { ACCEPTED_URLS, REFUSED_URLS } from '../fixtures/hostile-urls.ts';
import { cleanEnv, runCli, startEmulatorProcess, tempHome, type EmulatorProcess } from '../helpers/cli.ts';
import { startConnectionTrap, type ConnectionTrap } from '../helpers/connection-trap.ts';
import { emulatorClient, type EmulatorClient } from '../helpers/emulator-client.ts';
import { runInProcess, STACK_LINE, stderrLines } from '../helpers/in-process-cli.ts';

// Reliability suite 3: hostile receiver URLs. The whole corpus goes through the CLI's own
// check (create and update, as a real, non-loopback tenant sees it: refused before any
// network call, token fetch included) and through the emulator's API check (422 url_not_allowed, or 201), and a
// receiver name that resolves to loopback only at delivery time must get nothing.
// Figure: `hostile-urls: <k>/<n> refused or accepted as expected`.

const REMOTE_TENANT = 'https://tenant.example.invalid';
const SUBSCRIPTION_ID = 'whsub_01HOSTILEURLSUITE0000000000';
/** What `create`/`update` refuse next when the URL passed: `*` without --all-events and without a terminal. */
const NEXT_CHECK = /refusing without --all-events/;
const URL_REFUSED = /^error: --url: receiver URL refused: /;

interface Case {
  url: string;
  why: string;
  expect: 'refused' | 'accepted';
}

const CASES: Case[] = [
  ...REFUSED_URLS.map((entry) => ({ url: entry.url, why: entry.why, expect: 'refused' as const })),
  ...ACCEPTED_URLS.map((url) => ({ url, why: 'public receiver', expect: 'accepted' as const })),
];

const tally = { checks: 0, asExpected: 0, failures: [] as string[] };

function record(side: string, item: Case, ok: boolean, detail: string): void {
  tally.checks += 1;
  if (ok) tally.asExpected += 1;
  else tally.failures.push(`${side}: ${JSON.stringify(item.url.slice(0, 80))} (${item.why}) expected ${item.expect}: ${detail}`);
}

function show(url: string): string {
  return JSON.stringify(url.length > 60 ? `${url.slice(0, 57)}...` : url);
}

let home: { dir: string; cleanup: () => Promise<void> };
/** Stands in as HTTPS_PROXY/HTTP_PROXY: any request the CLI makes lands here, and none may. */
let proxyTrap: ConnectionTrap;

/** A bearer token, or client credentials (then any API call would first fetch a token). */
function cliEnv(credentials: 'token' | 'client' = 'token'): Record<string, string> {
  return cleanEnv(home.dir, {
    ...(credentials === 'token'
      ? { INTELLIAUTH_TOKEN: 'hostile-url-suite-bearer' }
      : { INTELLIAUTH_M2M_CLIENT_ID: 'app_hostile_url_suite', INTELLIAUTH_M2M_CLIENT_SECRET: 'hostile-url-suite-client-secret' }),
    HTTPS_PROXY: proxyTrap.url,
    HTTP_PROXY: proxyTrap.url,
    NO_PROXY: '',
    XDG_DATA_HOME: join(home.dir, 'data'),
  });
}

function judgeCliOutcome(item: Case, code: number | null, stderr: string): { ok: boolean; detail: string } {
  const lines = stderrLines(stderr);
  const first = lines[0] ?? '';
  if (STACK_LINE.test(stderr)) return { ok: false, detail: `stack trace on stderr: ${first}` };
  if (code !== 2) return { ok: false, detail: `exit ${code}, stderr: ${first}` };
  if (item.expect === 'refused') {
    if (!URL_REFUSED.test(first)) return { ok: false, detail: `not refused as a URL: ${first}` };
    const reason = first.replace(URL_REFUSED, '');
    if (reason.trim() === '' || lines.length > 2) return { ok: false, detail: `not a one-line reason: ${lines.join(' | ')}` };
    return { ok: true, detail: '' };
  }
  if (URL_REFUSED.test(first)) return { ok: false, detail: first };
  return NEXT_CHECK.test(first) ? { ok: true, detail: '' } : { ok: false, detail: `stopped at something else: ${first}` };
}

before(async () => {
  home = await tempHome('iaw-hostile-urls-');
  proxyTrap = await startConnectionTrap();
});

after(async () => {
  await proxyTrap.close();
  await home.cleanup();
});

describe('the CLI refuses hostile receiver URLs before any network call', () => {
  const runs = [
    { command: 'create', credentials: 'token' },
    { command: 'update', credentials: 'token' },
    { command: 'create', credentials: 'client' },
  ] as const;
  for (const { command, credentials } of runs) {
    test(`${command} --url, in-process through main(), against a non-loopback tenant (${credentials === 'token' ? 'bearer token' : 'client credentials'})`, async () => {
      const misjudged: string[] = [];
      for (const item of CASES) {
        const argv =
          command === 'create'
            ? ['create', '--tenant-url', REMOTE_TENANT, '--name', 'hostile url', '--url', item.url, '--events', '*']
            : ['update', SUBSCRIPTION_ID, '--tenant-url', REMOTE_TENANT, '--url', item.url, '--events', '*'];
        const result = await runInProcess(argv, { env: cliEnv(credentials) });
        const verdict = judgeCliOutcome(item, result.code, result.stderr);
        record(`cli ${command} (${credentials})`, item, verdict.ok, verdict.detail);
        if (!verdict.ok) misjudged.push(`${show(item.url)}: ${verdict.detail}`);
        assert.equal(result.stdout, '', `nothing on stdout for ${show(item.url)}`);
      }
      assert.equal(proxyTrap.connections(), 0, 'no request may leave before the URL is judged');
      assert.deepEqual(misjudged, []);
    });
  }

  test('the built CLI as a child process, for a sample of the corpus', async () => {
    const sample = [
      ...REFUSED_URLS.filter((_entry, index) => index % 16 === 3).map((entry) => ({ url: entry.url, why: entry.why, expect: 'refused' as const })),
      ...ACCEPTED_URLS.filter((_url, index) => index % 14 === 0).map((url) => ({ url, why: 'public receiver', expect: 'accepted' as const })),
    ];
    assert.ok(sample.length >= 10);
    const misjudged: string[] = [];
    // Four at a time: each child is a full Node start-up.
    for (let start = 0; start < sample.length; start += 4) {
      const batch = sample.slice(start, start + 4);
      const results = await Promise.all(
        batch.map((item) =>
          runCli(['create', '--tenant-url', REMOTE_TENANT, '--name', 'hostile url', '--url', item.url, '--events', '*'], {
            env: cliEnv(),
            timeoutMs: 30_000,
          }),
        ),
      );
      results.forEach((result, index) => {
        const item = batch[index]!;
        const verdict = judgeCliOutcome(item, result.code, result.stderr);
        record('cli child', item, verdict.ok, verdict.detail);
        if (!verdict.ok) misjudged.push(`${show(item.url)}: ${verdict.detail}`);
      });
    }
    assert.equal(proxyTrap.connections(), 0, 'no request may leave before the URL is judged');
    assert.deepEqual(misjudged, []);
  });
});

describe('the emulator API refuses hostile receiver URLs, and re-checks names at delivery', () => {
  let emulator: EmulatorProcess;
  let api: EmulatorClient;
  /** The loopback "receiver" the rebinding names point at: any connection is a failure. */
  let receiverTrap: ConnectionTrap;

  const REBIND_NAMES = ['rebind.example.com', 'rebind6.example.com', 'rebind-mapped.example.com', 'rebind-mixed.example.com'];

  before(async () => {
    receiverTrap = await startConnectionTrap();
    // rebind-mixed lists loopback first: were only the later (public) address checked, the
    // connection would go to the first one, the trap, and never off this machine.
    emulator = await startEmulatorProcess([
      '--plan',
      'enterprise',
      '--resolve',
      'rebind.example.com=127.0.0.1',
      '--resolve',
      'rebind6.example.com=::1',
      '--resolve',
      'rebind-mapped.example.com=::ffff:127.0.0.1',
      '--resolve',
      'rebind-mixed.example.com=127.0.0.1,93.184.215.14',
    ]);
    api = emulatorClient(emulator);
  });

  after(async () => {
    await emulator?.stop();
    await receiverTrap?.close();
  });

  test('POST /subscriptions: refused URLs get 422 url_not_allowed, accepted ones 201', async () => {
    const misjudged: string[] = [];
    for (const item of CASES) {
      // Only a URL that can never be delivered to: the event types below are never triggered,
      // and an accepted subscription is deleted at once, so no public receiver is ever called.
      const answer = await rawCall(emulator, 'POST', '/api/v1/webhooks/subscriptions', {
        name: 'hostile url',
        url: item.url,
        events: ['mfa.factor_removed'],
      });
      let ok: boolean;
      let detail = `${answer.status} ${answer.text.slice(0, 160)}`;
      if (item.expect === 'accepted') {
        ok = answer.status === 201;
        const id = (answer.body as { data?: { id?: string } } | undefined)?.data?.id;
        if (id) {
          const deleted = await rawCall(emulator, 'DELETE', `/api/v1/webhooks/subscriptions/${id}`);
          if (deleted.status !== 204) {
            ok = false;
            detail = `could not delete ${id}: ${deleted.status}`;
          }
        }
      } else {
        const code = (answer.body as { error?: unknown } | undefined)?.error;
        const blank = item.url.trim() === '';
        // A blank url is a missing field (400 naming `url`); everything else is a refused URL.
        ok = blank
          ? answer.status === 400 && code === 'invalid_request' && /url/.test(answer.text)
          : answer.status === 422 && code === 'url_not_allowed';
      }
      record('emulator api', item, ok, detail);
      if (!ok) misjudged.push(`${show(item.url)}: ${detail}`);
    }
    assert.deepEqual(misjudged, []);
    const left = await api.call<unknown[]>('GET', '/api/v1/webhooks/subscriptions?limit=100');
    assert.deepEqual(left.data, [], 'every accepted subscription was deleted again');
  });

  test('DNS rebinding: a name accepted at create that resolves to loopback fails with url_not_allowed', async () => {
    const created: Array<{ name: string; id: string }> = [];
    for (const name of REBIND_NAMES) {
      const url = `https://${name}:${receiverTrap.port}/hook`;
      const item: Case = { url, why: 'name resolving to loopback, accepted at create', expect: 'accepted' };
      const verdict = checkReceiverUrl(url);
      assert.ok(verdict.ok, `${url} passes the URL check: names are not resolved at create`);
      const answer = await rawCall(emulator, 'POST', '/api/v1/webhooks/subscriptions', { name: `rebind ${name}`, url, events: ['user.signed_up'] });
      record('emulator rebinding create', item, answer.status === 201, `${answer.status} ${answer.text.slice(0, 160)}`);
      assert.equal(answer.status, 201, answer.text);
      created.push({ name, id: (answer.body as { data: { id: string } }).data.id });
    }

    await api.emit('user.signed_up');
    const misjudged: string[] = [];
    for (const { name, id } of created) {
      const item: Case = { url: `https://${name}:${receiverTrap.port}/hook`, why: 'resolves to loopback at delivery', expect: 'refused' };
      const attempts = await waitForAttempts(api, id, 1);
      const first = attempts[0];
      const ok = first !== undefined && first.outcome === 'failed' && first.error === 'url_not_allowed' && first.http_status === null;
      record('emulator rebinding delivery', item, ok, JSON.stringify(first ?? null));
      if (!ok) misjudged.push(`${name}: ${JSON.stringify(first ?? null)}`);
    }
    assert.equal(receiverTrap.connections(), 0, 'the loopback receiver was never contacted');
    assert.deepEqual(misjudged, []);
  });
});

test('hostile-urls figure', (t) => {
  const figure = `hostile-urls: ${tally.asExpected}/${tally.checks} refused or accepted as expected`;
  for (const failure of tally.failures.slice(0, 20)) t.diagnostic(`  misjudged: ${failure}`);
  t.diagnostic(figure);
  assert.ok(tally.checks >= 4 * CASES.length, `every check ran (${tally.checks})`);
  assert.equal(tally.asExpected, tally.checks, figure);
});

interface RawAnswer {
  status: number;
  text: string;
  body: unknown;
}

/** One API call whose status is judged by the test (the client helper throws on non-2xx). */
async function rawCall(emulator: EmulatorProcess, method: string, path: string, body?: unknown): Promise<RawAnswer> {
  const token = await tokenFor(emulator);
  const response = await fetch(`${emulator.tenantUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  let parsed: unknown;
  try {
    parsed = text === '' ? undefined : JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  return { status: response.status, text, body: parsed };
}

const tokens = new WeakMap<EmulatorProcess, string>();

async function tokenFor(emulator: EmulatorProcess): Promise<string> {
  const known = tokens.get(emulator);
  if (known) return known;
  const form = new URLSearchParams({ grant_type: 'client_credentials', client_id: emulator.clientId, client_secret: emulator.clientSecret });
  const response = await fetch(`${emulator.tenantUrl}/oauth2/token`, { method: 'POST', body: form });
  const answer = (await response.json()) as { access_token?: string };
  assert.ok(answer.access_token, `token request answered ${response.status}`);
  tokens.set(emulator, answer.access_token);
  return answer.access_token;
}

interface AttemptRecord {
  outcome: string;
  error: string | null;
  http_status: number | null;
}

async function waitForAttempts(api: EmulatorClient, id: string, count: number, timeoutMs = 15_000): Promise<AttemptRecord[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const attempts = (await api.deliveries(id)) as unknown as AttemptRecord[];
    if (attempts.length >= count || Date.now() > deadline) return attempts;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
