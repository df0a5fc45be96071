import { Command, Option } from 'commander';
import type { Binder } from '../../cli/command.ts';
import { optionalString, parseInteger, parseNumber } from '../../cli/parse.ts';
import { UsageError } from '../../errors.ts';
import { PLAN_QUOTAS, type Plan } from '../../domain/contract.ts';

export interface EmulatorCommandOptions {
  host: string;
  port: number;
  clientId: string | undefined;
  clientSecret: string | undefined;
  scopes: string[];
  plan: Plan;
  allowPrivateTargets: boolean;
  timeScale: number;
  statePath: string | undefined;
  faultRate: number;
  seed: string | undefined;
  feedLimit: number;
  resolve: Record<string, string[]>;
}

export function emulatorCommand(bind: Binder): Command {
  const command = new Command('emulator')
    .description('Run a local emulator of one IntelliAuth tenant: the webhook API, OAuth tokens and real signed deliveries')
    .option('--host <address>', 'address to listen on', '127.0.0.1')
    .option('--port <port>', 'port to listen on (0 picks a free one)', '8787')
    .option('--client-id <id>', 'M2M client id to accept (default: generated)')
    .option('--client-secret <secret>', 'M2M client secret to accept (default: generated, printed when ready)')
    .option('--scopes <scopes>', 'scopes the M2M client may be granted', 'webhooks:read webhooks:write')
    .addOption(new Option('--plan <plan>', 'subscription quota: starter 5, pro 50, enterprise unlimited').choices(Object.keys(PLAN_QUOTAS)).default('pro'))
    .option('--allow-private-targets', 'accept http:// and loopback or private receiver URLs, for local receivers')
    .option('--time-scale <n>', 'divide every retry delay, dead-letter expiry and grace period by N', '1')
    .option('--state <file>', 'persist subscriptions, secrets, deliveries and dead letters in FILE across restarts')
    .option('--fault-rate <rate>', 'answer this fraction of API requests with a 500, 503, 429, reset or 2 s stall', '0')
    .option('--seed <seed>', 'seed for --fault-rate, so a run of faults can be reproduced')
    .option('--feed-limit <n>', 'delivery records kept per subscription', '100000')
    .option('--resolve <name=address>', 'resolve NAME to ADDRESS for deliveries (repeatable), like curl --resolve', collect, [] as string[])
    .addHelpText(
      'after',
      '\nThe emulator-only endpoint POST /_emulator/events (see `trigger`) emits tenant events.\nWith --json the ready line is {"tenant_url","tenant_id","client_id","client_secret"} on stdout.',
    );
  return bind(command, (_args, opts): EmulatorCommandOptions => ({
    host: String(opts.host),
    port: parseInteger('--port', opts.port, { min: 0, max: 65535 }),
    clientId: optionalString(opts.clientId),
    clientSecret: optionalString(opts.clientSecret),
    scopes: String(opts.scopes).split(/[\s,]+/).filter(Boolean),
    plan: opts.plan as Plan,
    allowPrivateTargets: opts.allowPrivateTargets === true,
    timeScale: parseNumber('--time-scale', opts.timeScale, { min: 1 }),
    statePath: optionalString(opts.state),
    faultRate: parseNumber('--fault-rate', opts.faultRate, { min: 0, max: 1 }),
    seed: optionalString(opts.seed),
    feedLimit: parseInteger('--feed-limit', opts.feedLimit, { min: 1 }),
    resolve: parseResolveEntries(opts.resolve as string[]),
  }), () => import('./run.ts'));
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

function parseResolveEntries(entries: string[]): Record<string, string[]> {
  const map: Record<string, string[]> = {};
  for (const entry of entries) {
    const at = entry.indexOf('=');
    if (at <= 0 || at === entry.length - 1) throw new UsageError(`--resolve must look like NAME=ADDRESS[,ADDRESS], got "${entry}"`);
    const name = entry.slice(0, at).toLowerCase();
    map[name] = [...(map[name] ?? []), ...entry.slice(at + 1).split(',').filter(Boolean)];
  }
  return map;
}
