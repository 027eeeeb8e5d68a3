import { PNG } from 'pngjs';

export interface ChartMinute {
  /** Start of the minute, ms since epoch. */
  minute: number;
  granted: number;
  denied: number;
}

type Rgb = readonly [number, number, number];
const AXIS: Rgb = [70, 70, 70];
const GRID: Rgb = [228, 228, 228];
const TEXT: Rgb = [40, 40, 40];
const GREEN: Rgb = [46, 160, 67];
const RED: Rgb = [214, 57, 72];

/** 3x5 glyphs as "char:rows", one octal digit per row (4 = left pixel), so the chart needs no font files. */
const GLYPHS = new Map(
  [
    '0:75557 1:26227 2:71747 3:71317 4:55711 5:74717 6:74757 7:71122 8:75757 9:75717 ::02020 -:00700',
    '.:00002 /:11244 A:25755 B:65656 C:34443 D:65556 E:74647 F:74644 G:34553 H:55755 I:72227 J:11152',
    'K:55655 L:44447 M:57755 N:65555 O:25552 P:65644 Q:25563 R:65655 S:34216 T:72222 U:55557 V:55552',
    'W:55775 X:55255 Y:55222 Z:71247',
  ]
    .join(' ')
    .split(' ')
    .map((g) => [g.charAt(0), g.slice(2)]),
);
const SCALE = 2;
const ADVANCE = 4 * SCALE; // 3 px glyph + 1 px spacing
const CHAR_H = 5 * SCALE;
const textWidth = (s: string): number => Math.max(0, s.length * ADVANCE - SCALE);

// Fixed margins: the y label is at most 5 characters (see compact()), so the plot never depends on the data.
const LEFT = 5 * ADVANCE + 8;
const RIGHT = 12;
const TOP = 28;
const BOTTOM = 22;

class Canvas {
  readonly png: PNG;

  constructor(
    readonly width: number,
    readonly height: number,
  ) {
    this.png = new PNG({ width, height });
    this.png.data.fill(255); // opaque white
  }

  rect(x: number, y: number, w: number, h: number, c: Rgb): void {
    const x0 = Math.max(0, Math.floor(x));
    const y0 = Math.max(0, Math.floor(y));
    const x1 = Math.min(this.width, Math.floor(x + w));
    const y1 = Math.min(this.height, Math.floor(y + h));
    const data = this.png.data;
    for (let row = y0; row < y1; row++) {
      for (let col = x0; col < x1; col++) {
        const i = (row * this.width + col) * 4;
        data[i] = c[0];
        data[i + 1] = c[1];
        data[i + 2] = c[2];
        data[i + 3] = 255;
      }
    }
  }

  text(s: string, x: number, y: number, c: Rgb): void {
    [...s].forEach((ch, k) => {
      const rows = GLYPHS.get(ch) ?? '00000'; // unknown characters render as blanks
      for (let r = 0; r < 5; r++) {
        const bits = rows.charCodeAt(r) - 48;
        for (let col = 0; col < 3; col++) {
          if (bits & (4 >> col)) this.rect(x + k * ADVANCE + col * SCALE, y + r * SCALE, SCALE, SCALE, c);
        }
      }
    });
  }
}

/** Counts as non-negative finite numbers, so that bad input cannot break the scale. */
const count = (n: number): number => (Number.isFinite(n) && n > 0 ? n : 0);

/** Smallest 1, 2 or 5 times a power of ten that is >= v, so that the top label is a round number. */
function niceCeil(v: number): number {
  if (v <= 1) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  return [1, 2, 5, 10].map((m) => m * p).find((n) => n >= v) ?? 10 * p;
}

/** Short label for a nice number (1K, 20K, 5M), so that it fits the fixed left margin. */
function compact(n: number): string {
  if (n >= 1e9) return `${n / 1e9}G`;
  if (n >= 1e6) return `${n / 1e6}M`;
  if (n >= 1e4) return `${n / 1e3}K`;
  return String(n);
}

// toISOString throws on invalid dates; a bad timestamp should not cost the whole chart.
function hhmm(ms: number): string {
  const date = new Date(ms);
  return Number.isNaN(date.getTime()) ? '--:--' : date.toISOString().slice(11, 16);
}

