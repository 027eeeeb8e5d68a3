import { Denial } from '../errors.ts';

/**
 * The usage policy a viewer token carries (claim `usage`), set by `GET /v1/media/{id}/stream-url` from
 * the asset's policy so that the viewer license path enforces it without a store read: `maxResolution`
 * (keys of renditions above it are withheld) and `concurrentStreams` (sessions of the token's user with
 * a recent license or heartbeat). `playbackDuration` needs no claim: it caps the token's `exp`.
 */
export interface ViewerUsage {
  /** "480p", "720p", "1080p", "2160p". */
  maxResolution?: string;
  /** 1 to 100. */
  concurrentStreams?: number;
}

export const USAGE_CLAIM = 'usage';
const RESOLUTION = /^\d{3,4}p$/;

/** The `usage` claim of a verified payload: undefined when absent, refused when malformed. */
export function usageClaim(payload: Record<string, unknown>): ViewerUsage | undefined {
  const value = payload[USAGE_CLAIM];
  if (value === undefined) return undefined;
  const bad = () => new Denial('token_claims_invalid', `claim "${USAGE_CLAIM}" is malformed`);
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw bad();
  const { maxResolution, concurrentStreams, ...rest } = value as Record<string, unknown>;
  if (Object.keys(rest).length > 0) throw bad();
  const usage: ViewerUsage = {};
  if (maxResolution !== undefined) {
    if (typeof maxResolution !== 'string' || !RESOLUTION.test(maxResolution)) throw bad();
    usage.maxResolution = maxResolution;
  }
  if (concurrentStreams !== undefined) {
    if (
      typeof concurrentStreams !== 'number' ||
      !Number.isInteger(concurrentStreams) ||
      concurrentStreams < 1 ||
      concurrentStreams > 100
    )
      throw bad();
    usage.concurrentStreams = concurrentStreams;
  }
  return usage;
}
