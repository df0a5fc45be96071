import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Argument, Command, Option } from 'commander';
import { completionProgram } from '../../src/commands/completion/run.ts';
import { allCommands, describeProgram, type CompletionCommand, type CompletionModel } from '../../src/commands/completion/model.ts';

function find(model: CompletionModel, path: string): CompletionCommand {
  const found = allCommands(model).find((command) => command.path.join(' ') === path);
  assert.ok(found, `no command "${path}" in the model`);
  return found;
}

function option(command: CompletionCommand, name: string) {
  const found = command.options.find((candidate) => candidate.names.includes(name));
  assert.ok(found, `${command.path.join(' ')} has no option ${name}`);
  return found;
}

describe('completion model of the real program', () => {
  const program = completionProgram();
  const model = describeProgram(program);

  test('lists every registered top-level command, plus help', () => {
    const expected = program.commands.map((command) => command.name());
    assert.ok(expected.includes('create') && expected.includes('doctor') && expected.includes('completion'));
    assert.deepEqual(model.root.subcommands.map((command) => command.name), [...expected, 'help']);
    const help = find(model, 'help');
    assert.deepEqual(help.arguments[0]?.value, { kind: 'choices', values: expected });
  });

  test('has the nested subcommands', () => {
    assert.ok(find(model, 'auth').subcommands.some((command) => command.name === 'status'));
    assert.deepEqual(
      find(model, 'secret').subcommands.map((command) => command.name).filter((name) => name !== 'help').sort(),
      program.commands.find((command) => command.name() === 'secret')!.commands.map((command) => command.name()).sort(),
    );
  });

  test('reads declared choices for options and arguments', () => {
    assert.deepEqual(option(find(model, 'create'), '--secret-store').value, { kind: 'choices', values: ['keychain', 'file', 'stdout'] });
    assert.deepEqual(option(find(model, 'emulator'), '--plan').value, { kind: 'choices', values: ['starter', 'pro', 'enterprise'] });
    assert.deepEqual(find(model, 'completion').arguments, [{ name: 'shell', variadic: false, value: { kind: 'choices', values: ['bash', 'zsh', 'fish'] } }]);
  });

  test('knows which values are files, environment variables and event types', () => {
    assert.deepEqual(option(find(model, 'verify'), '--body-file').value, { kind: 'file' });
    assert.deepEqual(option(find(model, 'verify'), '--headers-file').value, { kind: 'file' });
    assert.deepEqual(option(find(model, 'verify'), '--secret-env').value, { kind: 'env' });
    assert.deepEqual(option(find(model, 'create'), '--secret-file').value, { kind: 'file' });
    assert.deepEqual(option(find(model, 'emulator'), '--state').value, { kind: 'file' });
    const events = option(find(model, 'create'), '--events').value;
    assert.equal(events?.kind, 'list');
    assert.ok(events?.kind === 'list' && events.values.includes('user.signed_in') && events.values.includes('user.*'));
    const trigger = find(model, 'trigger').arguments[0]!;
    assert.ok(trigger.value.kind === 'choices' && trigger.value.values.includes('user.signed_up'));
    assert.deepEqual(find(model, 'secret exec').arguments.map((argument) => [argument.name, argument.variadic, argument.value.kind]), [
      ['id', false, 'any'],
      ['command', true, 'command'],
    ]);
  });

  test('global options are listed once, hidden options not at all', () => {
    const globals = model.globalOptions.flatMap((entry) => entry.names);
    for (const name of ['--json', '--profile', '--tenant-url', '--no-input', '--no-color', '--timeout', '--debug', '-q', '--quiet', '-h', '--help']) {
      assert.ok(globals.includes(name), name);
    }
    assert.ok(!globals.includes('--token'), 'the hidden --token flag must not be offered');
    assert.ok(!globals.includes('--version'));
    assert.deepEqual(model.root.options.flatMap((entry) => entry.names), ['-V', '--version']);
    assert.ok(!find(model, 'login').options.some((entry) => entry.names.includes('--client-secret')), 'the hidden login --client-secret was offered');
    assert.equal(option(find(model, 'create'), '--force').value, null);
  });
});

describe('completion model of any commander program', () => {
  test('picks up new commands, choices and the table of known values without changes here', () => {
    const program = new Command('tool');
    program.option('--json');
    program.addCommand(
      new Command('widgets')
        .addCommand(
          new Command('paint')
            .addOption(new Option('--colour <colour>').choices(['red', 'green']))
            .option('--outcome <outcome>', 'checked in code, not declared')
            .option('--output-file <path>')
            .addArgument(new Argument('<kind>').choices(['round', 'square'])),
        )
        .addCommand(new Command('secret-thing'), { hidden: true }),
    );
    const model = describeProgram(program);
    const paint = find(model, 'widgets paint');
    assert.deepEqual(option(paint, '--colour').value, { kind: 'choices', values: ['red', 'green'] });
    assert.deepEqual(option(paint, '--outcome').value, { kind: 'choices', values: ['succeeded', 'failed'] });
    assert.deepEqual(option(paint, '--output-file').value, { kind: 'file' });
    assert.deepEqual(paint.arguments[0]?.value, { kind: 'choices', values: ['round', 'square'] });
    assert.deepEqual(find(model, 'widgets').subcommands.map((command) => command.name), ['paint', 'help']);
  });
});
