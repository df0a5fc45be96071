import type { Command } from 'commander';
import type { Binder } from '../cli/command.ts';
import { emulatorCommand } from './emulator/index.ts';
import { triggerCommand } from './trigger/index.ts';
import { verifyCommand } from './verify/index.ts';

/** Every top-level command, in the order --help lists them. */
export const COMMANDS: ReadonlyArray<(bind: Binder) => Command> = [emulatorCommand, triggerCommand, verifyCommand];
