#!/usr/bin/env node
import module from 'node:module';

// Node 22.1+ can cache compiled bytecode between runs; it roughly halves start-up.
module.enableCompileCache?.();
const { main } = await import('../dist/main.js');
process.exitCode = await main(process.argv.slice(2));
