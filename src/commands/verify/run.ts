import { createReadStream } from 'node:fs';
import type { Context } from '../../cli/context.ts';
import { CheckFailedError, UsageError } from '../../errors.ts';
import { secretFingerprint } from '../../domain/signature.ts';
import {
  headerDisplayName,
  parseRawHeaders,
  PREVIOUS_SIGNATURE_HEADER_NAME,
  SIGNATURE_HEADER_NAME,
  TIMESTAMP_HEADER_NAME,
  verifyDelivery,
  type InvalidVerdict,
  type RawDeliveryHeaders,
  type ValidVerdict,
  type VerificationVerdict,
} from '../../domain/delivery-verification.ts';
import { readSigningSecrets } from '../../secrets/signing-secrets.ts';
import { DEFAULT_SECRET_ENV, type VerifyOptions } from './index.ts';

export const MAX_BODY_BYTES = 10 * 1024 * 1024;
const MAX_HEADERS_BYTES = 1024 * 1024;
const MAX_SECRET_INPUT_BYTES = 64 * 1024;

interface HeldSecrets {
  current: string;
  previous: string | null;
  /** For messages: where the secret came from (never the secret). */
  source: string;
}

interface DeliveryHeaders {
  signature: string | undefined;
  previousSignature: string | undefined;
  timestamp: string | undefined;
  fromFile: RawDeliveryHeaders | null;
}

export async function run(options: VerifyOptions, context: Context): Promise<void> {
  const { io } = context;
  if (options.secretSource.kind === 'stdin' && options.bodyFile === undefined) {
    throw new UsageError('--secret-stdin needs --body-file: stdin cannot carry both the secret and the body');
  }
  if (options.bodyFile === undefined && io.stdinIsTTY) {
    throw new UsageError('no body to verify: pass --body-file FILE or pipe the raw body on stdin');
  }

  const headers = await collectHeaders(options, context);
  if (headers.signature === undefined && headers.previousSignature === undefined && headers.fromFile === null) {
    throw new UsageError(`no signature to verify: pass --signature HEX (the ${SIGNATURE_HEADER_NAME} header) or --headers-file FILE`);
  }
  const secrets = await readSecrets(options, context);
  const rawBody = options.bodyFile === undefined ? await readStdinBody(context) : await readBodyFile(options.bodyFile);

  const verdict = verifyDelivery({
    rawBody,
    signature: headers.signature,
    previousSignature: headers.previousSignature,
    timestamp: headers.timestamp,
    secrets: { current: secrets.current, previous: secrets.previous },
    expectedTenantId: options.tenantId,
    maxSkewSeconds: options.maxSkewSeconds,
    nowSeconds: Math.floor(context.now() / 1000),
  });

  if (context.globals.json) io.printJson(toJson(verdict, secrets));
  if (!verdict.valid) {
    throw new CheckFailedError(`invalid: ${verdict.message}`, { hint: hintFor(verdict, secrets, rawBody, options) });
  }
  if (!context.globals.json) io.print(`valid: signature matches (${verdict.matchedWith} secret ${secretFingerprint(matchedSecret(verdict, secrets))}, ${headerDisplayName(verdict.header)})`);
  describeValid(verdict, secrets, headers, options, context);
}

async function collectHeaders(options: VerifyOptions, context: Context): Promise<DeliveryHeaders> {
  if (options.headersFile === undefined) {
    return { signature: options.signature, previousSignature: options.previousSignature, timestamp: options.timestamp, fromFile: null };
  }
  const text = Buffer.from(await readBounded(await openFile(options.headersFile, '--headers-file'), MAX_HEADERS_BYTES, `--headers-file ${options.headersFile}`)).toString('utf8');
  const parsed = parseRawHeaders(text);
  const ambiguous = parsed.duplicates.filter((name) => [SIGNATURE_HEADER_NAME, PREVIOUS_SIGNATURE_HEADER_NAME, TIMESTAMP_HEADER_NAME].includes(name));
  if (ambiguous.length > 0) {
    throw new UsageError(`${options.headersFile} gives ${ambiguous.join(' and ')} more than once with different values; refusing to pick one`, {
      hint: 'keep the headers of a single request in the file',
    });
  }
  for (const name of parsed.duplicates) context.io.warn(`${options.headersFile} gives ${name} more than once with different values; ignoring it`);
  const found = [parsed.signature, parsed.previousSignature, parsed.timestamp, parsed.eventId, parsed.eventType, parsed.attempt].some((value) => value !== undefined);
  if (!found && parsed.duplicates.length === 0) {
    throw new UsageError(`no X-IntelliAuth-* headers found in ${options.headersFile}`, {
      hint: 'the file should hold the request headers as received, one "Name: value" per line',
    });
  }
  const pick = (flag: string, fromFlag: string | undefined, fromFile: string | undefined): string | undefined => {
    if (fromFlag !== undefined && fromFile !== undefined && fromFlag.trim() !== fromFile.trim()) {
      context.io.info(`${flag} overrides the value in ${options.headersFile}`);
    }
    return fromFlag ?? fromFile;
  };
  return {
    signature: pick('--signature', options.signature, parsed.signature),
    previousSignature: pick('--previous-signature', options.previousSignature, parsed.previousSignature),
    timestamp: pick('--timestamp', options.timestamp, parsed.timestamp),
    fromFile: parsed,
  };
}

