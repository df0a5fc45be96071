import type { Context } from '../../cli/context.ts';
import { CheckFailedError, InterruptedError } from '../../errors.ts';
import type { Credentials } from '../../config/credentials.ts';
import { VERSION } from '../../version.ts';
import {
  checkClock,
  checkConfig,
  checkCredentials,
  checkKeychain,
  checkNetworkEnvironment,
  checkNode,
  checkTenant,
  checkToken,
  fallbackTenantUrl,
  formatSeconds,
  probeTenant,
  skip,
  type CheckStatus,
  type ConfigCheckResult,
  type CredentialsCheckResult,
  type CredentialsOrigin,
  type TenantProbe,
  type Verdict,
} from './checks.ts';
import type { DoctorOptions } from './index.ts';

export const CHECK_TITLES = {
  node: 'Node.js',
  config: 'Config file and profile',
  credentials: 'Credentials',
  keychain: 'OS keychain',
  proxy: 'Proxy and CA certificates',
  tenant: 'Tenant reachability and TLS',
  clock: 'Clock skew',
  token: 'Token and scopes',
} as const;

export type CheckName = keyof typeof CHECK_TITLES;

export interface CheckReport {
  name: CheckName;
  status: CheckStatus;
  detail: string;
  fix?: string;
}

/** Per request when --timeout is not given: a doctor should answer quickly. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;
/** Upper bound for the keychain probe, beyond the store's own per-call bound. */
const KEYCHAIN_CHECK_TIMEOUT_MS = 12_000;
const LOCAL_CHECK_TIMEOUT_MS = 10_000;

export interface DoctorDependencies {
  nodeVersion?: string;
}

export async function run(_options: DoctorOptions, context: Context): Promise<void> {
  const checks = await runChecks(context);
  // An interrupted probe reads as a failed check; report the interruption instead.
  if (context.signal.aborted) throw new InterruptedError();
  const failed = checks.filter((check) => check.status === 'fail');
  if (context.globals.json) {
    context.io.printJson({ ok: failed.length === 0, checks });
  } else {
    printChecks(context, checks);
  }
  if (failed.length > 0) {
    throw new CheckFailedError(
      `${failed.length} check${failed.length === 1 ? '' : 's'} failed: ${failed.map((check) => check.name).join(', ')}`,
    );
  }
}

