import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import {
  type ColourSample,
  cycleLength,
  DEFAULT_CODEC,
  decodeSamples,
  encodeTag,
  GaloisField,
  layoutOf,
  paletteRgb,
  ReedSolomon,
  symbolAt,
} from '@vigil/watermark-codec';
import {
  brightness,
  type CaptureOptions,
  capture,
  compose,
  gamma,
  hueRotation,
  limitedRange,
  type Rgb3,
  rng,
  saturation,
} from './simulate.ts';

const T = 0.5;
const L = cycleLength();
const SYNC = DEFAULT_CODEC.dataColours.length;
const randomTag = (rand: () => number) => Math.floor(rand() * 2 ** 32);
/** One cycle plus one symbol, from a random point of the sequence: the worst case of time to identify. */
const oneCycle = (rand: () => number, extra: Partial<CaptureOptions> = {}): CaptureOptions => ({
  symbolSeconds: T,
  startSymbol: rand() * L * 3,
  symbols: L + 1,
  samplesPerSymbol: [3, 3],
  t0: rand() * 1e7,
  ...extra,
});

/** Replaces `count` distinct data symbols of a sequence with a different data colour. */
function corrupt(sequence: number[], count: number, rand: () => number): number[] {
  const out = sequence.slice();
  const positions = out.map((_, i) => i).filter((i) => out[i] !== SYNC);
  for (let k = 0; k < count; k++) {
    const p = positions.splice(Math.floor(rand() * positions.length), 1)[0]!;
    out[p] = (out[p]! + 1 + Math.floor(rand() * (SYNC - 1))) % SYNC;
  }
  return out;
}

describe('Reed-Solomon over GF(64)', () => {
  const rs = layoutOf().rs;
  it('corrects any mix of errors and erasures with 2e + f <= n - k', () => {
    const rand = rng(11);
    for (let trial = 0; trial < 3000; trial++) {
      const message = Array.from({ length: rs.k }, () => Math.floor(rand() * 64));
      const codeword = rs.encode(message);
      assert.deepEqual(rs.syndromes(codeword), new Array(rs.parity).fill(0));
      const f = Math.floor(rand() * (rs.parity + 1));
      const e = Math.floor((rs.parity - f) / 2);
      const order = [...codeword.keys()].sort(() => rand() - 0.5);
      const received = codeword.slice();
      for (const p of order.slice(0, f + e)) received[p] = received[p]! ^ (1 + Math.floor(rand() * 63));
      const decoded = rs.decode(received, order.slice(0, f));
      assert.ok(decoded, `f=${f} e=${e}`);
      assert.deepEqual(decoded.codeword, codeword);
      assert.equal(decoded.errors, e);
    }
  });

  it('refuses, never miscorrects, up to 5 errors with the default budget of 6 (distance 9)', () => {
    const rand = rng(12);
    const budget = rs.parity - DEFAULT_CODEC.spareParity;
    for (let trial = 0; trial < 3000; trial++) {
      const codeword = rs.encode(Array.from({ length: rs.k }, () => Math.floor(rand() * 64)));
      const e = 4 + (trial % 2);
      const received = codeword.slice();
      for (const p of [...codeword.keys()].sort(() => rand() - 0.5).slice(0, e)) {
        received[p] = received[p]! ^ (1 + Math.floor(rand() * 63));
      }
      assert.equal(rs.decode(received, [], budget), null);
    }
  });

  it('works for other fields and lengths too', () => {
    const rand = rng(13);
    for (const [bits, poly, n, k] of [
      [4, 0x13, 15, 8],
      [8, 0x11d, 40, 20],
    ] as const) {
      const code = new ReedSolomon(new GaloisField(bits, poly), n, k);
      for (let trial = 0; trial < 300; trial++) {
        const codeword = code.encode(Array.from({ length: k }, () => Math.floor(rand() * 2 ** bits)));
        const received = codeword.slice();
        const t = (n - k) >> 1;
        for (const p of [...codeword.keys()].sort(() => rand() - 0.5).slice(0, t))
          received[p] = received[p]! ^ 1;
        assert.deepEqual(code.decode(received)?.codeword, codeword);
      }
    }
    assert.throws(() => new GaloisField(6, 0x41), /not primitive/);
  });
});

