import { randomBytes } from 'node:crypto';
import { type PageRequest, pageTenants } from '@vigil/store';
import { type Actor, requireRole } from './actor.ts';
import type { StoreDeps } from './deps.ts';
import { type DetectionDeps, type LeakPolicy, mergeLeakPolicy } from './detections.ts';
import { conflict, invalid } from './errors.ts';
import { check, defined } from './schema.ts';

/** The one tenant id pattern: lowercase letters, digits, `-` and `_`, 1 to 64, starting alphanumeric. */
export const TENANT_ID_PATTERN = '^[a-z0-9][a-z0-9_-]{0,63}$';
const TENANT_ID = new RegExp(TENANT_ID_PATTERN);

export function isTenantId(value: string): boolean {
  return TENANT_ID.test(value);
}

const originsSchema = {
  type: 'array',
  maxItems: 100,
  items: { type: 'string', pattern: '^(\\*|https?://[^/\\s]+)$' },
} as const;

export const createTenantSchema = {
  type: 'object',
  required: ['id'],
  additionalProperties: false,
  properties: {
    id: { type: 'string', pattern: TENANT_ID_PATTERN },
    name: { type: 'string', minLength: 1, maxLength: 200 },
    allowedOrigins: originsSchema,
  },
} as const;

export interface CreateTenantInput {
  id: string;
  name?: string | undefined;
  allowedOrigins?: string[] | undefined;
}

export interface CreatedTenant {
  id: string;
  /** Its HS256 viewer-token secret, shown once. */
  jwtSecret: string;
  /** Its first admin API key, shown once. */
  apiKey: string;
}

/** Creates a tenant (platform role) with a generated token secret and a first admin API key. */
export async function createTenant(
  deps: StoreDeps,
  actor: Actor,
  input: CreateTenantInput,
): Promise<CreatedTenant> {
  requireRole(actor, 'platform');
  const body = check<CreateTenantInput>(createTenantSchema, defined(input));
  if (await deps.store.getTenant(body.id)) throw conflict('tenant_exists', `tenant "${body.id}" exists`);
  const tenant = await deps.store.createTenant(body);
  const { key } = await deps.store.createApiKey(tenant.id, 'admin', 'initial admin key');
  return { id: tenant.id, jwtSecret: tenant.secret.toString('utf8'), apiKey: key };
}

/** One page of every tenant (platform role). */
export async function listTenants(deps: StoreDeps, actor: Actor, page: PageRequest) {
  requireRole(actor, 'platform');
  return pageTenants(deps.store, page);
}

export interface TenantSettings {
  id: string;
  name: string;
  allowedOrigins: string[];
  jwks: { keys: Record<string, unknown>[] } | null;
  /** While a rotated HS256 secret still verifies: until when (ms since the epoch). */
  previousSecretValidUntil?: number;
  /** Where the leak-tracing store is there (the server): auto-ban, false-match threshold, windows. */
  leakPolicy?: LeakPolicy;
}

/** What the tenant operations need: the store and, for the leak policy, the detections' store. */
export type TenantDeps = StoreDeps & Partial<Pick<DetectionDeps, 'detections'>>;

/** The actor's own tenant's settings. */
export async function getTenantSettings(deps: TenantDeps, actor: Actor): Promise<TenantSettings> {
  requireRole(actor, 'readonly');
  const t = (await deps.store.getTenant(actor.tenantId))!;
  const settings: TenantSettings = { id: t.id, name: t.name, allowedOrigins: t.allowedOrigins, jwks: t.jwks };
  if (t.previousSecret && t.previousSecret.until > Date.now())
    settings.previousSecretValidUntil = t.previousSecret.until;
  if (deps.detections) settings.leakPolicy = await deps.detections.getLeakPolicy(actor.tenantId);
  return settings;
}

export const updateTenantSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    name: { type: 'string', minLength: 1, maxLength: 200 },
    allowedOrigins: originsSchema,
    leakPolicy: { type: 'object', description: 'autoBan, maxFalseMatchProbability, agreeingWindows' },
    jwks: {
      type: ['object', 'null'],
      required: ['keys'],
      properties: {
        keys: { type: 'array', maxItems: 20, items: { type: 'object', required: ['kty'] } },
      },
    },
  },
} as const;

export interface UpdateTenantInput {
  name?: string | undefined;
  allowedOrigins?: string[] | undefined;
  jwks?: { keys: Record<string, unknown>[] } | null | undefined;
  leakPolicy?: unknown;
}

/** Changes the actor's tenant: name, allowed browser origins, registered public keys (JWKS), leak policy. */
export async function updateTenantSettings(
  deps: TenantDeps,
  actor: Actor,
  input: UpdateTenantInput,
): Promise<TenantSettings> {
  requireRole(actor, 'admin');
  const body = check<UpdateTenantInput>(updateTenantSchema, input);
  for (const key of body.jwks?.keys ?? []) {
    if (key.kty !== 'RSA' && key.kty !== 'EC')
      throw invalid('invalid_jwks', 'only RSA and EC public keys can be registered');
    if ('d' in key) throw invalid('invalid_jwks', 'register public keys only: a private key was sent');
  }
  const { leakPolicy: policyInput, ...settings } = body;
  if (policyInput !== undefined && !deps.detections)
    throw invalid('invalid_request', 'the leak policy is kept by the server: set it through the API');
  // Checked before anything is written, so a bad policy changes nothing.
  const policy =
    policyInput === undefined || !deps.detections
      ? undefined
      : mergeLeakPolicy(await deps.detections.getLeakPolicy(actor.tenantId), policyInput);
  await deps.store.updateTenant(actor.tenantId, settings);
  if (policy) await deps.detections!.putLeakPolicy(actor.tenantId, policy);
  return getTenantSettings(deps, actor);
}

/** How long a rotated secret keeps verifying unless told: one hour. */
export const DEFAULT_SECRET_GRACE_SECONDS = 3600;
/** The longest grace period a rotated secret may keep verifying: 7 days. */
export const MAX_SECRET_GRACE_SECONDS = 7 * 86_400;

export const rotateSecretSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    graceSeconds: {
      type: 'integer',
      minimum: 0,
      maximum: MAX_SECRET_GRACE_SECONDS,
      default: DEFAULT_SECRET_GRACE_SECONDS,
      description: 'how long tokens signed with the old secret still verify (0: not at all)',
    },
  },
} as const;

export interface RotateSecretInput {
  graceSeconds?: number | undefined;
}

export interface RotatedSecret {
  /** The new HS256 viewer-token secret, shown once. */
  jwtSecret: string;
  /** Until when (ms since the epoch) tokens signed with the old secret still verify. */
  previousSecretValidUntil: number;
}

/**
 * Rotates the actor's tenant's HS256 viewer-token secret (admin role): a new random secret signs from
 * now on; the old one verifies for `graceSeconds` more (default one hour), then never again.
 */
export async function rotateTenantSecret(
  deps: StoreDeps,
  actor: Actor,
  input: RotateSecretInput,
): Promise<RotatedSecret> {
  requireRole(actor, 'admin');
  const body = check<RotateSecretInput>(rotateSecretSchema, defined(input ?? {}));
  const secret = Buffer.from(randomBytes(32).toString('base64url'), 'utf8');
  const until = Date.now() + (body.graceSeconds ?? DEFAULT_SECRET_GRACE_SECONDS) * 1000;
  await deps.store.rotateTenantSecret(actor.tenantId, secret, until);
  return { jwtSecret: secret.toString('utf8'), previousSecretValidUntil: until };
}
