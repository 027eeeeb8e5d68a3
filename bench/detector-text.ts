/**
 * Text mode of the leak detector benchmark (issue 12), run by bench/detector.ts.
 *
 * 1. A recording of the real player in text mode (test/support/player-recording.ts, 20 s, plus a
 *    whole-page capture) through every attack of the suite: the seconds of footage the identification
 *    needed from BENCH_OFFSETS starting points (median and worst per attack), and the decoding speed of
 *    the whole pipeline (ffmpeg + mark map + OCR) in multiples of real time, per wall second and per CPU
 *    second (ffmpeg's, this process' and the OCR worker thread's, which runs in this process).
 * 2. BENCH_NEGATIVES negative clips: unmarked colourful content of several kinds and marks of sessions
 *    the tenant never served (another tenant's ids drawn as the player draws them); any session found is
 *    a false accusation.
 */
import { frames } from '@vigil/detector';
import { readTextMarkDetailed, TEXT_FRAMES } from '../packages/detector/src/text/index.ts';
import { ATTACKS, type Attack, attacked, lavfiClip } from '../packages/detector/test/support/attacks.ts';
import { playerRecording } from '../test/support/player-recording.ts';

export const TEXT_SESSION = 'viewer-7c4e91b2';
/** Other sessions the tenant served. */
const SERVED = ['sess-11b4d0e7', 'sess-a9e2c55f', 'viewer-03f8d6aa', 'viewer-5d21b7c9', TEXT_SESSION];
const FONT = '/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf';
/** Seconds of clip read from each start before giving up. */
const MAX_SECONDS = 20;

type Frame = { t: number; width: number; height: number; data: Uint8Array };

export interface TextRow {
  attack: string;
  what: string;
  footage: number[];
  speedWall: number;
  speedCpu: number;
}

async function* from(list: readonly Frame[], t0: number) {
  for (const f of list) if (f.t >= t0 - 1e-9) yield { ...f, t: f.t - t0 };
}

/** Seconds of footage from `t0` until the right session, or Infinity; a wrong session throws. */
async function footageFrom(list: readonly Frame[], t0: number): Promise<number> {
  const { result } = await readTextMarkDetailed(from(list, t0), SERVED, { maxSeconds: MAX_SECONDS });
  if (result.found && result.sessionId !== TEXT_SESSION) throw new Error('text mode named a wrong session');
  return result.found ? result.footageSeconds : Number.POSITIVE_INFINITY;
}

/** Speed of one whole run (decoding included) from the clip's start, over the footage it needed. */
async function speedOf(clip: string, seconds: number) {
  let ffCpu = 0;
  const cpu0 = process.cpuUsage();
  const w0 = performance.now();
  const { result } = await readTextMarkDetailed(
    frames(clip, {
      ...TEXT_FRAMES,
      onCpuSeconds: (s) => {
        ffCpu = s;
      },
    }),
    SERVED,
    { maxSeconds: MAX_SECONDS },
  );
  const wall = (performance.now() - w0) / 1000;
  const c = process.cpuUsage(cpu0);
  const footage = result.found ? result.footageSeconds + 1 / TEXT_FRAMES.fps : seconds;
  return { wall: footage / wall, cpu: footage / ((c.user + c.system) / 1e6 + ffCpu) };
}

/** Text mode over every attack (or those named in `only`), from each of `offsets`. */
export async function textAttacks(offsets: readonly number[], only: readonly string[]): Promise<TextRow[]> {
  const rec = await playerRecording({ mode: 'text', sessionId: TEXT_SESSION, seconds: 20 });
  const page = await playerRecording({ mode: 'text', sessionId: TEXT_SESSION, seconds: 20, layout: 'page' });
  const attacks: (Attack & { source?: string })[] = [
    ...ATTACKS,
    {
      name: 'page-360p',
      what: 'a whole-page capture (player not the full frame), re-encoded 360p 300 kbit/s',
      args: ATTACKS[0]!.args,
      source: page.path,
    },
  ].filter((a) => only.length === 0 || only.includes(a.name));
  const rows: TextRow[] = [];
  for (const attack of attacks) {
    const clip = attacked(attack.source ?? rec.path, attack);
    const speed = await speedOf(clip, rec.seconds);
    const list: Frame[] = [];
    for await (const f of frames(clip, TEXT_FRAMES)) list.push(f);
    const footage: number[] = [];
    for (const t0 of offsets) footage.push(await footageFrom(list, t0));
    rows.push({
      attack: attack.name,
      what: attack.what,
      footage,
      speedWall: speed.wall,
      speedCpu: speed.cpu,
    });
    const s = [...footage].sort((a, b) => a - b);
    const fmt = (v: number) => (Number.isFinite(v) ? v.toFixed(1) : 'miss');
    console.log(
      `text ${attack.name.padEnd(15)} median ${fmt(s[Math.floor((s.length - 1) / 2)]!)} s worst ${fmt(s[s.length - 1]!)} s · ${speed.wall.toFixed(1)}x wall ${speed.cpu.toFixed(1)}x cpu`,
    );
  }
  return rows;
}

/** A random-looking id of another tenant's shape, from `i`. */
function foreignId(i: number): string {
  let s = (i * 2654435761) >>> 0 || 1;
  let hex = '';
  for (let k = 0; k < 8; k++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    hex += ((s >>> 0) % 16).toString(16);
  }
  return `${i % 2 ? 'viewer' : 'sess'}-${hex}`;
}

/** The `i`th negative clip for text mode (12 s, cached). */
function negativeClip(i: number): string {
  const kind = i % 5;
  if (kind === 0) {
    const id = foreignId(i);
    return lavfiClip(
      `text-foreign-${id}`,
      `testsrc2=size=640x360:rate=25,hue=h=${(i * 37) % 360},drawtext=fontfile=${FONT}:text='${id}':fontsize=18:` +
        `fontcolor=white@0.6:borderw=3:bordercolor=black@0.6:x='mod(floor(t/5)*211+37\\,w-tw)':y='mod(floor(t/5)*97+23\\,h-th)'`,
      12,
    );
  }
  if (kind === 1)
    return lavfiClip(
      `life-${i}`,
      `life=size=640x360:rate=25:seed=${i}:ratio=0.35:mold=${i % 20}:life_color=#${['ff3050', '30ff50', 'f0e020', '20a0f0'][i % 4]}`,
      12,
    );
  if (kind === 2)
    return lavfiClip(`cellauto-${i}`, `cellauto=size=640x360:rate=25:rule=${(i * 7) % 256}:seed=${i}`, 12);
  if (kind === 3)
    return lavfiClip(`mandelbrot-${i}`, `mandelbrot=size=640x360:rate=25:start_scale=${1 + (i % 7)}`, 12);
  return lavfiClip(
    `testsrc2-${i}`,
    `testsrc2=size=640x360:rate=25,hue=h=${(i * 37) % 360}:s=${1 + (i % 3) * 0.5}`,
    12,
  );
}

/** Text mode over `count` negative clips: how many named a session (false accusations). */
export async function textNegatives(count: number): Promise<number> {
  let accused = 0;
  for (let i = 0; i < count; i++) {
    const { result } = await readTextMarkDetailed(frames(negativeClip(i), TEXT_FRAMES), SERVED, {
      maxSeconds: MAX_SECONDS,
    });
    if (result.found) {
      accused++;
      console.log(`# text negative ${i}: accused ${result.sessionId}`);
    }
    if ((i + 1) % 20 === 0) console.log(`# text negatives: ${i + 1}/${count}, false accusations ${accused}`);
  }
  return accused;
}
