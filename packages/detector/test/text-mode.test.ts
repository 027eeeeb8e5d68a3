/**
 * Text mode of the leak detector: OCR of the session id the player draws, matched against the session
 * ids the tenant served. Clips: a synthetic mark (ffmpeg drawtext, semi-transparent white with a dark
 * outline, jumping every 5 s over testsrc2) and a real recording of the player in text mode (headless
 * Chromium through the plugin), each attacked (re-encoding, scaling, crop, letterbox, colour shifts,
 * noise, blur). Negatives: unmarked content, a mark of a session the tenant did not serve, an id one
 * character off the real one, an id the real one extends. Every clip is decoded by the detector's own
 * input layer (`frames`) at text mode's rate.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { PNG } from 'pngjs';
import { playerRecording } from '../../../test/support/player-recording.ts';
import { tempDir } from '../../../test/support/vigil.ts';
import { frames } from '../src/index.ts';
import { readTextMarkDetailed, TEXT_FRAMES, type TextMarkStats } from '../src/text/index.ts';

const CACHE = join(tmpdir(), 'vigil-text-mode-v1');
const FONT = '/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf';
const SYNTH_ID = 'sess-7f3a9c2e';
const REAL_ID = 'viewer-7c4e91b2';
/** Other sessions the tenant served (all the same shape as the real ones). */
const OTHERS = ['sess-11b4d0e7', 'sess-a9e2c55f', 'viewer-03f8d6aa', 'viewer-5d21b7c9'];

function ffmpeg(args: string[]): void {
  const r = spawnSync('ffmpeg', ['-hide_banner', '-v', 'error', '-y', ...args], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ffmpeg failed: ${r.stderr}`);
}

/** `name` in the cache, made by `make(partialPath)` when missing. */
function cached(name: string, make: (out: string) => void): string {
  mkdirSync(CACHE, { recursive: true });
  const path = join(CACHE, name);
  if (existsSync(path)) return path;
  const partial = `${path}.${process.pid}.partial.mp4`;
  make(partial);
  renameSync(partial, path);
  return path;
}

/** testsrc2 with the id drawn as the player draws it: bold, white at 0.6 over a dark outline at 0.6. */
function synthetic(text: string | undefined, seconds: number): string {
  return cached(`synth-${text ?? 'none'}-${seconds}s.mp4`, (out) => {
    const mark = text
      ? [
          '-vf',
          `drawtext=fontfile=${FONT}:text='${text}':fontsize=18:fontcolor=white@0.6:borderw=3:bordercolor=black@0.6:` +
            `x='mod(floor(t/5)*211+37\\,w-tw)':y='mod(floor(t/5)*97+23\\,h-th)'`,
        ]
      : [];
    ffmpeg([
      ...['-f', 'lavfi', '-i', `testsrc2=size=640x360:rate=25:duration=${seconds}`],
      ...mark,
      ...['-c:v', 'libx264', '-preset', 'veryfast', '-b:v', '600k', '-pix_fmt', 'yuv420p', out],
    ]);
  });
}

/** The attacks a restreamer's pipeline applies (ffmpeg filters and bitrate). */
const ATTACKS: Record<string, { vf: string; bitrate: string }> = {
  '360p-300k': { vf: 'scale=-2:360', bitrate: '300k' },
  '240p-150k': { vf: 'scale=-2:240', bitrate: '150k' },
  scale: { vf: 'scale=480:270', bitrate: '300k' },
  crop10: { vf: 'crop=iw*0.9:ih*0.9:iw*0.05:ih*0.05', bitrate: '300k' },
  letterbox: { vf: 'scale=480:270,pad=640:360:80:45:black', bitrate: '300k' },
  colour: { vf: 'eq=brightness=0.08:contrast=0.8:gamma=1.2:saturation=1.3', bitrate: '300k' },
  noise: { vf: 'noise=alls=18:allf=t', bitrate: '400k' },
  blur: { vf: 'gblur=sigma=0.8', bitrate: '300k' },
  /** Letters 5 px tall: a bold 4 mostly read as d or 3. */
  half: { vf: 'scale=320:180', bitrate: '300k' },
  mirror: { vf: 'hflip', bitrate: '300k' },
};

function attacked(source: string, tag: string, attack: string): string {
  const a = ATTACKS[attack]!;
  return cached(`${tag}-${attack}.mp4`, (out) =>
    ffmpeg([
      ...['-i', source, '-vf', a.vf],
      ...['-c:v', 'libx264', '-preset', 'veryfast', '-b:v', a.bitrate, '-pix_fmt', 'yuv420p', out],
    ]),
  );
}

const timings: { name: string; stats: TextMarkStats; footage?: number }[] = [];
let evidenceRoot: string;

async function run(clip: string, candidates: readonly string[], name: string, maxSeconds = 20) {
  const evidenceDir = join(evidenceRoot, name);
  const { result, stats } = await readTextMarkDetailed(frames(clip, TEXT_FRAMES), candidates, {
    evidenceDir,
    tenantId: 'default',
    maxSeconds,
    budgetMs: 60_000,
  });
  timings.push({ name, stats, ...(result.found ? { footage: result.footageSeconds } : {}) });
  return { result, stats };
}

function readingsOf(stats: TextMarkStats): string {
  return stats.readings
    .slice(0, 12)
    .map((r) => `${r.t}:${JSON.stringify(r.text)}`)
    .join(' ');
}

async function expectFound(clip: string, id: string, candidates: readonly string[], name: string) {
  const { result, stats } = await run(clip, candidates, name);
  assert.ok(result.found, `${name}: ${JSON.stringify(result)} readings ${readingsOf(stats)}`);
  assert.equal(result.sessionId, id);
  assert.equal(result.mode, 'text');
  assert.ok(result.footageSeconds <= 15, `${name}: needed ${result.footageSeconds} s`);
  assert.ok(result.confidence > 0.5 && result.confidence <= 1, `confidence ${result.confidence}`);
  assert.ok(result.falseMatchProbability !== null && result.falseMatchProbability < 1e-6);
  assert.ok(result.evidence.length >= 1);
  for (const e of result.evidence) {
    const png = PNG.sync.read(readFileSync(e.file));
    assert.ok(png.width > 20 && png.height > 8, `${e.file}: ${png.width}×${png.height}`);
    assert.ok(e.t >= 0 && e.t <= result.footageSeconds);
  }
}

async function expectNotFound(clip: string, candidates: readonly string[], name: string, maxSeconds = 8) {
  const { result, stats } = await run(clip, candidates, name, maxSeconds);
  assert.equal(
    result.found,
    false,
    `${name}: accused ${JSON.stringify(result)} readings ${readingsOf(stats)}`,
  );
  assert.ok(!result.found && result.reason.length > 0);
  return result;
}

before(() => {
  evidenceRoot = tempDir('vigil-text-evidence-');
});

after(() => {
  rmSync(evidenceRoot, { recursive: true, force: true });
  const frames = timings.reduce((n, t) => n + t.stats.frames, 0);
  const lines = timings.reduce((n, t) => n + t.stats.linesRead, 0);
  const ocrMs = timings.reduce((n, t) => n + t.stats.ocrMs, 0);
  const preMs = timings.reduce((n, t) => n + t.stats.preprocessMs, 0);
  console.log(
    `text mode: ${frames} frames, ${lines} lines OCR'd; OCR ${(ocrMs / Math.max(1, lines)).toFixed(0)} ms a line, ` +
      `${(ocrMs / Math.max(1, frames)).toFixed(0)} ms a frame; mark map and line search ${(preMs / Math.max(1, frames)).toFixed(0)} ms a frame`,
  );
  for (const t of timings) {
    console.log(
      `  ${t.name}: ${t.footage === undefined ? 'not found' : `found after ${t.footage} s`}, ${t.stats.frames} frames`,
    );
  }
});

