/**
 * @vigil/control: the control plane's operations, once, pure of HTTP and of argument parsing. Each
 * resource has a module (`bans.ts`, `keys.ts`, ...) of functions `(deps, actor, input) → result` that
 * validate, default, check the role and call the store; the Fastify routes and the CLI commands are thin
 * adapters over them (parse → call → render). Refusals are `ControlError`s.
 */
export { type Actor, hasRole, ROLE_RANK, requireRole } from './actor.ts';
export * from './drm.ts';
export { ControlError, conflict, forbidden, invalid, notFound } from './errors.ts';
export * from './media.ts';
