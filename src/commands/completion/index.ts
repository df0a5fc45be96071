import { Argument, Command } from 'commander';
import type { Binder } from '../../cli/command.ts';

export const SHELLS = ['bash', 'zsh', 'fish'] as const;
export type Shell = (typeof SHELLS)[number];

export interface CompletionOptions {
  shell: Shell;
}

export function completionCommand(bind: Binder): Command {
  const command = new Command('completion')
    .description('Print a shell completion script for bash, zsh or fish')
    .addArgument(new Argument('<shell>', 'the shell to complete in').choices(SHELLS))
    .addHelpText(
      'after',
      [
        '',
        'The script covers every command, option and known option value, and is generated from this',
        'version of the tool: regenerate it after upgrading.',
        '',
        'Install:',
        '  bash  add to ~/.bashrc:   source <(intelliauth-webhooks completion bash)',
        '  zsh   add to ~/.zshrc, after compinit:   source <(intelliauth-webhooks completion zsh)',
        '        or save it as _intelliauth-webhooks in a directory on $fpath',
        '  fish  intelliauth-webhooks completion fish > ~/.config/fish/completions/intelliauth-webhooks.fish',
      ].join('\n'),
    );
  return bind(command, ([shell]): CompletionOptions => ({ shell: shell as Shell }), () => import('./run.ts'));
}
