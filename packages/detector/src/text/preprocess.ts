/**
 * Finding the text mark in a frame and cleaning it up for OCR.
 *
 * The player draws the session id in bold sans-serif, white, over a dark outline and shadow, the whole
 * at `textOpacity` (0.6 by default): the letters are a light, nearly neutral fill with dark pixels a
 * few pixels away on every side, whatever the picture behind. The mark map scores each pixel by how
 * much lighter it is than the darkest pixel around it (a grey-level erosion over about the outline's
 * width), on a whiteness that is high only where all three channels are: saturated bright content
 * scores low, and so do smooth areas. Letters come out as blobs of letter size side by side on one
 * line; connected components of the thresholded map are grouped into such lines, which are the
 * candidate regions handed to OCR, upscaled and binarised (black letters on white).
 */
import type { Frame } from '../types.ts';

export interface Box {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** A grey image (one byte a pixel). */
export interface Gray {
  width: number;
  height: number;
  data: Uint8Array;
}

/** The outline's width in px for a picture of this height (the player's font is 5 % of it). */
export const outlineRadius = (height: number): number => Math.max(2, Math.round(height * 0.009));

/** Minimum over a (2r+1)² window, separable (rows then columns). */
function erodeMin(src: Uint8Array, width: number, height: number, r: number): Uint8Array {
  const tmp = new Uint8Array(src.length);
  const out = new Uint8Array(src.length);
  for (let y = 0; y < height; y++) {
    const row = y * width;
    for (let x = 0; x < width; x++) {
      let m = 255;
      const x0 = Math.max(0, x - r);
      const x1 = Math.min(width - 1, x + r);
      for (let k = x0; k <= x1; k++) {
        const v = src[row + k]!;
        if (v < m) m = v;
      }
      tmp[row + x] = m;
    }
  }
  for (let y = 0; y < height; y++) {
    const y0 = Math.max(0, y - r);
    const y1 = Math.min(height - 1, y + r);
    for (let x = 0; x < width; x++) {
      let m = 255;
      for (let k = y0; k <= y1; k++) {
        const v = tmp[k * width + x]!;
        if (v < m) m = v;
      }
      out[y * width + x] = m;
    }
  }
  return out;
}

/**
 * Minimum of the `r` pixels on one side of each pixel: before it (`dir` −1) or after it (+1), along its
 * row (`step` 1) or its column (`step` = width).
 */
function sideMin(src: Uint8Array, width: number, height: number, r: number, step: number, dir: 1 | -1) {
  const out = new Uint8Array(src.length);
  const lines = step === 1 ? height : width;
  const length = step === 1 ? width : height;
  const across = step === 1 ? width : 1;
  for (let line = 0; line < lines; line++) {
    const base = line * across;
    for (let i = 0; i < length; i++) {
      const last = Math.min(length - 1, Math.max(0, i + dir * r));
      let m = 255;
      for (let k = i + dir; dir > 0 ? k <= last : k >= last; k += dir) {
        const v = src[base + k * step]!;
        if (v < m) m = v;
      }
      out[base + i * step] = m;
    }
  }
  return out;
}

/** Maximum over each pixel's 3×3 neighbourhood. */
function dilate1(src: Uint8Array, width: number, height: number): Uint8Array {
  const out = new Uint8Array(src.length);
  for (let y = 0; y < height; y++) {
    const y0 = Math.max(0, y - 1);
    const y1 = Math.min(height - 1, y + 1);
    for (let x = 0; x < width; x++) {
      const x0 = Math.max(0, x - 1);
      const x1 = Math.min(width - 1, x + 1);
      let m = 0;
      for (let yy = y0; yy <= y1; yy++) {
        for (let xx = x0; xx <= x1; xx++) {
          const v = src[yy * width + xx]!;
          if (v > m) m = v;
        }
      }
      out[y * width + x] = m;
    }
  }
  return out;
}

/**
 * The mark map: whiteness (the lowest channel, lifted towards the luma so chroma bleeding of a
 * compressed clip does not erase thin letters) minus the darkest luma within the outline radius —
 * and no more than the same whiteness minus the darker of the two sides (left and right, or above and
 * below, a little farther out), within a pixel. A letter's stroke has its outline on both sides; the
 * picture just outside the outline has it on one side only, and without that second term comes out as
 * a halo around the whole line, which OCR reads as letters of its own (a blurred, washed-out or small
 * mark drowns in it).
 */
export function markMap(frame: Frame, radius = outlineRadius(frame.height)): Gray {
  const { width, height, data } = frame;
  const n = width * height;
  const luma = new Uint8Array(n);
  const white = new Uint8Array(n);
  for (let i = 0, p = 0; i < n; i++, p += 3) {
    const r = data[p]!;
    const g = data[p + 1]!;
    const b = data[p + 2]!;
    const y = (77 * r + 150 * g + 29 * b) >> 8;
    const lo = Math.min(r, g, b);
    luma[i] = y;
    white[i] = (3 * y + lo) >> 2;
  }
  const dark = erodeMin(luma, width, height, radius);
  const side = radius + 2;
  const left = sideMin(luma, width, height, side, 1, -1);
  const right = sideMin(luma, width, height, side, 1, 1);
  const up = sideMin(luma, width, height, side, width, -1);
  const down = sideMin(luma, width, height, side, width, 1);
  const between = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const v = white[i]! - Math.min(Math.max(left[i]!, right[i]!), Math.max(up[i]!, down[i]!));
    between[i] = v > 0 ? v : 0;
  }
  const near = dilate1(between, width, height);
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const v = Math.min(white[i]! - dark[i]!, near[i]!);
    out[i] = v > 0 ? v : 0;
  }
  return { width, height, data: out };
}

