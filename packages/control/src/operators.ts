import { DEFAULT_TENANT } from '@vigil/core';
import {
  MAX_OPERATORS_PER_TENANT,
  type OperatorRecord,
  OperatorStore,
  ROLES,
  type Role,
  type VigilStore,
} from '@vigil/store';
import { type Actor, requireRole } from './actor.ts';
import { conflict, forbidden, invalid, notFound } from './errors.ts';
import {
  checkPasswordPolicy,
  DUMMY_PASSWORD_HASH,
  generatePassword,
  hashPassword,
  verifyPassword,
} from './passwords.ts';

/**
 * Console operators: people who sign in to the console at /admin, per tenant, with the API keys' roles.
 * Admins manage their tenant's operators; the platform role may name another tenant and create platform
 * operators; every operator may change their own password.
 */
export interface OperatorDeps {
  store: VigilStore;
}

/** What the API and the CLI show of an operator: never the hash. */
export interface OperatorView {
  name: string;
  role: Role;
  tenantId: string;
  createdAt: string;
  passwordChangedAt: string;
}

export const OPERATOR_NAME = '^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$';
const NAME_RE = new RegExp(OPERATOR_NAME);
const TENANT_RE = /^[a-z0-9][a-z0-9_-]{0,63}$/;

export function operatorView(o: OperatorRecord): OperatorView {
  return {
    name: o.name,
    role: o.role,
    tenantId: o.tenantId,
    createdAt: new Date(o.createdAt).toISOString(),
    passwordChangedAt: new Date(o.passwordChangedAt).toISOString(),
  };
}

/** The tenant an operation works on: the actor's, or (platform only) the one it names, which must exist. */
async function targetTenant(deps: OperatorDeps, actor: Actor, tenant: string | undefined): Promise<string> {
  if (tenant === undefined || tenant === actor.tenantId) return actor.tenantId;
  if (actor.role !== 'platform') throw forbidden('only the platform role works on another tenant');
  if (!TENANT_RE.test(tenant) || !(await deps.store.getTenant(tenant)))
    throw notFound(`no tenant "${tenant}"`, 'tenant_not_found');
  return tenant;
}

function checkName(name: unknown): asserts name is string {
  if (typeof name !== 'string' || !NAME_RE.test(name))
    throw invalid(
      'invalid_operator_name',
      'operator names are 1-64 letters, digits, ".", "_", "@" or "-", starting with a letter or digit',
    );
}

export async function listOperators(
  deps: OperatorDeps,
  actor: Actor,
  input: { tenant?: string | undefined } = {},
): Promise<OperatorView[]> {
  requireRole(actor, 'admin');
  const tenantId = await targetTenant(deps, actor, input.tenant);
  return (await new OperatorStore(deps.store).listOperators(tenantId)).map(operatorView);
}

export async function createOperator(
  deps: OperatorDeps,
  actor: Actor,
  input: { tenant?: string | undefined; name: string; role: Role; password: string },
): Promise<OperatorView> {
  requireRole(actor, 'admin');
  const tenantId = await targetTenant(deps, actor, input.tenant);
  checkName(input.name);
  if (!ROLES.includes(input.role)) throw invalid('invalid_role', `role must be one of ${ROLES.join(', ')}`);
  if (input.role === 'platform') requireRole(actor, 'platform');
  checkPasswordPolicy(input.password);
  const operators = new OperatorStore(deps.store);
  if ((await operators.countOperators(tenantId)) >= MAX_OPERATORS_PER_TENANT)
    throw conflict('operator_limit', `a tenant has at most ${MAX_OPERATORS_PER_TENANT} operators`);
  const created = await operators.createOperator({
    tenantId,
    name: input.name,
    role: input.role,
    passwordHash: await hashPassword(input.password),
  });
  if (!created) throw conflict('operator_exists', `an operator named "${input.name}" exists in this tenant`);
  return operatorView(created);
}

