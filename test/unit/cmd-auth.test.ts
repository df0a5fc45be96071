// login, logout and auth status: argv to options through commander, and run() against an
// in-process emulator with TTY on (scripted prompts) and off (flags and stdin only).

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { Command } from 'commander';
import { startEmulator, type RunningEmulator } from '../../src/emulator/index.ts';
import { addGlobalOptions } from '../../src/cli/global-options.ts';
import type { Binder } from '../../src/cli/command.ts';
import { main } from '../../src/main.ts';
import { loginCommand, parseHostPatterns, type LoginOptions } from '../../src/commands/login/index.ts';
import { logoutCommand, type LogoutOptions } from '../../src/commands/logout/index.ts';
import { authCommand } from '../../src/commands/auth/index.ts';
import { run as login } from '../../src/commands/login/run.ts';
import { run as logout } from '../../src/commands/logout/run.ts';
import { run as authStatus } from '../../src/commands/auth/run.ts';
import { AuthError, SecretStoreError, UsageError, exitCodeFor, EXIT_CODES } from '../../src/errors.ts';
import { MemorySecretStore } from '../../src/secrets/memory-store.ts';
import { secretAccounts } from '../../src/secrets/store.ts';
import { makeTestContext, type TestContextOptions } from '../helpers/context.ts';

let emulator: RunningEmulator;
let readOnly: RunningEmulator;
const homes: string[] = [];

before(async () => {
  emulator = await startEmulator({ port: 0, allowPrivateTargets: true });
  readOnly = await startEmulator({ port: 0, scopes: ['webhooks:read'] });
});

after(async () => {
  await Promise.all([emulator.close({ graceMs: 0 }), readOnly.close({ graceMs: 0 })]);
  await Promise.all(homes.map((dir) => rm(dir, { recursive: true, force: true })));
});

async function newHome(): Promise<Record<string, string>> {
  const dir = await mkdtemp(join(tmpdir(), 'iaw-cmd-auth-'));
  homes.push(dir);
  return { HOME: dir, XDG_CONFIG_HOME: join(dir, 'config'), XDG_DATA_HOME: join(dir, 'data'), XDG_CACHE_HOME: join(dir, 'cache') };
}

function loginOptions(overrides: Partial<LoginOptions> = {}): LoginOptions {
  return {
    tenantUrl: emulator.tenantUrl,
    profile: undefined,
    clientId: emulator.clientId,
    clientSecretStdin: true,
    audience: undefined,
    allowedReceiverHosts: undefined,
    activate: false,
    ...overrides,
  };
}

const logoutDefaults: LogoutOptions = { profile: undefined, all: false, forgetProfile: false, yes: false };

function accountFor(target: RunningEmulator): string {
  return secretAccounts.clientSecret(new URL(target.tenantUrl).host, target.clientId);
}

async function configOf(env: Record<string, string>): Promise<Record<string, unknown> | null> {
  const file = join(env.XDG_CONFIG_HOME!, 'intelliauth-webhooks', 'config.json');
  if (!existsSync(file)) return null;
  return JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>;
}

async function rawConfig(env: Record<string, string>): Promise<string> {
  const file = join(env.XDG_CONFIG_HOME!, 'intelliauth-webhooks', 'config.json');
  return existsSync(file) ? readFile(file, 'utf8') : '';
}

async function cachedTokens(env: Record<string, string>): Promise<string[]> {
  const dir = join(env.XDG_CACHE_HOME!, 'intelliauth-webhooks', 'tokens');
  return existsSync(dir) ? (await readdir(dir)).filter((name) => name.endsWith('.json')) : [];
}

/** Logs in (TTY off, secret on stdin) into a fresh memory store; returns what the test needs next. */
async function loggedIn(options: Partial<LoginOptions> = {}, contextOptions: TestContextOptions = {}) {
  const env = await newHome();
  const store = new MemorySecretStore();
  const target = options.tenantUrl === readOnly.tenantUrl ? readOnly : emulator;
  const t = makeTestContext({ env, secretStore: store, stdin: `${target.clientSecret}\n`, globals: { json: true }, ...contextOptions });
  await login(loginOptions(options), t.context);
  return { env, store, output: JSON.parse(t.stdout()) as Record<string, unknown>, stderr: t.stderr() };
}