describe('text mode on a synthetic mark over testsrc2', () => {
  let marked: string;
  before(() => {
    marked = synthetic(SYNTH_ID, 20);
  });

  for (const attack of ['360p-300k']) {
    test(`reads the id after ${attack}`, { timeout: 90_000 }, async () => {
      await expectFound(
        attacked(marked, 'synth', attack),
        SYNTH_ID,
        [...OTHERS, SYNTH_ID],
        `synth ${attack}`,
      );
    });
  }

  test('unmarked content accuses nobody', { timeout: 90_000 }, async () => {
    const result = await expectNotFound(
      attacked(synthetic(undefined, 12), 'plain', '360p-300k'),
      [...OTHERS, SYNTH_ID],
      'synth unmarked',
    );
    assert.match(result.found ? '' : result.reason, /no (text mark|reading)/);
  });

  test('a mark of a session the tenant did not serve accuses nobody', { timeout: 90_000 }, async () => {
    await expectNotFound(attacked(marked, 'synth', '360p-300k'), OTHERS, 'synth not served');
  });
});

describe('text mode on a recording of the player', () => {
  let recording: string;
  before(async () => {
    recording = (await playerRecording({ mode: 'text', sessionId: REAL_ID, seconds: 20 })).path;
  });

  for (const attack of [
    '360p-300k',
    '240p-150k',
    'crop10',
    'letterbox',
    'colour',
    'noise',
    'blur',
    'half',
    'mirror',
  ]) {
    test(`reads the session after ${attack}`, { timeout: 90_000 }, async () => {
      await expectFound(
        attacked(recording, 'player', attack),
        REAL_ID,
        [...OTHERS, REAL_ID],
        `player ${attack}`,
      );
    });
  }

  test(
    'reads the session from a recording of a whole page (the player one element of it)',
    { timeout: 180_000 },
    async () => {
      const page = await playerRecording({ mode: 'text', sessionId: REAL_ID, seconds: 20, layout: 'page' });
      await expectFound(
        attacked(page.path, 'page', '360p-300k'),
        REAL_ID,
        [...OTHERS, REAL_ID],
        'page 360p-300k',
      );
    },
  );

  test('an id one character off the recorded session is not accused', { timeout: 90_000 }, async () => {
    // The real id is not a candidate; one that differs from it in its last character is.
    await expectNotFound(
      attacked(recording, 'player', '360p-300k'),
      [...OTHERS, 'viewer-7c4e91b3'],
      'player near miss',
    );
  });

  test('an id the recorded one extends is not accused', { timeout: 90_000 }, async () => {
    await expectNotFound(
      attacked(recording, 'player', '360p-300k'),
      [...OTHERS, 'viewer-7c4e91b'],
      'player prefix',
    );
  });
});
