import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

/**
 * A clean environment with its own HOME and XDG dirs (so the token cache and config are the
 * bench's own), no colour, and nothing from the developer's credentials leaking in.
 */
export function benchEnv(home: string): NodeJS.ProcessEnv {
  mkdirSync(home, { recursive: true });
  const env: NodeJS.ProcessEnv = {};
  for (const key of ['PATH', 'LANG', 'TMPDIR']) if (process.env[key] !== undefined) env[key] = process.env[key];
  return {
    ...env,
    HOME: home,
    XDG_CONFIG_HOME: join(home, 'config'),
    XDG_DATA_HOME: join(home, 'data'),
    XDG_CACHE_HOME: join(home, 'cache'),
    NO_COLOR: '1',
  };
}
