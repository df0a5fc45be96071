// Everything the --debug trace prints goes through here first: headers, URLs and bodies
// lose every credential-like value before they reach a terminal or a CI log.

export const REDACTED = '[redacted]';

const SENSITIVE_HEADERS = new Set(['authorization', 'proxy-authorization', 'cookie', 'set-cookie', 'x-api-key']);

const SENSITIVE_KEYS = new Set([
  'client_secret',
  'signing_secret',
  'previous_secret',
  'previous_signing_secret',
  'access_token',
  'refresh_token',
  'id_token',
  'token',
  'secret',
  'password',
  'authorization',
  'api_key',
]);

/** True for field names whose values must never be shown (case-insensitive, `-` and `_` alike). */
export function isSensitiveKey(key: string): boolean {
  const normalized = key.toLowerCase().replace(/-/g, '_');
  if (SENSITIVE_KEYS.has(normalized)) return true;
  return normalized.endsWith('_secret') || normalized.endsWith('_token') || normalized.endsWith('password');
}

/** Credentials in free text: `Bearer x`, `Basic x`, and `key=value` / `"key": "value"` pairs. */
export function redactText(text: string): string {
  return text
    .replace(/\b(Bearer|Basic)\s+[A-Za-z0-9\-._~+/]+=*/gi, (_match, scheme: string) => `${scheme} ${REDACTED}`)
    .replace(/("([A-Za-z0-9_-]+)"\s*:\s*)("(?:[^"\\]|\\.)*"?|[^,{}[\]\s"]+)/g, (match, prefix: string, key: string) =>
      isSensitiveKey(key) ? `${prefix}"${REDACTED}"` : match,
    )
    .replace(/(^|[?&;\s])([A-Za-z0-9_.-]+)=([^&;\s]*)/g, (match, lead: string, key: string) =>
      isSensitiveKey(key) ? `${lead}${key}=${REDACTED}` : match,
    );
}

/** A deep copy of a JSON value with sensitive fields replaced. */
export function redactJson(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(redactJson);
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [key, inner] of Object.entries(value)) {
      out[key] = isSensitiveKey(key) && inner !== null ? REDACTED : redactJson(inner);
    }
    return out;
  }
  if (typeof value === 'string') return redactText(value);
  return value;
}

/** `application/x-www-form-urlencoded` text (also a URL query string, without the `?`). */
export function redactForm(body: string): string {
  return body
    .split('&')
    .map((pair) => {
      const eq = pair.indexOf('=');
      if (eq === -1) return pair;
      const rawKey = pair.slice(0, eq);
      let key = rawKey;
      try {
        key = decodeURIComponent(rawKey.replace(/\+/g, ' '));
      } catch {
        // a malformed escape: judge the raw key
      }
      return isSensitiveKey(key) ? `${rawKey}=${REDACTED}` : pair;
    })
    .join('&');
}

/** An absolute or relative URL: userinfo and sensitive query parameters are hidden. */
export function redactUrl(url: string): string {
  let out = url.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/@?#]*@/i, `$1${REDACTED}@`);
  const q = out.indexOf('?');
  if (q !== -1) {
    const hash = out.indexOf('#', q);
    const end = hash === -1 ? out.length : hash;
    out = `${out.slice(0, q + 1)}${redactForm(out.slice(q + 1, end))}${out.slice(end)}`;
  }
  return out;
}

export type HeaderValue = string | number | readonly string[] | undefined | null;

/** Header name -> printable value; sensitive headers keep only their auth scheme. */
export function redactHeaders(headers: Record<string, HeaderValue>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || value === null) continue;
    const text = Array.isArray(value) ? value.join(', ') : String(value);
    out[name] = redactHeaderValue(name, text);
  }
  return out;
}

export function redactHeaderValue(name: string, value: string): string {
  const lower = name.toLowerCase();
  if (SENSITIVE_HEADERS.has(lower)) {
    const scheme = /^(Bearer|Basic|Digest|Token)\s/i.exec(value)?.[1];
    return scheme ? `${scheme} ${REDACTED}` : REDACTED;
  }
  if (isSensitiveKey(lower)) return REDACTED;
  if (lower === 'location' || lower === 'content-location' || lower === 'referer') return redactUrl(value);
  return redactText(value);
}

/**
 * A body for the trace, judged by its content type (JSON, form) with a free-text fallback
 * for anything else, including truncated JSON.
 */
export function redactBody(body: string, contentType?: string): string {
  const type = (contentType ?? '').toLowerCase();
  const trimmed = body.trimStart();
  if (type.includes('json') || trimmed.startsWith('{') || trimmed.startsWith('[')) {
    try {
      return JSON.stringify(redactJson(JSON.parse(body)));
    } catch {
      return redactText(body);
    }
  }
  if (type.includes('x-www-form-urlencoded')) return redactForm(body);
  return redactText(body);
}
