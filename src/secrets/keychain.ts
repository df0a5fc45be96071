// The OS keychain as a SecretStore, through @napi-rs/keyring: Secret Service on Linux
// (pinned, so it never falls back to the kernel keyring, which forgets everything on reboot),
// Keychain on macOS, Credential Manager on Windows.
//
// What the native library does, found by experiment (v2.1.2, Linux):
// - `new AsyncEntry()` connects to the session bus synchronously. Without a bus address it
//   throws at once ("... X11 autolaunch ... set your DBUS_SESSION_BUS_ADDRESS"); a bus that
//   accepts the connection but never answers blocks the whole thread forever. Hence the
//   asynchronous bus pre-check below, bounded by our own timer.
// - A bus without a Secret Service throws "... not provided by any .service files".
// - A Secret Service that stops answering fails after ~2 s ("Did not receive a reply").
// - A locked collection with no way to show an unlock prompt fails with "unlock prompt was
//   dismissed". With a prompt on screen the call waits for the user (up to a year, in the
//   library), on a libuv worker thread: our timer still fires, the pending call keeps the
//   event loop alive until the prompt goes away, and process.exit() does not wait for it.
// - The AbortSignal only cancels a call that has not started running yet, so the timer race
//   is what actually bounds a call.
// - Items carry the attributes `service` and `username` (secret-tool lookup service S username U).

import { randomBytes } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import type { EntryOptions } from '@napi-rs/keyring';
import { SecretStoreError } from '../errors.ts';
import { KEYCHAIN_SERVICE, type SecretStore, type SecretStoreKind } from './store.ts';

export const DEFAULT_KEYCHAIN_TIMEOUT_MS = 5000;

/** The part of AsyncEntry this store uses; lets tests substitute the native module. */
export interface KeyringEntry {
  setPassword(password: string, signal?: AbortSignal | null): Promise<void>;
  getPassword(signal?: AbortSignal | null): Promise<string | null | undefined>;
  deleteCredential(signal?: AbortSignal | null): Promise<boolean>;
}

export interface KeyringModule {
  AsyncEntry: new (service: string, username: string, options?: EntryOptions | null) => KeyringEntry;
}

export interface KeychainStoreOptions {
  service?: string;
  /** Upper bound for each get/set/delete, and for a whole probe. */
  timeoutMs?: number;
  /** Tests only: a stand-in for `import('@napi-rs/keyring')`. */
  loadKeyring?: () => Promise<KeyringModule>;
  /** Tests only: where the bus pre-check looks; the native library always reads process.env. */
  env?: NodeJS.ProcessEnv;
  platform?: NodeJS.Platform;
}

type Phase = 'bus' | 'keychain';

export class KeychainStore implements SecretStore {
  readonly kind: SecretStoreKind = 'keychain';
  readonly service: string;
  readonly timeoutMs: number;
  private readonly loadKeyring: () => Promise<KeyringModule>;
  private readonly env: NodeJS.ProcessEnv;
  private readonly platform: NodeJS.Platform;
  private busChecked = false;

  constructor(options: KeychainStoreOptions = {}) {
    this.service = options.service ?? KEYCHAIN_SERVICE;
    this.timeoutMs = options.timeoutMs ?? DEFAULT_KEYCHAIN_TIMEOUT_MS;
    this.loadKeyring = options.loadKeyring ?? loadNativeKeyring;
    this.env = options.env ?? process.env;
    this.platform = options.platform ?? process.platform;
  }

  describe(): string {
    if (this.platform === 'darwin') return 'OS keychain (macOS Keychain)';
    if (this.platform === 'win32') return 'OS keychain (Windows Credential Manager)';
    return 'OS keychain (Secret Service)';
  }

