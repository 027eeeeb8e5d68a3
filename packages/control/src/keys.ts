import { type ContentKey, generateContentKey, TRACK_TYPES, type TrackType } from '@vigil/keys';
import { type PageRequest, pageContentKeys } from '@vigil/store';
import { type Actor, requireRole } from './actor.ts';
import type { StoreDeps } from './deps.ts';
import { check, defined } from './schema.ts';

/** Content keys: made here, sealed by the store; their bytes never leave through the control plane. */
export const createKeysSchema = {
  type: 'object',
  required: ['resourceId'],
  additionalProperties: false,
  properties: {
    resourceId: { type: 'string', minLength: 1, maxLength: 256, pattern: '^[\\x21-\\x7e]+$' },
    firstPeriod: { type: 'integer', minimum: 0, maximum: 1e12 },
    periods: { type: 'integer', minimum: 1, maximum: 1000 },
    trackTypes: {
      type: 'array',
      minItems: 1,
      maxItems: 5,
      uniqueItems: true,
      items: { type: 'string', enum: [...TRACK_TYPES] },
    },
    ttlSeconds: { type: 'integer', minimum: 60, maximum: 10 * 365 * 86400 },
  },
} as const;

export interface CreateKeysInput {
  resourceId: string;
  firstPeriod?: number | undefined;
  periods?: number | undefined;
  trackTypes?: TrackType[] | undefined;
  ttlSeconds?: number | undefined;
}

export interface KeysDeps extends StoreDeps {
  /** How long keys live when the caller names no TTL. */
  keyTtlSeconds: number;
}

/** Keys for `periods` key periods from `firstPeriod`, one per track type each (default: one `all`). */
export async function createKeys(
  deps: KeysDeps,
  actor: Actor,
  input: CreateKeysInput,
): Promise<ContentKey[]> {
  requireRole(actor, 'admin');
  const body = check<CreateKeysInput>(createKeysSchema, defined(input));
  const expiresAt = Date.now() + (body.ttlSeconds ?? deps.keyTtlSeconds) * 1000;
  const keys: ContentKey[] = [];
  for (let p = 0; p < (body.periods ?? 1); p++) {
    for (const trackType of body.trackTypes ?? ['all']) {
      keys.push(
        generateContentKey({
          tenantId: actor.tenantId,
          resourceId: body.resourceId,
          keyPeriod: (body.firstPeriod ?? 0) + p,
          trackType,
          expiresAt,
        }),
      );
    }
  }
  await deps.store.putContentKeys(keys);
  return keys;
}

export const listKeysSchema = {
  type: 'object',
  required: ['resourceId'],
  properties: { resourceId: { type: 'string', maxLength: 256 } },
} as const;

/** One page of a resource's key ids (by key period). */
export async function listKeys(
  deps: StoreDeps,
  actor: Actor,
  input: { resourceId: string },
  page: PageRequest,
) {
  requireRole(actor, 'readonly');
  const { resourceId } = check<{ resourceId: string }>(listKeysSchema, { resourceId: input.resourceId });
  return pageContentKeys(deps.store, actor.tenantId, resourceId, page);
}