export async function runChecks(context: Context, deps: DoctorDependencies = {}): Promise<CheckReport[]> {
  const { env, globals, paths } = context;
  const reports: CheckReport[] = [];
  const add = (name: CheckName, verdict: Verdict): Verdict => {
    reports.push({ name, status: verdict.status, detail: verdict.detail, ...(verdict.fix === undefined ? {} : { fix: verdict.fix }) });
    return verdict;
  };
  const requestTimeoutMs = globals.timeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  const userAgent = `intelliauth-webhooks/${VERSION} node/${process.versions.node} (doctor)`;

  add('node', checkNode(deps.nodeVersion ?? process.versions.node));

  const configResult: ConfigCheckResult = await bounded<ConfigCheckResult>(
    LOCAL_CHECK_TIMEOUT_MS,
    () => checkConfig({ configFile: paths.configFile, load: context.config, profileFlag: globals.profile, env }),
    () => ({ verdict: timedOut('reading the config file', LOCAL_CHECK_TIMEOUT_MS) }),
  );
  add('config', configResult.verdict);

  let credentials: Credentials | undefined;
  let clientSecret: string | undefined;
  let credentialsUsable = false;
  if (configResult.verdict.status === 'fail' && configResult.config === undefined) {
    add('credentials', skip('the config file cannot be read (see above), and every command needs it'));
  } else {
    const result = await bounded<CredentialsCheckResult>(
      KEYCHAIN_CHECK_TIMEOUT_MS,
      () => checkCredentials(context.credentials, async () => (await context.secretStore()).describe()),
      () => ({ verdict: timedOut('resolving the credentials', KEYCHAIN_CHECK_TIMEOUT_MS) }),
    );
    add('credentials', result.verdict);
    credentials = result.credentials;
    clientSecret = result.clientSecret;
    credentialsUsable = result.verdict.status === 'ok';
  }

  const store = await context.secretStore();
  add(
    'keychain',
    await bounded(
      KEYCHAIN_CHECK_TIMEOUT_MS,
      () => checkKeychain(store, credentialsOrigin(credentials)),
      () => timedOut(`the ${store.describe()} probe`, KEYCHAIN_CHECK_TIMEOUT_MS),
    ),
  );

  const tenantUrl = credentials?.tenantUrl ?? fallbackTenantUrl(globals.tenantUrl, env, configResult.config, globals.profile);
  const network = await bounded(
    LOCAL_CHECK_TIMEOUT_MS,
    () => checkNetworkEnvironment(env, tenantUrl),
    () => ({ ...timedOut('checking the proxy and CA settings', LOCAL_CHECK_TIMEOUT_MS), proxyForTenant: undefined }),
  );
  add('proxy', network);

  if (tenantUrl === undefined) {
    const reason = 'no tenant URL known: pass --tenant-url, set INTELLIAUTH_TENANT_URL, or log in';
    add('tenant', skip(reason));
    add('clock', skip(reason));
    add('token', skip(reason));
    return reports;
  }

  const { createDispatcher, createHttp } = await import('../../api/http.ts');
  const dispatcher = createDispatcher(env);
  try {
    const probe: TenantProbe = await probeTenant(tenantUrl, {
      dispatcher,
      timeoutMs: requestTimeoutMs,
      now: context.now,
      userAgent,
      signal: context.signal,
    });
    add('tenant', checkTenant(tenantUrl, probe, network.proxyForTenant));
    add('clock', probe.reached ? checkClock(probe) : skip('the tenant was not reached'));

    if (!credentials) {
      add('token', skip('no usable credentials (see above)'));
    } else if (!credentialsUsable) {
      add('token', skip('the client secret could not be read (see above)'));
    } else if (!probe.reached) {
      add('token', skip('the tenant was not reached'));
    } else {
      const http = createHttp({
        baseUrl: credentials.tenantUrl,
        dispatcher,
        timeoutMs: requestTimeoutMs,
        totalTimeoutMs: requestTimeoutMs * 2,
        maxAttempts: 2,
        userAgent,
        ...(globals.debug ? { trace: (line: string) => context.io.debug(line) } : {}),
      });
      const tokenBound = requestTimeoutMs * 4 + 1_000;
      add(
        'token',
        await bounded(
          tokenBound,
          () => checkToken({ credentials: credentials!, clientSecret, http, signal: context.signal }),
          () => timedOut('obtaining and trying a token', tokenBound),
        ),
      );
    }
  } finally {
    await dispatcher.close().catch(() => undefined);
  }
  return reports;
}

function credentialsOrigin(credentials: Credentials | undefined): CredentialsOrigin {
  if (credentials === undefined) return 'none';
  return credentials.source === 'profile' ? 'profile' : 'environment';
}

function timedOut(what: string, ms: number): Verdict {
  return { status: 'fail', detail: `${what} did not finish within ${formatSeconds(ms)}`, fix: 'run doctor again with --debug to see where it stops' };
}

/** Resolves to work's result, or to onTimeout's after ms (the work is then abandoned). */
async function bounded<T>(ms: number, work: () => Promise<T>, onTimeout: () => T): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<T>((resolve) => {
    timer = setTimeout(() => resolve(onTimeout()), ms);
  });
  const attempt = work();
  attempt.catch(() => undefined);
  try {
    return await Promise.race([attempt, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

function printChecks(context: Context, checks: CheckReport[]): void {
  const { io } = context;
  const style = io.out;
  const symbols: Record<CheckStatus, string> = {
    ok: style.green('✓'),
    warn: style.yellow('!'),
    fail: style.red('✗'),
    skip: style.dim('-'),
  };
  const width = Math.max(...checks.map((check) => CHECK_TITLES[check.name].length));
  for (const check of checks) {
    const title = CHECK_TITLES[check.name].padEnd(width);
    const detail = check.status === 'skip' ? style.dim(`skipped: ${check.detail}`) : check.detail;
    io.print(`${symbols[check.status]} ${style.bold(title)}  ${detail}`);
    if (check.fix !== undefined && check.status !== 'ok') io.print(`  ${' '.repeat(width)}  ${style.dim('fix:')} ${check.fix}`);
  }
  const count = (status: CheckStatus) => checks.filter((check) => check.status === status).length;
  const parts = [`${count('ok')} ok`, `${count('warn')} warning${count('warn') === 1 ? '' : 's'}`, `${count('fail')} failed`];
  if (count('skip') > 0) parts.push(`${count('skip')} skipped`);
  io.info(parts.join(', '));
}