interface Component {
  x0: number;
  y0: number;
  x1: number;
  y1: number;
  count: number;
}

/** 8-connected components of `map >= threshold`, with their boxes and pixel counts. */
function components(map: Gray, threshold: number, maxCount: number): Component[] {
  const { width, height, data } = map;
  const label = new Int32Array(width * height);
  const stack = new Int32Array(width * height);
  const out: Component[] = [];
  let next = 0;
  for (let start = 0; start < data.length; start++) {
    if (label[start] !== 0 || data[start]! < threshold) continue;
    next++;
    let sp = 0;
    stack[sp++] = start;
    label[start] = next;
    const c: Component = { x0: width, y0: height, x1: -1, y1: -1, count: 0 };
    while (sp > 0) {
      const p = stack[--sp]!;
      const x = p % width;
      const y = (p - x) / width;
      c.count++;
      if (x < c.x0) c.x0 = x;
      if (x > c.x1) c.x1 = x;
      if (y < c.y0) c.y0 = y;
      if (y > c.y1) c.y1 = y;
      for (let dy = -1; dy <= 1; dy++) {
        const yy = y + dy;
        if (yy < 0 || yy >= height) continue;
        for (let dx = -1; dx <= 1; dx++) {
          const xx = x + dx;
          if (xx < 0 || xx >= width) continue;
          const q = yy * width + xx;
          if (label[q] === 0 && data[q]! >= threshold) {
            label[q] = next;
            stack[sp++] = q;
          }
        }
      }
    }
    out.push(c);
    if (out.length >= maxCount) break;
  }
  return out;
}

export interface TextLine extends Box {
  /** Letter-like components in the line. */
  letters: number;
  /** Median letter height in px. */
  letterHeight: number;
}

/**
 * Lines of letter-sized blobs: components of letter height (from 5 px to an eighth of the picture),
 * no wider than a few letters, joined when they share a baseline band and sit close together. Lines of
 * at least four letters, best first (most letters).
 */