  async probe(): Promise<void> {
    const account = `probe/${randomBytes(6).toString('hex')}`;
    const value = randomBytes(16).toString('hex');
    await this.bounded(async (entryFor, signal) => {
      const entry = entryFor(account);
      await entry.setPassword(value, signal);
      let readBack;
      try {
        readBack = await entry.getPassword(signal);
      } catch (error) {
        await entry.deleteCredential(signal).catch(() => undefined);
        throw error;
      }
      await entry.deleteCredential(signal);
      if (readBack !== value) {
        throw new SecretStoreError('the OS keychain did not return the value that was just stored in it');
      }
    });
  }

  async get(account: string): Promise<string | null> {
    return this.bounded(async (entryFor, signal) => (await entryFor(account).getPassword(signal)) ?? null, account);
  }

  async set(account: string, secret: string): Promise<void> {
    await this.bounded((entryFor, signal) => entryFor(account).setPassword(secret, signal), account);
  }

  async delete(account: string): Promise<boolean> {
    return this.bounded((entryFor, signal) => entryFor(account).deleteCredential(signal), account);
  }

  /**
   * Runs `work` against the keychain, giving up after timeoutMs with a SecretStoreError.
   * The native call may still be running then; its late result is dropped.
   */
  private async bounded<T>(
    work: (entryFor: (account: string) => KeyringEntry, signal: AbortSignal) => Promise<T>,
    account?: string,
  ): Promise<T> {
    const controller = new AbortController();
    let phase: Phase = 'bus';
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        // Reject first, so the race settles with the timeout rather than with an AbortError.
        reject(this.timeoutError(phase));
        controller.abort();
      }, this.timeoutMs);
    });
    const attempt = (async () => {
      if (this.platform === 'linux' && !this.busChecked) {
        await checkSessionBus(this.env, controller.signal);
        this.busChecked = true;
      }
      phase = 'keychain';
      const keyring = await this.loadKeyring().catch((error: unknown) => {
        throw new SecretStoreError(`the OS keychain support could not be loaded: ${messageOf(error)}`, {
          cause: error,
        });
      });
      if (controller.signal.aborted) throw this.timeoutError(phase);
      const entryOptions: EntryOptions | undefined =
        this.platform === 'linux' ? { linux: { store: 'secret-service' } } : undefined;
      const entryFor = (name: string) => new keyring.AsyncEntry(this.service, name, entryOptions);
      return work(entryFor, controller.signal);
    })();
    // After a timeout nobody awaits `attempt` any more; its late rejection must not crash the process.
    attempt.catch(() => undefined);
    try {
      return await Promise.race([attempt, deadline]);
    } catch (error) {
      throw keychainError(error, account);
    } finally {
      clearTimeout(timer);
    }
  }

  private timeoutError(phase: Phase): SecretStoreError {
    const seconds = formatSeconds(this.timeoutMs);
    if (phase === 'bus') {
      return new SecretStoreError(
        `the OS keychain is not reachable: the D-Bus session bus did not answer within ${seconds}`,
        { hint: 'check DBUS_SESSION_BUS_ADDRESS, or use --secret-store file' },
      );
    }
    return new SecretStoreError(`the OS keychain (${this.serviceName()}) did not answer within ${seconds}`, {
      hint: 'if it asked for a password to unlock it, unlock it and try again; otherwise use --secret-store file',
    });
  }

  private serviceName(): string {
    return this.describe().replace(/^OS keychain \((.*)\)$/, '$1');
  }
}

async function loadNativeKeyring(): Promise<KeyringModule> {
  // Loaded on first use only: commands that never touch the keychain skip the native module.
  return (await import('@napi-rs/keyring')) as KeyringModule;
}

const NO_BUS_HINT =
  'run inside a desktop session (or start one with dbus-run-session and an unlocked gnome-keyring), or keep secrets in files (--secret-store file on create, rotate and secret import)';

