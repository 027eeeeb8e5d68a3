/**
 * What colour mode needs from a watermark codec: the cyclic sequence of palette indices that encodes a
 * 32-bit session tag, and the palette. The default is `@vigil/watermark-codec` with its default design,
 * the one the leak detector decodes; the `codec` option takes another (tests, custom palettes).
 */
import { encodeTag, paletteRgb } from '@vigil/watermark-codec';

export interface ColorCodec {
  encodeTag(tag: number): number[];
  paletteRgb(): [number, number, number][];
}

export const DEFAULT_COLOR_CODEC: ColorCodec = {
  encodeTag: (tag) => encodeTag(tag),
  paletteRgb: () => paletteRgb(),
};
