import type { Command } from './command.ts';
import { apikeyCommand } from './commands/apikey.ts';
import { banCommand, bansCommand, unbanCommand } from './commands/bans.ts';
import { cloudfrontCommand } from './commands/cloudfront.ts';
import { configCommand } from './commands/config.ts';
import { detectCommand } from './commands/detect.ts';
import { keysCommand } from './commands/keys.ts';
import { liveCommand } from './commands/live.ts';
import { inspectCommand, packageCommand } from './commands/package.ts';
import { serveCommand } from './commands/serve.ts';
import { tenantCommand } from './commands/tenant.ts';
import { tokenCommand } from './commands/token.ts';
import { userCommand } from './commands/user.ts';
import { watchCommand } from './commands/watch.ts';
import { workerCommand } from './commands/worker.ts';

/** Every `vigil` command, one file per concern in `commands/`; option parsing helpers in `command.ts`. */
export const commands: Record<string, Command> = {
  serve: serveCommand,
  live: liveCommand,
  token: tokenCommand,
  apikey: apikeyCommand,
  ban: banCommand,
  unban: unbanCommand,
  bans: bansCommand,
  config: configCommand,
  keys: keysCommand,
  package: packageCommand,
  inspect: inspectCommand,
  tenant: tenantCommand,
  user: userCommand,
  detect: detectCommand,
  watch: watchCommand,
  worker: workerCommand,
  cloudfront: cloudfrontCommand,
};
