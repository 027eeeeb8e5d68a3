/** Evidence crops: the area around the mark in a few frames, as PNG, with the mark outlined. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import type { PxRect } from './color/grid.ts';
import type { Evidence, Frame } from './types.ts';

/** Writes `frame` cropped to `around` (the mark grown by `margin` of its size each side) with an outline. */
export function writeCrop(dir: string, name: string, frame: Frame, mark: PxRect, margin = 1.5): Evidence {
  mkdirSync(dir, { recursive: true });
  const mx = Math.max(8, mark.width * margin);
  const my = Math.max(8, mark.height * margin);
  const x0 = Math.max(0, Math.floor(mark.x - mx));
  const y0 = Math.max(0, Math.floor(mark.y - my));
  const x1 = Math.min(frame.width, Math.ceil(mark.x + mark.width + mx));
  const y1 = Math.min(frame.height, Math.ceil(mark.y + mark.height + my));
  const w = Math.max(1, x1 - x0);
  const h = Math.max(1, y1 - y0);
  const png = new PNG({ width: w, height: h });
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const s = ((y0 + y) * frame.width + x0 + x) * 3;
      const o = (y * w + x) * 4;
      png.data[o] = frame.data[s]!;
      png.data[o + 1] = frame.data[s + 1]!;
      png.data[o + 2] = frame.data[s + 2]!;
      png.data[o + 3] = 255;
    }
  }
  // A red outline one pixel outside the mark.
  const ox0 = Math.floor(mark.x) - x0 - 1;
  const oy0 = Math.floor(mark.y) - y0 - 1;
  const ox1 = Math.ceil(mark.x + mark.width) - x0;
  const oy1 = Math.ceil(mark.y + mark.height) - y0;
  const dot = (x: number, y: number) => {
    if (x < 0 || y < 0 || x >= w || y >= h) return;
    const o = (y * w + x) * 4;
    png.data[o] = 255;
    png.data[o + 1] = 0;
    png.data[o + 2] = 0;
  };
  for (let x = ox0; x <= ox1; x++) {
    dot(x, oy0);
    dot(x, oy1);
  }
  for (let y = oy0; y <= oy1; y++) {
    dot(ox0, y);
    dot(ox1, y);
  }
  const file = join(dir, name);
  writeFileSync(file, PNG.sync.write(png));
  return { t: frame.t, file };
}
