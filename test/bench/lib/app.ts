import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
/** Scratch space for the bench (ignored by git). */
export const OUT_DIR = join(ROOT, '.bench-out');

/**
 * A copy of bin/ and dist/ taken right after the build, inside the repository so packages
 * resolve from the same node_modules. The bench runs the copy: a rebuild started meanwhile
 * (another terminal, a test run) replaces dist/ and could pull chunks from under a running
 * emulator that imports its modules lazily.
 */
export function snapshotApp(): string {
  const target = join(OUT_DIR, 'app');
  for (let attempt = 1; ; attempt++) {
    rmSync(target, { recursive: true, force: true });
    mkdirSync(target, { recursive: true });
    try {
      cpSync(join(ROOT, 'bin'), join(target, 'bin'), { recursive: true });
      cpSync(join(ROOT, 'dist'), join(target, 'dist'), { recursive: true });
      cpSync(join(ROOT, 'package.json'), join(target, 'package.json'));
      const bin = join(target, 'bin', 'intelliauth-webhooks.cjs');
      execFileSync(process.execPath, [bin, '--version'], { stdio: 'ignore' });
      return bin;
    } catch (error) {
      // dist/ was being swapped by a concurrent build while it was copied: take it again.
      if (attempt >= 5) throw error;
    }
  }
}
