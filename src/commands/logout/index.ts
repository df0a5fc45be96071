import { Command } from 'commander';
import type { Binder } from '../../cli/command.ts';
import { optionalString } from '../../cli/parse.ts';
import { UsageError } from '../../errors.ts';

export interface LogoutOptions {
  /** From the global --profile; absent means INTELLIAUTH_PROFILE, the active profile, or `default`. */
  profile: string | undefined;
  all: boolean;
  forgetProfile: boolean;
  yes: boolean;
}

export function logoutCommand(bind: Binder): Command {
  const command = new Command('logout')
    .description("Remove a profile's client secret from the OS keychain and its cached access tokens")
    .option('--all', 'log out of every profile and empty the whole token cache')
    .option('--forget-profile', 'also remove the profile itself (tenant, client id, audience, receiver hosts) from the config file')
    .option('-y, --yes', 'do not ask for confirmation (--all only)')
    .addHelpText(
      'after',
      [
        '',
        'The profile is the global --profile NAME, else INTELLIAUTH_PROFILE, else the active profile.',
        "By default the profile's settings stay, so `login` can refill it (it suggests the saved values).",
        'Nothing to remove is not an error. Credentials in the environment are not affected.',
      ].join('\n'),
    );
  return bind(
    command,
    (_args, opts, self): LogoutOptions => {
      const profile = optionalString(self.optsWithGlobals().profile);
      if (opts.all === true && profile !== undefined) {
        throw new UsageError('--all and --profile cannot be combined', { hint: 'use --all for every profile, or --profile NAME for one' });
      }
      return { profile, all: opts.all === true, forgetProfile: opts.forgetProfile === true, yes: opts.yes === true };
    },
    () => import('./run.ts'),
  );
}