function linesAt(map: Gray, threshold: number): TextLine[] {
  const minH = 5;
  const maxH = Math.max(minH + 1, Math.round(map.height / 8));
  const all = components(map, threshold, 20_000);
  const letters = all.filter((c) => {
    const h = c.y1 - c.y0 + 1;
    const w = c.x1 - c.x0 + 1;
    if (h < minH || h > maxH || w > h * 3 || w < 1) return false;
    const fill = c.count / (w * h);
    return fill > 0.12 && fill < 0.95 && c.count >= 8;
  });
  letters.sort((a, b) => a.x0 - b.x0);
  const parent = letters.map((_, i) => i);
  const find = (i: number): number => {
    while (parent[i] !== i) {
      parent[i] = parent[parent[i]!]!;
      i = parent[i]!;
    }
    return i;
  };
  for (let i = 0; i < letters.length; i++) {
    const a = letters[i]!;
    const ha = a.y1 - a.y0 + 1;
    for (let j = i + 1; j < letters.length; j++) {
      const b = letters[j]!;
      const hb = b.y1 - b.y0 + 1;
      const h = Math.max(ha, hb);
      if (b.x0 - a.x1 > h * 1.2) break;
      if (Math.max(ha, hb) > 2.2 * Math.min(ha, hb)) continue;
      const overlap = Math.min(a.y1, b.y1) - Math.max(a.y0, b.y0) + 1;
      if (overlap < 0.5 * Math.min(ha, hb)) continue;
      parent[find(j)] = find(i);
    }
  }
  const groups = new Map<number, Component[]>();
  letters.forEach((c, i) => {
    const root = find(i);
    const g = groups.get(root);
    if (g) g.push(c);
    else groups.set(root, [c]);
  });
  const lines: TextLine[] = [];
  for (const g of groups.values()) {
    if (g.length < 4) continue;
    const heights = g.map((c) => c.y1 - c.y0 + 1).sort((a, b) => a - b);
    const letterHeight = heights[Math.floor(heights.length / 2)]!;
    const x0 = Math.min(...g.map((c) => c.x0));
    const x1 = Math.max(...g.map((c) => c.x1));
    const y0 = Math.min(...g.map((c) => c.y0));
    const y1 = Math.max(...g.map((c) => c.y1));
    // Letters at the ends may have been too faint to be found: a letter and a half more each side.
    const pad = Math.max(3, Math.round(letterHeight * 0.5));
    const padX = Math.max(4, Math.round(letterHeight * 1.5));
    const x = Math.max(0, x0 - padX);
    const y = Math.max(0, y0 - pad);
    lines.push({
      x,
      y,
      width: Math.min(map.width, x1 + padX + 1) - x,
      height: Math.min(map.height, y1 + pad + 1) - y,
      letters: g.length,
      letterHeight,
    });
  }
  return lines;
}

const overlapArea = (a: Box, b: Box): number =>
  Math.max(0, Math.min(a.x + a.width, b.x + b.width) - Math.max(a.x, b.x)) *
  Math.max(0, Math.min(a.y + a.height, b.y + b.height) - Math.max(a.y, b.y));

function union(a: TextLine, b: TextLine): TextLine {
  const x = Math.min(a.x, b.x);
  const y = Math.min(a.y, b.y);
  return {
    x,
    y,
    width: Math.max(a.x + a.width, b.x + b.width) - x,
    height: Math.max(a.y + a.height, b.y + b.height) - y,
    letters: a.letters + b.letters,
    letterHeight: Math.max(a.letterHeight, b.letterHeight),
  };
}

/**
 * The text lines of a mark map, best first (most letters). Letters are found at a low and a middle
 * threshold (a faint mark over a light picture, a blurred one; a crisp one whose letters would merge
 * at the low one): a line found at both is kept in its larger form, and pieces of one line split by a
 * poorly visible letter are joined when they share a band and nearly touch.
 */
