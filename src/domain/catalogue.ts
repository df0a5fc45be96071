import { ID_PREFIX, TEST_EVENT_TYPE, type EventType } from './contract.ts';
import { selectorKind } from './selectors.ts';

// The documented event catalogue. `test.ping` is listed too (category `test`): only the test
// call sends it, but listing it lets a user see it and select it without a warning.

function entry(type: string, description: string): EventType {
  return { type, category: type.slice(0, type.indexOf('.')), description };
}

export const EVENT_CATALOGUE: readonly EventType[] = Object.freeze([
  entry('user.signed_in', 'A user completed sign-in and a session was opened.'),
  entry('user.signed_out', 'A session ended, by the user or because it expired or was revoked.'),
  entry('user.sign_in_failed', 'A sign-in attempt was rejected (wrong password, unknown user, locked or disabled account).'),
  entry('user.mfa_required', 'Sign-in paused to ask the user for a second factor.'),
  entry('user.mfa_succeeded', 'The user passed the second-factor challenge.'),
  entry('user.mfa_failed', 'The user failed the second-factor challenge.'),
  entry('user.signed_up', 'A new user account was registered.'),
  entry('user.updated', 'Profile fields of a user changed.'),
  entry('user.disabled', 'A user account was blocked from signing in.'),
  entry('user.enabled', 'A blocked user account was allowed to sign in again.'),
  entry('user.deleted', 'A user account was removed.'),
  entry('user.email_verified', "A user confirmed ownership of their e-mail address."),
  entry('mfa.factor_added', 'A user enrolled a second factor (authenticator app, security key, SMS).'),
  entry('mfa.factor_removed', 'A second factor was removed from a user.'),
  entry(TEST_EVENT_TYPE, 'A synthetic event sent only by the test call, to check a receiver end to end.'),
].map((type) => Object.freeze(type)));

const KNOWN_TYPES = new Set(EVENT_CATALOGUE.map((event) => event.type));

export function isKnownEventType(type: string): boolean {
  return KNOWN_TYPES.has(type);
}

// ---- sample payloads -------------------------------------------------------------------

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
const FIRST_NAMES = ['ada', 'grace', 'alan', 'edsger', 'barbara', 'ken', 'margaret', 'linus'] as const;
const LAST_NAMES = ['lovelace', 'hopper', 'turing', 'dijkstra', 'liskov', 'thompson', 'hamilton', 'torvalds'] as const;
const USER_AGENTS = [
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36',
  'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15',
  'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0',
  'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148',
] as const;
const FACTOR_TYPES = ['totp', 'webauthn', 'sms'] as const;
const SIGN_IN_METHODS = ['password', 'passkey', 'social', 'magic_link'] as const;
const SIGN_IN_FAILURES = ['invalid_password', 'unknown_user', 'account_disabled', 'account_locked'] as const;
const MFA_FAILURES = ['invalid_code', 'challenge_expired', 'too_many_attempts'] as const;
const SIGN_OUT_REASONS = ['user_initiated', 'session_expired', 'session_revoked'] as const;
const PROFILE_FIELDS = ['name', 'given_name', 'family_name', 'phone_number', 'picture', 'locale', 'metadata'] as const;

function pick<T>(random: () => number, items: readonly T[]): T {
  return items[Math.min(items.length - 1, Math.floor(random() * items.length))]!;
}

const CROCKFORD_DIGITS = [...CROCKFORD];
// A ULID's first character only reaches 7: the time part is 48 bits.
const ULID_FIRST_DIGITS = CROCKFORD_DIGITS.slice(0, 8);

function fakeId(prefix: string, random: () => number): string {
  let tail = pick(random, ULID_FIRST_DIGITS);
  for (let i = 1; i < 26; i += 1) tail += pick(random, CROCKFORD_DIGITS);
  return prefix + tail;
}

function octet(random: () => number): number {
  return 1 + Math.floor(random() * 254);
}

