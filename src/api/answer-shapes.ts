// The fields of each API answer that commands rely on, checked once at the client so a
// server that answers 2xx with something else (a proxy, another API, a broken version)
// ends in one clear "unavailable" error instead of a crash or a silently empty result.
// Only presence and type are checked: answers may always carry more fields.

import { UnavailableError } from '../errors.ts';

type Rule = 'string' | 'string?' | 'number' | 'number?' | 'boolean?' | 'strings' | 'strings?';
export type Shape = Readonly<Record<string, Rule>>;

export const SUBSCRIPTION: Shape = {
  id: 'string',
  name: 'string',
  url: 'string',
  events: 'strings',
  status: 'string',
  created_at: 'string',
  updated_at: 'string',
  description: 'string?',
  secret_fingerprint: 'string?',
  previous_secret_expires_at: 'string?',
};

export const CREATED_SUBSCRIPTION: Shape = { ...SUBSCRIPTION, signing_secret: 'string' };

export const ROTATED_SECRET: Shape = { signing_secret: 'string', subscription_id: 'string?', previous_secret_expires_at: 'string?' };

export const EVENT_TYPE: Shape = { type: 'string', category: 'string', description: 'string?' };

export const DELIVERY_RECORD: Shape = {
  id: 'string',
  subscription_id: 'string?',
  event_id: 'string',
  event_type: 'string',
  attempt: 'number',
  attempted_at: 'string',
  outcome: 'string',
  http_status: 'number?',
  error: 'string?',
  latency_ms: 'number?',
  response_excerpt: 'string?',
  next_attempt_at: 'string?',
  dead_lettered: 'boolean?',
};

export const DEAD_LETTER: Shape = {
  event_id: 'string',
  event_type: 'string',
  subscription_id: 'string?',
  dead_lettered_at: 'string?',
  expires_at: 'string',
  attempts: 'number?',
  last_error: 'string?',
  last_http_status: 'number?',
};

export const ANY_OBJECT: Shape = {};

export const EMULATOR_EVENT: Shape = { event_id: 'string', subscriptions: 'strings?' };
export const EMULATOR_HEALTH: Shape = { status: 'string', tenant_id: 'string', allow_private_targets: 'boolean?' };

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function follows(value: unknown, rule: Rule): boolean {
  const optional = rule.endsWith('?');
  if (optional && (value === undefined || value === null)) return true;
  switch (rule.replace('?', '')) {
    case 'string':
      // An empty secret or id is as unusable as a missing one.
      return typeof value === 'string' && (optional || value !== '');
    case 'number':
      return typeof value === 'number' && Number.isFinite(value);
    case 'boolean':
      return typeof value === 'boolean';
    case 'strings':
      return Array.isArray(value) && value.every((item) => typeof item === 'string');
    default:
      return false;
  }
}

function kind(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'an object';
  return `a ${typeof value}`;
}

/** What is wrong with `value` as an object of `shape`, or null; `at` names it in the message. */
function problemWith(value: unknown, shape: Shape, at: string): string | null {
  if (!isObject(value)) return `${at} is ${kind(value)}, not an object`;
  for (const [field, rule] of Object.entries(shape)) {
    if (!follows(value[field], rule)) {
      const wanted = rule.startsWith('strings') ? 'a list of strings' : rule.startsWith('number') ? 'a number' : rule.startsWith('boolean') ? 'true or false' : rule === 'string' ? 'a non-empty string' : 'a string';
      return `${at}.${field} is ${kind(value[field])}, not ${wanted}`;
    }
  }
  return null;
}

function invalid(what: string, problem: string, requestId: string | undefined): UnavailableError {
  const id = requestId ? ` (request ${requestId})` : '';
  return new UnavailableError(`the API answered with something that is not ${what}: ${problem}${id}`, {
    hint: 'check --tenant-url: the server there does not answer like the IntelliAuth webhook API',
  });
}

/** `data` as one object of `shape`, or an UnavailableError naming the first field that is wrong. */
export function expectObject<T>(data: unknown, shape: Shape, what: string, requestId?: string): T {
  const problem = problemWith(data, shape, 'data');
  if (problem) throw invalid(what, problem, requestId);
  return data as T;
}

/** `data` as a list of objects of `shape`. */
export function expectList<T>(data: unknown, shape: Shape, what: string, requestId?: string): T[] {
  if (!Array.isArray(data)) throw invalid(what, `data is ${kind(data)}, not a list`, requestId);
  data.forEach((item, index) => {
    const problem = problemWith(item, shape, `data[${index}]`);
    if (problem) throw invalid(what, problem, requestId);
  });
  return data as T[];
}