export function findTextLines(map: Gray, maxLines = 4): TextLine[] {
  let lines: TextLine[] = [];
  for (const threshold of [30, 55, 90]) {
    for (const line of linesAt(map, threshold)) {
      const same = lines.findIndex(
        (l) => overlapArea(l, line) > 0.5 * Math.min(l.width * l.height, line.width * line.height),
      );
      if (same < 0) lines.push(line);
      else if (line.letters > lines[same]!.letters) lines[same] = line;
    }
  }
  for (let merged = true; merged; ) {
    merged = false;
    lines.sort((a, b) => a.x - b.x);
    outer: for (let i = 0; i < lines.length; i++) {
      for (let j = i + 1; j < lines.length; j++) {
        const a = lines[i]!;
        const b = lines[j]!;
        const h = Math.max(a.letterHeight, b.letterHeight);
        const vertical = Math.min(a.y + a.height, b.y + b.height) - Math.max(a.y, b.y);
        const gap = b.x - (a.x + a.width);
        if (
          gap <= 2 * h &&
          vertical >= 0.6 * Math.min(a.height, b.height) &&
          Math.max(a.letterHeight, b.letterHeight) <= 1.6 * Math.min(a.letterHeight, b.letterHeight)
        ) {
          lines[i] = union(a, b);
          lines.splice(j, 1);
          merged = true;
          break outer;
        }
      }
    }
  }
  lines = lines.filter((l) => l.width >= 3 * l.letterHeight);
  lines.sort((a, b) => b.letters - a.letters);
  return lines.slice(0, maxLines);
}

/** Otsu's threshold of the values in `data`. */
export function otsu(data: Uint8Array): number {
  const hist = new Float64Array(256);
  for (const v of data) hist[v]!++;
  const total = data.length;
  let sum = 0;
  for (let i = 0; i < 256; i++) sum += i * hist[i]!;
  let sumB = 0;
  let wB = 0;
  let best = 0;
  let threshold = 128;
  for (let t = 0; t < 256; t++) {
    wB += hist[t]!;
    if (wB === 0) continue;
    const wF = total - wB;
    if (wF === 0) break;
    sumB += t * hist[t]!;
    const mB = sumB / wB;
    const mF = (sum - sumB) / wF;
    const between = wB * wF * (mB - mF) ** 2;
    if (between > best) {
      best = between;
      threshold = t;
    }
  }
  return threshold;
}

/** Crops `box` out of a grey map. */
export function crop(map: Gray, box: Box): Gray {
  const out = new Uint8Array(box.width * box.height);
  for (let y = 0; y < box.height; y++) {
    const from = (box.y + y) * map.width + box.x;
    out.set(map.data.subarray(from, from + box.width), y * box.width);
  }
  return { width: box.width, height: box.height, data: out };
}

/**
 * A line crop with its contrast evened out along the line: each column divided by the highest value
 * within a letter and a half of it, so letters over a light part of the picture (a weaker mark map)
 * are binarised like the others.
 */
function levelled(patch: Gray, letterHeight: number): Gray {
  const { width, height, data } = patch;
  const colMax = new Uint8Array(width);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const v = data[y * width + x]!;
      if (v > colMax[x]!) colMax[x] = v;
    }
  }
  const r = Math.max(2, Math.round(letterHeight * 1.5));
  const out = new Uint8Array(data.length);
  for (let x = 0; x < width; x++) {
    let m = 0;
    for (let k = Math.max(0, x - r); k <= Math.min(width - 1, x + r); k++) if (colMax[k]! > m) m = colMax[k]!;
    const gain = 255 / Math.max(40, m);
    for (let y = 0; y < height; y++)
      out[y * width + x] = Math.min(255, Math.round(data[y * width + x]! * gain));
  }
  return { width, height, data: out };
}

/**
 * The OCR image of a line crop of the mark map: scaled (bilinear) so letters are about 40 px tall,
 * binarised at Otsu's threshold, black letters on white, with a white margin.
 */
