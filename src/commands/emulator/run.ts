import type { Context } from '../../cli/context.ts';
import type { EmulatorLogEntry } from '../../emulator/index.ts';
import type { IO } from '../../output/io.ts';
import type { EmulatorCommandOptions } from './index.ts';
import { UsageError } from '../../errors.ts';

export async function run(options: EmulatorCommandOptions, context: Context): Promise<number> {
  const { io, globals } = context;
  const { startEmulator, StateFileError } = await import('../../emulator/index.ts');
  const logWriter = createLogWriter(io);
  let emulator;
  try {
    emulator = await startEmulator({
      host: options.host,
      port: options.port,
      clientId: options.clientId,
      clientSecret: options.clientSecret,
      scopes: options.scopes,
      plan: options.plan,
      allowPrivateTargets: options.allowPrivateTargets,
      timeScale: options.timeScale,
      statePath: options.statePath,
      faultRate: options.faultRate,
      seed: options.seed,
      feedLimit: options.feedLimit,
      resolve: options.resolve,
      log: logWriter?.log,
    });
  } catch (error) {
    if (error instanceof StateFileError) throw new UsageError(error.message, { hint: 'point --state at another file, or move this one aside to start empty' });
    if (error instanceof RangeError && error.message.startsWith('emulator:')) throw new UsageError(error.message.replace(/^emulator:\s*/, ''));
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE') throw new UsageError(`port ${options.port} on ${options.host} is already in use`, { hint: 'pick another with --port, or --port 0 for a free one' });
    if (code === 'EACCES' || code === 'EADDRNOTAVAIL') throw new UsageError(`cannot listen on ${options.host}:${options.port} (${code})`);
    throw error;
  }

  if (globals.json) {
    io.printJsonLine({
      tenant_url: emulator.tenantUrl,
      tenant_id: emulator.tenantId,
      client_id: emulator.clientId,
      client_secret: emulator.clientSecret,
    });
  } else {
    io.print(`IntelliAuth emulator ready at ${emulator.tenantUrl} (tenant ${emulator.tenantId}, client id ${emulator.clientId})`);
    // A throwaway credential of a local emulator: the user needs it to point the CLI here.
    io.info(
      `Use it from another shell:\n  export INTELLIAUTH_TENANT_URL=${emulator.tenantUrl}\n  export INTELLIAUTH_M2M_CLIENT_ID=${emulator.clientId}\n  export INTELLIAUTH_M2M_CLIENT_SECRET=${emulator.clientSecret}`,
    );
    if (options.allowPrivateTargets) io.warn('--allow-private-targets: http:// and loopback receivers are accepted, unlike on the platform');
    io.info('Press Ctrl-C to stop.');
  }

  await new Promise<void>((resolve) => {
    if (context.signal.aborted) resolve();
    else context.signal.addEventListener('abort', () => resolve(), { once: true });
  });
  logWriter?.flush();
  io.info('stopping: finishing in-flight deliveries...');
  await context.uninterruptible(() => emulator.close({ graceMs: 5000 }));
  logWriter?.flush();
  io.info('emulator stopped');
  return 0;
}

/**
 * The log has a line per request and per delivery. At thousands a second a write per line
 * (stderr is written synchronously) took a fifth of the emulator's time, so the lines of one
 * turn of the event loop go out in one write. With --quiet no entry is even built.
 */
function createLogWriter(io: IO): { log: (entry: EmulatorLogEntry) => void; flush: () => void } | undefined {
  if (io.quiet) return undefined;
  let lines: string[] = [];
  const flush = () => {
    if (lines.length === 0) return;
    const text = lines.join('\n');
    lines = [];
    io.info(text);
  };
  return {
    log: (entry) => {
      if (lines.length === 0) setImmediate(flush);
      lines.push(io.err.dim(formatLogEntry(entry)));
    },
    flush,
  };
}

function formatLogEntry(entry: unknown): string {
  if (entry && typeof entry === 'object' && 'message' in entry && typeof (entry as { message: unknown }).message === 'string') {
    return `[emulator] ${(entry as { message: string }).message}`;
  }
  return `[emulator] ${JSON.stringify(entry)}`;
}
