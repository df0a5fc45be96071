'use strict';
// Preloaded (node -r) into a measured command: at exit, runs a full garbage collection and
// prints the heap still in use, so a benchmark can tell records kept from garbage not yet
// collected. Not loaded by any real run of the tool.
require('node:v8').setFlagsFromString('--expose-gc');
const collect = require('node:vm').runInNewContext('gc');
process.on('exit', () => {
  collect();
  process.stderr.write(`\nlive-heap-bytes ${process.memoryUsage().heapUsed}\n`);
});
