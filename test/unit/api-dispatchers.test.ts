import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { loadUndici, loadUndiciProxy } from '../../src/api/dispatchers.ts';

const requireModule = createRequire(import.meta.url);

test('the dispatchers loaded from undici files are the package\'s own classes', () => {
  const undici = requireModule('undici') as typeof import('undici');
  assert.equal(loadUndici().Agent, undici.Agent);
  assert.equal(loadUndiciProxy().EnvHttpProxyAgent, undici.EnvHttpProxyAgent);
  assert.equal(undici.Dispatcher.prototype.request, requireModule('undici/lib/api/api-request.js'));
});

test('an Agent loaded without undici\'s entry point can make a request', async (t) => {
  // A fresh process: in this one the entry point may already have put `request` in place.
  const server = createServer((request, response) => response.end(JSON.stringify({ path: request.url })));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => server.close());
  const { port } = server.address() as AddressInfo;
  const script = `
    import { loadUndici } from ${JSON.stringify(new URL('../../src/api/dispatchers.ts', import.meta.url).href)};
    import { createRequire } from 'node:module';
    const agent = new (loadUndici().Agent)();
    const response = await agent.request({ origin: 'http://127.0.0.1:${port}', path: '/probe', method: 'GET' });
    process.stdout.write(await response.body.text());
    const loaded = Object.keys(createRequire(import.meta.url).cache).filter((path) => /[\\\\/]undici[\\\\/]index\\.js$/.test(path));
    process.stdout.write(' ' + loaded.length);
    await agent.close();
  `;
  const child = await promisify(execFile)(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(child.stderr, '');
  assert.equal(child.stdout, '{"path":"/probe"} 0', 'the request succeeds and undici\'s entry point was never loaded');
});
