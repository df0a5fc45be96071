// The OAuth client-credentials exchange. The client secret goes into the form body and
// nowhere else: not into messages, hints or error causes.

import { ApiError, AuthError, UnavailableError } from '../errors.ts';
import { TOKEN_LIFETIME_SECONDS, TOKEN_PATH } from '../domain/contract.ts';
import type { Http } from './http.ts';

export interface AccessToken {
  accessToken: string;
  /** Epoch milliseconds. */
  expiresAt: number;
  scope: string[];
}

/** What ApiClient needs from whatever holds the token. */
export interface AccessTokenProvider {
  /** `signal` ends a token request under way: nothing has been done on the tenant yet. */
  getToken(signal?: AbortSignal): Promise<string>;
  /** Forget the current token (the API answered 401 with it). */
  invalidate(): Promise<void>;
  /** True when invalidate() + getToken() can yield a different token (client credentials). */
  readonly refreshable: boolean;
}

export interface ClientCredentialsRequest {
  clientId: string;
  clientSecret: string;
  audience?: string | undefined;
  /** Requested scopes; when absent the tenant grants the application's defaults. */
  scope?: readonly string[] | undefined;
  now?: () => number;
  signal?: AbortSignal;
}

export async function requestClientCredentialsToken(http: Http, req: ClientCredentialsRequest): Promise<AccessToken> {
  const now = req.now ?? Date.now;
  const requestedScope = req.scope && req.scope.length > 0 ? req.scope.join(' ') : undefined;
  const started = now();
  let result;
  try {
    result = await http.request<Record<string, unknown>>({
      method: 'POST',
      path: TOKEN_PATH,
      form: {
        grant_type: 'client_credentials',
        client_id: req.clientId,
        client_secret: req.clientSecret,
        audience: req.audience,
        scope: requestedScope,
      },
      expect: 'raw',
      // Asking for a token again changes nothing on the tenant.
      retry: true,
      ...(req.signal ? { signal: req.signal } : {}),
    });
  } catch (error) {
    throw scrub(translateTokenError(error, http.baseUrl, req, requestedScope), req.clientSecret);
  }

  // A 204, or any answer without a JSON object, carries no token either.
  const body: Record<string, unknown> = typeof result.data === 'object' && result.data !== null ? result.data : {};
  const accessToken = body.access_token;
  if (typeof accessToken !== 'string' || accessToken === '') {
    throw new UnavailableError(`the token endpoint of ${http.baseUrl} answered without an access_token`);
  }
  const tokenType = body.token_type;
  if (typeof tokenType === 'string' && tokenType.toLowerCase() !== 'bearer') {
    throw new UnavailableError(`the token endpoint of ${http.baseUrl} issued a "${tokenType}" token, not a Bearer token`);
  }
  const expiresIn =
    typeof body.expires_in === 'number' && Number.isFinite(body.expires_in) && body.expires_in > 0
      ? body.expires_in
      : TOKEN_LIFETIME_SECONDS;
  const grantedScope = typeof body.scope === 'string' ? body.scope : (requestedScope ?? '');
  return {
    accessToken,
    expiresAt: started + expiresIn * 1000,
    scope: grantedScope.split(/\s+/).filter(Boolean),
  };
}

function translateTokenError(
  error: unknown,
  tenant: string,
  req: ClientCredentialsRequest,
  requestedScope: string | undefined,
): unknown {
  if (error instanceof UnavailableError) {
    // Said as such: the command's own call was never made.
    return new UnavailableError(`getting an access token failed: ${error.message}`, { ...(error.hint ? { hint: error.hint } : {}), cause: error });
  }
  if (!(error instanceof ApiError)) return error;
  const loginHint = 'check the client id and secret (`intelliauth-webhooks login` stores new ones)';
  switch (error.code) {
    case 'invalid_client':
    case 'unauthorized_client':
    case 'unauthorized':
      return new AuthError(`the tenant rejected the client id or secret (client ${req.clientId})`, {
        hint: loginHint,
      });
    case 'invalid_scope':
      return new AuthError(
        `the tenant refused the scope ${requestedScope ? `"${requestedScope}"` : 'requested'} for client ${req.clientId}`,
        { hint: "add the scope to the M2M application's allowed scopes in the IntelliAuth console" },
      );
    case 'invalid_grant':
    case 'unsupported_grant_type':
      return new AuthError(`the tenant does not allow the client-credentials grant for client ${req.clientId}`, {
        hint: 'use a machine-to-machine application',
      });
    case 'access_denied':
    case 'invalid_target':
    case 'invalid_audience':
      return new AuthError(
        `the tenant refused a token for audience ${req.audience ? `"${req.audience}"` : '(default)'}: ${error.message}`,
        { hint: 'check INTELLIAUTH_API_AUDIENCE or the profile audience' },
      );
    default:
      if (error.status === 401 || error.status === 403) {
        return new AuthError(`the tenant refused a token for client ${req.clientId}: ${error.message}`, {
          hint: loginHint,
        });
      }
      if (error.status === 404 || error.status === 405) {
        return new AuthError(`${tenant} has no OAuth token endpoint (${TOKEN_PATH} answered ${error.status})`, {
          hint: 'check the tenant URL',
        });
      }
      return new ApiError({
        status: error.status,
        code: error.code,
        message: `getting an access token failed: ${error.platformMessage}`,
        requestId: error.requestId,
        details: error.details,
        retryAfterSeconds: error.retryAfterSeconds,
        ...(error.hint ? { hint: error.hint } : {}),
      });
  }
}

/** Replaces the secret in an error's message and hint, should a server ever echo it. */
function scrub(error: unknown, secret: string): unknown {
  if (!(error instanceof Error) || secret.length < 4) return error;
  const hint = (error as { hint?: unknown }).hint;
  const leaks = error.message.includes(secret) || (typeof hint === 'string' && hint.includes(secret));
  if (!leaks) return error;
  const clean = (text: string) => text.split(secret).join('[redacted]');
  if (error instanceof AuthError) return new AuthError(clean(error.message), hint ? { hint: clean(String(hint)) } : {});
  if (error instanceof ApiError) {
    return new ApiError({
      status: error.status,
      code: error.code,
      message: clean(error.platformMessage),
      requestId: error.requestId,
      retryAfterSeconds: error.retryAfterSeconds,
      ...(typeof hint === 'string' ? { hint: clean(hint) } : {}),
    });
  }
  return new UnavailableError(clean(error.message));
}
