import type { IncomingHttpHeaders } from 'node:http';
import { createRequire } from 'node:module';
import { setFlagsFromString } from 'node:v8';

// What carries the API client's requests: undici's Agent, or its EnvHttpProxyAgent when
// proxy variables are set, each loaded on first use. RequestDispatcher is the one call of
// theirs the client makes, so tests can stand in for it.

export interface DispatchOptions {
  origin: string;
  path: string;
  method: string;
  headers?: Record<string, string>;
  body?: string | null;
  signal?: AbortSignal;
  /** Accepted for undici compatibility; the caller's own deadline (the signal) applies. */
  headersTimeout?: number;
  bodyTimeout?: number;
}

export interface DispatchBody extends AsyncIterable<Buffer> {
  /** Reads and discards the rest of the body, so the connection can be reused. */
  dump(): Promise<void>;
  destroy(): void;
}

export interface DispatchResponse {
  statusCode: number;
  headers: IncomingHttpHeaders;
  body: DispatchBody;
}

/** The one call the client makes of a dispatcher; undici's dispatchers have it too. */
export interface RequestDispatcher {
  request(options: DispatchOptions): Promise<DispatchResponse>;
  close(): Promise<void>;
}

const requireModule = createRequire(import.meta.url);

/**
 * undici parses HTTP with a WebAssembly build of llhttp, compiled on the first connection.
 * On Node 20 (V8 11) that compile also ran the optimising tier: 0.2 s of CPU and 35 MB more
 * RSS, more than all the rest of an API command. Baseline-compiled code is plenty for a
 * command's few answers; newer V8s need no help.
 */
function keepWasmCompileCheap(): void {
  if (Number(process.versions.v8.split('.')[0]) < 12) setFlagsFromString('--liftoff-only');
}

type Undici = typeof import('undici');

/**
 * undici's own files for the two dispatchers the client uses, loaded on the first request so
 * commands that make none never pay for it. The package's entry point loads all of undici
 * (fetch, WebSocket, caches, mocks, SQLite): 120 ms of a command's start on Node 20, where
 * these files take 45 ms. `request` is what the entry point puts on every dispatcher.
 * These paths are not undici's public API: test/unit/api-dispatchers.test.ts checks that
 * they still give the package's own classes, so an upgrade that moves them fails there.
 */
export function loadUndici(): Pick<Undici, 'Agent'> {
  keepWasmCompileCheap();
  const Dispatcher = requireModule('undici/lib/dispatcher/dispatcher.js') as Undici['Dispatcher'];
  if (typeof Dispatcher.prototype.request !== 'function') {
    Dispatcher.prototype.request = requireModule('undici/lib/api/api-request.js') as Undici['Dispatcher']['prototype']['request'];
  }
  return { Agent: requireModule('undici/lib/dispatcher/agent.js') as Undici['Agent'] };
}

/** undici's proxy-aware dispatcher, only when proxy variables are set. */
export function loadUndiciProxy(): Pick<Undici, 'EnvHttpProxyAgent'> {
  loadUndici();
  return { EnvHttpProxyAgent: requireModule('undici/lib/dispatcher/env-http-proxy-agent.js') as Undici['EnvHttpProxyAgent'] };
}
