import { Command } from 'commander';
import type { Binder } from '../../cli/command.ts';

export interface DemoOptions {
  keep: boolean;
}

export function demoCommand(bind: Binder): Command {
  const command = new Command('demo')
    .description('Walk through the whole loop on a local emulator: create a subscription, deliver a signed event to a verifying receiver, list, clean up')
    .option('--keep', 'leave the emulator running at the end (Ctrl-C to stop)');
  return bind(command, (_args, opts): DemoOptions => ({ keep: opts.keep === true }), () => import('./run.ts'));
}
