import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command, Option } from 'commander';
import { completionProgram, completionScript } from '../../src/commands/completion/run.ts';
import { describeProgram } from '../../src/commands/completion/model.ts';
import { quote } from '../../src/commands/completion/shell-data.ts';

const PROGRAM = 'intelliauth-webhooks';

function has(shell: string): boolean {
  return spawnSync(shell, ['-c', 'exit 0'], { stdio: 'ignore' }).status === 0;
}

function run(command: string, args: string[], env: NodeJS.ProcessEnv = {}) {
  const result = spawnSync(command, args, { encoding: 'utf8', timeout: 15_000, env: { PATH: process.env.PATH, ...env } });
  assert.equal(result.error, undefined);
  return result;
}

let dir: string;
const scripts: Record<'bash' | 'zsh' | 'fish', string> = { bash: '', zsh: '', fish: '' };

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'iaw-completion-'));
  const model = describeProgram(completionProgram());
  for (const shell of ['bash', 'zsh', 'fish'] as const) {
    scripts[shell] = join(dir, `completion.${shell}`);
    await writeFile(scripts[shell], completionScript(shell, model));
  }
  await mkdir(join(dir, 'files'));
  await writeFile(join(dir, 'files', 'body.json'), '{}');
  await writeFile(join(dir, 'files', 'headers.txt'), '');
});

after(() => rm(dir, { recursive: true, force: true }));

/** Sources the script in a bare bash, calls the completion function for `words` (the last is being completed), returns COMPREPLY. */
function bashComplete(script: string, words: string[], cwd = dir): string[] {
  const program = [
    `source ${quote(script)}`,
    `COMP_WORDS=(${words.map((word) => quote(word)).join(' ')})`,
    `COMP_CWORD=${words.length - 1}`,
    `COMP_LINE=${quote(words.join(' '))}`,
    `COMP_POINT=\${#COMP_LINE}`,
    `cd ${quote(cwd)}`,
    `_intelliauth_webhooks`,
    `printf '%s\\n' "\${COMPREPLY[@]}"`,
  ].join('\n');
  const result = run('bash', ['--norc', '--noprofile', '-c', program]);
  assert.equal(result.status, 0, result.stderr);
  assert.equal(result.stderr, '');
  return result.stdout.split('\n').filter((line) => line !== '');
}

describe('bash completion script', () => {
  test('passes bash -n', () => {
    const result = run('bash', ['-n', scripts.bash]);
    assert.equal(result.status, 0, result.stderr);
  });

  test('completes a command prefix', () => {
    assert.deepEqual(bashComplete(scripts.bash, [PROGRAM, 'cre']), ['create']);
    assert.ok(bashComplete(scripts.bash, [PROGRAM, 'doc']).includes('doctor'));
  });

  test('lists subcommands of a command group', () => {
    assert.deepEqual(bashComplete(scripts.bash, [PROGRAM, 'auth', '']), ['status', 'help']);
    const secret = bashComplete(scripts.bash, [PROGRAM, 'secret', '']);
    for (const name of ['status', 'exec', 'import', 'delete', 'reveal']) assert.ok(secret.includes(name), name);
    assert.deepEqual(bashComplete(scripts.bash, [PROGRAM, 'secret', 'ex']), ['exec']);
  });

  test('completes option values, in both --opt value and --opt=value forms', () => {
    assert.deepEqual(bashComplete(scripts.bash, [PROGRAM, 'create', '--secret-store', '']), ['keychain', 'file', 'stdout']);
    assert.deepEqual(bashComplete(scripts.bash, [PROGRAM, 'create', '--secret-store', 'f']), ['file']);
    // bash splits --secret-store=value at the '=' (COMP_WORDBREAKS).
    assert.deepEqual(bashComplete(scripts.bash, [PROGRAM, 'create', '--secret-store', '=', '']), ['keychain', 'file', 'stdout']);
    assert.deepEqual(bashComplete(scripts.bash, [PROGRAM, 'create', '--secret-store', '=']), ['keychain', 'file', 'stdout']);
    assert.deepEqual(bashComplete(scripts.bash, [PROGRAM, 'emulator', '--plan', '']), ['starter', 'pro', 'enterprise']);
    assert.deepEqual(bashComplete(scripts.bash, [PROGRAM, 'list', '--status', 'p']), ['paused']);
  });

  test('completes positional choices: the shells of completion, the event types of trigger', () => {
    assert.deepEqual(bashComplete(scripts.bash, [PROGRAM, 'completion', '']), ['bash', 'zsh', 'fish']);
    assert.deepEqual(bashComplete(scripts.bash, [PROGRAM, 'trigger', 'user.signed_']), ['user.signed_in', 'user.signed_out', 'user.signed_up']);
  });

  test('completes options of the command in use, global ones included', () => {
    const options = bashComplete(scripts.bash, [PROGRAM, 'create', '--']);
    for (const name of ['--name', '--url', '--events', '--secret-store', '--json', '--profile', '--help']) assert.ok(options.includes(name), name);
    assert.ok(!options.includes('--token'), 'a hidden option was offered');
    assert.deepEqual(bashComplete(scripts.bash, [PROGRAM, 'verify', '--body']), ['--body-file']);
  });

  test('skips global options and their values before the command', () => {
    const afterGlobal = bashComplete(scripts.bash, [PROGRAM, '--json', 'li']);
    assert.ok(afterGlobal.includes('list') && afterGlobal.every((name) => name.startsWith('li')), afterGlobal.join(' '));
    assert.deepEqual(bashComplete(scripts.bash, [PROGRAM, '--profile', 'work', 'auth', '']), ['status', 'help']);
    assert.deepEqual(bashComplete(scripts.bash, [PROGRAM, '--profile', 'work', '--timeout', '5', 'create', '--secret-store', 'k']), ['keychain']);
  });

  test('completes file names for file options', () => {
    assert.deepEqual(bashComplete(scripts.bash, [PROGRAM, 'verify', '--body-file', 'files/bo']), ['files/body.json']);
    assert.deepEqual(bashComplete(scripts.bash, [PROGRAM, 'verify', '--headers-file', 'files/h']), ['files/headers.txt']);
  });

  test('completes comma-separated event selectors item by item, with wildcards escaped for the shell', () => {
    assert.deepEqual(bashComplete(scripts.bash, [PROGRAM, 'create', '--events', 'user.signed_in,mfa.factor_a']), ['user.signed_in,mfa.factor_added']);
    const categories = bashComplete(scripts.bash, [PROGRAM, 'create', '--events', 'user.']);
    assert.ok(categories.includes('user.\\*'), categories.join(' '));
    assert.ok(categories.includes('user.signed_up'));
  });

  test('after -- of secret exec, completes the command to run', () => {
    const commands = bashComplete(scripts.bash, [PROGRAM, 'secret', 'exec', 'whsub_1', '--', 'bas']);
    assert.ok(commands.includes('bash'), commands.join(' '));
  });

  test('offers nothing for free-text values', () => {
    assert.deepEqual(bashComplete(scripts.bash, [PROGRAM, 'create', '--name', '']), []);
    assert.deepEqual(bashComplete(scripts.bash, [PROGRAM, 'get', '']), []);
  });

  test('a command added to the program shows up in the generated script', async () => {
    const program = new Command(PROGRAM);
    program.addCommand(new Command('deliveries').addOption(new Option('--outcome <outcome>')).option('--checkpoint <file>'));
    const script = join(dir, 'custom.bash');
    await writeFile(script, completionScript('bash', describeProgram(program)));
    assert.deepEqual(bashComplete(script, [PROGRAM, 'del']), ['deliveries']);
    assert.deepEqual(bashComplete(script, [PROGRAM, 'deliveries', '--outcome', '']), ['succeeded', 'failed']);
    assert.deepEqual(bashComplete(script, [PROGRAM, 'deliveries', '--checkpoint', 'files/b']), ['files/body.json']);
  });
});