async function readSecrets(options: VerifyOptions, context: Context): Promise<HeldSecrets> {
  const source = options.secretSource;
  switch (source.kind) {
    case 'subscription': {
      const stored = await readSigningSecrets(context, source.subscriptionId);
      return { current: stored.current, previous: stored.previous, source: `the secret of ${source.subscriptionId} in ${stored.location}` };
    }
    case 'stdin': {
      const secret = await readSecretFromStdin(context);
      return { current: secret, previous: null, source: 'the secret from stdin' };
    }
    case 'env':
      return secretsFromEnv(context, source.variable, true);
    case 'default-env':
      return secretsFromEnv(context, DEFAULT_SECRET_ENV, false);
  }
}

function secretsFromEnv(context: Context, variable: string, named: boolean): HeldSecrets {
  const current = context.env[variable];
  if (current === undefined || current === '') {
    if (named) throw new UsageError(`environment variable ${variable} is not set (or empty)`);
    throw new UsageError('no signing secret to verify with', {
      hint: `set ${DEFAULT_SECRET_ENV}, or pass --secret-env VAR, --secret-stdin or --subscription ID`,
    });
  }
  warnAboutWhitespace(context, current, variable);
  const previousVariable = `${variable}_PREVIOUS`;
  const previous = context.env[previousVariable];
  const hasPrevious = previous !== undefined && previous !== '';
  if (hasPrevious) warnAboutWhitespace(context, previous, previousVariable);
  return { current, previous: hasPrevious ? previous : null, source: `the secret in ${variable}${hasPrevious ? ` (previous: ${previousVariable})` : ''}` };
}

async function readSecretFromStdin(context: Context): Promise<string> {
  const { io } = context;
  let secret: string;
  if (io.stdinIsTTY) {
    if (!io.canPrompt()) throw new UsageError('--secret-stdin needs the secret piped in (no interactive terminal to ask on)');
    secret = await (await context.prompter()).password('Signing secret');
  } else {
    const bytes = await readBounded(io.stdin, MAX_SECRET_INPUT_BYTES, 'the secret on stdin');
    secret = Buffer.from(bytes).toString('utf8').split(/\r?\n/, 1)[0] ?? '';
  }
  if (secret === '') throw new UsageError('--secret-stdin: the first line of stdin is empty');
  warnAboutWhitespace(context, secret, 'stdin');
  return secret;
}

/** The secret is used byte for byte, as a receiver would; stray whitespace is a likely mistake, so say so. */
function warnAboutWhitespace(context: Context, secret: string, where: string): void {
  if (secret.trim() !== secret) context.io.warn(`the secret from ${where} has leading or trailing whitespace; it is used as is`);
}

async function readStdinBody(context: Context): Promise<Uint8Array> {
  return readBounded(context.io.stdin, MAX_BODY_BYTES, 'the body on stdin');
}

async function readBodyFile(path: string): Promise<Uint8Array> {
  return readBounded(await openFile(path, '--body-file'), MAX_BODY_BYTES, `--body-file ${path}`);
}

/** Opens a file for reading and waits for the open, so a missing file is a one-line usage error. */
function openFile(path: string, flag: string): Promise<NodeJS.ReadableStream> {
  return new Promise((resolve, reject) => {
    const stream = createReadStream(path);
    stream.once('ready', () => resolve(stream));
    stream.once('error', (error: NodeJS.ErrnoException) => reject(new UsageError(`cannot read ${flag} ${path}: ${describeFsError(error)}`)));
  });
}

function describeFsError(error: NodeJS.ErrnoException): string {
  switch (error.code) {
    case 'ENOENT':
      return 'no such file';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'EISDIR':
      return 'it is a directory';
    default:
      return error.code ?? error.message;
  }
}

