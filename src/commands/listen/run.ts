import type { Context } from '../../cli/context.ts';
import { UsageError } from '../../errors.ts';
import { readSigningSecrets } from '../../secrets/signing-secrets.ts';
import { EventLog, LineWriter, printable } from './event-log.ts';
import { Forwarder, type ForwarderStats } from './forwarder.ts';
import { DEFAULT_SECRET_ENV, type ListenOptions } from './index.ts';
import { describeSecrets, SecretKeeper, type LoadedSecrets, type SecretLoader } from './secret-keeper.ts';
import { Receiver, startServer, type ReceiverStats, type RunningServer, type StrayRequest } from './server.ts';

/** How long forwards still under way (and their retries) may finish after Ctrl-C. */
const FORWARD_DRAIN_MS = 5_000;
/** How long requests under way may finish after Ctrl-C before their connections are cut. */
const REQUEST_DRAIN_MS = 1_000;
/** At most one note on stderr per this interval about requests to other paths or methods. */
const STRAY_NOTE_INTERVAL_MS = 10_000;

export async function run(options: ListenOptions, context: Context): Promise<number> {
  const { io } = context;
  const json = context.globals.json;

  let reloadFailing = false;
  const keeper = new SecretKeeper(secretLoader(options, context), {
    now: () => context.now(),
    reloadable: options.secretSource.kind === 'subscription',
    onChange: (fresh) => {
      reloadFailing = false;
      io.info(`signing secrets changed in ${fresh.description}: now ${describeSecrets(fresh)}`);
    },
    onReloadError: (error) => {
      if (reloadFailing) return;
      reloadFailing = true;
      io.warn(`could not re-read the signing secret (${oneLine(error)}); still using the one read before`);
    },
  });
  const loaded = await keeper.start();

  const writer = new LineWriter(io.stdout);
  const log = new EventLog(writer, { json, style: io.out });
  const notes = strayNotes(context, options.path);

  let forwarder: Forwarder | undefined;
  const receiver: Receiver = new Receiver({
    path: options.path,
    secrets: keeper,
    events: options.events,
    tenantId: options.tenantId,
    maxSkewSeconds: options.maxSkewSeconds,
    now: () => context.now(),
    onEvent: (record, accepted) => {
      log.event(record);
      if (accepted && forwarder) forwarder.enqueue({ eventId: accepted.eventId, body: accepted.rawBody, headers: accepted.headers() });
    },
    onStray: notes,
  });
  if (options.forwardTo) {
    forwarder = new Forwarder({
      url: options.forwardTo,
      now: () => context.now(),
      onRecord: (record) => log.forward(record),
      // Answered 200 but never reached the app: let a redelivery through instead of calling it a duplicate.
      onLost: (job) => {
        if (job.eventId !== null) receiver.forget(job.eventId);
      },
    });
  }

  let server: RunningServer;
  try {
    server = await startServer(receiver.handle, options.host, options.port);
  } catch (error) {
    keeper.stop();
    await forwarder?.drain(0);
    throw listenError(error, options);
  }

  announce(context, options, server, loaded);
  await abortedOf(context.signal);

  io.info('stopping: no new connections; finishing requests under way');
  await server.close(REQUEST_DRAIN_MS);
  if (forwarder && forwarder.held > 0) io.info(`waiting up to ${FORWARD_DRAIN_MS / 1000} s for ${forwarder.held} forward${forwarder.held === 1 ? '' : 's'} under way`);
  await forwarder?.drain(FORWARD_DRAIN_MS);
  keeper.stop();
  log.flush();
  printSummary(context, receiver.stats, forwarder?.stats, writer.dropped);
  return 0;
}

function secretLoader(options: ListenOptions, context: Context): SecretLoader {
  const source = options.secretSource;
  if (source.kind === 'subscription') {
    return async (): Promise<LoadedSecrets> => {
      const stored = await readSigningSecrets(context, source.subscriptionId);
      const expires = stored.previousExpiresAt === null ? null : Date.parse(stored.previousExpiresAt);
      return {
        current: stored.current,
        previous: stored.previous,
        previousExpiresAtMs: expires !== null && Number.isFinite(expires) ? expires : null,
        description: `${stored.location} (${source.subscriptionId})`,
      };
    };
  }
  return async (): Promise<LoadedSecrets> => {
    const current = context.env[source.variable];
    if (current === undefined || current === '') {
      if (source.named) throw new UsageError(`environment variable ${source.variable} is not set (or empty)`);
      throw new UsageError('no signing secret to verify deliveries with', {
        hint: `pass --subscription ID (the secret stored by \`create\`), or set ${DEFAULT_SECRET_ENV} / pass --secret-env VAR`,
      });
    }
    if (current.trim() !== current) context.io.warn(`the secret in ${source.variable} has leading or trailing whitespace; it is used as is`);
    const previousVariable = `${source.variable}_PREVIOUS`;
    const previous = context.env[previousVariable];
    const hasPrevious = previous !== undefined && previous !== '';
    return {
      current,
      previous: hasPrevious ? previous : null,
      previousExpiresAtMs: null,
      description: `${source.variable}${hasPrevious ? ` (previous: ${previousVariable})` : ''}`,
    };
  };
}

