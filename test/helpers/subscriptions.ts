import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import type { Binder } from '../../src/cli/command.ts';
import { addGlobalOptions } from '../../src/cli/global-options.ts';
import { paths, type CreatedSubscription, type Plan } from '../../src/domain/contract.ts';
import { MemorySecretStore } from '../../src/secrets/memory-store.ts';
import { startTestEmulator, type TestEmulator } from './emulator-harness.ts';
import { makeTestContext, type TestContext, type TestContextOptions } from './context.ts';

// For unit tests of the subscription commands: an in-process emulator, a private home for
// the secret index and token cache, subscriptions made straight through the API, and
// contexts pointed at that emulator.

export interface SubscriptionFixture {
  emulator: TestEmulator;
  home: string;
  env(extra?: Record<string, string | undefined>): Record<string, string | undefined>;
  create(overrides?: Partial<{ name: string; url: string; events: string[]; description: string }>): Promise<CreatedSubscription>;
  context(options?: TestContextOptions): TestContext;
  close(): Promise<void>;
}

/** A private home and credentials for an emulator, as the CLI reads them from the environment. */
export function emulatorEnv(
  emulator: Pick<TestEmulator, 'tenantUrl' | 'clientId' | 'clientSecret'>,
  home: string,
  extra: Record<string, string> = {},
): Record<string, string> {
  return {
    HOME: home,
    XDG_CONFIG_HOME: join(home, 'config'),
    XDG_DATA_HOME: join(home, 'data'),
    XDG_CACHE_HOME: join(home, 'cache'),
    INTELLIAUTH_TENANT_URL: emulator.tenantUrl,
    INTELLIAUTH_M2M_CLIENT_ID: emulator.clientId,
    INTELLIAUTH_M2M_CLIENT_SECRET: emulator.clientSecret,
    ...extra,
  };
}

let counter = 0;

export async function startSubscriptionFixture(options: { plan?: Plan; scopes?: string[] } = {}): Promise<SubscriptionFixture> {
  const emulator = await startTestEmulator({ plan: options.plan ?? 'enterprise', allowPrivateTargets: true, ...(options.scopes ? { scopes: options.scopes } : {}) });
  const home = await mkdtemp(join(tmpdir(), 'iaw-subs-'));
  const env = (extra: Record<string, string | undefined> = {}) => ({ ...emulatorEnv(emulator, home), ...extra });
  return {
    emulator,
    home,
    env,
    async create(overrides = {}) {
      counter += 1;
      const answer = await emulator.call('POST', paths.subscriptions(), {
        body: { name: `sub ${counter}`, url: `https://hooks.example.com/${counter}`, events: ['user.*'], ...overrides },
        headers: { 'Idempotency-Key': `fixture-${process.pid}-${counter}-${Date.now()}` },
      });
      if (answer.status !== 201) throw new Error(`create failed: ${answer.status} ${JSON.stringify(answer.body)}`);
      return answer.body.data as CreatedSubscription;
    },
    context(contextOptions = {}) {
      return makeTestContext({ secretStore: new MemorySecretStore(), ...contextOptions, env: { ...env(), ...(contextOptions.env ?? {}) } });
    },
    async close() {
      await emulator.close({ graceMs: 0 });
      await rm(home, { recursive: true, force: true });
    },
  };
}

/**
 * Parses argv with a command's real definition (and the global options) and returns the
 * options object its run() would get; commander's errors are thrown as they come.
 */
export async function optionsFor<T>(define: (bind: Binder) => Command, argv: string[]): Promise<T> {
  let captured: { value: T } | undefined;
  const bind: Binder = (command, toOptions) =>
    command.action((...actionArgs: unknown[]) => {
      const self = actionArgs[actionArgs.length - 1] as Command;
      captured = { value: toOptions(actionArgs.slice(0, -2), self.opts(), self) as unknown as T };
    });
  const program = new Command('intelliauth-webhooks');
  addGlobalOptions(program);
  program.addCommand(define(bind));
  const quiet = (command: Command): void => {
    command.exitOverride().configureOutput({ writeOut: () => {}, writeErr: () => {} });
    for (const sub of command.commands) quiet(sub);
  };
  quiet(program);
  await program.parseAsync(argv, { from: 'user' });
  if (!captured) throw new Error(`no action ran for ${argv.join(' ')}`);
  return captured.value;
}
