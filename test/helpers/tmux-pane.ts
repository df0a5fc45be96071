import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

// A command in a real pseudo-terminal: a detached tmux session on a private socket, whose
// screen a test reads and into which it types. Needs tmux (requireCommand(t, 'tmux')).

export interface Pane {
  /** The whole pane, scrollback included. */
  screen(): Promise<string>;
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<string>;
  type(text: string): Promise<void>;
  keys(...keys: string[]): Promise<void>;
  close(): Promise<void>;
}

/** Runs a short command with no stdin (tmux never reads it), bounded to 10 s. */
export function runBounded(command: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

export function shellQuote(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`;
}

/**
 * Starts argv in a 200×50 pane, then prints `EXIT=<code>` when it ends and keeps the pane
 * open. The environment reaches the command through the tmux server's, never through argv.
 */
export async function startPane(options: { argv: string[]; env: NodeJS.ProcessEnv; socketDir: string; cwd: string }): Promise<Pane> {
  const socket = join(options.socketDir, `tmux-${randomBytes(4).toString('hex')}.sock`);
  const env = { ...options.env, SHELL: '/bin/sh', TERM: 'xterm-256color' };
  // The shell ignores Ctrl-C so that a test can send one to the command without ending the
  // pane (Node resets the signals it inherits, so the command still gets it).
  const command = `trap '' INT; ${options.argv.map(shellQuote).join(' ')}; echo "EXIT=$?"; sleep 60`;
  const tmux = (tmuxArgs: string[]) => runBounded('tmux', ['-S', socket, ...tmuxArgs], env);
  const started = await tmux(['new-session', '-d', '-s', 'pane', '-x', '200', '-y', '50', '-c', options.cwd, command]);
  assert.equal(started.code, 0, started.stderr);
  const pane: Pane = {
    async screen() {
      const captured = await tmux(['capture-pane', '-p', '-J', '-S', '-', '-t', 'pane']);
      return captured.stdout;
    },
    async waitFor(pattern, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const text = await pane.screen();
        if (pattern.test(text)) return text;
        if (Date.now() > deadline) assert.fail(`the screen never showed ${pattern}:\n${text}`);
        await sleep(100);
      }
    },
    async type(text) {
      assert.equal((await tmux(['send-keys', '-t', 'pane', '-l', text])).code, 0);
    },
    async keys(...keys) {
      assert.equal((await tmux(['send-keys', '-t', 'pane', ...keys])).code, 0);
    },
    async close() {
      await tmux(['kill-server']);
    },
  };
  return pane;
}
