import { Command } from 'commander';
import type { Binder } from '../../cli/command.ts';

export type AuthStatusOptions = Record<string, never>;

export function authCommand(bind: Binder): Command {
  const status = new Command('status')
    .description('Show the credentials in use: tenant, client, where they come from, the token and the keychain')
    .addHelpText(
      'after',
      [
        '',
        'Obtains (or reuses from the cache) an access token to show its scopes and expiry, and probes',
        'the OS keychain. Exit code 3 when there are no usable credentials; with --json the status',
        'object (with "ok": false and the reason) is printed first.',
      ].join('\n'),
    );
  return new Command('auth')
    .description('Inspect the credentials the tool uses (see also login and logout)')
    .addCommand(bind(status, (): AuthStatusOptions => ({}), () => import('./run.ts')));
}
