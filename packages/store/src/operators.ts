import { Repository } from './repos/base.ts';
import type { Role } from './rows.ts';
import type { Database } from './schema.ts';

/** A console operator, as stored: the password only as its scrypt hash. */
export interface OperatorRecord {
  tenantId: string;
  name: string;
  role: Role;
  passwordHash: string;
  createdAt: number;
  passwordChangedAt: number;
}

/** A signed-in console session with its operator (as they are now). */
export interface ConsoleSessionRecord {
  /** SHA-256 (hex) of the cookie: the cookie itself is never stored. */
  hash: string;
  tenantId: string;
  operatorName: string;
  role: Role;
  createdAt: number;
  lastSeenAt: number;
  expiresAt: number;
}

/** The most operators a tenant may have: lists of them are answered whole. */
export const MAX_OPERATORS_PER_TENANT = 1000;

function operatorFromRow(row: Database['operators']): OperatorRecord {
  return {
    tenantId: row.tenant_id,
    name: row.name,
    role: row.role as Role,
    passwordHash: row.password_hash,
    createdAt: Number(row.created_at),
    passwordChangedAt: Number(row.updated_at),
  };
}

/**
 * Storage of console operators and their sessions, over a VigilStore's database (both adapters).
 * Sessions are read from the database on every use, so removing an operator or ending a session takes
 * effect on every instance at once.
 */
export class OperatorStore extends Repository {
  countOperators(tenantId: string): Promise<number> {
    return this.countRows('operators', { tenant_id: tenantId });
  }

  async getOperator(tenantId: string, name: string): Promise<OperatorRecord | undefined> {
    const row = await this.findRow('operators', tenantId, { name });
    return row && operatorFromRow(row);
  }

  /** A tenant's operators, oldest first (at most MAX_OPERATORS_PER_TENANT exist). */
  async listOperators(tenantId: string): Promise<OperatorRecord[]> {
    const order = ['created_at', 'name'] as const;
    const rows = await this.selectRows('operators', { tenant_id: tenantId }, order, MAX_OPERATORS_PER_TENANT);
    return rows.map(operatorFromRow);
  }

  /** Inserts the operator; false when one of that name exists in the tenant. */
  async createOperator(input: {
    tenantId: string;
    name: string;
    role: Role;
    passwordHash: string;
  }): Promise<OperatorRecord | undefined> {
    const now = Date.now();
    const result = await this.db
      .insertInto('operators')
      .values({
        tenant_id: input.tenantId,
        name: input.name,
        role: input.role,
        password_hash: input.passwordHash,
        created_at: now,
        updated_at: now,
      })
      .onConflict((oc) => oc.columns(['tenant_id', 'name']).doNothing())
      .executeTakeFirst();
    if (Number(result.numInsertedOrUpdatedRows ?? 0n) === 0) return undefined;
    return { ...input, createdAt: now, passwordChangedAt: now };
  }

  /** Sets the password and ends the operator's sessions (but `keepSession`, the one that changed it). */
  async setPassword(
    tenantId: string,
    name: string,
    passwordHash: string,
    keepSession?: string,
  ): Promise<boolean> {
    return this.inTransaction(async (tx) => {
      const set = { password_hash: passwordHash, updated_at: Date.now() };
      if ((await tx.updateRows('operators', { tenant_id: tenantId, name }, set)) === 0) return false;
      let ending = tx.db
        .deleteFrom('console_sessions')
        .where('tenant_id', '=', tenantId)
        .where('operator_name', '=', name);
      if (keepSession !== undefined) ending = ending.where('hash', '!=', keepSession);
      await ending.execute();
      return true;
    });
  }

  /** Deletes the operator and ends their sessions; false when there was none. */
  async deleteOperator(tenantId: string, name: string): Promise<boolean> {
    return this.inTransaction(async (tx) => {
      await tx.deleteRows('console_sessions', { tenant_id: tenantId, operator_name: name });
      return (await tx.deleteRows('operators', { tenant_id: tenantId, name })) > 0;
    });
  }

  // ---- console sessions

