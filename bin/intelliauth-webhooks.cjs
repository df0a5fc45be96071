#!/usr/bin/env node
import module from 'node:module';

// Node 22.1+ can cache compiled bytecode between runs; it roughly halves start-up.
module.enableCompileCache?.();
const { main } = await import('../dist/main.js');
const code = await main(process.argv.slice(2));
// Exit explicitly: a keychain call still waiting on an unlock prompt, or an idle keep-alive
// socket, must not hold the process open after the command is done.
process.exit(code);
