import { spawn, type ChildProcess } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { BIN, ROOT } from './cli.ts';

// Raw HTTP over a socket, for requests no HTTP client would send (CR or NUL in header values,
// broken chunking, half-sent bodies), and the built `listen` command as a child process.

export interface RawAnswer {
  /** Status codes of every response seen on the connection, in order (usually one). */
  statuses: number[];
  /** Nothing answered before the connection closed or the wait ran out. */
  unanswered: boolean;
  /** Whether the connection was still open when the wait ran out (the caller closed it). */
  timedOut: boolean;
}

export interface RawSendOptions {
  /** Close our side right after writing: the server sees a request that never completes. */
  endAfterWrite?: boolean;
  timeoutMs?: number;
}

/** Writes `bytes` to 127.0.0.1:port and collects whatever comes back until the server closes. */
export function sendRaw(port: number, bytes: Buffer, options: RawSendOptions = {}): Promise<RawAnswer> {
  return new Promise((resolve) => {
    const socket = connect({ port, host: '127.0.0.1' });
    const received: Buffer[] = [];
    let timedOut = false;
    let settled = false;
    const finish = () => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      const text = Buffer.concat(received).toString('latin1');
      const statuses = [...text.matchAll(/(?:^|\r\n)HTTP\/1\.[01] (\d{3})/g)].map((match) => Number(match[1]));
      resolve({ statuses, unanswered: statuses.length === 0, timedOut });
    };
    const timer = setTimeout(() => {
      timedOut = true;
      finish();
    }, options.timeoutMs ?? 5_000);
    socket.on('data', (chunk: Buffer) => received.push(chunk));
    socket.on('error', () => finish());
    socket.on('close', () => finish());
    socket.on('connect', () => {
      socket.write(bytes, () => {
        if (options.endAfterWrite) socket.end();
      });
    });
  });
}

/** A connection that sends part of a request and then says nothing (slowloris). */
export function holdPartial(port: number, bytes: Buffer): Promise<{ socket: Socket; statuses: () => number[] }> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: '127.0.0.1' });
    const received: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => received.push(chunk));
    socket.on('error', () => {});
    socket.once('connect', () => {
      socket.write(bytes);
      resolve({
        socket,
        statuses: () => [...Buffer.concat(received).toString('latin1').matchAll(/(?:^|\r\n)HTTP\/1\.[01] (\d{3})/g)].map((match) => Number(match[1])),
      });
    });
    socket.once('error', reject);
  });
}

export interface ListenProcess {
  port: number;
  child: ChildProcess;
  /** Parsed NDJSON lines from stdout so far (one per delivery POSTed to the path). */
  records(): Array<Record<string, unknown>>;
  /** Lines of stdout that were not JSON objects (there must be none). */
  strayStdout(): string[];
  stderr(): string;
  alive(): boolean;
  /** Resolves once `count` records have arrived, or after timeoutMs with what there is. */
  waitForRecords(count: number, timeoutMs?: number): Promise<number>;
  /** SIGINT, as Ctrl-C: resolves the exit code (SIGKILL after 10 s). */
  stop(): Promise<number | null>;
}

export function startListen(args: string[], env: Record<string, string>): Promise<ListenProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, 'listen', '--json', '--port', '0', ...args], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const records: Array<Record<string, unknown>> = [];
    const stray: string[] = [];
    const waiters = new Set<() => void>();
    let started = false;
    child.stdout!.on('data', (chunk: Buffer) => {
      stdout += chunk.toString('utf8');
      let newline = stdout.indexOf('\n');
      while (newline !== -1) {
        const line = stdout.slice(0, newline);
        stdout = stdout.slice(newline + 1);
        try {
          const parsed = JSON.parse(line) as unknown;
          if (parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)) records.push(parsed as Record<string, unknown>);
          else stray.push(line);
        } catch {
          stray.push(line);
        }
        newline = stdout.indexOf('\n');
      }
      for (const wake of waiters) wake();
    });
    const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));
    const startTimer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`listen did not start: ${stderr}`));
    }, 15_000);
    child.once('exit', (code) => {
      clearTimeout(startTimer);
      reject(new Error(`listen exited with ${code} before it listened: ${stderr}`));
    });
    child.stderr!.on('data', (chunk: Buffer) => {
      stderr += chunk.toString('utf8');
      const match = /listening on http:\/\/127\.0\.0\.1:(\d+)\//.exec(stderr);
      if (match && !started) {
        started = true;
        clearTimeout(startTimer);
        resolve({
          port: Number(match[1]),
          child,
          records: () => records,
          strayStdout: () => stray,
          stderr: () => stderr,
          alive: () => child.exitCode === null && child.signalCode === null,
          waitForRecords: (count, timeoutMs = 3_000) =>
            new Promise((done) => {
              if (records.length >= count) {
                done(records.length);
                return;
              }
              const timer = setTimeout(() => {
                waiters.delete(check);
                done(records.length);
              }, timeoutMs);
              const check = () => {
                if (records.length < count) return;
                clearTimeout(timer);
                waiters.delete(check);
                done(records.length);
              };
              waiters.add(check);
            }),
          stop: async () => {
            if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
            child.kill('SIGINT');
            const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
            const code = await exited;
            clearTimeout(killer);
            return code;
          },
        });
      }
    });
  });
}
