import { BadRequest, MAX_BOX_PX } from '@vigil/core';

/**
 * The seed admin page's `wmOptions` as a partial Vigil watermark config:
 * - `{type: "id"}`: the full session id, Vigil's text mode;
 * - `{type: "color", x, y, width, height}`: the colour-coded box, where the seed's `x` is the box's top and
 *   `y` its left (percent of the player) and `width`/`height` are pixels: Vigil's colour mode with the box
 *   at left `y`, top `x`, sized in CSS pixels.
 * Options without a `type` (what older admin pages sent) change nothing but are still kept verbatim.
 * Anything else is refused with 400 `invalid_request`, naming the field.
 */
export function seedWatermarkOptions(options: Record<string, unknown>): Record<string, unknown> {
  if (!('type' in options)) return {};
  const bad = (message: string) => new BadRequest('invalid_request', message);
  if (options.type === 'id') return { mode: 'text' };
  if (options.type !== 'color') throw bad('"wmOptions.type" must be "color" or "id"');
  /** Position: 0 ≤ v < 100 (percent of the player); size: 0 < v ≤ MAX_BOX_PX (pixels). */
  const field = (name: 'x' | 'y' | 'width' | 'height') => {
    const v = options[name];
    const position = name === 'x' || name === 'y';
    const ok =
      typeof v === 'number' &&
      Number.isFinite(v) &&
      (position ? v >= 0 && v < 100 : v > 0 && v <= MAX_BOX_PX);
    if (!ok) {
      throw bad(
        position
          ? `"wmOptions.${name}" must be a number from 0 to less than 100 (percent of the player)`
          : `"wmOptions.${name}" must be a number of pixels above 0 and at most ${MAX_BOX_PX}`,
      );
    }
    return v;
  };
  const top = field('x');
  const left = field('y');
  const width = Math.max(1, field('width'));
  const height = Math.max(1, field('height'));
  return { mode: 'color', box: { sizeUnit: 'px', x: left, y: top, width, height } };
}
