import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { PassThrough } from 'node:stream';
import { IO, type IOSettings } from '../../src/output/io.ts';
import { Capture } from '../helpers/in-process-cli.ts';

function makeIO(options: { tty?: boolean; env?: Record<string, string>; settings?: IOSettings } = {}) {
  const tty = options.tty ?? false;
  const stdin = Object.assign(new PassThrough(), { isTTY: tty });
  const stdout = new Capture(tty);
  const stderr = new Capture(tty);
  const io = new IO({ stdin, stdout, stderr }, options.env ?? {}, options.settings ?? {});
  return { io, stdout, stderr };
}

describe('IO: colour', () => {
  const level = (options: Parameters<typeof makeIO>[0]) => makeIO(options).io.out.level;

  test('on at a terminal, off in a pipe', () => {
    assert.equal(level({ tty: true, env: { TERM: 'xterm' } }), 1);
    assert.equal(level({ tty: false, env: { TERM: 'xterm' } }), 0);
  });

  test('NO_COLOR (any non-empty value) and --no-color turn it off, even at a terminal and over FORCE_COLOR', () => {
    assert.equal(level({ tty: true, env: { NO_COLOR: '1' } }), 0);
    assert.equal(level({ tty: true, env: { NO_COLOR: 'yes', FORCE_COLOR: '3' } }), 0);
    assert.equal(level({ tty: true, env: { NO_COLOR: '' } }), 1, 'an empty NO_COLOR is not set');
    assert.equal(level({ tty: true, env: { FORCE_COLOR: '1' }, settings: { color: false } }), 0);
  });

  test('FORCE_COLOR turns it on in a pipe, at the level it names, or off with 0/false', () => {
    assert.equal(level({ env: { FORCE_COLOR: '' } }), 1);
    assert.equal(level({ env: { FORCE_COLOR: '1' } }), 1);
    assert.equal(level({ env: { FORCE_COLOR: '2' } }), 2);
    assert.equal(level({ env: { FORCE_COLOR: '3' } }), 3);
    assert.equal(level({ tty: true, env: { FORCE_COLOR: '0' } }), 0);
    assert.equal(level({ tty: true, env: { FORCE_COLOR: 'false' } }), 0);
  });

  test('the terminal\'s own description picks the level; TERM=dumb gets none', () => {
    assert.equal(level({ tty: true, env: { TERM: 'dumb' } }), 0);
    assert.equal(level({ tty: true, env: { TERM: 'xterm-256color' } }), 2);
    assert.equal(level({ tty: true, env: { TERM: 'xterm', COLORTERM: 'truecolor' } }), 3);
  });

  test('each stream is judged on its own: data piped away stays plain while stderr is a terminal', () => {
    const stdin = Object.assign(new PassThrough(), { isTTY: true });
    const io = new IO({ stdin, stdout: new Capture(false), stderr: new Capture(true) }, { TERM: 'xterm' });
    assert.deepEqual([io.out.level, io.err.level], [0, 1]);
  });
});

describe('IO: prompting', () => {
  test('allowed only with a terminal on stdin and stderr, outside CI, without --no-input', () => {
    assert.equal(makeIO({ tty: true }).io.canPrompt(), true);
    assert.equal(makeIO({ tty: false }).io.canPrompt(), false);
    assert.equal(makeIO({ tty: true, env: { CI: 'true' } }).io.canPrompt(), false);
    assert.equal(makeIO({ tty: true, env: { CI: '1' } }).io.canPrompt(), false);
    assert.equal(makeIO({ tty: true, env: { CI: 'false' } }).io.canPrompt(), true, 'CI=false is not CI');
    assert.equal(makeIO({ tty: true, settings: { input: false } }).io.canPrompt(), false);
  });

  test('a terminal on stdin alone is not enough: the prompt would go to a pipe', () => {
    const stdin = Object.assign(new PassThrough(), { isTTY: true });
    const io = new IO({ stdin, stdout: new Capture(true), stderr: new Capture(false) }, {});
    assert.equal(io.canPrompt(), false);
  });
});