async function readBounded(stream: NodeJS.ReadableStream, limit: number, what: string): Promise<Uint8Array> {
  const chunks: Buffer[] = [];
  let total = 0;
  try {
    for await (const chunk of stream) {
      const buffer = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : Buffer.from(chunk);
      total += buffer.length;
      if (total > limit) throw new UsageError(`${what} is larger than ${formatBytes(limit)}`);
      chunks.push(buffer);
    }
  } catch (error) {
    if (error instanceof UsageError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    throw new UsageError(`cannot read ${what}: ${code === undefined ? (error as Error).message : describeFsError(error as NodeJS.ErrnoException)}`);
  }
  return Buffer.concat(chunks, total);
}

function formatBytes(bytes: number): string {
  return bytes % (1024 * 1024) === 0 ? `${bytes / (1024 * 1024)} MiB` : `${Math.round(bytes / 1024)} KiB`;
}

function matchedSecret(verdict: ValidVerdict, secrets: HeldSecrets): string {
  return verdict.matchedWith === 'previous' && secrets.previous !== null ? secrets.previous : secrets.current;
}

/** The verdict as printed with --json: the event without its payload, plus the fingerprints of the secrets held. */
function toJson(verdict: VerificationVerdict, secrets: HeldSecrets): Record<string, unknown> {
  const fingerprints = {
    current: secretFingerprint(secrets.current),
    previous: secrets.previous === null ? null : secretFingerprint(secrets.previous),
  };
  if (!verdict.valid) return { ...verdict, secretFingerprints: fingerprints };
  const { payload: _payload, ...event } = verdict.event;
  return { ...verdict, event, secretFingerprints: fingerprints };
}

function describeValid(verdict: ValidVerdict, secrets: HeldSecrets, headers: DeliveryHeaders, options: VerifyOptions, context: Context): void {
  const { io } = context;
  const event = verdict.event;
  const parts = [
    `event ${event.eventId ?? '(no event_id)'} ${event.eventType ?? '(no event_type)'}`,
    `tenant ${event.tenantId ?? '(no tenant.id)'}${options.tenantId === undefined ? ' (not checked: pass --tenant-id)' : ' (as expected)'}`,
  ];
  if (event.attempt !== null) parts.push(`attempt ${event.attempt}`);
  io.info(parts.join(', '));
  io.info(
    verdict.timestampSkewSeconds === null
      ? 'timestamp not checked (none given)'
      : `timestamp ${describeSkew(verdict.timestampSkewSeconds)} (limit ${options.maxSkewSeconds} s)`,
  );

  const fromFile = headers.fromFile;
  if (fromFile?.eventId !== undefined && event.eventId !== null && fromFile.eventId !== event.eventId) {
    io.warn(`X-IntelliAuth-Event-Id is ${fromFile.eventId} but the body's event_id is ${event.eventId}`);
  }
  if (fromFile?.eventType !== undefined && event.eventType !== null && fromFile.eventType !== event.eventType) {
    io.warn(`X-IntelliAuth-Event-Type is ${fromFile.eventType} but the body's event_type is ${event.eventType}`);
  }

  if (verdict.header === 'signature-previous') {
    io.hint(
      `the secret used (${secretFingerprint(matchedSecret(verdict, secrets))}) is the platform's previous one, valid only until its grace period ends: switch the receiver to the new secret`,
    );
  } else if (verdict.matchedWith === 'previous') {
    io.hint(
      `signed with the secret held as previous (${secretFingerprint(matchedSecret(verdict, secrets))}), not the current one: a delivery from before the rotation, or the current secret held here is not the platform's`,
    );
  }
}

function describeSkew(skew: number): string {
  if (skew === 0) return 'matches this clock';
  return skew > 0 ? `is ${skew} s old` : `is ${-skew} s in the future`;
}

function hintFor(verdict: InvalidVerdict, secrets: HeldSecrets, rawBody: Uint8Array, options: VerifyOptions): string {
  const fingerprint = secretFingerprint(secrets.current);
  switch (verdict.reason) {
    case 'signature_missing':
      return `a delivery carries ${SIGNATURE_HEADER_NAME}; pass it with --signature HEX or check the headers file`;
    case 'signature_malformed':
      return 'copy the header value exactly: 64 lowercase hex characters and nothing else';
    case 'signature_mismatch': {
      const lastByte = rawBody[rawBody.length - 1];
      const newline = lastByte === 0x0a ? '; this body ends with a newline, which deliveries do not' : '';
      return (
        `check that the body is the exact raw bytes received (${rawBody.length} bytes: not re-serialised JSON, no newline added by an editor${newline}) ` +
        `and that ${secrets.source} (fingerprint ${fingerprint}) is the subscription's: compare with its secret_fingerprint`
      );
    }
    case 'timestamp_stale':
      return `the signature matches; the delivery was sent more than ${options.maxSkewSeconds} s ago: a replay or an old capture, or a clock is off (check NTP); for an old capture pass a larger --max-skew`;
    case 'timestamp_future':
      return 'the signature matches; the sender\'s clock or this one is off (check NTP on this machine)';
    case 'timestamp_missing':
    case 'timestamp_malformed':
      return `${TIMESTAMP_HEADER_NAME} is whole Unix seconds, e.g. 1700000000`;
    case 'body_not_json':
    case 'body_not_object':
      return 'the signature matches, so these are the bytes that were signed, but a delivery body is a JSON object';
    case 'tenant_mismatch':
      return 'the signature matches, but the event is not for the expected tenant: a receiver ignores it (and answers 2xx); check --tenant-id';
  }
}