/** Runs a definition through commander the way the program does, capturing the options. */
function parseWith<T>(define: (bind: Binder) => Command, argv: string[]): T {
  let captured: T | undefined;
  const bind: Binder = (command, toOptions) =>
    command.action((...args: unknown[]) => {
      const self = args[args.length - 1] as Command;
      captured = toOptions(args.slice(0, -2), self.opts(), self) as unknown as T;
    });
  const program = addGlobalOptions(new Command('intelliauth-webhooks')).exitOverride().configureOutput({ writeErr: () => {}, writeOut: () => {} });
  const command = define(bind);
  command.exitOverride();
  for (const sub of command.commands) sub.exitOverride();
  program.addCommand(command);
  program.parse(argv, { from: 'user' });
  assert.ok(captured !== undefined, 'the action ran');
  return captured;
}

async function runMain(argv: string[], env: Record<string, string>, stdin = ''): Promise<{ code: number; stdout: string; stderr: string }> {
  const input = new PassThrough();
  input.end(stdin);
  let stdout = '';
  let stderr = '';
  const code = await main(argv, {
    env: { NO_COLOR: '1', ...env },
    streams: { stdin: input, stdout: { write: (c) => ((stdout += String(c)), true) }, stderr: { write: (c) => ((stderr += String(c)), true) } },
    signals: new (await import('node:events')).EventEmitter() as unknown as Pick<NodeJS.Process, 'on' | 'off'>,
  });
  return { code, stdout, stderr };
}

describe('login: argv to options', () => {
  test('flags and the global --tenant-url/--profile become typed options', () => {
    const options = parseWith<LoginOptions>(loginCommand, [
      'login', '--tenant-url', 'https://acme-prod.intelliauth.io', '--client-id', ' app_1 ', '--client-secret-stdin',
      '--audience', 'https://api.acme', '--allowed-receiver-hosts', '*.Dev.Example.com, localhost,localhost', '--profile', 'dev', '--activate',
    ]);
    assert.deepEqual(options, {
      tenantUrl: 'https://acme-prod.intelliauth.io',
      profile: 'dev',
      clientId: 'app_1',
      clientSecretStdin: true,
      audience: 'https://api.acme',
      allowedReceiverHosts: ['*.dev.example.com', 'localhost'],
      activate: true,
    });
  });

  test('global options may come before the command too; absent flags stay undefined', () => {
    const options = parseWith<LoginOptions>(loginCommand, ['--profile', 'ci', 'login']);
    assert.deepEqual(options, {
      tenantUrl: undefined, profile: 'ci', clientId: undefined, clientSecretStdin: false, audience: undefined, allowedReceiverHosts: undefined, activate: false,
    });
    assert.deepEqual(parseWith<LoginOptions>(loginCommand, ['login', '--allowed-receiver-hosts', '']).allowedReceiverHosts, []);
  });

  test('--client-secret is refused with a reason and the way to do it, without echoing the value', () => {
    for (const argv of [['login', '--client-secret', 'cs_SUPERSECRET'], ['login', '--client-secret=cs_SUPERSECRET'], ['login', '--client-secret']]) {
      assert.throws(() => parseWith(loginCommand, argv), (error: unknown) => {
        assert.ok(error instanceof UsageError);
        assert.match(error.message, /--client-secret is not accepted: .*process list/);
        assert.match(error.hint ?? '', /--client-secret-stdin/);
        assert.ok(!`${error.message}${error.hint}`.includes('SUPERSECRET'));
        return true;
      });
    }
  });

  test('through main: exit 2, and the value never reaches stdout or stderr', async () => {
    const env = await newHome();
    const result = await runMain(['login', '--client-secret', 'cs_SUPERSECRET', '--client-id', 'app_1'], env);
    assert.equal(result.code, EXIT_CODES.usage);
    assert.equal(result.stdout, '');
    assert.match(result.stderr, /^error: --client-secret is not accepted/m);
    assert.ok(!result.stderr.includes('SUPERSECRET'));
  });

  test('bad client ids and host patterns are usage errors naming the flag', () => {
    assert.throws(() => parseWith(loginCommand, ['login', '--client-id', 'has space']), /--client-id must be/);
    assert.throws(() => parseHostPatterns('https://hooks.example.com/x', '--allowed-receiver-hosts'), /is a URL; list host names only/);
    assert.throws(() => parseHostPatterns('*', '--allowed-receiver-hosts'), /would allow every host/);
    assert.deepEqual(parseHostPatterns('hooks.example.com:8443 [::1]:3000', 'x'), ['hooks.example.com:8443', '[::1]:3000']);
    for (const port of ['0', '65536', '99999', '', 'x']) {
      assert.throws(() => parseHostPatterns(`hooks.example.com:${port}`, '--allowed-receiver-hosts'), /not a host name/);
    }
    assert.deepEqual(parseHostPatterns('127.0.0.1 [::1] hooks.example.com.', 'x'), ['127.0.0.1', '[::1]', 'hooks.example.com']);
  });
});

