// Bundles src/ into a few ESM files under dist/. Dependencies stay external, and every
// command is reached through a dynamic import, so start-up loads only what a command needs.
// The build goes to a fresh directory that replaces dist/ at the end, so a CLI started
// while a build runs never sees half a dist/.
import { build } from 'esbuild';
import { rename, rm } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const staging = `dist.build-${process.pid}`;
const retired = `dist.old-${process.pid}`;
await build({
  absWorkingDir: root,
  entryPoints: { main: 'src/main.ts' },
  outdir: staging,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  packages: 'external',
  sourcemap: 'linked',
  chunkNames: 'chunks/[name]-[hash]',
  logLevel: 'warning',
});
await rename(new URL('../dist', import.meta.url), new URL(`../${retired}`, import.meta.url)).catch((error) => {
  if (error.code !== 'ENOENT') throw error;
});
await rename(new URL(`../${staging}`, import.meta.url), new URL('../dist', import.meta.url));
await rm(new URL(`../${retired}`, import.meta.url), { recursive: true, force: true });