describe('zsh completion script', () => {
  test('passes zsh -n', (t) => {
    if (!has('zsh')) return t.skip('zsh is not installed');
    const result = run('zsh', ['-n', scripts.zsh]);
    assert.equal(result.status, 0, result.stderr);
  });

  test('offers subcommands with descriptions and option values (completion system stubbed)', (t) => {
    if (!has('zsh')) return t.skip('zsh is not installed');
    // The completion builtins only exist inside a completion widget; stand-ins print what they are given.
    const stubs = [
      'compdef() { :; }',
      'compadd() { local -a a; a=("$@"); print -rl -- "${(@)a[${a[(i)--]}+1,-1]}"; }',
      '_describe() { print -rl -- "${(@P)4}"; }',
      '_files() { print -r -- "<files>"; }',
      'compset() { return 1; }',
    ].join('\n');
    const complete = (words: string[]) => {
      const program = [stubs, `source ${quote(scripts.zsh)}`, `words=(${words.map((w) => quote(w)).join(' ')})`, `CURRENT=${words.length}`, '_intelliauth_webhooks'].join('\n');
      const result = run('zsh', ['-f', '-c', program]);
      assert.equal(result.status, 0, result.stderr);
      return result.stdout.split('\n').filter(Boolean);
    };
    const auth = complete([PROGRAM, 'auth', '']);
    assert.ok(auth.some((line) => /^status:Show the credentials in use/.test(line)), auth.join('\n'));
    assert.deepEqual(complete([PROGRAM, 'create', '--secret-store', '']), ['keychain', 'file', 'stdout']);
    assert.deepEqual(complete([PROGRAM, '--json', 'completion', '']), ['bash', 'zsh', 'fish']);
    assert.deepEqual(complete([PROGRAM, 'verify', '--body-file', '']), ['<files>']);
    assert.ok(complete([PROGRAM, 'create', '--s']).some((line) => line.startsWith('--secret-store:')));
  });
});

describe('fish completion script', () => {
  test('passes fish -n and completes through fish itself', async (t) => {
    if (!has('fish')) return t.skip('fish is not installed');
    const syntax = run('fish', ['--no-config', '-n', scripts.fish]);
    assert.equal(syntax.status, 0, syntax.stderr);
    const fishHome = join(dir, 'fish-home');
    await mkdir(fishHome, { recursive: true });
    const complete = (line: string) => {
      const result = run('fish', ['--no-config', '-c', `source ${quote(scripts.fish, 'fish')}; complete -C ${quote(line, 'fish')}`], {
        HOME: fishHome,
        XDG_CONFIG_HOME: join(fishHome, 'config'),
        XDG_DATA_HOME: join(fishHome, 'data'),
      });
      assert.equal(result.status, 0, result.stderr);
      return result.stdout.split('\n').filter(Boolean).map((entry) => entry.split('\t')[0]);
    };
    assert.deepEqual(complete(`${PROGRAM} cre`), ['create']);
    assert.ok(complete(`${PROGRAM} auth `).includes('status'));
    assert.deepEqual(complete(`${PROGRAM} create --secret-store `).sort(), ['file', 'keychain', 'stdout']);
    assert.deepEqual(complete(`${PROGRAM} create --secret-store=`).sort(), ['--secret-store=file', '--secret-store=keychain', '--secret-store=stdout']);
    assert.deepEqual(complete(`${PROGRAM} completion `).sort(), ['bash', 'fish', 'zsh']);
    assert.ok(complete(`${PROGRAM} create --sec`).includes('--secret-store'));
  });
});
