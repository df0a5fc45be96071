import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { mkdir } from 'node:fs/promises';
import { connect, createServer as createTcpServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { TOKEN_PATH } from '../../src/domain/contract.ts';
import { cleanEnv, runCli, tempHome, type CliResult } from '../helpers/cli.ts';
import { HOSTILE_MARKER, SCENARIOS, startHostileApi, type HostileApi, type ScenarioName } from '../helpers/hostile-api.ts';
import { runInProcess, STACK_LINE, stderrLines } from '../helpers/in-process-cli.ts';
import { pool } from '../helpers/pool.ts';

// Reliability suite 4: hostile API answers. Every API command runs against a fake tenant on
// loopback that answers each request the same hostile way. Each run must end, by itself,
// with the exit code README documents for that kind of failure and a one-line error
// (plus an optional hint), never a stack trace, never an echo of the page it was sent.
// The bulk runs in-process through main() (the CLI's own code path); a sample runs as
// child processes of the built CLI. The runs above authenticate with a bearer token; the OAuth
// token endpoint faces the same answers too: with client credentials (the environment's
// tenant URL, client id and secret) a read and a write run against a tenant whose
// POST /oauth2/token answers each hostile way, and must end as README documents, without
// calling the API and without showing the client secret.
// Figure: `hostile-api: cases <n>, wrong exit codes 0, hangs 0` (<n> counts both kinds).

const SUBSCRIPTION = 'whsub_01J8ZQ4T7M5N6P7Q8R9S0T1V2W';
const BEARER = 'hostile-api-suite-bearer';
const CLIENT_ID = 'hostile-api-suite-client';
/** Never to be shown: not in messages, hints, stdout. */
const CLIENT_SECRET = 'hostile-suite-m2m-secret-Q7v2Lx9';
const EVENT = 'evt_01J8ZQ4T7M5N6P7Q8R9S0T1V2X';
/**
 * Per-request deadline (--timeout). Drips must be cut by it, so it is short for them; for
 * every other scenario it only has to be long enough that a busy test process is not
 * mistaken for a slow API.
 */
function timeoutFor(scenario: ScenarioName): string {
  return scenario.startsWith('drip-') ? '1' : '10';
}
/**
 * A run still going after this is a hang. The longest bounded wait is test-ping's: the
 * platform holds its answer up to 10 s for the receiver, so that call may take 20 s whatever
 * --timeout says. A GET's five 1 s attempts with backoff take about 7 s.
 */
const HANG_MS = 30_000;
/** In-process runs mostly wait (retry backoff, drips), so many can share the process. */
const IN_PROCESS_PARALLEL = 30;
const CHILD_PARALLEL = 6;
/** Client-credentials runs in-process, beside the bearer-token ones. */
const TOKEN_PARALLEL = 20;

type CommandName =
  | 'list'
  | 'get'
  | 'create'
  | 'update'
  | 'pause'
  | 'resume'
  | 'delete'
  | 'event-types'
  | 'rotate'
  | 'test-ping'
  | 'tail-deliveries'
  | 'dead-letters'
  | 'redeliver'
  | 'auth status'
  | 'trigger';

const COMMANDS: Record<CommandName, (secretFile: string) => string[]> = {
  list: () => ['list'],
  get: () => ['get', SUBSCRIPTION],
  create: (secretFile) => [
    'create',
    '--name',
    'hostile api',
    '--url',
    'https://hooks.example.com/in',
    '--events',
    'user.signed_up',
    '--secret-store',
    'file',
    '--secret-file',
    secretFile,
  ],
  update: () => ['update', SUBSCRIPTION, '--name', 'renamed'],
  pause: () => ['pause', SUBSCRIPTION],
  resume: () => ['resume', SUBSCRIPTION],
  delete: () => ['delete', SUBSCRIPTION, '--yes'],
  'event-types': () => ['event-types'],
  rotate: (secretFile) => ['rotate', SUBSCRIPTION, '--yes', '--secret-store', 'file', '--secret-file', secretFile],
  'test-ping': () => ['test-ping', SUBSCRIPTION],
  'tail-deliveries': () => ['tail-deliveries', SUBSCRIPTION, '--no-follow'],
  'dead-letters': () => ['dead-letters', SUBSCRIPTION],
  redeliver: () => ['redeliver', SUBSCRIPTION, EVENT],
  'auth status': () => ['auth', 'status'],
  trigger: () => ['trigger', 'user.signed_up'],
};
const COMMAND_NAMES = Object.keys(COMMANDS) as CommandName[];

// README's exit codes: 2 usage or invalid input (a redirect means a wrong --tenant-url; 400),
// 3 credentials (401), 4 not found (404), 5 the API unavailable (5xx, 429, network, and
// answers that are not the API's: pages, broken JSON, wrong shapes, cut or endless bodies).
const EXPECTED: Record<ScenarioName, number> = {
  'html-502': 5,
  'html-503': 5,
  'html-200': 5,
  'html-404': 4,
  'html-401': 3,
  'truncated-json': 5,
  'text-plain': 5,
  'no-content-type': 5,
  xml: 5,
  'invalid-utf8': 5,
  'huge-chunked': 5,
  'huge-declared': 5,
  'drip-body': 5,
  'drip-headers': 5,
  'reset-on-request': 5,
  'reset-mid-body': 5,
  'malformed-http': 5,
  'redirect-loop': 2,
  'redirect-away': 2,
  'no-data': 5,
  'data-string': 5,
  'data-null': 5,
  'data-junk-array': 5,
  'data-wrong-fields': 5,
  'json-array-body': 5,
  'error-no-code-500': 5,
  'error-no-code-400': 2,
  'no-content-204': 5,
  'empty-200': 5,
  'rate-limited-forever': 5,
};

/** `delete` reads no answer body: a 204, or any 2xx API envelope, means the subscription is gone. */
const DELETE_SUCCEEDS: ReadonlySet<ScenarioName> = new Set(['no-content-204', 'data-string', 'data-null', 'data-junk-array', 'data-wrong-fields']);

type Auth = 'bearer' | 'client-credentials';

/**
 * The token endpoint's answer decides these runs: no hostile answer carries an access
 * token, so no API call follows. The codes are the table's, but for one: a 404 from
 * POST /oauth2/token means the tenant has no token endpoint, which translateTokenError in
 * src/api/token.ts reports as a credentials failure (exit 3, hint: check the tenant URL), not
 * as a missing subscription. A 401 from it is the client id or secret refused (3), a 400 an
 * invalid request (2), a redirect a wrong tenant URL (2); 5xx, 429, the network and every
 * answer without a token in a JSON object (pages, broken JSON, 204, empty) are the tenant
 * unavailable (5).
 */
const TOKEN_EXPECTED: Record<ScenarioName, number> = { ...EXPECTED, 'html-404': 3 };

/** What runs with client credentials: a read with --json, and a write. */
const TOKEN_COMMANDS: ReadonlyArray<{ command: CommandName; extra: readonly string[] }> = [
  { command: 'list', extra: ['--json'] },
  { command: 'pause', extra: [] },
];

function expectedCode(scenario: ScenarioName, command: CommandName, auth: Auth = 'bearer'): number {
  if (auth === 'client-credentials') return TOKEN_EXPECTED[scenario];
  if (command === 'delete' && DELETE_SUCCEEDS.has(scenario)) return 0;
  return EXPECTED[scenario];
}

interface Outcome {
  scenario: ScenarioName;
  command: CommandName;
  /** Flags added to the command (`--json`). */
  extra: readonly string[];
  auth: Auth;
  runner: 'in-process' | 'child';
  code: number | null;
  stdout: string;
  stderr: string;
  hung: boolean;
  /** Client credentials only: the requests the tenant received, as "METHOD /path". */
  requests?: readonly string[];
}

const outcomes: Outcome[] = [];

/** Answers a GET retries with backoff before it gives up. */
const SLOW_SCENARIOS: ReadonlySet<ScenarioName> = new Set(['html-502', 'html-503', 'reset-on-request', 'reset-mid-body', 'error-no-code-500']);

/** What is wrong with how the run ended, besides its exit code; null when nothing. */
function outputProblem(outcome: Outcome, expected: number): string | null {
  const { stdout, stderr } = outcome;
  if (STACK_LINE.test(stderr) || STACK_LINE.test(stdout)) return 'a stack trace';
  if (stderr.includes(HOSTILE_MARKER) || stdout.includes(HOSTILE_MARKER)) return 'the hostile page echoed back';
  if (stderr.includes(CLIENT_SECRET) || stdout.includes(CLIENT_SECRET)) return 'the client secret in the output';
  if (stderr.includes(BEARER) || stdout.includes(BEARER)) return 'the bearer token in the output';
  if (outcome.auth === 'client-credentials') {
    const requests = outcome.requests ?? [];
    if (!requests.includes(`POST ${TOKEN_PATH}`)) return `no request to ${TOKEN_PATH} (${JSON.stringify(requests)})`;
    const others = requests.filter((request) => request !== `POST ${TOKEN_PATH}`);
    if (others.length > 0) return `API calls without a token: ${JSON.stringify(others)}`;
    if (expected !== 0 && outcome.extra.includes('--json') && stdout !== '') return 'output on stdout with --json after a failure';
  }
  if (expected === 0) return null;
  const lines = stderrLines(stderr);
  const errors = lines.filter((line) => line.startsWith('error: '));
  if (errors.length !== 1) return `${errors.length} error lines`;
  const at = lines.indexOf(errors[0]!);
  const rest = lines.slice(at + 1);
  if (rest.length > 1 || (rest.length === 1 && !rest[0]!.startsWith('hint: '))) return `more after the error line: ${JSON.stringify(rest)}`;
  if (errors[0]!.length > 600) return 'an error line over 600 characters';
  return null;
}

function caseLabel(outcome: Outcome): string {
  const command = [outcome.command, ...outcome.extra].join(' ');
  const how = outcome.auth === 'client-credentials' ? `${outcome.runner}, token endpoint` : outcome.runner;
  return `${outcome.scenario} / ${command} (${how})`;
}

function expectedFor(outcome: Outcome): number {
  return expectedCode(outcome.scenario, outcome.command, outcome.auth);
}

function describeOutcome(outcome: Outcome): string {
  const first = stderrLines(outcome.stderr).find((line) => line.startsWith('error: ')) ?? stderrLines(outcome.stderr)[0] ?? '';
  return `${caseLabel(outcome)}: exit ${outcome.hung ? 'none (hung)' : outcome.code}, expected ${expectedFor(outcome)}; ${first.slice(0, 200)}`;
}

let home: { dir: string; cleanup: () => Promise<void> };
const servers = new Map<ScenarioName, HostileApi>();
let caseNumber = 0;

async function caseEnv(credentials: Record<string, string> = { INTELLIAUTH_TOKEN: BEARER }): Promise<{ env: Record<string, string>; secretFile: string }> {
  caseNumber += 1;
  const dir = join(home.dir, `case-${caseNumber}`);
  await mkdir(dir, { recursive: true });
  return {
    env: cleanEnv(dir, credentials),
    secretFile: join(dir, 'new.secret'),
  };
}

/** Client credentials in the environment, for the tenant at `tenantUrl`; no bearer token. */
function clientCredentials(tenantUrl: string): Record<string, string> {
  return {
    INTELLIAUTH_TENANT_URL: tenantUrl,
    INTELLIAUTH_M2M_CLIENT_ID: CLIENT_ID,
    INTELLIAUTH_M2M_CLIENT_SECRET: CLIENT_SECRET,
  };
}

function argvFor(scenario: ScenarioName, command: CommandName, secretFile: string): string[] {
  return [...COMMANDS[command](secretFile), '--tenant-url', servers.get(scenario)!.url, '--timeout', timeoutFor(scenario)];
}

/** With client credentials the tenant URL comes from the environment, not --tenant-url. */
function tokenArgvFor(scenario: ScenarioName, command: CommandName, extra: readonly string[], secretFile: string): string[] {
  return [...COMMANDS[command](secretFile), ...extra, '--timeout', timeoutFor(scenario)];
}

/**
 * Runs one command line through main(); a run still going after HANG_MS is interrupted like a
 * user would (Ctrl-C), so it cannot outlive the suite, and reported as hung.
 */
async function runInProcessCase(
  argv: string[],
  env: Record<string, string>,
  now: (() => number) | undefined,
): Promise<{ code: number; stdout: string; stderr: string } | 'hung'> {
  const signals = new EventEmitter();
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<'hung'>((resolve) => {
    timer = setTimeout(() => resolve('hung'), HANG_MS);
  });
  const run = runInProcess(argv, { env, signals, ...(now ? { now } : {}) });
  const result = await Promise.race([run, hang]);
  clearTimeout(timer);
  if (result === 'hung') signals.emit('SIGINT', 'SIGINT');
  return result;
}

/**
 * A tenant in front of a hostile API for the client-credentials runs: POST /oauth2/token
 * goes, byte for byte, to the hostile server (its pages, drips, resets and malformed
 * answers reach the CLI as they are sent, a reset as a reset); any other request would be an
 * API call made without a token and gets a 418 that no expectation accepts. Every request
 * line the CLI sends is kept, those on a reused keep-alive connection too.
 */
interface TokenTenant {
  url: string;
  /** The requests received, as "METHOD /path", in order. */
  requests(): string[];
  close(): Promise<void>;
}

const REQUEST_LINE = /(GET|HEAD|POST|PUT|PATCH|DELETE|OPTIONS) (\S+) HTTP\/1\.[01]\r\n/g;

function requestPath(target: string): string {
  try {
    return new URL(target, 'http://tenant.invalid').pathname;
  } catch {
    return target;
  }
}

async function startTokenTenant(hostile: HostileApi): Promise<TokenTenant> {
  const upstreamPort = Number(new URL(hostile.url).port);
  const sockets = new Set<Socket>();
  /** What the CLI sent on each connection (latin1, capped): the source of requests(). */
  const sent: string[] = [];
  const server = createTcpServer((client) => {
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    client.on('error', () => {});
    const connection = sent.push('') - 1;
    const pending: Buffer[] = [];
    let upstream: Socket | undefined;
    let decided = false;
    client.on('close', () => upstream?.destroy());
    client.on('data', (chunk: Buffer) => {
      if (sent[connection]!.length < 65_536) sent[connection] += chunk.toString('latin1');
      if (upstream) {
        upstream.write(chunk);
        return;
      }
      if (decided) return;
      pending.push(chunk);
      const head = Buffer.concat(pending).toString('latin1');
      const end = head.indexOf('\r\n');
      if (end === -1) {
        if (head.length > 16_384) client.destroy();
        return;
      }
      decided = true;
      const [method, target = ''] = head.slice(0, end).split(' ');
      if (method === 'POST' && requestPath(target) === TOKEN_PATH) {
        const toHostile = connect(upstreamPort, '127.0.0.1');
        upstream = toHostile;
        sockets.add(toHostile);
        toHostile.on('close', () => sockets.delete(toHostile));
        // A reset from the hostile server is passed on as a reset, not as a clean end.
        toHostile.on('error', () => {
          if (!client.destroyed) client.resetAndDestroy();
        });
        toHostile.write(Buffer.concat(pending));
        toHostile.pipe(client);
        return;
      }
      const body = JSON.stringify({ error: 'called_without_token', message: 'this suite expects no API call without a token' });
      client.end(
        `HTTP/1.1 418 I'm a teapot\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    requests: () => sent.flatMap((text) => [...text.matchAll(REQUEST_LINE)].map((match) => `${match[1]} ${requestPath(match[2]!)}`)),
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

before(async () => {
  home = await tempHome('iaw-hostile-api-');
  for (const scenario of SCENARIOS) servers.set(scenario, await startHostileApi(scenario));
});

after(async () => {
  await Promise.all([...servers.values()].map((server) => server.close()));
  await home.cleanup();
});

// Both halves mostly wait (backoff, drips, process start-up), so they run side by side.
describe('every API command against every hostile answer', { concurrency: true }, () => {
  test('in-process through main(): documented exit code, one-line error, no hang', async () => {
    // The slowest (drips, retried failures) first, so the quick ones fill the gaps at the end.
    const slowFirst = (scenario: ScenarioName) => (scenario.startsWith('drip-') ? 0 : SLOW_SCENARIOS.has(scenario) ? 1 : 2);
    const pairs = SCENARIOS.flatMap((scenario) => COMMAND_NAMES.map((command) => ({ scenario, command }))).sort(
      (a, b) => slowFirst(a.scenario) - slowFirst(b.scenario),
    );
    await pool(pairs, IN_PROCESS_PARALLEL, async ({ scenario, command }) => {
      const { env, secretFile } = await caseEnv();
      // tail --no-follow gives up once the feed has been silent for 60 s of its clock; this
      // clock runs 40 times faster so the give-up comes after about 1.5 s here.
      const started = Date.now();
      const now = command === 'tail-deliveries' ? () => started + (Date.now() - started) * 40 : undefined;
      const result = await runInProcessCase(argvFor(scenario, command, secretFile), env, now);
      const base = { scenario, command, extra: [], auth: 'bearer', runner: 'in-process' } as const;
      outcomes.push(
        result === 'hung'
          ? { ...base, code: null, stdout: '', stderr: '', hung: true }
          : { ...base, code: result.code, stdout: result.stdout, stderr: result.stderr, hung: false },
      );
    });
    const mine = outcomes.filter((outcome) => outcome.runner === 'in-process' && outcome.auth === 'bearer');
    assert.equal(mine.length, SCENARIOS.length * COMMAND_NAMES.length);
    assertOutcomes(mine);
  });

  test('the built CLI as child processes, a sample covering every command', async () => {
    // Every command once, each against a different kind of hostility. tail-deliveries gets a
    // failure that ends it at once: against a transient one a child would wait out its 60 s
    // give-up, which the in-process runs cover with a faster clock.
    const sample: Array<{ scenario: ScenarioName; command: CommandName }> = [
      { command: 'list', scenario: 'html-502' },
      { command: 'get', scenario: 'truncated-json' },
      { command: 'create', scenario: 'html-200' },
      { command: 'update', scenario: 'data-wrong-fields' },
      { command: 'pause', scenario: 'no-content-204' },
      { command: 'resume', scenario: 'json-array-body' },
      { command: 'delete', scenario: 'drip-body' },
      { command: 'event-types', scenario: 'huge-chunked' },
      { command: 'rotate', scenario: 'reset-mid-body' },
      { command: 'test-ping', scenario: 'redirect-away' },
      { command: 'tail-deliveries', scenario: 'redirect-loop' },
      { command: 'dead-letters', scenario: 'malformed-http' },
      { command: 'redeliver', scenario: 'error-no-code-400' },
      { command: 'auth status', scenario: 'html-401' },
      { command: 'trigger', scenario: 'empty-200' },
    ];
    for (const command of COMMAND_NAMES) assert.ok(sample.some((entry) => entry.command === command), `${command} runs as a child`);

    await pool(sample, CHILD_PARALLEL, async ({ scenario, command }) => {
      const { env, secretFile } = await caseEnv();
      const result: CliResult = await runCli(argvFor(scenario, command, secretFile), { env, timeoutMs: HANG_MS });
      const hung = result.signal === 'SIGKILL';
      outcomes.push({ scenario, command, extra: [], auth: 'bearer', runner: 'child', code: result.code, stdout: result.stdout, stderr: result.stderr, hung });
    });
    const mine = outcomes.filter((outcome) => outcome.runner === 'child' && outcome.auth === 'bearer');
    assert.equal(mine.length, sample.length);
    assertOutcomes(mine);
  });

  test('the token endpoint against every hostile answer, with client credentials, in-process', async () => {
    const slowFirst = (scenario: ScenarioName) => (scenario.startsWith('drip-') ? 0 : SLOW_SCENARIOS.has(scenario) ? 1 : 2);
    const pairs = SCENARIOS.flatMap((scenario) => TOKEN_COMMANDS.map(({ command, extra }) => ({ scenario, command, extra }))).sort(
      (a, b) => slowFirst(a.scenario) - slowFirst(b.scenario),
    );
    await pool(pairs, TOKEN_PARALLEL, async ({ scenario, command, extra }) => {
      const tenant = await startTokenTenant(servers.get(scenario)!);
      try {
        const { env, secretFile } = await caseEnv(clientCredentials(tenant.url));
        const result = await runInProcessCase(tokenArgvFor(scenario, command, extra, secretFile), env, undefined);
        const base = { scenario, command, extra, auth: 'client-credentials', runner: 'in-process', requests: tenant.requests() } as const;
        outcomes.push(
          result === 'hung'
            ? { ...base, code: null, stdout: '', stderr: '', hung: true }
            : { ...base, code: result.code, stdout: result.stdout, stderr: result.stderr, hung: false },
        );
      } finally {
        await tenant.close();
      }
    });
    const mine = outcomes.filter((outcome) => outcome.runner === 'in-process' && outcome.auth === 'client-credentials');
    assert.equal(mine.length, SCENARIOS.length * TOKEN_COMMANDS.length);
    assertOutcomes(mine);
  });

  test('the token endpoint as the built CLI sees it, a sample', async () => {
    // The 204 that used to end in exit 1, a refusal, a bad request and a drip cut by --timeout.
    const sample: Array<{ scenario: ScenarioName; command: CommandName; extra: readonly string[] }> = [
      { command: 'list', extra: ['--json'], scenario: 'no-content-204' },
      { command: 'pause', extra: [], scenario: 'html-401' },
      { command: 'pause', extra: [], scenario: 'error-no-code-400' },
      { command: 'list', extra: ['--json'], scenario: 'drip-headers' },
    ];
    await pool(sample, 2, async ({ scenario, command, extra }) => {
      const tenant = await startTokenTenant(servers.get(scenario)!);
      try {
        const { env, secretFile } = await caseEnv(clientCredentials(tenant.url));
        const result: CliResult = await runCli(tokenArgvFor(scenario, command, extra, secretFile), { env, timeoutMs: HANG_MS });
        const hung = result.signal === 'SIGKILL';
        outcomes.push({
          scenario,
          command,
          extra,
          auth: 'client-credentials',
          runner: 'child',
          code: result.code,
          stdout: result.stdout,
          stderr: result.stderr,
          hung,
          requests: tenant.requests(),
        });
      } finally {
        await tenant.close();
      }
    });
    const mine = outcomes.filter((outcome) => outcome.runner === 'child' && outcome.auth === 'client-credentials');
    assert.equal(mine.length, sample.length);
    assertOutcomes(mine);
  });
});

function assertOutcomes(list: readonly Outcome[]): void {
  const problems: string[] = [];
  for (const outcome of list) {
    if (outcome.hung) {
      problems.push(describeOutcome(outcome));
      continue;
    }
    const expected = expectedFor(outcome);
    if (outcome.code !== expected) problems.push(describeOutcome(outcome));
    const problem = outputProblem(outcome, expected);
    if (problem) problems.push(`${caseLabel(outcome)}: ${problem}: ${outcome.stderr.slice(0, 300)}`);
  }
  assert.deepEqual(problems, []);
}

test('hostile-api figure', (t) => {
  const wrong = outcomes.filter((outcome) => !outcome.hung && outcome.code !== expectedFor(outcome));
  const hangs = outcomes.filter((outcome) => outcome.hung);
  const figure = `hostile-api: cases ${outcomes.length}, wrong exit codes ${wrong.length}, hangs ${hangs.length}`;
  for (const outcome of [...wrong, ...hangs].slice(0, 20)) t.diagnostic(`  ${describeOutcome(outcome)}`);
  const tokenCases = outcomes.filter((outcome) => outcome.auth === 'client-credentials').length;
  t.diagnostic(`  cases against the token endpoint with client credentials: ${tokenCases}`);
  t.diagnostic(figure);
  assert.ok(outcomes.length >= SCENARIOS.length * (COMMAND_NAMES.length + TOKEN_COMMANDS.length), `every case ran (${outcomes.length})`);
  assert.ok(tokenCases >= SCENARIOS.length * TOKEN_COMMANDS.length, `every token endpoint case ran (${tokenCases})`);
  assert.equal(wrong.length, 0, figure);
  assert.equal(hangs.length, 0, figure);
});
