// What `create` and `update` both check before they send anything: the receiver URL (the
// platform's rules, judged locally), the profile's receiver host allowlist, and the event
// selectors (syntax, `*`, and the API's catalogue), plus the prompts that ask for them.

import type { Context } from '../../cli/context.ts';
import { chooseProfile, isLoopbackHost, type Credentials } from '../../config/credentials.ts';
import { getProfile } from '../../config/config.ts';
import type { EventType } from '../../domain/contract.ts';
import { validateSelectorsAgainstCatalogue } from '../../domain/catalogue.ts';
import { selectorKind } from '../../domain/selectors.ts';
import { checkReceiverUrl, type UrlPolicy } from '../../domain/url-rules.ts';
import { ApiError, InterruptedError, UsageError } from '../../errors.ts';
import type { Choice } from '../../output/prompter.ts';

// ---- receiver URL ------------------------------------------------------------------------

export interface ReceiverUrlPolicy extends UrlPolicy {
  /** True when the tenant is a local emulator. */
  localEmulator: boolean;
  /** True when that emulator's own check decides about private targets (it did not say how it is set). */
  deferredToEmulator: boolean;
}

/**
 * The platform never runs on loopback, and the tool accepts a loopback tenant URL only
 * (plain http included) for the local emulator. Whether that emulator was started with
 * --allow-private-targets is its own setting: until resolveReceiverUrlPolicy has asked it
 * (after the checks that need no call), and if it cannot say, the local check lets loopback,
 * private and http receivers through and the emulator's answer (422 url_not_allowed)
 * decides. Every other rule is checked here first.
 */
export function receiverUrlPolicy(credentials: Pick<Credentials, 'tenantUrl'>): ReceiverUrlPolicy {
  const emulator = isLoopbackHost(new URL(credentials.tenantUrl).hostname);
  return { allowPrivateTargets: emulator, localEmulator: emulator, deferredToEmulator: emulator };
}

/**
 * `policy`, with a local emulator's own --allow-private-targets setting when the answer
 * matters: for a receiver URL the platform's rules would refuse, or for one still to be
 * asked for (`url` undefined). Asks GET /_emulator/health, which needs no token.
 */
export async function resolveReceiverUrlPolicy(context: Context, policy: ReceiverUrlPolicy, url?: URL): Promise<ReceiverUrlPolicy> {
  if (!policy.deferredToEmulator) return policy;
  if (url !== undefined && checkReceiverUrl(url.href, { allowPrivateTargets: false }).ok) return policy;
  try {
    const health = await (await context.api()).emulatorHealth();
    if (typeof health.allow_private_targets === 'boolean') {
      return { allowPrivateTargets: health.allow_private_targets, localEmulator: true, deferredToEmulator: false };
    }
  } catch (error) {
    if (error instanceof InterruptedError) throw error;
    context.io.debug(`the emulator did not say whether it accepts private receivers (${error instanceof Error ? error.message : String(error)}); it decides when asked`);
  }
  return policy;
}

const EMULATOR_WITHOUT_PRIVATE_TARGETS = 'this emulator was started without --allow-private-targets; start it with that flag to accept receivers on this machine';

/** The canonical URL of an acceptable receiver, or the reason it is refused. */
export function judgeReceiverUrl(input: string, policy: UrlPolicy): { url: URL } | { reason: string } {
  const verdict = checkReceiverUrl(input, { allowPrivateTargets: policy.allowPrivateTargets });
  return verdict.ok ? { url: verdict.url } : { reason: verdict.reason };
}

/** Checks a receiver URL with the platform's rules; throws a one-line UsageError with the precise reason. */
export function checkReceiverUrlOrThrow(input: string, policy: UrlPolicy & { localEmulator?: boolean }, flag = '--url'): URL {
  const verdict = judgeReceiverUrl(input, policy);
  if ('url' in verdict) return verdict.url;
  const local = !policy.allowPrivateTargets && checkReceiverUrl(input, { allowPrivateTargets: true }).ok;
  const localHint = policy.localEmulator
    ? EMULATOR_WITHOUT_PRIVATE_TARGETS
    : 'the platform delivers only to public https:// receivers; for a receiver on this machine, use the local emulator (`intelliauth-webhooks emulator --allow-private-targets`)';
  throw new UsageError(`${flag}: receiver URL refused: ${verdict.reason}`, {
    hint: local ? localHint : 'receivers need a public https:// URL without user name, password or #fragment',
  });
}

