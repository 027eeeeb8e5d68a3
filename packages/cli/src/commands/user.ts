import {
  type Actor,
  ControlError,
  createOperator,
  listOperators,
  MAX_PASSWORD_BYTES,
  removeOperator,
  setOperatorPassword,
} from '@vigil/control';
import { ROLES, type Role } from '@vigil/store';
import { type Command, options, out, str, withStore } from '../command.ts';
import { UsageError } from '../usage-error.ts';

const USAGE =
  'usage: vigil user add <name> --role readonly|operator|admin|platform | list | remove <name> | passwd <name>\n' +
  '  (add and passwd read the password from the first line of stdin)';

/**
 * The password: the first line of stdin (piped), or typed without echo at a terminal. Bounded: a
 * password is at most 1 KiB, and no more than 4 KiB are read.
 */
async function readPassword(prompt: string): Promise<string> {
  const stdin = process.stdin;
  if (stdin.isTTY) return readHidden(prompt);
  let text = '';
  for await (const chunk of stdin) {
    text += chunk.toString('utf8');
    if (text.includes('\n') || text.length > 4 * MAX_PASSWORD_BYTES) break;
  }
  stdin.destroy();
  const line = text.split(/\r?\n/, 1)[0] ?? '';
  if (line === '') throw new UsageError('no password on stdin (the first line is the password)');
  return line;
}

function readHidden(prompt: string): Promise<string> {
  const stdin = process.stdin;
  process.stderr.write(prompt);
  stdin.setRawMode(true);
  stdin.resume();
  return new Promise((done, fail) => {
    let typed = '';
    const finish = (err?: Error) => {
      stdin.setRawMode(false);
      stdin.pause();
      stdin.off('data', onData);
      process.stderr.write('\n');
      if (err) fail(err);
      else done(typed);
    };
    const onData = (chunk: Buffer) => {
      for (const ch of chunk.toString('utf8')) {
        if (ch === '\r' || ch === '\n') return finish();
        if (ch === '\u0003') return finish(new UsageError('cancelled'));
        if (ch === '\u007f' || ch === '\b') typed = typed.slice(0, -1);
        else if (typed.length <= MAX_PASSWORD_BYTES) typed += ch;
      }
    };
    stdin.on('data', onData);
  });
}

/** `vigil user ...`: console operators, on the store of --data / DATABASE_URL, as the platform role. */
export const userCommand: Command = {
  options: options(['role']),
  async run(values, [action, name, extra]) {
    if (extra !== undefined) throw new UsageError(USAGE);
    if ((action === 'add' || action === 'remove' || action === 'passwd') && !name)
      throw new UsageError(USAGE);
    if (action === 'add') {
      const role = str(values, 'role');
      if (!role || !ROLES.includes(role as Role))
        throw new UsageError(`--role is required: ${ROLES.join(', ')}`);
    } else if (action !== 'list' && action !== 'remove' && action !== 'passwd') {
      throw new UsageError(USAGE);
    }
    // Read before the store opens: a missing password changes nothing.
    const password =
      action === 'add' || action === 'passwd' ? await readPassword(`password for ${name}: `) : '';
    try {
      await withStore(values, async (store, tenantId) => {
        const actor: Actor = { kind: 'cli', id: 'cli', role: 'platform', tenantId };
        const deps = { store };
        if (action === 'add') {
          const role = str(values, 'role') as Role;
          const op = await createOperator(deps, actor, { name: name!, role, password });
          out(`added ${op.name} (${op.role}) to tenant ${op.tenantId}`);
        } else if (action === 'list') {
          for (const op of await listOperators(deps, actor)) {
            out(
              `${op.name.padEnd(24)} ${op.role.padEnd(9)} created ${op.createdAt}  password set ${op.passwordChangedAt}`,
            );
          }
        } else if (action === 'remove') {
          await removeOperator(deps, actor, { name: name! });
          out(`removed ${name}; their console sessions have ended`);
        } else {
          await setOperatorPassword(deps, actor, { name: name!, password });
          out(`password of ${name} changed; their console sessions have ended`);
        }
      });
    } catch (err) {
      if (err instanceof ControlError) throw new Error(`${err.code}: ${err.message}`);
      throw err;
    }
  },
};
