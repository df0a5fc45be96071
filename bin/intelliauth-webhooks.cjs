#!/usr/bin/env node
'use strict';
// CommonJS, so that `--version` (which scripts call to check what is installed) starts
// without Node's ES module loader; everything else is the ES module build in dist/.

const argv = process.argv.slice(2);
if (argv.length === 1 && (argv[0] === '--version' || argv[0] === '-V')) {
  // test/unit/version.test.ts keeps src/version.ts, which the program prints, equal to this.
  process.stdout.write(`${require('../package.json').version}\n`);
} else {
  // Node 22.1+ can cache compiled bytecode between runs; it roughly halves start-up.
  require('node:module').enableCompileCache?.();
  import('../dist/main.js').then(
    async ({ main }) => {
      const code = await main(argv);
      // Exit explicitly: a keychain call still waiting on an unlock prompt, or an idle
      // keep-alive socket, must not hold the process open after the command is done.
      process.exit(code);
    },
    (error) => {
      process.stderr.write(`intelliauth-webhooks: cannot load its build (${error.message}); run \`npm run build\`\n`);
      process.exit(1);
    },
  );
}
