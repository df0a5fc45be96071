import type { Command } from 'commander';
import type { Binder } from '../../cli/command.ts';
import { statusCommand } from '../shared/status-command.ts';

export function resumeCommand(bind: Binder): Command {
  return statusCommand(bind, 'resume');
}