/** Turns whatever the native layer threw into a SecretStoreError with a precise reason. */
export function keychainError(error: unknown, account?: string): SecretStoreError {
  if (error instanceof SecretStoreError) return error;
  const message = messageOf(error);
  const subject = account === undefined ? '' : ` for ${account}`;
  const rules: Array<[RegExp, string, string | undefined]> = [
    [
      /autolaunch|DBUS_SESSION_BUS_ADDRESS|No DBus session/i,
      'the OS keychain is not reachable: no D-Bus session bus (DBUS_SESSION_BUS_ADDRESS is not set)',
      NO_BUS_HINT,
    ],
    [
      /Failed to connect to socket|could not connect to specified address/i,
      `the OS keychain is not reachable: cannot connect to the D-Bus session bus (${socketFailure(message)})`,
      NO_BUS_HINT,
    ],
    [
      /Address does not contain a colon|Unknown address type|Invalid address|address is invalid|Bad ?Address/i,
      'the OS keychain is not reachable: DBUS_SESSION_BUS_ADDRESS is not a valid D-Bus address',
      NO_BUS_HINT,
    ],
    [
      /not provided by any \.service files|ServiceUnknown|NameHasNoOwner|Secret Service provider/i,
      'the OS keychain is not reachable: no Secret Service (such as gnome-keyring or KeePassXC) is running on the D-Bus session bus',
      'start gnome-keyring (or another Secret Service), or use --secret-store file',
    ],
    [
      /Did not receive a reply|NoReply|Timed ?out/i,
      'the OS keychain (Secret Service) did not answer: its D-Bus call timed out',
      'check that the keychain service is running and responsive, or use --secret-store file',
    ],
    [
      /unlock prompt was dismissed|object locked|is locked/i,
      'the OS keychain is locked: unlocking it was refused or no unlock prompt could be shown',
      'unlock the keyring (for example with Seahorse, or gnome-keyring-daemon --unlock), or use --secret-store file',
    ],
    [
      /no result found/i,
      'the OS keychain has no default keyring to store secrets in',
      'create a default keyring (for example "login" with Seahorse), or use --secret-store file',
    ],
    [
      /Entry is matched by/i,
      `the OS keychain holds more than one entry${subject}; remove the duplicates`,
      undefined,
    ],
    [/is longer than the platform limit/i, `the OS keychain refused the entry${subject}: a name is too long`, undefined],
    [/not valid UTF-8/i, `the OS keychain entry${subject} does not hold text`, undefined],
  ];
  for (const [pattern, text, hint] of rules) {
    if (pattern.test(message)) {
      return new SecretStoreError(text, hint === undefined ? { cause: error } : { hint, cause: error });
    }
  }
  return new SecretStoreError(`the OS keychain failed: ${message}`, { cause: error });
}