  async createSession(input: {
    hash: string;
    tenantId: string;
    operatorName: string;
    expiresAt: number;
    ip: string;
    userAgent: string;
  }): Promise<{ createdAt: number }> {
    const now = Date.now();
    await this.db
      .insertInto('console_sessions')
      .values({
        hash: input.hash,
        tenant_id: input.tenantId,
        operator_name: input.operatorName,
        created_at: now,
        last_seen_at: now,
        expires_at: input.expiresAt,
        ip: input.ip,
        user_agent: input.userAgent,
      })
      .execute();
    return { createdAt: now };
  }

  /** The session of this cookie hash with its operator's current role; undefined when either is gone. */
  async findSession(hash: string): Promise<ConsoleSessionRecord | undefined> {
    const row = await this.db
      .selectFrom('console_sessions as s')
      .innerJoin('operators as o', (join) =>
        join.onRef('o.tenant_id', '=', 's.tenant_id').onRef('o.name', '=', 's.operator_name'),
      )
      .select([
        's.hash',
        's.tenant_id',
        's.operator_name',
        's.created_at',
        's.last_seen_at',
        's.expires_at',
        'o.role',
      ])
      .where('s.hash', '=', hash)
      .executeTakeFirst();
    if (!row) return undefined;
    return {
      hash: row.hash,
      tenantId: row.tenant_id,
      operatorName: row.operator_name,
      role: row.role as Role,
      createdAt: Number(row.created_at),
      lastSeenAt: Number(row.last_seen_at),
      expiresAt: Number(row.expires_at),
    };
  }

  async touchSession(hash: string, at: number): Promise<void> {
    await this.updateRows('console_sessions', { hash }, { last_seen_at: at });
  }

  async deleteSession(hash: string): Promise<void> {
    await this.deleteRows('console_sessions', { hash });
  }

  /** Deletes sessions past their absolute expiry or idle since before `idleBefore`; returns how many. */
  async purgeSessions(now: number, idleBefore: number): Promise<number> {
    const result = await this.db
      .deleteFrom('console_sessions')
      .where((eb) => eb.or([eb('expires_at', '<=', now), eb('last_seen_at', '<', idleBefore)]))
      .executeTakeFirst();
    return Number(result.numDeletedRows);
  }

  // ---- failed sign-ins (throttling)

  /** The failure record of a throttling key, if any. */
  async signInFailures(
    key: string,
  ): Promise<{ failures: number; lastAt: number; blockedUntil: number } | undefined> {
    const row = await this.firstRow('signin_failures', { key });
    if (!row) return undefined;
    return {
      failures: Number(row.failures),
      lastAt: Number(row.last_at),
      blockedUntil: Number(row.blocked_until),
    };
  }

  /**
   * Counts one more failure (atomically, so instances failing at once both count; a record idle since
   * before `forgetBefore` starts again from one) and returns the new count.
   */
  async addSignInFailure(key: string, at: number, forgetBefore: number): Promise<number> {
    const row = await this.db
      .insertInto('signin_failures')
      .values({ key, failures: 1, last_at: at, blocked_until: 0 })
      .onConflict((oc) =>
        oc.column('key').doUpdateSet((eb) => ({
          failures: eb
            .case()
            .when('signin_failures.last_at', '<', forgetBefore)
            .then(1)
            .else(eb('signin_failures.failures', '+', 1))
            .end(),
          last_at: at,
        })),
      )
      .returning('failures')
      .executeTakeFirstOrThrow();
    return Number(row.failures);
  }

  async blockSignIns(key: string, until: number): Promise<void> {
    await this.updateRows('signin_failures', { key }, { blocked_until: until });
  }

  async clearSignInFailures(key: string): Promise<void> {
    await this.deleteRows('signin_failures', { key });
  }

  /** Deletes failure records idle since before `before`; returns how many. */
  async purgeSignInFailures(before: number): Promise<number> {
    const result = await this.db
      .deleteFrom('signin_failures')
      .where('last_at', '<', before)
      .executeTakeFirst();
    return Number(result.numDeletedRows);
  }
}