function announce(context: Context, options: ListenOptions, server: RunningServer, secrets: LoadedSecrets): void {
  const { io } = context;
  const host = server.host.includes(':') ? `[${server.host}]` : server.host;
  io.notice(`listening on http://${host}:${server.port}${options.path}`);
  io.info(`  verifying with ${describeSecrets(secrets)} from ${secrets.description}`);
  io.info(`  handling ${options.events.join(', ')}; timestamp window ±${options.maxSkewSeconds} s; tenant ${options.tenantId ?? 'not checked (pass --tenant-id)'}`);
  if (options.forwardTo) io.info(`  forwarding accepted deliveries to ${options.forwardTo.href}`);
  if (!isLoopback(server.host)) io.warn(`listening on ${server.host}, reachable from other machines; unsigned requests are still refused`);
  io.hint(`point a subscription here with --url http://${host}:${server.port}${options.path} on an emulator started with --allow-private-targets (or through a tunnel); Ctrl-C stops`);
}

function isLoopback(host: string): boolean {
  return host === '::1' || host.startsWith('127.') || host === '::ffff:127.0.0.1' || host === 'localhost';
}

/** Notes on stderr for requests that are not deliveries, rate-limited so a scanner cannot flood it. */
function strayNotes(context: Context, path: string): (request: StrayRequest) => void {
  let lastNote = Number.NEGATIVE_INFINITY;
  let unreported = 0;
  return (request) => {
    const now = context.now();
    if (now - lastNote < STRAY_NOTE_INTERVAL_MS) {
      unreported += 1;
      return;
    }
    const more = unreported > 0 ? ` (and ${unreported} other such request${unreported === 1 ? '' : 's'} before)` : '';
    unreported = 0;
    lastNote = now;
    const expected = request.status === 404 ? `deliveries go to POST ${path}` : 'deliveries are POSTed';
    context.io.warn(`${printable(request.method, 16)} ${printable(request.path, 120)} answered ${request.status}: ${expected}${more}`);
  };
}

function printSummary(context: Context, stats: ReceiverStats, forward: ForwarderStats | undefined, droppedLines: number): void {
  const summary = {
    received: stats.received,
    verified: stats.verified,
    accepted: stats.accepted,
    rejected: stats.rejected,
    rejected_by: stats.rejectedBy,
    duplicates: stats.duplicates,
    ignored: stats.ignored,
    other_requests: stats.stray,
    ...(forward
      ? { forwarded: forward.delivered, forward_failures: forward.failed, forward_retries: forward.retries, forward_dropped: forward.dropped }
      : {}),
    ...(droppedLines > 0 ? { log_lines_dropped: droppedLines } : {}),
  };
  if (context.globals.json) {
    context.io.notice(JSON.stringify({ summary }));
    return;
  }
  const reasons = Object.entries(stats.rejectedBy).map(([reason, count]) => `${reason} ${count}`);
  const lines = [
    `received ${stats.received}, verified ${stats.verified}, accepted ${stats.accepted}, rejected ${stats.rejected}${reasons.length > 0 ? ` (${reasons.join(', ')})` : ''}, duplicates ${stats.duplicates}, ignored ${stats.ignored}`,
  ];
  if (forward) lines.push(`forwarded ${forward.delivered}, forward failures ${forward.failed}, forward retries ${forward.retries}, forward dropped ${forward.dropped}`);
  if (stats.stray > 0) lines.push(`${stats.stray} request${stats.stray === 1 ? '' : 's'} to other paths or with other methods`);
  if (droppedLines > 0) lines.push(`${droppedLines} log line${droppedLines === 1 ? '' : 's'} dropped (stdout was not being read)`);
  context.io.notice(`summary: ${lines.join('; ')}`);
}

function listenError(error: unknown, options: ListenOptions): Error {
  const code = (error as NodeJS.ErrnoException).code;
  const where = `${options.host}:${options.port}`;
  switch (code) {
    case 'EADDRINUSE':
      return new UsageError(`cannot listen on ${where}: the port is in use`, { hint: 'pick another with --port (0 picks a free one)' });
    case 'EACCES':
    case 'EPERM':
      return new UsageError(`cannot listen on ${where}: permission denied`, { hint: 'ports below 1024 need privileges; pick another with --port' });
    case 'EADDRNOTAVAIL':
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return new UsageError(`cannot listen on ${where}: no such local address`, { hint: 'use --host 127.0.0.1 (the default)' });
    default:
      return error instanceof Error ? error : new Error(String(error));
  }
}

function abortedOf(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
}

function oneLine(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.replace(/\s+/g, ' ').slice(0, 300);
}