describe('logout and auth status: argv to options', () => {
  test('logout flags; --all with --profile is refused', () => {
    assert.deepEqual(parseWith<LogoutOptions>(logoutCommand, ['logout', '--profile', 'dev', '--forget-profile']), {
      profile: 'dev', all: false, forgetProfile: true, yes: false,
    });
    assert.deepEqual(parseWith<LogoutOptions>(logoutCommand, ['logout', '--all', '-y']), { profile: undefined, all: true, forgetProfile: false, yes: true });
    assert.throws(() => parseWith(logoutCommand, ['--profile', 'dev', 'logout', '--all']), /--all and --profile cannot be combined/);
  });

  test('auth has the status subcommand', () => {
    assert.deepEqual(parseWith(authCommand, ['auth', 'status', '--json']), {});
    assert.deepEqual(authCommand((c) => c).commands.map((c) => c.name()), ['status']);
  });
});

describe('login without a terminal', () => {
  test('missing flags: one usage error naming each of them, before the keychain is touched', async () => {
    const env = await newHome();
    const store = new MemorySecretStore();
    const t = makeTestContext({ env, secretStore: store });
    await assert.rejects(login(loginOptions({ tenantUrl: undefined, clientId: undefined, clientSecretStdin: false }), t.context), (error: unknown) => {
      assert.ok(error instanceof UsageError);
      assert.equal(error.message, 'login needs --tenant-url, --client-id and --client-secret-stdin (no interactive terminal to ask on)');
      return true;
    });
    await assert.rejects(login(loginOptions({ clientId: undefined }), t.context), {
      message: 'login needs --client-id (no interactive terminal to ask on)',
    });
    assert.deepEqual(store.calls, []);
    assert.equal(t.prompts.length, 0);
    assert.equal(await configOf(env), null);
  });

  test('--no-input at a terminal counts as no terminal', async () => {
    const env = await newHome();
    const t = makeTestContext({ env, tty: true, globals: { input: false } });
    await assert.rejects(login(loginOptions({ clientSecretStdin: false }), t.context), { message: /login needs --client-secret-stdin/ });
    assert.equal(t.prompts.length, 0);
  });

  test('good credentials: secret in the store, profile without it, token cache primed, JSON summary', async () => {
    const { env, store, output, stderr } = await loggedIn();
    assert.deepEqual([...store.entries()], [[accountFor(emulator), emulator.clientSecret]]);
    assert.deepEqual(store.calls.map((c) => c.operation), ['probe', 'get', 'set'], 'probed before anything else; the secret set once');
    assert.deepEqual(await configOf(env), {
      version: 1,
      profiles: { default: { tenant_url: emulator.tenantUrl, client_id: emulator.clientId } },
      active_profile: 'default',
    });
    assert.deepEqual(Object.keys(output).sort(), ['active', 'audience', 'client_id', 'expires_at', 'missing_scopes', 'profile', 'scopes', 'secret_store', 'tenant_url']);
    assert.equal(output.profile, 'default');
    assert.equal(output.tenant_url, emulator.tenantUrl);
    assert.equal(output.client_id, emulator.clientId);
    assert.deepEqual(output.scopes, ['webhooks:read', 'webhooks:write']);
    assert.deepEqual(output.missing_scopes, []);
    assert.equal(output.active, true);
    assert.ok(Date.parse(String(output.expires_at)) > Date.now() + 50 * 60_000, 'an hour-long token');
    assert.equal((await cachedTokens(env)).length, 1);
    assert.match(stderr, /✓ Logged in to http:\/\/127\.0\.0\.1:\d+ as client app_\w+: profile "default" \(active\) saved/);
    assert.ok(!stderr.includes('warning'), stderr);
    for (const text of [JSON.stringify(output), stderr, await rawConfig(env)]) assert.ok(!text.includes(emulator.clientSecret));
  });

  test('--debug traces the token request without the secret', async () => {
    const { stderr } = await loggedIn({}, { globals: { json: true, debug: true } });
    assert.match(stderr, /debug: .*POST .*\/oauth2\/token/);
    assert.ok(!stderr.includes(emulator.clientSecret));
  });

  test('only the first line of stdin is the secret; surrounding whitespace is dropped', async () => {
    const env = await newHome();
    const store = new MemorySecretStore();
    const t = makeTestContext({ env, secretStore: store, stdin: `  ${emulator.clientSecret}\r\nsecond line\n` });
    await login(loginOptions(), t.context);
    assert.equal(store.entries().get(accountFor(emulator)), emulator.clientSecret);
  });

  test('an empty first line of stdin is a usage error', async () => {
    const t = makeTestContext({ env: await newHome(), stdin: '\nsecret-on-line-2\n' });
    await assert.rejects(login(loginOptions(), t.context), { message: '--client-secret-stdin: the first line of stdin is empty' });
  });

  test('a wrong secret: AuthError saying the tenant rejected it, exit 3, nothing saved', async () => {
    const env = await newHome();
    const store = new MemorySecretStore();
    const t = makeTestContext({ env, secretStore: store, stdin: 'cs_wrong_secret_value\n' });
    await assert.rejects(login(loginOptions(), t.context), (error: unknown) => {
      assert.ok(error instanceof AuthError);
      assert.match(error.message, /^login failed: the tenant rejected the client id or secret \(client app_\w+\); nothing was saved$/);
      assert.equal(exitCodeFor(error), EXIT_CODES.auth);
      assert.ok(!`${error.message}${error.hint}`.includes('cs_wrong_secret_value'));
      return true;
    });
    assert.equal(store.entries().size, 0);
    assert.equal(await configOf(env), null);
    assert.deepEqual(await cachedTokens(env), []);
    assert.equal(t.stdout(), '');
  });

  test('a read-only client: saved, with a warning naming webhooks:write', async () => {
    const { output, stderr } = await loggedIn({ tenantUrl: readOnly.tenantUrl, clientId: readOnly.clientId });
    assert.deepEqual(output.scopes, ['webhooks:read']);
    assert.deepEqual(output.missing_scopes, ['webhooks:write']);
    assert.match(stderr, /warning: the client was not granted webhooks:write: read-only; create, update/);
    assert.match(stderr, /hint: add the scopes to the M2M application/);
  });

  test('an unusable keychain: SecretStoreError pointing at environment variables, nothing saved, no token asked for', async () => {
    const env = await newHome();
    const store = new MemorySecretStore({
      failOn: { probe: new SecretStoreError('the OS keychain is not reachable: no D-Bus session bus', { hint: 'start a desktop session, or use --secret-store file' }) },
    });
    const t = makeTestContext({ env, secretStore: store, stdin: `${emulator.clientSecret}\n` });
    await assert.rejects(login(loginOptions(), t.context), (error: unknown) => {
      assert.ok(error instanceof SecretStoreError);
      assert.equal(error.message, 'cannot store the client secret, so nothing was saved: the OS keychain is not reachable: no D-Bus session bus');
      assert.equal(
        error.hint,
        'start a desktop session; or, without a usable keychain (CI, containers), skip login and set INTELLIAUTH_TENANT_URL, INTELLIAUTH_M2M_CLIENT_ID and INTELLIAUTH_M2M_CLIENT_SECRET instead',
      );
      return true;
    });
    assert.equal(await configOf(env), null);
    assert.deepEqual(await cachedTokens(env), []);
  });

  test('the keychain failing on the write itself: no profile is written', async () => {
    const env = await newHome();
    const store = new MemorySecretStore({ failOn: { set: new SecretStoreError('the OS keychain is locked') } });
    const t = makeTestContext({ env, secretStore: store, stdin: `${emulator.clientSecret}\n` });
    await assert.rejects(login(loginOptions(), t.context), { name: 'SecretStoreError', message: /nothing was saved: the OS keychain is locked/ });
    assert.equal(await configOf(env), null);
  });

  test('audience and receiver hosts are saved, and kept when logging in again without those flags', async () => {
    const { env, store } = await loggedIn({ allowedReceiverHosts: ['*.dev.example.com'] });
    const again = makeTestContext({ env, secretStore: store, stdin: `${emulator.clientSecret}\n`, globals: { json: true } });
    await login(loginOptions(), again.context);
    const config = (await configOf(env)) as { profiles: Record<string, unknown> };
    assert.deepEqual(config.profiles.default, { tenant_url: emulator.tenantUrl, client_id: emulator.clientId, allowed_receiver_hosts: ['*.dev.example.com'] });
    const cleared = makeTestContext({ env, secretStore: store, stdin: `${emulator.clientSecret}\n` });
    await login(loginOptions({ allowedReceiverHosts: [] }), cleared.context);
    assert.deepEqual(((await configOf(env)) as { profiles: Record<string, unknown> }).profiles.default, { tenant_url: emulator.tenantUrl, client_id: emulator.clientId });
  });

  test('a second profile does not take over the active one; a hint says how to use it', async () => {
    const { env, store } = await loggedIn();
    const t = makeTestContext({ env, secretStore: store, stdin: `${readOnly.clientSecret}\n`, globals: { json: true } });
    await login(loginOptions({ profile: 'ro', tenantUrl: readOnly.tenantUrl, clientId: readOnly.clientId }), t.context);
    assert.equal((JSON.parse(t.stdout()) as { active: boolean }).active, false);
    assert.match(t.stderr(), /hint: commands use another profile by default: pass --profile ro/);
    const config = (await configOf(env)) as { active_profile: string; profiles: Record<string, unknown> };
    assert.equal(config.active_profile, 'default');
    assert.deepEqual(Object.keys(config.profiles).sort(), ['default', 'ro']);
    assert.equal(store.entries().size, 2);

    const activate = makeTestContext({ env, secretStore: store, stdin: `${readOnly.clientSecret}\n` });
    await login(loginOptions({ profile: 'ro', tenantUrl: readOnly.tenantUrl, clientId: readOnly.clientId, activate: true }), activate.context);
    assert.equal(((await configOf(env)) as { active_profile: string }).active_profile, 'ro');
  });

  test('pointing a profile at another client removes the old client secret', async () => {
    const { env, store } = await loggedIn();
    const t = makeTestContext({ env, secretStore: store, stdin: `${readOnly.clientSecret}\n` });
    await login(loginOptions({ tenantUrl: readOnly.tenantUrl, clientId: readOnly.clientId }), t.context);
    assert.deepEqual([...store.entries().keys()], [accountFor(readOnly)]);
    assert.match(t.stderr(), /removed the stored secret of the profile's previous client app_\w+ at http:\/\/127\.0\.0\.1:\d+/);
  });

  test('credentials in the environment would win over the new profile: a warning says so', async () => {
    const { stderr } = await loggedIn({}, { env: { ...(await newHome()), INTELLIAUTH_M2M_CLIENT_ID: 'app_other' } });
    assert.match(stderr, /warning: INTELLIAUTH_M2M_CLIENT_ID is set: commands use the credentials in the environment, not this profile/);
  });
});

describe('login at a terminal', () => {
  test('asks for the tenant, the client id and (hidden) the secret', async () => {
    const env = await newHome();
    const store = new MemorySecretStore();
    const t = makeTestContext({
      env,
      tty: true,
      secretStore: store,
      answers: [
        { match: 'Tenant URL', answer: `${emulator.tenantUrl}/` },
        { match: 'M2M client id', answer: emulator.clientId },
        { match: 'Client secret', answer: emulator.clientSecret },
      ],
    });
    await login(loginOptions({ tenantUrl: undefined, clientId: undefined, clientSecretStdin: false }), t.context);
    assert.deepEqual(t.prompts.map((p) => p.kind), ['input', 'input', 'password']);
    assert.equal(store.entries().get(accountFor(emulator)), emulator.clientSecret);
    assert.equal(((await configOf(env)) as { profiles: { default: { tenant_url: string } } }).profiles.default.tenant_url, emulator.tenantUrl);
    assert.equal(t.stdout(), '', 'the summary goes to stderr');
    assert.ok(!t.stderr().includes(emulator.clientSecret));
  });

  test('with everything but the secret given, only the password prompt appears (also with --client-secret-stdin)', async () => {
    for (const clientSecretStdin of [false, true]) {
      const t = makeTestContext({ env: await newHome(), tty: true, answers: [{ match: 'Client secret', answer: emulator.clientSecret }] });
      await login(loginOptions({ clientSecretStdin }), t.context);
      assert.deepEqual(t.prompts.map((p) => p.kind), ['password']);
    }
  });

  test('an empty secret at the prompt saves nothing', async () => {
    const env = await newHome();
    const t = makeTestContext({ env, tty: true, answers: [{ match: 'Client secret', answer: '   ' }] });
    await assert.rejects(login(loginOptions(), t.context), { name: 'UsageError', message: 'no client secret given; nothing was saved' });
    assert.equal(await configOf(env), null);
  });

  test('a malformed tenant URL flag is refused before any prompt', async () => {
    const t = makeTestContext({ env: await newHome(), tty: true });
    await assert.rejects(login(loginOptions({ tenantUrl: 'http://acme.example.com' }), t.context), {
      name: 'UsageError',
      message: /--tenant-url: plain http is allowed only for loopback hosts/,
    });
    assert.equal(t.prompts.length, 0);
  });
});

describe('logout', () => {
  test('removes the client secret and cached token, keeps the profile; a second run has nothing to remove', async () => {
    const { env, store } = await loggedIn();
    const t = makeTestContext({ env, secretStore: store, globals: { json: true } });
    await logout(logoutDefaults, t.context);
    assert.deepEqual(JSON.parse(t.stdout()), {
      profiles: [{ profile: 'default', tenant_url: emulator.tenantUrl, client_id: emulator.clientId, client_secret_removed: true, cached_tokens_removed: 1, profile_removed: false }],
      cached_tokens_removed: 1,
    });
    assert.match(t.stderr(), /✓ Logged out of profile "default" .*: removed its client secret from the keychain and 1 cached token/);
    assert.equal(store.entries().size, 0);
    assert.deepEqual(await cachedTokens(env), []);
    assert.ok((await configOf(env)) !== null);

    const again = makeTestContext({ env, secretStore: store });
    await logout(logoutDefaults, again.context);
    assert.match(again.stderr(), /profile "default" \(client .*\): no stored client secret or cached token; nothing to remove/);
    assert.equal(again.stdout(), '');
  });

  test('--forget-profile also removes the profile (and its active mark)', async () => {
    const { env, store } = await loggedIn();
    const t = makeTestContext({ env, secretStore: store });
    await logout({ ...logoutDefaults, forgetProfile: true }, t.context);
    assert.deepEqual(await configOf(env), { version: 1, profiles: {} });
    assert.match(t.stderr(), /✓ Removed profile "default" from .*config\.json \(it was the active profile\)/);
  });

  test('an unknown profile: nothing to remove, not an error', async () => {
    const t = makeTestContext({ env: await newHome(), globals: { json: true } });
    await logout({ ...logoutDefaults, profile: 'nope' }, t.context);
    assert.deepEqual(JSON.parse(t.stdout()), { profiles: [], cached_tokens_removed: 0 });
    assert.match(t.stderr(), /no profile "nope" in .*; nothing to remove/);
  });

  test('a keychain that fails: SecretStoreError, the profile is kept even with --forget-profile', async () => {
    const { env, store } = await loggedIn();
    store.failOn.delete = new SecretStoreError('the OS keychain is locked', { hint: 'unlock it, or use --secret-store file' });
    const t = makeTestContext({ env, secretStore: store });
    await assert.rejects(logout({ ...logoutDefaults, forgetProfile: true }, t.context), (error: unknown) => {
      assert.ok(error instanceof SecretStoreError);
      assert.match(error.message, /^cannot remove the client secret of profile "default" from memory store \(tests\): the OS keychain is locked$/);
      assert.equal(error.hint, 'unlock it; its cached tokens were removed and the profile kept; run logout again once the keychain answers');
      return true;
    });
    assert.ok(((await configOf(env)) as { profiles: Record<string, unknown> }).profiles.default);
  });

  test('--all needs --yes without a terminal, then clears every profile', async () => {
    const { env, store } = await loggedIn();
    const second = makeTestContext({ env, secretStore: store, stdin: `${readOnly.clientSecret}\n` });
    await login(loginOptions({ profile: 'ro', tenantUrl: readOnly.tenantUrl, clientId: readOnly.clientId }), second.context);
    const refused = makeTestContext({ env, secretStore: store });
    await assert.rejects(logout({ ...logoutDefaults, all: true }, refused.context), { name: 'UsageError', message: /refusing without confirmation/ });
    assert.equal(store.entries().size, 2);

    const t = makeTestContext({ env, secretStore: store, globals: { json: true } });
    await logout({ ...logoutDefaults, all: true, yes: true }, t.context);
    const output = JSON.parse(t.stdout()) as { profiles: Array<{ profile: string; client_secret_removed: boolean }>; cached_tokens_removed: number };
    assert.deepEqual(output.profiles.map((p) => [p.profile, p.client_secret_removed]), [['default', true], ['ro', true]]);
    assert.equal(output.cached_tokens_removed, 2);
    assert.equal(store.entries().size, 0);
  });

  test('--all at a terminal asks first', async () => {
    const { env, store } = await loggedIn();
    const t = makeTestContext({ env, secretStore: store, tty: true, answers: [{ match: 'Log out of 1 profile (default)?', answer: false }] });
    await assert.rejects(logout({ ...logoutDefaults, all: true }, t.context), { message: 'cancelled; nothing was changed' });
    assert.equal(store.entries().size, 1);
  });
});

describe('auth status', () => {
  test('no credentials: exit 3; with --json the status object comes first, ok false with the reason', async () => {
    const env = await newHome();
    const t = makeTestContext({ env, globals: { json: true } });
    await assert.rejects(authStatus({}, t.context), (error: unknown) => {
      assert.ok(error instanceof AuthError);
      assert.equal(exitCodeFor(error), EXIT_CODES.auth);
      return true;
    });
    const status = JSON.parse(t.stdout()) as Record<string, unknown>;
    assert.equal(status.ok, false);
    assert.equal(status.reason, 'no credentials found');
    assert.match(String(status.hint), /intelliauth-webhooks login/);
    assert.equal(status.token, null);
    assert.deepEqual(status.keychain, { usable: true, backend: 'memory store (tests)', reason: null });
  });

  test('after login: the profile and keychain as source, the primed token reused from the cache', async () => {
    const { env, store } = await loggedIn();
    const t = makeTestContext({ env, secretStore: store, globals: { json: true } });
    await authStatus({}, t.context);
    const status = JSON.parse(t.stdout()) as Record<string, unknown> & { token: Record<string, unknown> };
    assert.equal(status.ok, true);
    assert.equal(status.tenant_url, emulator.tenantUrl);
    assert.equal(status.client_id, emulator.clientId);
    assert.equal(status.profile, 'default');
    assert.equal(status.source, 'profile');
    assert.match(String(status.source_description), /^profile "default" in .*config\.json, client secret in memory store \(tests\)$/);
    assert.equal(status.token.type, 'client_credentials');
    assert.deepEqual(status.token.scopes, ['webhooks:read', 'webhooks:write']);
    assert.equal(status.token.from_cache, true);
    assert.deepEqual(status.token.missing_scopes, []);
    assert.ok(Date.parse(String(status.token.expires_at)) > Date.now());
    assert.ok(!t.stdout().includes(emulator.clientSecret));
  });

  test('at a terminal: a details list on stdout', async () => {
    const { env, store } = await loggedIn();
    const t = makeTestContext({ env, secretStore: store, tty: true });
    await authStatus({}, t.context);
    const out = t.stdout();
    assert.match(out, /^Tenant +http:\/\/127\.0\.0\.1:\d+$/m);
    assert.match(out, /^Credentials +profile "default" in /m);
    assert.match(out, /^Scopes +webhooks:read webhooks:write$/m);
    assert.match(out, /^Expires +.*, in (59|60) min$/m);
    assert.match(out, /^Token +reused from the token cache$/m);
    assert.match(out, /^Keychain +usable \(memory store \(tests\)\)$/m);
  });

  test('environment client credentials: fetched fresh, then reused; a read-only client gets a warning', async () => {
    const env = { ...(await newHome()), INTELLIAUTH_TENANT_URL: readOnly.tenantUrl, INTELLIAUTH_M2M_CLIENT_ID: readOnly.clientId, INTELLIAUTH_M2M_CLIENT_SECRET: readOnly.clientSecret };
    const first = makeTestContext({ env, globals: { json: true } });
    await authStatus({}, first.context);
    const status = JSON.parse(first.stdout()) as { source: string; source_description: string; profile: null; token: { from_cache: boolean; missing_scopes: string[] } };
    assert.equal(status.source, 'env-client');
    assert.equal(status.source_description, 'the environment: INTELLIAUTH_M2M_CLIENT_ID and INTELLIAUTH_M2M_CLIENT_SECRET');
    assert.equal(status.profile, null);
    assert.equal(status.token.from_cache, false);
    assert.deepEqual(status.token.missing_scopes, ['webhooks:write']);
    assert.match(first.stderr(), /warning: the token lacks webhooks:write/);

    const second = makeTestContext({ env, globals: { json: true } });
    await authStatus({}, second.context);
    assert.equal((JSON.parse(second.stdout()) as { token: { from_cache: boolean } }).token.from_cache, true);
  });

  test('a rejected client secret: exit 3, ok false with the reason', async () => {
    const env = { ...(await newHome()), INTELLIAUTH_TENANT_URL: emulator.tenantUrl, INTELLIAUTH_M2M_CLIENT_ID: emulator.clientId, INTELLIAUTH_M2M_CLIENT_SECRET: 'cs_not_it' };
    const t = makeTestContext({ env, globals: { json: true } });
    await assert.rejects(authStatus({}, t.context), (error: unknown) => exitCodeFor(error) === EXIT_CODES.auth);
    const status = JSON.parse(t.stdout()) as { ok: boolean; reason: string; tenant_url: string; token: null };
    assert.equal(status.ok, false);
    assert.match(status.reason, /rejected the client id or secret/);
    assert.equal(status.tenant_url, emulator.tenantUrl);
    assert.equal(status.token, null);
    assert.ok(!t.stdout().includes('cs_not_it'));
  });

  test('a bearer token: scopes and expiry unknown, said so; a rejected one exits 3', async () => {
    const { env: home, store } = await loggedIn();
    // A genuine token: the one the login cached for the profile.
    const getToken = makeTestContext({ env: home, secretStore: store });
    const token = await (await getToken.context.tokenProvider()).getToken();

    const env = { ...(await newHome()), INTELLIAUTH_TENANT_URL: emulator.tenantUrl, INTELLIAUTH_TOKEN: token };
    const t = makeTestContext({ env, globals: { json: true } });
    await authStatus({}, t.context);
    const status = JSON.parse(t.stdout()) as { source: string; token: Record<string, unknown> };
    assert.equal(status.source, 'env-token');
    assert.deepEqual(status.token, {
      type: 'bearer', scopes: null, expires_at: null, from_cache: false, missing_scopes: null, accepted: true,
      note: 'a bearer token given as is: its scopes and expiry are unknown to the tool',
    });
    assert.ok(!t.stdout().includes(token), 'the token itself is never printed');

    const human = makeTestContext({ env, tty: true });
    await authStatus({}, human.context);
    assert.match(human.stdout(), /^Scopes +unknown \(bearer token given as is\)$/m);

    const bad = makeTestContext({ env: { ...env, INTELLIAUTH_TOKEN: 'iaemu.bogus.token' }, globals: { json: true } });
    await assert.rejects(authStatus({}, bad.context), (error: unknown) => exitCodeFor(error) === EXIT_CODES.auth);
    assert.equal((JSON.parse(bad.stdout()) as { ok: boolean }).ok, false);
  });

  test('an unusable keychain is reported with its reason; environment credentials still work', async () => {
    const env = { ...(await newHome()), INTELLIAUTH_TENANT_URL: emulator.tenantUrl, INTELLIAUTH_M2M_CLIENT_ID: emulator.clientId, INTELLIAUTH_M2M_CLIENT_SECRET: emulator.clientSecret };
    const store = new MemorySecretStore({ failOn: { probe: new SecretStoreError('the OS keychain is not reachable: no D-Bus session bus') } });
    const t = makeTestContext({ env, secretStore: store, globals: { json: true } });
    await authStatus({}, t.context);
    const status = JSON.parse(t.stdout()) as { ok: boolean; keychain: unknown };
    assert.equal(status.ok, true);
    assert.deepEqual(status.keychain, { usable: false, backend: 'memory store (tests)', reason: 'the OS keychain is not reachable: no D-Bus session bus' });
  });

  test("a profile whose secret the keychain cannot read: no usable credentials, exit 3", async () => {
    const { env, store } = await loggedIn();
    // The token cache is keyed by the secret, so even a cached token needs the secret read.
    store.failOn.get = new SecretStoreError('the OS keychain is locked');
    const t = makeTestContext({ env, secretStore: store, globals: { json: true } });
    await assert.rejects(authStatus({}, t.context), (error: unknown) => {
      assert.ok(error instanceof AuthError);
      assert.equal(error.message, 'no usable credentials: cannot read the client secret of profile "default": the OS keychain is locked');
      return true;
    });
    assert.equal((JSON.parse(t.stdout()) as { ok: boolean }).ok, false);
  });
});