// Addresses from the documentation ranges (RFC 5737, RFC 3849): realistic, never anyone's.
function clientIp(random: () => number): string {
  if (random() < 0.25) return `2001:db8::${octet(random).toString(16)}:${octet(random).toString(16)}`;
  return `${pick(random, ['192.0.2', '198.51.100', '203.0.113'])}.${octet(random)}`;
}

function someUser(random: () => number): { user_id: string; email: string; name: string } {
  const first = pick(random, FIRST_NAMES);
  const last = pick(random, LAST_NAMES);
  const capitalised = (word: string) => word[0]!.toUpperCase() + word.slice(1);
  return {
    user_id: fakeId(ID_PREFIX.user, random),
    email: `${first}.${last}@example.com`,
    name: `${capitalised(first)} ${capitalised(last)}`,
  };
}

function client(random: () => number): { ip: string; user_agent: string } {
  return { ip: clientIp(random), user_agent: pick(random, USER_AGENTS) };
}

/** A realistic `data` object for one event type; `random` makes it reproducible. Unknown types get `{}`. */
export function sampleEventData(type: string, random: () => number = Math.random): Record<string, unknown> {
  const { user_id, email, name } = someUser(random);
  const subject = { user_id, email };
  switch (type) {
    case 'user.signed_in':
      return {
        ...subject,
        ...client(random),
        method: pick(random, SIGN_IN_METHODS),
        session_id: fakeId('ses_', random),
        application_id: fakeId(ID_PREFIX.application, random),
      };
    case 'user.signed_out':
      return { ...subject, session_id: fakeId('ses_', random), reason: pick(random, SIGN_OUT_REASONS) };
    case 'user.sign_in_failed': {
      const reason = pick(random, SIGN_IN_FAILURES);
      return {
        user_id: reason === 'unknown_user' ? null : user_id,
        email,
        ...client(random),
        reason,
        failed_attempts: 1 + Math.floor(random() * 5),
      };
    }
    case 'user.mfa_required':
      return { ...subject, ...client(random), factor_types: FACTOR_TYPES.filter((_, index) => index === 0 || random() < 0.5) };
    case 'user.mfa_succeeded':
      return { ...subject, ...client(random), factor_type: pick(random, FACTOR_TYPES) };
    case 'user.mfa_failed':
      return { ...subject, ...client(random), factor_type: pick(random, FACTOR_TYPES), reason: pick(random, MFA_FAILURES) };
    case 'user.signed_up':
      return { ...subject, name, email_verified: false, signup_method: pick(random, SIGN_IN_METHODS), ...client(random) };
    case 'user.updated': {
      const changed = PROFILE_FIELDS.filter(() => random() < 0.3);
      return { ...subject, changed_fields: changed.length > 0 ? changed : [pick(random, PROFILE_FIELDS)] };
    }
    case 'user.disabled':
      return { ...subject, disabled_by: fakeId(ID_PREFIX.user, random), reason: pick(random, ['admin_action', 'too_many_failed_sign_ins', 'suspicious_activity']) };
    case 'user.enabled':
      return { ...subject, enabled_by: fakeId(ID_PREFIX.user, random) };
    case 'user.deleted':
      return { ...subject, deleted_by: fakeId(ID_PREFIX.user, random) };
    case 'user.email_verified':
      return { ...subject, verification_method: pick(random, ['link', 'code']) };
    case 'mfa.factor_added':
      return { ...subject, factor_id: fakeId('mfa_', random), factor_type: pick(random, FACTOR_TYPES) };
    case 'mfa.factor_removed':
      return { ...subject, factor_id: fakeId('mfa_', random), factor_type: pick(random, FACTOR_TYPES), removed_by: pick(random, ['user', 'admin']) };
    case TEST_EVENT_TYPE:
      return { test: true, message: 'Test event from IntelliAuth: if you can read this, your receiver works.' };
    default:
      return {};
  }
}

// ---- "did you mean" ----------------------------------------------------------------------

