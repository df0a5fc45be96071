import type { Command } from 'commander';
import type { Binder } from '../cli/command.ts';
import { loginCommand } from './login/index.ts';
import { logoutCommand } from './logout/index.ts';
import { authCommand } from './auth/index.ts';
import { createCommand } from './create/index.ts';
import { listCommand } from './list/index.ts';
import { getCommand } from './get/index.ts';
import { updateCommand } from './update/index.ts';
import { pauseCommand } from './pause/index.ts';
import { resumeCommand } from './resume/index.ts';
import { deleteCommand } from './delete/index.ts';
import { eventTypesCommand } from './event-types/index.ts';
import { secretCommand } from './secret/index.ts';
import { rotateCommand } from './rotate/index.ts';
import { testPingCommand } from './test-ping/index.ts';
import { tailDeliveriesCommand } from './tail-deliveries/index.ts';
import { deadLettersCommand } from './dead-letters/index.ts';
import { redeliverCommand } from './redeliver/index.ts';
import { triggerCommand } from './trigger/index.ts';
import { verifyCommand } from './verify/index.ts';
import { listenCommand } from './listen/index.ts';
import { emulatorCommand } from './emulator/index.ts';
import { demoCommand } from './demo/index.ts';
import { doctorCommand } from './doctor/index.ts';
import { completionCommand } from './completion/index.ts';

/** Every top-level command, in the order --help lists them. */
export const COMMANDS: ReadonlyArray<(bind: Binder) => Command> = [
  loginCommand,
  logoutCommand,
  authCommand,
  createCommand,
  listCommand,
  getCommand,
  updateCommand,
  pauseCommand,
  resumeCommand,
  deleteCommand,
  eventTypesCommand,
  secretCommand,
  rotateCommand,
  testPingCommand,
  tailDeliveriesCommand,
  deadLettersCommand,
  redeliverCommand,
  triggerCommand,
  verifyCommand,
  listenCommand,
  emulatorCommand,
  demoCommand,
  doctorCommand,
  completionCommand,
];