describe('encodeTag', () => {
  it('is one sync symbol then 28 data colours that never use the sync colour', () => {
    assert.equal(L, 29);
    assert.equal(paletteRgb().length, 9);
    assert.deepEqual(paletteRgb()[SYNC], [128, 128, 128]);
    const rand = rng(1);
    for (let i = 0; i < 200; i++) {
      const sequence = encodeTag(randomTag(rand));
      assert.equal(sequence.length, L);
      assert.equal(sequence[0], SYNC);
      assert.ok(sequence.slice(1).every((s) => Number.isInteger(s) && s >= 0 && s < SYNC));
    }
    assert.deepEqual(encodeTag(123456789), encodeTag(123456789));
    for (const tag of [0, 1, 0xffffffff])
      assert.ok(new Set(encodeTag(tag)).size >= 6, `colour spread of ${tag}`);
    for (const bad of [-1, 2 ** 32, 1.5, Number.NaN]) assert.throws(() => encodeTag(bad), RangeError);
    assert.equal(symbolAt(encodeTag(7), 0, T), SYNC);
    assert.equal(symbolAt(encodeTag(7), L * 500 + 10, T), SYNC);
    assert.equal(symbolAt(encodeTag(7), 1250, T), encodeTag(7)[2]);
  });

  it(`takes ${(L * T).toFixed(1)} s a cycle against the seed's 30 s`, (t) => {
    // The seed: 10 characters x 8 bits / 4 bits per 16-colour symbol x 1.5 s, no error correction.
    const seed = ((10 * 8) / 4) * 1.5;
    t.diagnostic(`time to identify: ${L} symbols x ${T} s = ${L * T} s (seed: ${seed} s, no ECC)`);
    assert.ok(L * T < seed / 2);
  });
});

