import { BadRequest } from '../errors.ts';

/**
 * A tenant's watermark configuration. The player receives it (as a directive) with every license and
 * heartbeat answer, so a change reaches every viewer within one key period or heartbeat interval.
 */
export interface WatermarkConfig {
  enabled: boolean;
  mode: 'text' | 'color';
  /** Text mode: how often the session id jumps to a new random position. */
  textIntervalSeconds: number;
  /** Text mode: opacity of the mark, 0.05..1. */
  textOpacity: number;
  /**
   * Colour mode: the box. `x` (left) and `y` (top) in percent of the picture; `width` and `height` in
   * percent too, or in CSS pixels with `sizeUnit: 'px'` (the seed admin page's boxes).
   */
  box: WatermarkBox;
  /** Colour mode: how long each colour symbol stays on screen. */
  symbolSeconds: number;
  /** How often the player calls /v1/heartbeat. */
  heartbeatSeconds: number;
  /** What the player does when it detects tampering with the mark. */
  tamperPolicy: 'report' | 'stop';
  /** Options of the seed system's admin page, kept verbatim for its compatibility API. */
  legacyOptions?: Record<string, unknown>;
}

export interface WatermarkBox {
  x: number;
  y: number;
  width: number;
  height: number;
  /** What `width` and `height` count: percent of the picture (absent) or CSS pixels. */
  sizeUnit?: 'percent' | 'px';
}

/** The largest colour box side in CSS pixels. */
export const MAX_BOX_PX = 4096;

export const DEFAULT_WATERMARK: WatermarkConfig = {
  enabled: true,
  mode: 'text',
  textIntervalSeconds: 5,
  textOpacity: 0.6,
  box: { x: 2, y: 2, width: 4, height: 6 },
  symbolSeconds: 0.5,
  heartbeatSeconds: 15,
  tamperPolicy: 'report',
};

/** What a player needs to draw the mark for one session. */
export interface WatermarkDirective extends Omit<WatermarkConfig, 'legacyOptions'> {
  sessionId: string;
  /** What colour mode encodes: the session's 32-bit tag (see sessionTag). */
  colorTag: number;
}

export function directiveFor(
  config: WatermarkConfig,
  sessionId: string,
  colorTag: number,
): WatermarkDirective {
  const { legacyOptions: _legacy, ...rest } = config;
  return { ...rest, sessionId, colorTag };
}

function num(value: unknown, name: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
    throw new BadRequest('invalid_watermark_config', `"${name}" must be a number from ${min} to ${max}`);
  }
  return value;
}

/** `value` if it is one of `allowed`, else the config's one refusal. */
function oneOf<T extends string>(value: unknown, name: string, allowed: readonly T[]): T {
  if (!allowed.includes(value as T)) {
    const names = allowed.map((a) => `"${a}"`).join(' or ');
    throw new BadRequest('invalid_watermark_config', `"${name}" must be ${names}`);
  }
  return value as T;
}

/** The numeric fields and their ranges. */
const RANGES = {
  textIntervalSeconds: [0.5, 3600],
  textOpacity: [0.05, 1],
  symbolSeconds: [0.1, 10],
  heartbeatSeconds: [2, 3600],
} as const;

/** Merges a partial update into a config, validating every field it touches. */
export function mergeWatermarkConfig(current: WatermarkConfig, patch: unknown): WatermarkConfig {
  if (typeof patch !== 'object' || patch === null || Array.isArray(patch)) {
    throw new BadRequest('invalid_watermark_config', 'watermark config must be a JSON object');
  }
  const p = patch as Record<string, unknown>;
  const next: WatermarkConfig = { ...current, box: { ...current.box } };
  for (const key of Object.keys(p)) {
    const value = p[key];
    switch (key) {
      case 'enabled':
        if (typeof value !== 'boolean')
          throw new BadRequest('invalid_watermark_config', '"enabled" must be a boolean');
        next.enabled = value;
        break;
      case 'mode':
        next.mode = oneOf(value, key, ['text', 'color']);
        break;
      case 'textIntervalSeconds':
      case 'textOpacity':
      case 'symbolSeconds':
      case 'heartbeatSeconds':
        next[key] = num(value, key, RANGES[key][0], RANGES[key][1]);
        break;
      case 'tamperPolicy':
        next.tamperPolicy = oneOf(value, key, ['report', 'stop']);
        break;
      case 'box': {
        if (typeof value !== 'object' || value === null || Array.isArray(value)) {
          throw new BadRequest('invalid_watermark_config', '"box" must be an object');
        }
        const b = value as Record<string, unknown>;
        if ('sizeUnit' in b) {
          if (oneOf(b.sizeUnit, 'box.sizeUnit', ['percent', 'px']) === 'px') next.box.sizeUnit = 'px';
          else delete next.box.sizeUnit;
        }
        const px = next.box.sizeUnit === 'px';
        for (const edge of Object.keys(b)) {
          if (edge === 'sizeUnit') continue;
          if (edge !== 'x' && edge !== 'y' && edge !== 'width' && edge !== 'height') {
            throw new BadRequest('invalid_watermark_config', `unknown field "box.${edge}"`);
          }
          next.box[edge] =
            edge === 'x' || edge === 'y'
              ? num(b[edge], `box.${edge}`, 0, 100)
              : num(b[edge], `box.${edge}`, px ? 1 : 0.5, px ? MAX_BOX_PX : 100);
        }
        if (px) {
          // A unit switch without new sizes must still leave sizes valid in the new unit.
          for (const edge of ['width', 'height'] as const) num(next.box[edge], `box.${edge}`, 1, MAX_BOX_PX);
          if (next.box.x >= 100 || next.box.y >= 100) {
            throw new BadRequest('invalid_watermark_config', 'the box must start inside the picture');
          }
        } else {
          for (const edge of ['width', 'height'] as const) num(next.box[edge], `box.${edge}`, 0.5, 100);
          if (next.box.x + next.box.width > 100 || next.box.y + next.box.height > 100) {
            throw new BadRequest('invalid_watermark_config', 'the box must lie inside the picture');
          }
        }
        break;
      }
      case 'legacyOptions':
        if (typeof value !== 'object' || value === null || Array.isArray(value)) {
          throw new BadRequest('invalid_watermark_config', '"legacyOptions" must be an object');
        }
        next.legacyOptions = value as Record<string, unknown>;
        break;
      default:
        throw new BadRequest('invalid_watermark_config', `unknown field "${key}"`);
    }
  }
  return next;
}