export function ocrImage(raw: Gray, letterHeight: number): Gray {
  const patch = levelled(raw, letterHeight);
  // At most 2400 px wide: a line as wide as a large frame is not worth more OCR time.
  const scale = Math.min(4, 2400 / Math.max(1, patch.width), Math.max(1, 40 / Math.max(1, letterHeight)));
  const sw = Math.max(1, Math.round(patch.width * scale));
  const sh = Math.max(1, Math.round(patch.height * scale));
  const scaled = bilinear(patch.data, patch.width, patch.height, 1, sw, sh);
  const t = otsu(scaled);
  const margin = 16;
  const width = sw + 2 * margin;
  const height = sh + 2 * margin;
  const out = new Uint8Array(width * height).fill(255);
  for (let y = 0; y < sh; y++) {
    for (let x = 0; x < sw; x++) {
      if (scaled[y * sw + x]! > t) out[(y + margin) * width + x + margin] = 0;
    }
  }
  return { width, height, data: out };
}

/**
 * The pixelwise minimum of mark maps of consecutive frames: the mark stays put for seconds while the
 * picture moves, so what stays high in every one of them is the mark (and static picture detail).
 */
export function stillMap(maps: readonly Gray[]): Gray | undefined {
  const first = maps[0];
  if (!first || maps.length < 2) return undefined;
  if (maps.some((m) => m.width !== first.width || m.height !== first.height)) return undefined;
  const out = new Uint8Array(first.data);
  for (const m of maps.slice(1)) {
    const d = m.data;
    for (let i = 0; i < out.length; i++) if (d[i]! < out[i]!) out[i] = d[i]!;
  }
  return { width: first.width, height: first.height, data: out };
}

/** Whether two boxes overlap by more than half of the smaller one. */
export function sameBox(a: Box, b: Box): boolean {
  return overlapArea(a, b) > 0.5 * Math.min(a.width * a.height, b.width * b.height);
}

/**
 * A frame scaled up (bilinear) to at least `minHeight` rows: a small restream (240p) carries the mark
 * in letters of 8 px, too few for the outline erosion and for OCR.
 */
export function upscaled(frame: Frame, minHeight = 540): Frame {
  if (frame.height >= minHeight || frame.height < 2 || frame.width < 2) return frame;
  const width = Math.round((frame.width * minHeight) / frame.height);
  const height = minHeight;
  return {
    t: frame.t,
    width,
    height,
    data: bilinear(frame.data, frame.width, frame.height, 3, width, height),
  };
}

/** An image of `channels` bytes a pixel resized (bilinear, pixel centres aligned) to `outWidth`×`outHeight`. */
function bilinear(
  src: Uint8Array,
  width: number,
  height: number,
  channels: number,
  outWidth: number,
  outHeight: number,
): Uint8Array {
  const out = new Uint8Array(outWidth * outHeight * channels);
  const sx = outWidth / width;
  const sy = outHeight / height;
  for (let y = 0; y < outHeight; y++) {
    const fy = Math.min(height - 1, Math.max(0, (y + 0.5) / sy - 0.5));
    const y0 = Math.floor(fy);
    const y1 = Math.min(height - 1, y0 + 1);
    const wy = fy - y0;
    for (let x = 0; x < outWidth; x++) {
      const fx = Math.min(width - 1, Math.max(0, (x + 0.5) / sx - 0.5));
      const x0 = Math.floor(fx);
      const x1 = Math.min(width - 1, x0 + 1);
      const wx = fx - x0;
      const a = (y0 * width + x0) * channels;
      const b = (y0 * width + x1) * channels;
      const c = (y1 * width + x0) * channels;
      const d = (y1 * width + x1) * channels;
      const o = (y * outWidth + x) * channels;
      for (let k = 0; k < channels; k++) {
        const top = src[a + k]! * (1 - wx) + src[b + k]! * wx;
        const bottom = src[c + k]! * (1 - wx) + src[d + k]! * wx;
        out[o + k] = Math.round(top * (1 - wy) + bottom * wy);
      }
    }
  }
  return out;
}

/** A grey image flipped left to right. */
export function mirror(img: Gray): Gray {
  const out = new Uint8Array(img.data.length);
  for (let y = 0; y < img.height; y++) {
    const row = y * img.width;
    for (let x = 0; x < img.width; x++) out[row + x] = img.data[row + img.width - 1 - x]!;
  }
  return { width: img.width, height: img.height, data: out };
}
