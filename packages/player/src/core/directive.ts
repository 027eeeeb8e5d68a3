/// <reference lib="dom" />
/**
 * The watermark directive the key server sends with every license, HLS key and heartbeat answer: the
 * `Vigil-Watermark` header (base64url JSON) or the heartbeat body's `watermark`. The player trusts only
 * fields of the expected types and keeps its current value for anything else.
 */

// Only the browser-safe watermark module of the core: the directive's shape and the server's defaults.
import {
  DEFAULT_WATERMARK,
  MAX_BOX_PX,
  type WatermarkDirective as ServerDirective,
  type WatermarkConfig,
} from '@vigil/core/watermark';

/** The colour box: position in percent of the picture, size in percent or (sizeUnit "px") CSS pixels. */
export type WatermarkBox = WatermarkConfig['box'];

/** The server's directive; `colorTag` is absent until a server has sent one. */
export interface WatermarkDirective extends Omit<ServerDirective, 'colorTag'> {
  colorTag?: number;
}

/** What the player assumes until the key server has said otherwise (the server's defaults). */
export const DEFAULT_DIRECTIVE: WatermarkDirective = (() => {
  const { legacyOptions: _legacy, ...defaults } = DEFAULT_WATERMARK;
  return { ...defaults, box: { ...defaults.box }, sessionId: '' };
})();

const isNum = (v: unknown, min: number, max: number): v is number =>
  typeof v === 'number' && Number.isFinite(v) && v >= min && v <= max;

/** Merges the well-typed fields of `input` into `base`; returns `base` itself when nothing valid came. */
export function mergeDirective(base: WatermarkDirective, input: unknown): WatermarkDirective {
  if (typeof input !== 'object' || input === null) return base;
  const o = input as Record<string, unknown>;
  const next: WatermarkDirective = { ...base, box: { ...base.box } };
  if (typeof o.enabled === 'boolean') next.enabled = o.enabled;
  if (o.mode === 'text' || o.mode === 'color') next.mode = o.mode;
  if (isNum(o.textIntervalSeconds, 0.1, 86_400)) next.textIntervalSeconds = o.textIntervalSeconds;
  if (isNum(o.textOpacity, 0, 1)) next.textOpacity = o.textOpacity;
  if (isNum(o.symbolSeconds, 0.02, 3600)) next.symbolSeconds = o.symbolSeconds;
  if (isNum(o.heartbeatSeconds, 1, 86_400)) next.heartbeatSeconds = o.heartbeatSeconds;
  if (o.tamperPolicy === 'report' || o.tamperPolicy === 'stop') next.tamperPolicy = o.tamperPolicy;
  if (typeof o.sessionId === 'string') next.sessionId = o.sessionId;
  if (Number.isInteger(o.colorTag) && isNum(o.colorTag, 0, 0xffff_ffff)) next.colorTag = o.colorTag;
  if (typeof o.box === 'object' && o.box !== null) {
    const b = o.box as Record<string, unknown>;
    // Sizes are percent of the picture, or CSS pixels with sizeUnit "px"; a box is taken whole or not at all.
    const px = b.sizeUnit === 'px';
    const sizeMax = px ? MAX_BOX_PX : 100;
    const known = b.sizeUnit === undefined || b.sizeUnit === 'percent' || px;
    if (known && isNum(b.width, 0, sizeMax) && isNum(b.height, 0, sizeMax)) {
      next.box = { ...next.box, width: b.width, height: b.height };
      if (px) next.box.sizeUnit = 'px';
      else delete next.box.sizeUnit;
    }
    for (const edge of ['x', 'y'] as const) {
      const v = b[edge];
      if (isNum(v, 0, 100)) next.box[edge] = v;
    }
  }
  return next;
}

/** Decodes a `Vigil-Watermark` header value; undefined when it is not base64url JSON. */
export function decodeDirectiveHeader(value: string | null | undefined): unknown {
  if (!value) return undefined;
  try {
    const b64 = value.trim().replace(/-/g, '+').replace(/_/g, '/');
    const binary = atob(b64 + '='.repeat((4 - (b64.length % 4)) % 4));
    const bytes = Uint8Array.from(binary, (c) => c.charCodeAt(0));
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    return undefined;
  }
}

/** True when two directives would draw and police the same mark. */
export function sameDirective(a: WatermarkDirective, b: WatermarkDirective): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/**
 * The tag colour mode encodes: the server's `colorTag`, keyed per tenant by the server (a player can't
 * compute it from the session id, and neither can anyone else). Without one, colour mode draws nothing.
 */
export function colorTagOf(directive: WatermarkDirective): number | undefined {
  return directive.colorTag;
}