function socketFailure(message: string): string {
  const match = /Failed to connect to socket (.+)$/i.exec(message);
  return match?.[1]?.trim() ?? message;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function formatSeconds(milliseconds: number): string {
  const seconds = milliseconds / 1000;
  return `${Number.isInteger(seconds) ? seconds : seconds.toFixed(1)} s`;
}

// --- Session bus pre-check -------------------------------------------------------------

type BusEndpoint = { label: string; implicit: boolean } & ({ path: string } | { host: string; port: number });

/**
 * Where libdbus would connect: DBUS_SESSION_BUS_ADDRESS, else $XDG_RUNTIME_DIR/bus.
 * 'unchecked' when the address uses a transport this check does not speak (left to libdbus).
 */
export function sessionBusEndpoints(env: NodeJS.ProcessEnv): BusEndpoint[] | 'unchecked' {
  const address = env.DBUS_SESSION_BUS_ADDRESS;
  if (address === undefined || address === '') {
    const runtimeDir = env.XDG_RUNTIME_DIR;
    if (runtimeDir === undefined || runtimeDir === '') return [];
    const path = join(runtimeDir, 'bus');
    return [{ path, label: path, implicit: true }];
  }
  const endpoints: BusEndpoint[] = [];
  for (const entry of address.split(';')) {
    if (entry.trim() === '') continue;
    const colon = entry.indexOf(':');
    if (colon <= 0) throw invalidAddress();
    const transport = entry.slice(0, colon);
    const parameters = new Map<string, string>();
    for (const pair of entry.slice(colon + 1).split(',')) {
      if (pair === '') continue;
      const equals = pair.indexOf('=');
      if (equals <= 0) throw invalidAddress();
      parameters.set(pair.slice(0, equals), unescapeAddressValue(pair.slice(equals + 1)));
    }
    const path = parameters.get('path');
    const abstract = parameters.get('abstract');
    if (transport === 'unix' && path !== undefined) {
      endpoints.push({ path, label: path, implicit: false });
    } else if (transport === 'unix' && abstract !== undefined) {
      endpoints.push({ path: `\0${abstract}`, label: `@${abstract}`, implicit: false });
    } else if (transport === 'tcp' && parameters.has('host') && parameters.has('port')) {
      const host = parameters.get('host') as string;
      const port = Number(parameters.get('port'));
      if (!Number.isInteger(port) || port <= 0 || port > 65535) throw invalidAddress();
      endpoints.push({ host, port, label: `${host}:${port}`, implicit: false });
    } else {
      return 'unchecked';
    }
  }
  if (endpoints.length === 0) throw invalidAddress();
  return endpoints;
}

/**
 * Proves the session bus answers, without the native library: connect and send the first
 * line of the D-Bus authentication handshake; any reply will do. Rejects with a precise
 * SecretStoreError; stops (and closes the socket) when `signal` aborts.
 */
export async function checkSessionBus(env: NodeJS.ProcessEnv, signal: AbortSignal): Promise<void> {
  const endpoints = sessionBusEndpoints(env);
  if (endpoints === 'unchecked') return;
  if (endpoints.length === 0) throw noBus();
  const failures: string[] = [];
  for (const endpoint of endpoints) {
    if (endpoint.implicit && 'path' in endpoint && !(await isSocket(endpoint.path))) throw noBus();
    const outcome = await talkToBus(endpoint, signal);
    if (outcome === 'answered') return;
    failures.push(`${endpoint.label}: ${outcome}`);
  }
  throw new SecretStoreError(
    `the OS keychain is not reachable: cannot connect to the D-Bus session bus (${failures.join('; ')})`,
    { hint: NO_BUS_HINT },
  );
}

function talkToBus(endpoint: BusEndpoint, signal: AbortSignal): Promise<'answered' | string> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason);
      return;
    }
    const socket: Socket = 'path' in endpoint ? connect({ path: endpoint.path }) : connect(endpoint.port, endpoint.host);
    const finish = (outcome: 'answered' | string) => {
      signal.removeEventListener('abort', onAbort);
      socket.destroy();
      resolve(outcome);
    };
    const onAbort = () => {
      socket.destroy();
      reject(signal.reason);
    };
    signal.addEventListener('abort', onAbort, { once: true });
    socket.once('connect', () => socket.write('\0AUTH\r\n'));
    socket.on('data', () => finish('answered'));
    socket.once('error', (error: NodeJS.ErrnoException) => finish(describeSocketError(error)));
    socket.once('end', () => finish('the bus closed the connection without answering'));
  });
}

function describeSocketError(error: NodeJS.ErrnoException): string {
  const known: Record<string, string> = {
    ENOENT: 'no such socket',
    ECONNREFUSED: 'connection refused',
    EACCES: 'permission denied',
    ENOTSOCK: 'not a socket',
    EHOSTUNREACH: 'host unreachable',
    ENOTFOUND: 'unknown host',
  };
  const code = error.code ?? '';
  return known[code] === undefined ? error.message : `${known[code]}, ${code}`;
}

async function isSocket(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isSocket();
  } catch {
    return false;
  }
}

function unescapeAddressValue(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    throw invalidAddress();
  }
}

function noBus(): SecretStoreError {
  return new SecretStoreError(
    'the OS keychain is not reachable: no D-Bus session bus (DBUS_SESSION_BUS_ADDRESS is not set)',
    { hint: NO_BUS_HINT },
  );
}

function invalidAddress(): SecretStoreError {
  return new SecretStoreError('the OS keychain is not reachable: DBUS_SESSION_BUS_ADDRESS is not a valid D-Bus address', {
    hint: NO_BUS_HINT,
  });
}
