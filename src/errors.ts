// Every failure the tool reports is one of these classes; exitCodeFor() is the only place
// that turns them into process exit codes, and EXIT_CODES is what README and --help list.

export const EXIT_CODES = {
  ok: 0,
  unexpected: 1,
  usage: 2,
  auth: 3,
  notFound: 4,
  unavailable: 5,
  secretFallback: 6,
  checkFailed: 7,
  alert: 8,
  interrupted: 130,
} as const;

export type ExitCode = (typeof EXIT_CODES)[keyof typeof EXIT_CODES];

export const EXIT_CODE_HELP: ReadonlyArray<readonly [ExitCode, string]> = [
  [0, 'success'],
  [1, 'unexpected error'],
  [2, 'usage or invalid input (bad flags, 400, 422)'],
  [3, 'credentials or permission (missing credentials, 401, 403)'],
  [4, 'not found'],
  [5, 'API or network unavailable after retries (5xx, 429, DNS, TLS, connection)'],
  [6, 'signing secret could not be stored where asked; saved to a fallback file'],
  [7, 'a check failed (receiver answered non-2xx to a test, signature invalid)'],
  [8, 'an alert threshold was crossed'],
  [130, 'interrupted'],
];

export interface ErrorOptions {
  hint?: string;
  cause?: unknown;
}

/** Base class: a failure with a one-line message meant for the user, plus an optional hint. */
export class CliError extends Error {
  readonly hint: string | undefined;
  constructor(message: string, options: ErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.hint = options.hint;
  }
}

/** Bad flags, bad values, refused input (also API 400 and 422). */
export class UsageError extends CliError {}

/** Missing or rejected credentials, missing scope (API 401 and 403). */
export class AuthError extends CliError {}

export class NotFoundError extends CliError {}

/** The API or the network stayed unavailable after retries. */
export class UnavailableError extends CliError {}

/** The secret store refused or failed; `where` names the store that failed. */
export class SecretStoreError extends CliError {}

/** A signing secret could not go where the user asked, and was written to a fallback file. */
export class SecretFallbackError extends CliError {
  readonly fallbackPath: string;
  constructor(message: string, fallbackPath: string, options: ErrorOptions = {}) {
    super(message, options);
    this.fallbackPath = fallbackPath;
  }
}

/** A check the user asked for failed: a test delivery, a signature, a doctor probe. */
export class CheckFailedError extends CliError {}

export class AlertError extends CliError {}

export class InterruptedError extends CliError {
  constructor(message = 'interrupted', options: ErrorOptions = {}) {
    super(message, options);
  }
}

/** An error answer of the platform API; carries the envelope's code and request id. */
export class ApiError extends CliError {
  readonly status: number;
  readonly code: string;
  readonly requestId: string | undefined;
  readonly details: Record<string, unknown> | undefined;
  readonly retryAfterSeconds: number | undefined;
  /** The platform's message, without the request id the full message ends with. */
  readonly platformMessage: string;
  constructor(init: {
    status: number;
    code: string;
    message: string;
    requestId?: string | undefined;
    details?: Record<string, unknown> | undefined;
    retryAfterSeconds?: number | undefined;
    hint?: string;
  }) {
    const suffix = init.requestId ? ` (request ${init.requestId})` : '';
    super(`${init.message}${suffix}`, init.hint === undefined ? {} : { hint: init.hint });
    this.status = init.status;
    this.code = init.code;
    this.requestId = init.requestId;
    this.details = init.details;
    this.retryAfterSeconds = init.retryAfterSeconds;
    this.platformMessage = init.message;
  }

  /** The same error with the hint of a command that knows better what to do next. */
  withHint(hint: string): ApiError {
    const { status, code, platformMessage: message, requestId, details, retryAfterSeconds } = this;
    return new ApiError({ status, code, message, requestId, details, retryAfterSeconds, hint });
  }
}

export function exitCodeFor(error: unknown): ExitCode {
  if (error instanceof ApiError) return exitCodeForStatus(error.status);
  if (error instanceof UsageError) return EXIT_CODES.usage;
  if (error instanceof AuthError) return EXIT_CODES.auth;
  if (error instanceof NotFoundError) return EXIT_CODES.notFound;
  if (error instanceof UnavailableError) return EXIT_CODES.unavailable;
  if (error instanceof SecretFallbackError) return EXIT_CODES.secretFallback;
  if (error instanceof SecretStoreError) return EXIT_CODES.usage;
  if (error instanceof CheckFailedError) return EXIT_CODES.checkFailed;
  if (error instanceof AlertError) return EXIT_CODES.alert;
  if (error instanceof InterruptedError) return EXIT_CODES.interrupted;
  if (isCommanderError(error)) return error.exitCode === 0 ? EXIT_CODES.ok : EXIT_CODES.usage;
  return EXIT_CODES.unexpected;
}

export function exitCodeForStatus(status: number): ExitCode {
  if (status === 400 || status === 409 || status === 413 || status === 422) return EXIT_CODES.usage;
  if (status === 401 || status === 403) return EXIT_CODES.auth;
  if (status === 404) return EXIT_CODES.notFound;
  if (status === 429 || status >= 500) return EXIT_CODES.unavailable;
  return EXIT_CODES.unexpected;
}

function isCommanderError(error: unknown): error is { exitCode: number; code: string } {
  return (
    typeof error === 'object' &&
    error !== null &&
    typeof (error as { code?: unknown }).code === 'string' &&
    (error as { code: string }).code.startsWith('commander.') &&
    typeof (error as { exitCode?: unknown }).exitCode === 'number'
  );
}