/**
 * When there are more minutes than pixel columns, merges neighbours into buckets holding their mean, so that
 * every bar is at least 1 px wide and the y axis still reads as requests per minute.
 */
function aggregate(minutes: ChartMinute[], columns: number): { granted: number; denied: number }[] {
  const size = Math.max(1, Math.ceil(minutes.length / columns));
  const buckets: { granted: number; denied: number }[] = [];
  for (let i = 0; i < minutes.length; i += size) {
    const group = minutes.slice(i, i + size);
    const mean = (f: (m: ChartMinute) => number): number =>
      group.reduce((s, m) => s + count(f(m)), 0) / group.length;
    buckets.push({ granted: mean((m) => m.granted), denied: mean((m) => m.denied) });
  }
  return buckets;
}

/** A PNG bar chart of granted (green, bottom) and denied (red, stacked on top) requests per minute. */
export function renderStatsChart(
  minutes: ChartMinute[],
  opts: { width?: number; height?: number; title?: string } = {},
): Buffer {
  const width = Math.max(200, Math.round(opts.width ?? 800));
  const height = Math.max(80, Math.round(opts.height ?? 300));
  const c = new Canvas(width, height);
  const right = width - RIGHT;
  const base = height - BOTTOM; // y of the x axis
  const plotW = right - LEFT - 1;
  const plotH = base - TOP;

  // Legend at the top right, title at the top left in whatever room is left.
  let x = right;
  const legend = (label: string, color: Rgb): void => {
    x -= textWidth(label);
    c.text(label, x, 8, TEXT);
    x -= CHAR_H + 4;
    c.rect(x, 8, CHAR_H, CHAR_H, color);
    x -= 14;
  };
  legend('DENIED', RED);
  legend('GRANTED', GREEN);
  if (opts.title) {
    const room = Math.max(0, Math.floor((x - 8 + SCALE) / ADVANCE));
    c.text(opts.title.toUpperCase().slice(0, room), 8, 8, TEXT);
  }

  for (let k = 1; k <= 4; k++) c.rect(LEFT + 1, base - Math.round((k * plotH) / 4), plotW, 1, GRID);

  if (minutes.length === 0) {
    c.text('NO DATA', LEFT + (plotW - textWidth('NO DATA')) / 2, TOP + (plotH - CHAR_H) / 2, TEXT);
  } else {
    const buckets = aggregate(minutes, plotW);
    const max = niceCeil(Math.max(...buckets.map((b) => b.granted + b.denied)));
    // Non-zero values get at least 1 px, so that a few denials under a huge scale stay visible.
    const px = (v: number): number => (v > 0 ? Math.max(1, Math.round((v / max) * plotH)) : 0);
    const slot = plotW / buckets.length;
    const gap = slot >= 4 ? Math.max(1, Math.floor(slot * 0.2)) : 0;
    buckets.forEach((b, i) => {
      const x0 = LEFT + 1 + Math.floor(i * slot) + Math.floor(gap / 2); // centred in its slot
      const w = Math.max(1, Math.floor((i + 1) * slot) - Math.floor(i * slot) - gap);
      const gh = px(b.granted);
      const th = Math.min(plotH, b.denied > 0 ? Math.max(gh + 1, px(b.granted + b.denied)) : gh);
      c.rect(x0, base - gh, w, gh, GREEN);
      c.rect(x0, base - th, w, th - gh, RED);
    });

    const maxLabel = compact(max);
    c.text(maxLabel, LEFT - 5 - textWidth(maxLabel), TOP - CHAR_H / 2, TEXT);
    c.text('0', LEFT - 5 - textWidth('0'), base - CHAR_H / 2, TEXT);
    const first = hhmm(minutes[0]!.minute);
    const last = hhmm(minutes[minutes.length - 1]!.minute);
    c.text(first, LEFT, base + 6, TEXT);
    if (minutes.length > 1 && plotW > 2 * textWidth(first) + 16) {
      c.text(last, right - textWidth(last), base + 6, TEXT);
    }
  }

  c.rect(LEFT, TOP - 4, 1, base - TOP + 5, AXIS);
  c.rect(LEFT, base, right - LEFT, 1, AXIS);
  return PNG.sync.write(c.png);
}
