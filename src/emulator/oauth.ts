import { createHash, timingSafeEqual } from 'node:crypto';
import { TOKEN_LIFETIME_SECONDS, type TokenResponse } from '../domain/contract.ts';
import { formBody, OAuthFailure, type ApiRequest, type Reply } from './http.ts';
import { issueToken } from './tokens.ts';

// POST /oauth2/token: the client-credentials grant, with the client authenticated by form
// fields or HTTP Basic (RFC 6749 §2.3.1), answering OAuth-style errors (§5.2).

export interface TokenEndpointConfig {
  clientId: string;
  clientSecret: string;
  /** The M2M application's scope allowlist. */
  scopes: readonly string[];
  tokenKey: Buffer;
}

const BASIC_CHALLENGE = { 'www-authenticate': 'Basic realm="IntelliAuth", charset="UTF-8"' };

function sameText(a: string, b: string): boolean {
  // Hash first so the comparison takes the same time whatever the lengths.
  const digest = (text: string) => createHash('sha256').update(text, 'utf8').digest();
  return timingSafeEqual(digest(a), digest(b));
}

function basicCredentials(header: string | undefined): { id: string; secret: string } | null | undefined {
  if (header === undefined) return undefined;
  const match = /^Basic\s+([A-Za-z0-9+/=._~-]+)\s*$/i.exec(header);
  if (!match) return null;
  const decoded = Buffer.from(match[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return null;
  try {
    // RFC 6749 §2.3.1: both parts are form-urlencoded before being joined.
    const decode = (part: string) => decodeURIComponent(part.replace(/\+/g, ' '));
    return { id: decode(decoded.slice(0, colon)), secret: decode(decoded.slice(colon + 1)) };
  } catch {
    return null;
  }
}

function single(form: URLSearchParams, name: string): string | undefined {
  const values = form.getAll(name);
  if (values.length > 1) throw new OAuthFailure(400, 'invalid_request', `the parameter ${name} is given more than once`);
  return values[0];
}

export function handleTokenRequest(request: ApiRequest, config: TokenEndpointConfig): Reply {
  if (request.method !== 'POST') {
    throw new OAuthFailure(405, 'invalid_request', 'the token endpoint accepts POST only', { allow: 'POST' });
  }
  const form = formBody(request);
  const grantType = single(form, 'grant_type');
  if (grantType === undefined || grantType === '') throw new OAuthFailure(400, 'invalid_request', 'grant_type is missing');
  if (grantType !== 'client_credentials') {
    throw new OAuthFailure(400, 'unsupported_grant_type', `the grant type ${grantType} is not supported here: use client_credentials`);
  }

  const authorization = request.headers.authorization;
  const basic = basicCredentials(authorization);
  const formId = single(form, 'client_id');
  const formSecret = single(form, 'client_secret');
  if (basic === null) throw new OAuthFailure(401, 'invalid_client', 'the Authorization header is not valid HTTP Basic', BASIC_CHALLENGE);
  if (basic && formSecret !== undefined) {
    throw new OAuthFailure(400, 'invalid_request', 'authenticate the client with HTTP Basic or with client_secret, not both');
  }
  if (basic && formId !== undefined && formId !== basic.id) {
    throw new OAuthFailure(400, 'invalid_request', 'client_id differs from the HTTP Basic user name');
  }
  const id = basic ? basic.id : formId;
  const secret = basic ? basic.secret : formSecret;
  if (id === undefined || secret === undefined || id === '' || secret === '') {
    throw new OAuthFailure(401, 'invalid_client', 'client authentication is missing: send client_id and client_secret', basic ? BASIC_CHALLENGE : undefined);
  }
  // Both comparisons always run, so timing does not tell a wrong id from a wrong secret.
  const idMatches = sameText(id, config.clientId);
  const secretMatches = sameText(secret, config.clientSecret);
  if (!idMatches || !secretMatches) {
    throw new OAuthFailure(401, 'invalid_client', 'client authentication failed', basic ? BASIC_CHALLENGE : undefined);
  }

  const scopeParameter = single(form, 'scope');
  const requested = scopeParameter === undefined ? [] : scopeParameter.split(' ').filter((scope) => scope !== '');
  const refused = requested.filter((scope) => !config.scopes.includes(scope));
  if (refused.length > 0) {
    throw new OAuthFailure(400, 'invalid_scope', `scope not allowed for this application: ${refused.join(' ')} (allowed: ${config.scopes.join(' ')})`);
  }
  const granted = requested.length > 0 ? [...new Set(requested)] : [...config.scopes];
  const audience = single(form, 'audience');
  const now = Math.floor(Date.now() / 1000);
  const token = issueToken(config.tokenKey, {
    sub: config.clientId,
    scopes: granted,
    iat: now,
    exp: now + TOKEN_LIFETIME_SECONDS,
    aud: audience === undefined || audience === '' ? null : audience,
  });
  const body: TokenResponse = { access_token: token, token_type: 'Bearer', expires_in: TOKEN_LIFETIME_SECONDS, scope: granted.join(' ') };
  return { status: 200, body, headers: { 'cache-control': 'no-store', pragma: 'no-cache' } };
}