/** Optimal-string-alignment distance: Levenshtein plus adjacent transpositions. */
function editDistance(a: string, b: string): number {
  const rows = a.length + 1;
  const cols = b.length + 1;
  const d: number[][] = Array.from({ length: rows }, (_, i) => Array.from({ length: cols }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i < rows; i += 1) {
    for (let j = 1; j < cols; j += 1) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, d[i - 2]![j - 2]! + 1);
      d[i]![j] = best;
    }
  }
  return d[rows - 1]![cols - 1]!;
}

function categoryOf(selectorOrType: string): string {
  const dot = selectorOrType.lastIndexOf('.');
  return dot < 0 ? '' : selectorOrType.slice(0, dot);
}

function nameOf(type: string): string {
  return type.slice(type.lastIndexOf('.') + 1);
}

function normalise(text: string): string {
  return text.trim().toLowerCase().replace(/[-\s]+/g, '_');
}

// Words people reach for first; the catalogue uses past-tense verbs.
const SYNONYMS: Readonly<Record<string, string>> = {
  login: 'user.signed_in',
  log_in: 'user.signed_in',
  signin: 'user.signed_in',
  sign_in: 'user.signed_in',
  logout: 'user.signed_out',
  log_out: 'user.signed_out',
  signout: 'user.signed_out',
  sign_out: 'user.signed_out',
  signup: 'user.signed_up',
  sign_up: 'user.signed_up',
  register: 'user.signed_up',
  registered: 'user.signed_up',
  created: 'user.signed_up',
  login_failed: 'user.sign_in_failed',
  removed: 'user.deleted',
};

/** The known selectors closest to an unknown one, best first, for a "did you mean" hint. */
export function suggestEventTypes(unknown: string, known: readonly string[], max = 3): string[] {
  const wanted = normalise(unknown);
  if (wanted === '' || max <= 0) return [];
  const categories = [...new Set(known.map(categoryOf).filter((category) => category !== ''))];
  const offersCategories = wanted.endsWith('.*') || !wanted.includes('.');
  const candidates = [...new Set([...known, ...(offersCategories ? categories.map((category) => `${category}.*`) : [])])];
  const wantedCategory = categoryOf(wanted);
  const synonym = SYNONYMS[nameOf(wanted)];
  const scored = candidates.map((candidate) => {
    let distance = editDistance(wanted, candidate);
    // "signed_up" alone, or a bare category name, should still find "user.signed_up" / "user.*".
    if (!wanted.includes('.')) {
      const bare = candidate.endsWith('.*') ? candidate.slice(0, -2) : nameOf(candidate);
      distance = Math.min(distance, editDistance(wanted, bare));
    }
    if (candidate === synonym) distance = 0;
    const sameCategory = wantedCategory !== '' && categoryOf(candidate) === wantedCategory;
    return { candidate, distance, sameCategory };
  });
  const threshold = Math.max(2, Math.floor(wanted.length / 4));
  const close = scored.filter((entry) => entry.distance <= threshold && entry.candidate !== unknown);
  // A clearly better match hides the merely plausible ones.
  const best = Math.min(...close.map((entry) => entry.distance));
  return close
    .filter((entry) => entry.distance <= best + 1)
    .sort((a, b) => a.distance - b.distance || Number(b.sameCategory) - Number(a.sameCategory) || a.candidate.localeCompare(b.candidate))
    .slice(0, max)
    .map((entry) => entry.candidate);
}

/** Selectors that match nothing in the catalogue, each with suggestions. `*` is always known. */
export function validateSelectorsAgainstCatalogue(
  selectors: string[],
  known: readonly string[],
): { unknown: Array<{ selector: string; suggestions: string[] }> } {
  const knownSet = new Set(known);
  const isKnown = (selector: string): boolean => {
    switch (selectorKind(selector)) {
      case 'all':
        return true;
      case 'category': {
        const prefix = selector.slice(0, -1);
        return known.some((type) => type.startsWith(prefix));
      }
      case 'type':
        return knownSet.has(selector);
      default:
        return false;
    }
  };
  return {
    unknown: selectors
      .filter((selector) => !isKnown(selector))
      .map((selector) => ({ selector, suggestions: suggestEventTypes(selector, known) })),
  };
}
