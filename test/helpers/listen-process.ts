import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { createInterface } from 'node:readline';
import { BIN, ROOT } from './cli.ts';

// The built CLI's `listen` as a child process: ready once it says where it listens on
// stderr; its stdout kept line by line (parsed by `parse`, e.g. JSON.parse for --json).

export interface ListenProcess<Line> {
  child: ChildProcess;
  url: string;
  lines: Line[];
  stderr(): string;
  waitForLine(predicate: (line: Line) => boolean, timeoutMs?: number): Promise<Line>;
  exited: Promise<number | null>;
}

export function startListen<Line = string>(
  args: string[],
  env: Record<string, string>,
  parse: (text: string) => Line = (text) => text as Line,
): Promise<ListenProcess<Line>> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, 'listen', ...args], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    const lines: Line[] = [];
    const waiters: Array<{ predicate: (line: Line) => boolean; resolve: (line: Line) => void }> = [];
    let stderr = '';
    const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));
    // Never outlives the test, whatever happens to it.
    const killer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    void exited.then(() => clearTimeout(killer));
    createInterface({ input: child.stdout! }).on('line', (text) => {
      const line = parse(text);
      lines.push(line);
      for (const waiter of [...waiters]) {
        if (waiter.predicate(line)) {
          waiters.splice(waiters.indexOf(waiter), 1);
          waiter.resolve(line);
        }
      }
    });
    const readyTimer = setTimeout(() => reject(new Error(`listen did not start: ${stderr}`)), 15_000);
    let ready = false;
    child.stderr!.on('data', (chunk: Buffer) => {
      stderr += chunk.toString('utf8');
      const match = /listening on (http:\/\/\S+)/.exec(stderr);
      if (!match || ready) return;
      ready = true;
      clearTimeout(readyTimer);
      resolve({
        child,
        url: match[1]!,
        lines,
        stderr: () => stderr,
        exited,
        waitForLine: (predicate, timeoutMs = 10_000) => {
          const found = lines.find(predicate);
          if (found !== undefined) return Promise.resolve(found);
          return new Promise((done, fail) => {
            const timer = setTimeout(
              () => fail(new Error(`no matching line from listen within ${timeoutMs} ms; stdout ${JSON.stringify(lines)}; stderr ${stderr}`)),
              timeoutMs,
            );
            waiters.push({ predicate, resolve: (line) => (clearTimeout(timer), done(line)) });
          });
        },
      });
    });
    void exited.then((code) => reject(new Error(`listen exited with ${code} before it was ready: ${stderr}`)));
  });
}

/** A port free on 127.0.0.1 a moment ago. */
export async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}
