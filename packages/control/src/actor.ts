import type { Role } from '@vigil/store';
import { forbidden } from './errors.ts';

/**
 * Who is calling an operation: an API key, a console operator or the local CLI. The CLI run against
 * `--data` acts as the platform role of the tenant it names (whoever can read the data folder already
 * holds every key); run with `--server` it acts as the API key it presents.
 */
export interface Actor {
  readonly tenantId: string;
  readonly role: Role;
  readonly kind: 'api-key' | 'operator' | 'cli';
  /** The API key's prefix, the operator's name, or `cli`: what audit lines and reasons name. */
  readonly id: string;
}

/** What each role may do; a role includes the ones after it. */
export const ROLE_RANK: Readonly<Record<Role, number>> = { platform: 4, admin: 3, operator: 2, readonly: 1 };

export function hasRole(actor: { role: Role }, minimum: Role): boolean {
  return ROLE_RANK[actor.role] >= ROLE_RANK[minimum];
}

/** Throws 403 `forbidden` unless the actor has at least `minimum`. */
export function requireRole(actor: Actor, minimum: Role): void {
  if (!hasRole(actor, minimum))
    throw forbidden(`this needs the ${minimum} role; the caller has ${actor.role}`);
}