describe('decodeSamples', () => {
  it('round-trips 1000 random tags from a capture that starts anywhere in the sequence', () => {
    const rand = rng(2);
    for (let i = 0; i < 1000; i++) {
      const tag = i === 0 ? 0 : i === 1 ? 0xffffffff : randomTag(rand);
      const options = oneCycle(rand);
      const samples = capture(encodeTag(tag), options, rand);
      const result = decodeSamples(samples, { symbolSeconds: T });
      assert.ok(result, `tag ${tag}`);
      assert.equal(result.tag, tag);
      assert.equal(result.symbolErrors, 0);
      assert.equal(result.erasures, 0);
      assert.ok(result.falseMatchProbability < 1e-15);
      // startedAt: when the first sync symbol with a sample in the capture began.
      const firstShown = options.startSymbol + (samples[0]!.t - options.t0!) / (T * 1000);
      const syncIndex = (Math.floor((firstShown - 1) / L) + 1) * L;
      const expected = options.t0! + (syncIndex - options.startSymbol) * T * 1000;
      // Within half the sampling interval (3 samples a symbol): where between two samples the change was.
      assert.ok(Math.abs(result.startedAt - expected) < 95, `startedAt ${result.startedAt} vs ${expected}`);
    }
  });

  it('corrects up to 3 wrong data symbols anywhere, and 6 when they pair up in 3 RS symbols', (t) => {
    const rand = rng(3);
    for (let k = 0; k <= 3; k++) {
      for (let i = 0; i < 300; i++) {
        const tag = randomTag(rand);
        const shown = corrupt(encodeTag(tag), k, rand);
        const result = decodeSamples(capture(shown, oneCycle(rand), rand), { symbolSeconds: T });
        assert.equal(result?.tag, tag, `${k} errors`);
        assert.equal(result.symbolErrors, k);
        assert.ok(result.falseMatchProbability < 1e-7);
      }
    }
    for (let i = 0; i < 300; i++) {
      const tag = randomTag(rand);
      const shown = encodeTag(tag);
      for (const s of [0, 5, 13].map((x) => (x + i) % 14)) {
        for (const j of [1, 2]) shown[2 * s + j] = (shown[2 * s + j]! + 1 + (i % 7)) % SYNC;
      }
      assert.equal(decodeSamples(capture(shown, oneCycle(rand), rand), { symbolSeconds: T })?.tag, tag);
    }
    t.diagnostic('3 arbitrary symbol errors always corrected; 6 in pairs corrected');
  });

  it('never returns a wrong tag with 4 or 5 wrong symbols, and rarely with many', (t) => {
    const rand = rng(4);
    const counts = { right: 0, refused: 0, wrong: 0 };
    for (let i = 0; i < 2000; i++) {
      const tag = randomTag(rand);
      const shown = corrupt(encodeTag(tag), 4 + (i % 2), rand);
      const result = decodeSamples(capture(shown, oneCycle(rand), rand), { symbolSeconds: T });
      if (!result) counts.refused++;
      else if (result.tag === tag) counts.right++;
      else counts.wrong++;
    }
    assert.equal(counts.wrong, 0);
    t.diagnostic(`4-5 errors: ${JSON.stringify(counts)}`);
    let wrong = 0;
    for (let i = 0; i < 2000; i++) {
      const tag = randomTag(rand);
      const shown = corrupt(encodeTag(tag), 8 + (i % 10), rand);
      const result = decodeSamples(capture(shown, oneCycle(rand), rand), { symbolSeconds: T });
      if (result && result.tag !== tag) wrong++;
    }
    assert.equal(wrong, 0);
    t.diagnostic(`8-17 errors: ${wrong} wrong of 2000`);
  });

  it('decodes nothing from 10,000 garbage captures (false-decode rate)', (t) => {
    const rand = rng(5);
    let decoded = 0;
    // Structured garbage, the hardest kind: a real sync symbol and random data colours, cleanly shown.
    for (let i = 0; i < 10000; i++) {
      const shown = [SYNC, ...Array.from({ length: L - 1 }, () => Math.floor(rand() * SYNC))];
      if (
        decodeSamples(capture(shown, oneCycle(rand, { samplesPerSymbol: [2, 2] }), rand), {
          symbolSeconds: T,
        })
      ) {
        decoded++;
      }
    }
    // Unstructured garbage: random colours at random times.
    let noise = 0;
    for (let i = 0; i < 3000; i++) {
      const samples: ColourSample[] = [];
      for (let k = 0; k < L * 3; k++) {
        samples.push({ t: k * 170 + rand() * 100, rgb: [rand() * 255, rand() * 255, rand() * 255] });
      }
      if (decodeSamples(samples, { symbolSeconds: T })) noise++;
    }
    t.diagnostic(`false decodes: ${decoded}/10000 random sequences with sync, ${noise}/3000 random colours`);
    assert.equal(decoded, 0);
    assert.equal(noise, 0);
    assert.equal(decodeSamples([], { symbolSeconds: T }), null);
    const flat = Array.from({ length: 200 }, (_, k) => ({ t: k * 40, rgb: [90, 90, 90] as Rgb3 }));
    assert.equal(decodeSamples(flat, { symbolSeconds: T }), null);
  });

  it('survives colour shifts: brightness, saturation, hue, limited range, gamma, noise', (t) => {
    const shifts: Record<string, (rgb: Rgb3) => Rgb3> = {
      'brightness +20%': brightness(1.2),
      'brightness -20%': brightness(0.8),
      'saturation -40%': saturation(0.6),
      'hue +10deg': hueRotation(10),
      'hue -12deg': hueRotation(-12),
      'limited range': limitedRange,
      'gamma 1.3': gamma(1.3),
      'saturation -70%': saturation(0.3),
      combined: compose(saturation(0.6), hueRotation(10), brightness(0.8), limitedRange, gamma(1.1)),
      'combined, brighter': compose(limitedRange, saturation(0.6), hueRotation(-10), brightness(1.2)),
    };
    const rand = rng(6);
    for (const [name, transform] of Object.entries(shifts)) {
      let errors = 0;
      for (let i = 0; i < 60; i++) {
        const tag = randomTag(rand);
        const options = oneCycle(rand, { transform, noise: 12, blur: 0.15, samplesPerSymbol: [3, 8] });
        const result = decodeSamples(capture(encodeTag(tag), options, rand), { symbolSeconds: T });
        assert.equal(result?.tag, tag, name);
        errors += result.symbolErrors;
      }
      assert.ok(errors <= 6, `${name}: ${errors} symbol errors in 60 captures`);
    }
    t.diagnostic('every shift decoded, each with noise sigma 12 and 15% blur at symbol changes');
  });

  it('decodes most captures that lost all colour (greyscale restream), by luma alone', (t) => {
    // Not in the brief, a bonus of the palette: the 8 corners have 8 distinct luma levels, >= 29 apart.
    const rand = rng(66);
    let decoded = 0;
    for (let i = 0; i < 100; i++) {
      const tag = randomTag(rand);
      const options = oneCycle(rand, {
        transform: saturation(0),
        noise: 8,
        blur: 0.15,
        samplesPerSymbol: [3, 8],
      });
      const result = decodeSamples(capture(encodeTag(tag), options, rand), { symbolSeconds: T });
      if (result) {
        assert.equal(result.tag, tag);
        decoded++;
      }
    }
    t.diagnostic(`greyscale, noise sigma 8: ${decoded}/100 decoded`);
    assert.ok(decoded >= 90);
  });

  it('handles irregular sampling: jittered timestamps, 2 to 10 samples a symbol, sped-up playback', () => {
    const rand = rng(7);
    for (let i = 0; i < 300; i++) {
      const tag = randomTag(rand);
      const options = oneCycle(rand, {
        samplesPerSymbol: i % 3 === 0 ? [2, 2] : [2, 10],
        jitter: 0.9,
        blur: 0.1,
        noise: 6,
        speed: i % 5 === 0 ? 1 + (rand() - 0.5) * 0.04 : 1,
      });
      const result = decodeSamples(capture(encodeTag(tag), options, rand), { symbolSeconds: T });
      assert.equal(result?.tag, tag, `trial ${i}`);
    }
  });

  it('combines several cycles, outvoting symbols that were misread in one of them', () => {
    const rand = rng(8);
    for (let i = 0; i < 100; i++) {
      const tag = randomTag(rand);
      const sequence = encodeTag(tag);
      // Three cycles, each with 5 different wrong symbols: no single cycle decodes on its own.
      const samples = [0, 1, 2].flatMap((c) =>
        capture(
          corrupt(sequence, 5, rand),
          { ...oneCycle(rand), startSymbol: 0, symbols: L, t0: c * L * 500 },
          rand,
        ),
      );
      const result = decodeSamples(samples, { symbolSeconds: T });
      assert.equal(result?.tag, tag);
      assert.ok(result.cycles > 2.9);
    }
  });

  it('decodes a partial cycle with the unseen symbols as erasures', () => {
    const rand = rng(9);
    let decoded = 0;
    for (let i = 0; i < 200; i++) {
      const tag = randomTag(rand);
      // 24 of the 29 symbols, sync included: 2 or 3 RS symbols unseen.
      const options = { ...oneCycle(rand), startSymbol: L * 5 - 1 - Math.floor(rand() * 4), symbols: 24 };
      const result = decodeSamples(capture(encodeTag(tag), options, rand), { symbolSeconds: T });
      if (result) {
        assert.equal(result.tag, tag);
        assert.ok(result.erasures > 0);
        decoded++;
      }
    }
    assert.equal(decoded, 200);
  });
});