/** For a URL prompt's validate(): what is wrong with the answer (URL rules, then the allowlist), or null. */
export function receiverUrlPromptProblem(
  value: string,
  policy: UrlPolicy & { localEmulator?: boolean },
  rule: ReceiverHostRule | null,
  force: boolean,
): string | null {
  const verdict = judgeReceiverUrl(value.trim(), policy);
  if ('reason' in verdict) {
    const local = policy.localEmulator && !policy.allowPrivateTargets && checkReceiverUrl(value.trim(), { allowPrivateTargets: true }).ok;
    return local ? `${verdict.reason} (${EMULATOR_WITHOUT_PRIVATE_TARGETS})` : verdict.reason;
  }
  if (force) return null;
  try {
    const problem = receiverHostProblem(verdict.url, rule);
    return problem === null ? null : `${problem} (or run again with --force)`;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
}

/** The emulator's own refusal of a private receiver, with a hint to the flag that allows it. */
export function explainUrlRefusal(error: unknown, policy: ReceiverUrlPolicy): unknown {
  if (!(error instanceof ApiError) || error.code !== 'url_not_allowed' || !policy.deferredToEmulator) return error;
  return error.withHint('the local emulator refuses loopback, private and http:// receivers unless it was started with --allow-private-targets');
}

// ---- allowed_receiver_hosts ----------------------------------------------------------------

export interface ReceiverHostRule {
  profile: string;
  patterns: string[];
  configFile: string;
}

interface HostPattern {
  text: string;
  /** `*.example.com`: any name below example.com (not example.com itself). `*` alone: any host. */
  kind: 'any' | 'subdomains' | 'exact';
  /** Canonical host as the URL parser writes it (punycode, lower case, IPv6 in brackets). */
  host: string;
  /** Only this port when set; any port when null. */
  port: string | null;
}

/**
 * The allowlist that applies: the profile the credentials came from, or a profile the user
 * named explicitly (--profile, INTELLIAUTH_PROFILE). Null when none carries a list.
 */
export async function receiverHostRule(context: Context, credentials: Credentials): Promise<ReceiverHostRule | null> {
  const config = await context.config();
  const name =
    credentials.profileName ??
    (() => {
      const choice = chooseProfile({ profile: context.globals.profile }, context.env, config);
      return choice.explicit ? choice.name : undefined;
    })();
  if (name === undefined) return null;
  const patterns = getProfile(config, name)?.allowed_receiver_hosts;
  if (patterns === undefined) return null;
  return { profile: name, patterns, configFile: context.paths.configFile };
}

export function parseHostPattern(text: string): HostPattern | null {
  const trimmed = text.trim().toLowerCase();
  if (trimmed === '*') return { text, kind: 'any', host: '', port: null };
  const subdomains = trimmed.startsWith('*.');
  const rest = subdomains ? trimmed.slice(2) : trimmed;
  if (rest === '' || rest.includes('*') || /[/?#@\s]/.test(rest)) return null;
  let parsed: URL;
  try {
    parsed = new URL(`https://${rest}`);
  } catch {
    return null;
  }
  // A port written as :443 is dropped by the parser (the https default); keep it explicit.
  const portMatch = /:(\d+)$/.exec(rest);
  const port = portMatch && !rest.endsWith(']') ? String(Number(portMatch[1])) : null;
  if (parsed.pathname !== '/' || parsed.search !== '' || parsed.hash !== '') return null;
  return { text, kind: subdomains ? 'subdomains' : 'exact', host: parsed.hostname.replace(/\.$/, ''), port };
}

function effectivePort(url: URL): string {
  if (url.port !== '') return url.port;
  return url.protocol === 'http:' ? '80' : '443';
}

export function hostMatches(url: URL, pattern: HostPattern): boolean {
  if (pattern.kind === 'any') return true;
  if (pattern.port !== null && pattern.port !== effectivePort(url)) return false;
  const host = url.hostname.replace(/\.$/, '');
  if (pattern.kind === 'exact') return host === pattern.host;
  return host.endsWith(`.${pattern.host}`) && !pattern.host.startsWith('[');
}

/**
 * Refuses a receiver outside the profile's allowlist (so a dev profile cannot point at a
 * production receiver by accident), unless --force; with --force it warns and goes on.
 */
export function enforceReceiverHost(context: Context, url: URL, rule: ReceiverHostRule | null, force: boolean): void {
  const problem = receiverHostProblem(url, rule);
  if (problem === null) return;
  if (force) {
    context.io.warn(`${problem}; going ahead because of --force`);
    return;
  }
  throw new UsageError(problem, {
    hint: `pass --force to use this receiver anyway, or add its host to "allowed_receiver_hosts" of the profile in ${rule!.configFile}`,
  });
}

/** The message for a receiver outside the allowlist, or null when it is inside (or there is no list). */
export function receiverHostProblem(url: URL, rule: ReceiverHostRule | null): string | null {
  if (rule === null) return null;
  const parsed = rule.patterns.map((text) => ({ text, pattern: parseHostPattern(text) }));
  const invalid = parsed.filter((entry) => entry.pattern === null).map((entry) => JSON.stringify(entry.text));
  if (invalid.length > 0) {
    throw new UsageError(`profile "${rule.profile}" has invalid allowed_receiver_hosts entries: ${invalid.join(', ')}`, {
      hint: `use host names such as api.example.com, *.dev.example.com or *.example.com:8443 in ${rule.configFile}`,
    });
  }
  if (parsed.some((entry) => hostMatches(url, entry.pattern!))) return null;
  const list = rule.patterns.length === 0 ? 'an empty list' : rule.patterns.join(', ');
  return `receiver host ${url.host} is outside the hosts allowed for profile "${rule.profile}" (allowed_receiver_hosts: ${list})`;
}

// ---- event selectors -----------------------------------------------------------------------

export const ALL_EVENTS_WARNING =
  'the selector * subscribes to every event type, including every type the platform adds later: the receiver must ignore types it does not handle';

/**
 * `*` is refused unless --all-events was given or the user confirms at a prompt, because it
 * also brings every event type added in future releases.
 */
export async function confirmAllEvents(context: Context, events: readonly string[], allEvents: boolean, nothingHappened: string): Promise<void> {
  if (!events.includes('*') || allEvents) return;
  if (!context.io.canPrompt()) {
    throw new UsageError(`${ALL_EVENTS_WARNING}; refusing without --all-events`, {
      hint: 'pass --all-events to confirm, or list categories and types (e.g. user.*,mfa.factor_added)',
    });
  }
  context.io.warn(ALL_EVENTS_WARNING);
  const prompter = await context.prompter();
  const yes = await guardPrompt(() => prompter.confirm('Subscribe to every event type, now and in the future?', { default: false }), nothingHappened);
  if (!yes) throw new UsageError(`cancelled; ${nothingHappened}`, { hint: 'pick categories or types instead of *' });
}

export async function fetchCatalogue(context: Context): Promise<EventType[]> {
  return (await context.api()).listEventTypes();
}

/** Refuses selectors that match nothing in the API's catalogue, suggesting the closest names. */
export function checkEventsAgainstCatalogue(events: readonly string[], catalogue: readonly EventType[], flag = '--events'): void {
  const known = catalogue.map((entry) => entry.type);
  const { unknown } = validateSelectorsAgainstCatalogue([...events], known);
  if (unknown.length === 0) return;
  const described = unknown.map(({ selector, suggestions }) =>
    suggestions.length > 0 ? `${selector} (did you mean ${orList(suggestions)}?)` : selector,
  );
  const noun = unknown.length === 1 ? 'unknown event type' : 'unknown event types';
  throw new UsageError(`${flag}: ${noun} ${described.join(', ')}`, {
    hint: '`intelliauth-webhooks event-types` lists the types this tenant knows',
  });
}

function orList(items: readonly string[]): string {
  if (items.length <= 1) return items.join('');
  return `${items.slice(0, -1).join(', ')} or ${items.at(-1)}`;
}

/** Drops selectors that a category or `*` in the same list already covers. */
export function simplifySelectors(selectors: readonly string[]): string[] {
  if (selectors.includes('*')) return ['*'];
  const prefixes = selectors.filter((selector) => selectorKind(selector) === 'category').map((selector) => selector.slice(0, -1));
  return selectors.filter((selector) => !prefixes.some((prefix) => selector !== `${prefix}*` && selector.startsWith(prefix)));
}

/** Checkbox entries: per category an "all of it" entry, then its types; `*` last. */
export function eventChoices(catalogue: readonly EventType[], checked: readonly string[] = []): Array<Choice<string>> {
  const byCategory = new Map<string, EventType[]>();
  for (const entry of catalogue) {
    const list = byCategory.get(entry.category) ?? [];
    list.push(entry);
    byCategory.set(entry.category, list);
  }
  const isChecked = (value: string) => checked.includes(value);
  const choices: Array<Choice<string>> = [];
  for (const [category, types] of byCategory) {
    choices.push({
      name: `${category}.*`,
      value: `${category}.*`,
      description: `every ${category} event (${types.length} today, and any added later)`,
      checked: isChecked(`${category}.*`),
    });
    for (const type of types) {
      choices.push({ name: type.type, value: type.type, description: type.description, checked: isChecked(type.type) });
    }
  }
  choices.push({ name: '*', value: '*', description: 'every event type, including types added in future releases', checked: isChecked('*') });
  return choices;
}

export async function promptEvents(context: Context, catalogue: readonly EventType[], nothingHappened: string, checked: readonly string[] = []): Promise<string[]> {
  const prompter = await context.prompter();
  const picked = await guardPrompt(
    () => prompter.checkbox('Events to deliver (space to select, enter to confirm)', eventChoices(catalogue, checked), { required: true }),
    nothingHappened,
  );
  const selectors = simplifySelectors(picked);
  if (selectors.length === 0) throw new UsageError(`no event selected; ${nothingHappened}`);
  return selectors;
}

// ---- names, descriptions, prompts ----------------------------------------------------------

export { checkDescription, checkName, collect, descriptionProblem, nameProblem, parseEventsFlag } from './subscription-flags.ts';

/**
 * Inquirer ends a prompt with an ExitPromptError when the user presses Ctrl-C (the terminal
 * is in raw mode, so no SIGINT arrives): that is an interruption, not a crash.
 */
export async function guardPrompt<T>(ask: () => Promise<T>, nothingHappened: string): Promise<T> {
  try {
    return await ask();
  } catch (error) {
    if (error instanceof Error && (error.name === 'ExitPromptError' || error.name === 'AbortPromptError')) {
      throw new InterruptedError(`cancelled; ${nothingHappened}`);
    }
    throw error;
  }
}
