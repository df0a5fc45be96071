import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { cleanEnv, runCli, tempHome, type CliResult } from '../helpers/cli.ts';
import { HOSTILE_MARKER, SCENARIOS, startHostileApi, type HostileApi, type ScenarioName } from '../helpers/hostile-api.ts';
import { runInProcess, STACK_LINE, stderrLines } from '../helpers/in-process-cli.ts';

// Reliability suite 4: hostile API answers. Every API command runs against a fake tenant on
// loopback that answers each request the same hostile way. Each run must end, by itself,
// with the exit code README documents for that kind of failure and a one-line error
// (plus an optional hint), never a stack trace, never an echo of the page it was sent.
// The bulk runs in-process through main() (the CLI's own code path); a sample runs as
// child processes of the built CLI. Figure: `hostile-api: cases <n>, wrong exit codes 0, hangs 0`.

const SUBSCRIPTION = 'whsub_01J8ZQ4T7M5N6P7Q8R9S0T1V2W';
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

function expectedCode(scenario: ScenarioName, command: CommandName): number {
  if (command === 'delete' && DELETE_SUCCEEDS.has(scenario)) return 0;
  return EXPECTED[scenario];
}

interface Outcome {
  scenario: ScenarioName;
  command: CommandName;
  runner: 'in-process' | 'child';
  code: number | null;
  stdout: string;
  stderr: string;
  hung: boolean;
}

const outcomes: Outcome[] = [];

/** Answers a GET retries with backoff before it gives up. */
const SLOW_SCENARIOS: ReadonlySet<ScenarioName> = new Set(['html-502', 'html-503', 'reset-on-request', 'reset-mid-body', 'error-no-code-500']);

/** What is wrong with how the run ended, besides its exit code; null when nothing. */
function outputProblem(outcome: Outcome, expected: number): string | null {
  const { stdout, stderr } = outcome;
  if (STACK_LINE.test(stderr) || STACK_LINE.test(stdout)) return 'a stack trace';
  if (stderr.includes(HOSTILE_MARKER) || stdout.includes(HOSTILE_MARKER)) return 'the hostile page echoed back';
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

function describeOutcome(outcome: Outcome): string {
  const first = stderrLines(outcome.stderr).find((line) => line.startsWith('error: ')) ?? stderrLines(outcome.stderr)[0] ?? '';
  return `${outcome.scenario} / ${outcome.command} (${outcome.runner}): exit ${outcome.hung ? 'none (hung)' : outcome.code}, expected ${expectedCode(outcome.scenario, outcome.command)}; ${first.slice(0, 200)}`;
}

let home: { dir: string; cleanup: () => Promise<void> };
const servers = new Map<ScenarioName, HostileApi>();
let caseNumber = 0;

async function caseEnv(): Promise<{ env: Record<string, string>; secretFile: string }> {
  caseNumber += 1;
  const dir = join(home.dir, `case-${caseNumber}`);
  await mkdir(dir, { recursive: true });
  return {
    env: cleanEnv(dir, { INTELLIAUTH_TOKEN: 'hostile-api-suite-bearer' }),
    secretFile: join(dir, 'new.secret'),
  };
}

function argvFor(scenario: ScenarioName, command: CommandName, secretFile: string): string[] {
  return [...COMMANDS[command](secretFile), '--tenant-url', servers.get(scenario)!.url, '--timeout', timeoutFor(scenario)];
}

async function pool<T>(items: readonly T[], width: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const item = items[next]!;
      next += 1;
      await work(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(width, items.length) }, worker));
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
      const signals = new EventEmitter();
      let timer: NodeJS.Timeout | undefined;
      const hang = new Promise<'hung'>((resolve) => {
        timer = setTimeout(() => resolve('hung'), HANG_MS);
      });
      const run = runInProcess(argvFor(scenario, command, secretFile), { env, signals, ...(now ? { now } : {}) });
      const result = await Promise.race([run, hang]);
      clearTimeout(timer);
      // A hung run is interrupted like a user would (Ctrl-C), so it cannot outlive the suite.
      if (result === 'hung') signals.emit('SIGINT', 'SIGINT');
      outcomes.push(
        result === 'hung'
          ? { scenario, command, runner: 'in-process', code: null, stdout: '', stderr: '', hung: true }
          : { scenario, command, runner: 'in-process', code: result.code, stdout: result.stdout, stderr: result.stderr, hung: false },
      );
    });
    const mine = outcomes.filter((outcome) => outcome.runner === 'in-process');
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
      outcomes.push({ scenario, command, runner: 'child', code: result.code, stdout: result.stdout, stderr: result.stderr, hung });
    });
    const mine = outcomes.filter((outcome) => outcome.runner === 'child');
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
    const expected = expectedCode(outcome.scenario, outcome.command);
    if (outcome.code !== expected) problems.push(describeOutcome(outcome));
    const problem = outputProblem(outcome, expected);
    if (problem) problems.push(`${outcome.scenario} / ${outcome.command} (${outcome.runner}): ${problem}: ${outcome.stderr.slice(0, 300)}`);
  }
  assert.deepEqual(problems, []);
}

test('hostile-api figure', (t) => {
  const wrong = outcomes.filter((outcome) => !outcome.hung && outcome.code !== expectedCode(outcome.scenario, outcome.command));
  const hangs = outcomes.filter((outcome) => outcome.hung);
  const figure = `hostile-api: cases ${outcomes.length}, wrong exit codes ${wrong.length}, hangs ${hangs.length}`;
  for (const outcome of [...wrong, ...hangs].slice(0, 20)) t.diagnostic(`  ${describeOutcome(outcome)}`);
  t.diagnostic(figure);
  assert.ok(outcomes.length >= SCENARIOS.length * COMMAND_NAMES.length, `every case ran (${outcomes.length})`);
  assert.equal(wrong.length, 0, figure);
  assert.equal(hangs.length, 0, figure);
});