describe('IO: where text goes', () => {
  test('data on stdout; progress, warnings, hints and errors on stderr', () => {
    const { io, stdout, stderr } = makeIO();
    io.print('row');
    io.printJson({ a: 1 });
    io.printJsonLine({ b: 2 });
    io.info('working');
    io.success('done');
    io.warn('careful');
    io.hint('try this');
    io.error('failed');
    io.debug('not shown');
    assert.equal(stdout.text(), 'row\n{\n  "a": 1\n}\n{"b":2}\n');
    assert.equal(stderr.text(), 'working\n✓ done\nwarning: careful\nhint: try this\nerror: failed\n');
  });

  test('--quiet silences progress, successes and hints, never notices, warnings, errors or data', () => {
    const { io, stdout, stderr } = makeIO({ settings: { quiet: true } });
    io.print('row');
    io.info('working');
    io.success('done');
    io.hint('try this');
    io.notice('listening on http://127.0.0.1:3000/');
    io.warn('careful');
    io.error('failed');
    assert.equal(stdout.text(), 'row\n');
    assert.equal(stderr.text(), 'listening on http://127.0.0.1:3000/\nwarning: careful\nerror: failed\n');
  });

  test('--debug lines go to stderr', () => {
    const { io, stdout, stderr } = makeIO({ settings: { debug: true } });
    io.debug('GET /x');
    assert.equal(stdout.text(), '');
    assert.equal(stderr.text(), 'debug: GET /x\n');
  });
});

/** A stdout that is a pipe: an emitter with the stream fields IO looks at. */
function pipeLike(needDrain: boolean) {
  return Object.assign(new EventEmitter(), { writableNeedDrain: needDrain, isTTY: false, write: () => true });
}

function ioOver(stdout: ReturnType<typeof pipeLike>): IO {
  return new IO({ stdin: new PassThrough(), stdout, stderr: new Capture(false) }, {});
}

describe('IO: a slow or vanished reader of stdout', () => {
  test('stdoutDrained returns at once when nothing waits to be written', async () => {
    await ioOver(pipeLike(false)).stdoutDrained();
  });

  test('stdoutDrained waits for drain, and for close when the reader is gone', async () => {
    for (const event of ['drain', 'close']) {
      const stdout = pipeLike(true);
      let settled = false;
      const waiting = ioOver(stdout).stdoutDrained().then(() => (settled = true));
      await new Promise((resolve) => setImmediate(resolve));
      assert.equal(settled, false, `still waiting before ${event}`);
      stdout.emit(event);
      await waiting;
      assert.equal(stdout.listenerCount('drain') + stdout.listenerCount('close'), 0, 'no listener left behind');
    }
  });

  test('stdoutDrained ends quietly on EPIPE, and passes on any other error', async () => {
    const gone = pipeLike(true);
    const waitingGone = ioOver(gone).stdoutDrained();
    gone.emit('error', Object.assign(new Error('write EPIPE'), { code: 'EPIPE' }));
    await waitingGone;
    const broken = pipeLike(true);
    const waitingBroken = ioOver(broken).stdoutDrained();
    broken.emit('error', Object.assign(new Error('disk full'), { code: 'ENOSPC' }));
    await assert.rejects(waitingBroken, /disk full/);
  });

  test('onStdoutReaderGone calls back on EPIPE or a destroyed stream, not on other errors, until detached', () => {
    const stdout = pipeLike(false);
    const io = ioOver(stdout);
    let calls = 0;
    const detach = io.onStdoutReaderGone(() => (calls += 1));
    stdout.emit('error', Object.assign(new Error('other'), { code: 'EIO' }));
    assert.equal(calls, 0);
    stdout.emit('error', Object.assign(new Error('write EPIPE'), { code: 'EPIPE' }));
    stdout.emit('error', Object.assign(new Error('destroyed'), { code: 'ERR_STREAM_DESTROYED' }));
    assert.equal(calls, 2);
    detach();
    assert.equal(stdout.listenerCount('error'), 0);
  });
});
