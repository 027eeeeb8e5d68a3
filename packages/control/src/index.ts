/**
 * @vigil/control: the control plane's operations, once, pure of HTTP and of argument parsing. Each
 * resource has a module (`bans.ts`, `keys.ts`, ...) of functions `(deps, actor, input) → result` that
 * validate, default, check the role and call the store; the Fastify routes and the CLI commands are thin
 * adapters over them (parse → call → render). Refusals are `ControlError`s.
 */
export { type Actor, hasRole, ROLE_RANK, requireRole } from './actor.ts';
export * from './apikeys.ts';
export * from './bans.ts';
export * from './delivery.ts';
export * from './deps.ts';
export * from './detections.ts';
export * from './drm.ts';
export { ControlError, conflict, forbidden, invalid, notFound } from './errors.ts';
export * from './keys.ts';
export * from './live.ts';
export * from './media/asset-watermark.ts';
export * from './media/cloudfront.ts';
export * from './media/monitoring.ts';
export * from './media.ts';
export {
  authenticateOperator,
  createOperator,
  ensureAdminOperator,
  listOperators,
  OPERATOR_NAME,
  type OperatorDeps,
  type OperatorView,
  operatorView,
  removeOperator,
  setOperatorPassword,
} from './operators.ts';
export {
  checkPasswordPolicy,
  hashPassword,
  MAX_PASSWORD_BYTES,
  MIN_PASSWORD_LENGTH,
  verifyPassword,
} from './passwords.ts';
export * from './reads.ts';
export { check as checkInput } from './schema.ts';
export * from './tenants.ts';
export * from './watches.ts';
export * from './watermark.ts';