/** Only a platform actor touches a platform operator. */
function mayManage(actor: Actor, target: OperatorRecord): void {
  if (target.role === 'platform') requireRole(actor, 'platform');
}

export async function removeOperator(
  deps: OperatorDeps,
  actor: Actor,
  input: { tenant?: string | undefined; name: string },
): Promise<void> {
  requireRole(actor, 'admin');
  const tenantId = await targetTenant(deps, actor, input.tenant);
  const operators = new OperatorStore(deps.store);
  const target = await operators.getOperator(tenantId, input.name);
  if (!target) throw notFound(`no operator "${input.name}" in this tenant`, 'operator_not_found');
  mayManage(actor, target);
  if (actor.kind === 'operator' && actor.id === target.name && actor.tenantId === tenantId)
    throw conflict('operator_self', 'an operator cannot remove their own account; ask another admin');
  await operators.deleteOperator(tenantId, input.name);
}

/**
 * Sets an operator's password and ends their sessions (`keepSession`: the hash of the session making
 * the change, when operators change their own). Anyone may change their own; admins anyone's in the tenant.
 */
export async function setOperatorPassword(
  deps: OperatorDeps,
  actor: Actor,
  input: { tenant?: string | undefined; name: string; password: string; keepSession?: string | undefined },
): Promise<void> {
  const tenantId = await targetTenant(deps, actor, input.tenant);
  const self = actor.kind === 'operator' && actor.id === input.name && actor.tenantId === tenantId;
  if (!self) requireRole(actor, 'admin');
  const operators = new OperatorStore(deps.store);
  const target = await operators.getOperator(tenantId, input.name);
  if (!target) throw notFound(`no operator "${input.name}" in this tenant`, 'operator_not_found');
  if (!self) mayManage(actor, target);
  checkPasswordPolicy(input.password);
  const hash = await hashPassword(input.password);
  const kept = self ? input.keepSession : undefined;
  if (!(await operators.setPassword(tenantId, input.name, hash, kept)))
    throw notFound(`no operator "${input.name}" in this tenant`, 'operator_not_found');
}

/**
 * The operator these credentials name, or undefined: an unknown tenant or name costs the same scrypt
 * check as a wrong password, so the answer's timing doesn't tell which it was.
 */
export async function authenticateOperator(
  deps: OperatorDeps,
  input: { tenant: string; name: string; password: string },
): Promise<OperatorRecord | undefined> {
  const known =
    TENANT_RE.test(input.tenant) && NAME_RE.test(input.name)
      ? await new OperatorStore(deps.store).getOperator(input.tenant, input.name)
      : undefined;
  const ok = await verifyPassword(input.password, known?.passwordHash ?? DUMMY_PASSWORD_HASH);
  return ok ? known : undefined;
}

/**
 * On first start: the default tenant's `admin` operator (role admin) when the tenant has none.
 * `password` (VIGIL_ADMIN_PASSWORD) becomes its password; otherwise one is generated and returned, to be
 * shown once. An existing operator is never changed (`vigil user passwd admin` resets a lost password).
 */
export async function ensureAdminOperator(
  deps: OperatorDeps,
  password: string | undefined,
): Promise<{ created: boolean; generatedPassword?: string }> {
  if (password !== undefined) {
    try {
      checkPasswordPolicy(password);
    } catch (err) {
      throw new Error(`VIGIL_ADMIN_PASSWORD: ${(err as Error).message}`);
    }
  }
  const operators = new OperatorStore(deps.store);
  if ((await operators.countOperators(DEFAULT_TENANT)) > 0) return { created: false };
  const chosen = password ?? generatePassword();
  const created = await operators.createOperator({
    tenantId: DEFAULT_TENANT,
    name: 'admin',
    role: 'admin',
    passwordHash: await hashPassword(chosen),
  });
  // Another instance created it at the same moment: its start printed the password.
  if (!created) return { created: false };
  return password === undefined ? { created: true, generatedPassword: chosen } : { created: true };
}
