import { Command } from 'commander';
import type { Binder } from '../../cli/command.ts';

export type DoctorOptions = Record<string, never>;

export function doctorCommand(bind: Binder): Command {
  const command = new Command('doctor')
    .description('Check this machine and the tenant: Node, config, credentials, token scopes, keychain, proxy, TLS and clock')
    .addHelpText(
      'after',
      [
        '',
        'Each check ends ok, warn or fail, with a fix for anything not ok; checks that depend on a failed',
        'one are skipped. Exit code 0 when no check fails, 7 otherwise; --json prints',
        '{"ok": bool, "checks": [{"name", "status", "detail", "fix"}]} either way.',
      ].join('\n'),
    );
  return bind(command, (): DoctorOptions => ({}), () => import('./run.ts'));
}
