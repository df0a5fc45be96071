// Bundles src/ into ESM files under dist/. Every command's work is reached through a dynamic
// import, so start-up loads only what a command needs.
// The build goes to a fresh directory that replaces dist/ at the end, so a CLI started
// while a build runs never sees half a dist/.
import { build } from 'esbuild';
import { readFileSync } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const entry = resolve(root, 'src/main.ts');
const staging = `dist.build-${process.pid}`;
const retired = `dist.old-${process.pid}`;

// Start-up cost is mostly per module file (resolving, reading, compiling an ESM module each
// costs about as much as a built-in), so the packages every start-up needs are bundled in;
// the ones only some commands use stay external and load with those commands.
const STARTUP_PACKAGES = new Set(['commander', 'chalk']);
const { dependencies } = JSON.parse(readFileSync(resolve(root, 'package.json'), 'utf8'));
const external = Object.keys(dependencies).filter((name) => !STARTUP_PACKAGES.has(name));

/**
 * The modules most commands load after start-up: the API client and what it stands on
 * (config, credentials, token cache), and the output helpers. None imports a package, so
 * loading them costs no more than their own code.
 */
const COMMON = [
  'src/config/config.ts',
  'src/config/credentials.ts',
  'src/config/token-cache.ts',
  'src/api/http.ts',
  'src/api/client.ts',
  'src/output/table.ts',
  'src/output/format.ts',
].map((path) => resolve(root, path));

/**
 * esbuild cuts a chunk for every distinct set of entry points sharing modules, and each
 * dynamic import() is an entry point: the start-up graph (main, commander, the command
 * definitions) came out as some twenty chunks, and an API command loaded sixteen more. Each
 * file costs about as much to load as a small module's code, so every lazily imported module
 * also imports main.ts and the common modules: each of the two groups then lands in one
 * shared chunk. The imports have no effect at run time: main.ts is always loaded already,
 * and the common modules only define functions and classes.
 */
const fewChunks = {
  name: 'few-chunks',
  setup(pluginBuild) {
    pluginBuild.onResolve({ filter: /^\./ }, (args) => {
      if (args.kind !== 'dynamic-import') return undefined;
      return { path: resolve(dirname(args.importer), args.path), namespace: 'lazy' };
    });
    pluginBuild.onLoad({ filter: /.*/, namespace: 'lazy' }, (args) => ({
      contents: [entry, ...COMMON].map((path) => `import ${JSON.stringify(path)};\n`).join('') + `export * from ${JSON.stringify(args.path)};\n`,
      loader: 'ts',
      resolveDir: dirname(args.path),
    }));
  },
};

/**
 * Two built-ins that bundled packages load on every start-up although this tool never needs
 * them there; each one also brings node:net with it, together a good part of start-up time.
 * - chalk detects the terminal's colour support (node:tty) when imported; the tool never uses
 *   that: src/output/io.ts decides the colour level itself and passes it to every Chalk.
 * - commander loads node:child_process for executable subcommands, which the tool has none of;
 *   it is still loaded on first use, should commander ever need it.
 */
const noUnusedStartupBuiltins = {
  name: 'no-unused-startup-builtins',
  setup(pluginBuild) {
    pluginBuild.onResolve({ filter: /^#supports-color$/ }, (args) =>
      /[\\/]node_modules[\\/]chalk[\\/]/.test(args.importer) ? { path: 'chalk-supports-color', namespace: 'startup-stub' } : undefined,
    );
    pluginBuild.onResolve({ filter: /^node:child_process$/ }, (args) =>
      /[\\/]node_modules[\\/]commander[\\/]/.test(args.importer) ? { path: 'child_process', namespace: 'startup-stub' } : undefined,
    );
    pluginBuild.onLoad({ filter: /^chalk-supports-color$/, namespace: 'startup-stub' }, () => ({
      contents: 'export default { stdout: false, stderr: false };\n',
      loader: 'js',
    }));
    pluginBuild.onLoad({ filter: /^child_process$/, namespace: 'startup-stub' }, () => ({
      contents: "module.exports = { spawn: (...args) => require('node:child_process').spawn(...args) };\n",
      loader: 'js',
    }));
  },
};

await build({
  absWorkingDir: root,
  entryPoints: { main: 'src/main.ts' },
  outdir: staging,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  external,
  // commander is CommonJS: its require() calls of node built-ins need a real require.
  banner: { js: "import { createRequire as __bundleCreateRequire } from 'node:module';\nconst require = __bundleCreateRequire(import.meta.url);" },
  plugins: [fewChunks, noUnusedStartupBuiltins],
  // Less text to compile on every start; names are kept so stack traces (--debug) stay readable.
  minifyWhitespace: true,
  minifySyntax: true,
  sourcemap: 'linked',
  chunkNames: 'chunks/[name]-[hash]',
  logLevel: 'warning',
});
await rename(new URL('../dist', import.meta.url), new URL(`../${retired}`, import.meta.url)).catch((error) => {
  if (error.code !== 'ENOENT') throw error;
});
await rename(new URL(`../${staging}`, import.meta.url), new URL('../dist', import.meta.url));
await rm(new URL(`../${retired}`, import.meta.url), { recursive: true, force: true });