// The real thing: draw the box into a 720p video with ffmpeg, restream it at 360p / 300 kbit/s (plain and
// with a colour shift), read the box back from the restreamed pixels and decode.
describe('restream through ffmpeg', () => {
  const TAG = 0x5eed_c0de;
  const FPS = 25;
  const SECONDS = 24;
  const START_SYMBOL = 11.37; // the video begins mid-sequence, mid-symbol
  const BOX = { x: 2, y: 2, width: 4, height: 6 }; // percent, as in the directive
  const dir = join(tmpdir(), 'vigil-watermark-codec-v1');
  type Size = { w: number; h: number };

  function ffmpeg(args: string[]): Buffer {
    return execFileSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', ...args], {
      maxBuffer: 1 << 28,
    });
  }

  function cached(name: string, make: (path: string) => void): string {
    const path = join(dir, name);
    if (!existsSync(path)) {
      mkdirSync(dir, { recursive: true });
      const partial = join(dir, `partial-${process.pid}-${name}`);
      make(partial);
      renameSync(partial, path);
    }
    return path;
  }

  function source(): string {
    const sequence = encodeTag(TAG);
    const palette = paletteRgb();
    const [W, H] = [1280, 720];
    const box = {
      x: Math.round((BOX.x / 100) * W),
      y: Math.round((BOX.y / 100) * H),
      w: Math.round((BOX.width / 100) * W),
      h: Math.round((BOX.height / 100) * H),
    };
    const draws: string[] = [];
    for (let k = Math.floor(START_SYMBOL); (k - START_SYMBOL) * T < SECONDS; k++) {
      const from = Math.max(0, (k - START_SYMBOL) * T);
      const to = (k + 1 - START_SYMBOL) * T;
      const hex = palette[sequence[k % L]!]!.map((v) => v.toString(16).padStart(2, '0')).join('');
      draws.push(
        `drawbox=x=${box.x}:y=${box.y}:w=${box.w}:h=${box.h}:color=0x${hex}:t=fill:` +
          `enable='gte(t,${from.toFixed(3)})*lt(t,${to.toFixed(3)})'`,
      );
    }
    const graph = [
      `testsrc2=size=${W}x${H}:rate=${FPS}:duration=${SECONDS}`,
      'format=yuv420p',
      ...draws,
    ].join(',');
    const key = createHash('sha256').update(graph).digest('hex').slice(0, 16);
    return cached(`source-${key}.mp4`, (out) =>
      ffmpeg([
        '-f',
        'lavfi',
        '-i',
        graph,
        '-c:v',
        'libx264',
        '-preset',
        'ultrafast',
        '-crf',
        '16',
        '-f',
        'mp4',
        out,
      ]),
    );
  }

  function restream(src: string, name: string, size: Size, kbps: number, extraFilter: string): string {
    const vf = [`scale=${size.w}:${size.h}`, ...(extraFilter ? [extraFilter] : [])].join(',');
    const rate = ['-b:v', `${kbps}k`, '-maxrate', `${kbps}k`, '-bufsize', `${2 * kbps}k`];
    const args = ['-c:v', 'libx264', '-preset', 'veryfast', ...rate];
    return cached(`${name}-${src.slice(-20, -4)}.mp4`, (out) =>
      ffmpeg(['-i', src, '-vf', vf, ...args, '-an', '-f', 'mp4', out]),
    );
  }

  /** Mean colour of the middle half of the box, per frame of the restreamed file. */
  function boxSamples(file: string, size: Size): ColourSample[] {
    const [W, H] = [size.w, size.h];
    const x0 = (BOX.x / 100) * W;
    const y0 = (BOX.y / 100) * H;
    const w = (BOX.width / 100) * W;
    const h = (BOX.height / 100) * H;
    const crop = {
      x: Math.round(x0 + w / 4),
      y: Math.round(y0 + h / 4),
      w: Math.round(w / 2),
      h: Math.round(h / 2),
    };
    const raw = ffmpeg([
      '-i',
      file,
      '-vf',
      `format=rgb24,crop=${crop.w}:${crop.h}:${crop.x}:${crop.y}`,
      '-f',
      'rawvideo',
      '-pix_fmt',
      'rgb24',
      '-',
    ]);
    const frameBytes = crop.w * crop.h * 3;
    const samples: ColourSample[] = [];
    for (let f = 0; (f + 1) * frameBytes <= raw.length; f++) {
      const sum = [0, 0, 0];
      for (let p = 0; p < crop.w * crop.h; p++) {
        for (let c = 0; c < 3; c++) sum[c] = sum[c]! + raw[f * frameBytes + p * 3 + c]!;
      }
      samples.push({ t: (f * 1000) / FPS, rgb: sum.map((s) => s / (crop.w * crop.h)) as Rgb3 });
    }
    return samples;
  }

  /** How much video, from `from` seconds on, the decoder needs to name the tag (with at most that false-match probability). */
  function timeToIdentify(samples: ColourSample[], from: number, maxFalse = 1): number | null {
    const first = Math.round(from * FPS);
    for (let n = 8 * FPS; first + n <= samples.length; n += FPS / 5) {
      const result = decodeSamples(samples.slice(first, first + n), { symbolSeconds: T });
      if (result && result.tag !== TAG) assert.fail(`wrong tag ${result.tag} from ${from} s + ${n} frames`);
      if (result && result.falseMatchProbability <= maxFalse) return n / FPS;
    }
    return null;
  }
  const range = (xs: number[]) => {
    const s = xs.slice().sort((a, b) => a - b);
    return `${s[0]}-${s[s.length - 1]} s (median ${s[s.length >> 1]} s)`;
  };

  const variants: [string, Size, number, string][] = [
    ['plain 360p / 300 kbit/s', { w: 640, h: 360 }, 300, ''],
    [
      'colour-shifted 360p / 300 kbit/s',
      { w: 640, h: 360 },
      300,
      'eq=saturation=0.7:brightness=0.05:gamma=1.1',
    ],
    // Beyond the brief: harsher restreams.
    ['240p / 100 kbit/s, hue +15', { w: 426, h: 240 }, 100, 'eq=saturation=0.5:brightness=-0.05,hue=h=15'],
    ['greyscale 360p / 300 kbit/s', { w: 640, h: 360 }, 300, 'hue=s=0'],
  ];
  for (const [name, size, kbps, filter] of variants) {
    it(`recovers the tag from a ${name} restream`, (t) => {
      const file = restream(source(), `restream-${name.replace(/[^a-z0-9]+/gi, '-')}`, size, kbps, filter);
      const samples = boxSamples(file, size);
      assert.ok(samples.length >= SECONDS * FPS - 2);
      const result = decodeSamples(samples, { symbolSeconds: T });
      assert.equal(result?.tag, TAG);
      // The video starts 11.37 symbols into the sequence: the first sync is shown (29 - 11.37) symbols in.
      assert.ok(
        Math.abs(result.startedAt - (L - START_SYMBOL) * T * 1000) < 60,
        `startedAt ${result.startedAt}`,
      );
      // Time to identify from 10 starting points spread over the cycle: the first decode (possibly from a
      // partial cycle, unseen symbols erased), and the first with a false-match probability below 1e-9.
      const first: number[] = [];
      const sure: number[] = [];
      for (let from = 0; from + L * T + 1 <= SECONDS; from += 0.9) {
        const time = timeToIdentify(samples, from);
        const sureTime = timeToIdentify(samples, from, 1e-9);
        assert.ok(time !== null && sureTime !== null && sureTime <= L * T + 1, `from ${from} s: ${sureTime}`);
        first.push(time);
        sure.push(sureTime);
      }
      t.diagnostic(
        `${name}: ${samples.length} frames, symbol errors ${result.symbolErrors}, erasures ${result.erasures}, ` +
          `${result.cycles.toFixed(2)} cycles, symbol ${result.symbolMs.toFixed(1)} ms, ` +
          `false-match probability ${result.falseMatchProbability.toExponential(1)}; from ${first.length} starts: ` +
          `first identified after ${range(first)}, with false-match < 1e-9 after ${range(sure)}`,
      );
    });
  }
});
