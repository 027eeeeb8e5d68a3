/**
 * The attack suite: what a pirate's restream does to a recording, as ffmpeg filter chains, and negative
 * clips (no mark, colourful content, a random box with the symbol rhythm). Attacked clips are made once
 * and cached in the OS temporary folder beside the recording they come from.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';

export interface Attack {
  name: string;
  /** What it stands for. */
  what: string;
  /** ffmpeg arguments between the input and the output (filters, rate control); H.264 output. */
  args: string[];
  /** Extra inputs before the recording (e.g. a background), as ffmpeg arguments. */
  inputs?: string[];
}

const x264 = (bitrate?: string) =>
  bitrate
    ? [
        '-c:v',
        'libx264',
        '-preset',
        'veryfast',
        '-b:v',
        bitrate,
        '-maxrate',
        bitrate,
        '-bufsize',
        `${Number.parseInt(bitrate, 10) * 2}k`,
      ]
    : ['-c:v', 'libx264', '-preset', 'veryfast', '-crf', '23'];

const vf = (chain: string, bitrate?: string) => ['-vf', `${chain},format=yuv420p`, ...x264(bitrate)];

/** A mild perspective warp, as from a phone held a little off-axis in front of the screen. */
const WARP =
  'perspective=x0=W*0.04:y0=H*0.03:x1=W*0.97:y1=H*0.07:x2=W*0.02:y2=H*0.95:x3=W*0.95:y3=H*0.99:sense=destination';

export const ATTACKS: readonly Attack[] = [
  { name: '360p-300k', what: 're-encoded to 360p at 300 kbit/s', args: vf('scale=-2:360', '300k') },
  { name: '240p-150k', what: 're-encoded to 240p at 150 kbit/s', args: vf('scale=-2:240', '150k') },
  { name: 'scale-half', what: 'scaled to half size', args: vf('scale=320:180') },
  { name: 'scale-up', what: 'scaled up to 960x540', args: vf('scale=960:540') },
  { name: 'crop-10', what: '10% cropped off the right and bottom', args: vf('crop=iw*0.9:ih*0.9:0:0') },
  {
    name: 'crop-10-centre',
    what: '10% cropped, 5% each side (the box at 2% is half cut away)',
    args: vf('crop=iw*0.9:ih*0.9:iw*0.05:ih*0.05'),
  },
  { name: 'letterbox', what: 'letterboxed into 640x480', args: vf('pad=640:480:0:60:color=black') },
  {
    name: 'larger-frame',
    what: 'scaled to 480x270 and placed in an 854x480 frame',
    args: vf('scale=480:270,pad=854:480:250:150:color=0x203040'),
  },
  { name: 'pillarbox', what: 'pillarboxed into 854x360', args: vf('pad=854:360:107:0:color=black') },
  { name: 'mirror', what: 'mirrored', args: vf('hflip') },
  { name: 'fps-25-30', what: 'frame rate 25 -> 30', args: vf('fps=30') },
  { name: 'fps-30-24', what: 'frame rate 30 -> 24', args: vf('fps=30,fps=24') },
  { name: 'brightness', what: 'brightness +0.12', args: vf('eq=brightness=0.12') },
  { name: 'contrast', what: 'contrast 0.6', args: vf('eq=contrast=0.6') },
  { name: 'gamma', what: 'gamma 1.6', args: vf('eq=gamma=1.6') },
  { name: 'saturation', what: 'saturation 0.4', args: vf('eq=saturation=0.4') },
  {
    name: 'eq-all',
    what: 'brightness, contrast, gamma and saturation at once',
    args: vf('eq=brightness=0.06:contrast=1.25:gamma=1.3:saturation=0.6'),
  },
  { name: 'noise', what: 'temporal noise (strength 20)', args: vf('noise=alls=20:allf=t') },
  { name: 'blur', what: 'slight blur (sigma 1.5)', args: vf('gblur=sigma=1.5') },
  { name: 'perspective', what: 'a mild perspective warp', args: vf(WARP) },
  {
    name: 'phone',
    what: 'filmed off a screen: warp, blur, noise, levels, 360p 500 kbit/s',
    args: vf(
      `${WARP},gblur=sigma=1,eq=contrast=0.85:brightness=0.04:saturation=0.8,noise=alls=12:allf=t,scale=-2:360`,
      '500k',
    ),
  },
  {
    name: 'pip',
    what: 'picture-in-picture: the player at 40% over other colourful video (960x540)',
    inputs: [
      '-f',
      'lavfi',
      '-i',
      'life=size=960x540:rate=25:ratio=0.4:mold=8:life_color=#e0a030:death_color=#203080',
    ],
    args: [
      '-filter_complex',
      '[0:v]scale=384:216[p];[1:v][p]overlay=x=540:y=290:shortest=1,format=yuv420p',
      ...x264(),
    ],
  },
];

export const TEST_ATTACKS = [
  '360p-300k',
  '240p-150k',
  'crop-10',
  'larger-frame',
  'mirror',
  'fps-30-24',
  'eq-all',
  'phone',
] as const;

export function attackNamed(name: string): Attack {
  const a = ATTACKS.find((x) => x.name === name);
  if (!a) throw new Error(`no attack "${name}"`);
  return a;
}

function ffmpeg(args: string[], what: string): void {
  const res = spawnSync('ffmpeg', ['-hide_banner', '-v', 'error', '-y', ...args], { encoding: 'utf8' });
  if (res.status !== 0) throw new Error(`ffmpeg failed to make ${what}: ${res.stderr}`);
}

function cached(path: string, make: (partial: string) => void): string {
  if (existsSync(path)) return path;
  mkdirSync(dirname(path), { recursive: true });
  const partial = `${path}.${process.pid}.partial.mp4`;
  make(partial);
  renameSync(partial, path);
  return path;
}

/** The recording at `input` put through `attack` (cached beside it). */
export function attacked(input: string, attack: Attack): string {
  const out = join(dirname(input), `${basename(input, '.mp4')}-${attack.name}-v1.mp4`);
  return cached(out, (partial) => {
    // The recording is input 0 even when a background comes first in the list of inputs.
    const inputs = attack.inputs ? ['-i', input, ...attack.inputs] : ['-i', input];
    ffmpeg([...inputs, '-an', ...attack.args, '-t', '120', partial], `the ${attack.name} clip`);
  });
}

const NEGATIVES_DIR = join(tmpdir(), 'vigil-detector-negatives');

/** A clip of an ffmpeg lavfi source (no mark), cached. */
export function lavfiClip(name: string, source: string, seconds: number, bitrate = '600k'): string {
  return cached(join(NEGATIVES_DIR, `${name}-${seconds}s-v1.mp4`), (partial) =>
    ffmpeg(
      ['-f', 'lavfi', '-i', source, '-t', String(seconds), '-pix_fmt', 'yuv420p', ...x264(bitrate), partial],
      name,
    ),
  );
}

/**
 * Colourful content with a box that does have the symbol rhythm: random codec colours (and the sync grey)
 * every `symbolSeconds`, where the tenant's box would be. Nothing in it is a codeword: the codec's checks
 * must refuse it.
 */
export function randomRhythmClip(seed: number, seconds: number, symbolSeconds = 0.5): string {
  const colours = ['black', 'blue', 'lime', 'cyan', 'red', 'magenta', 'yellow', 'white', 'gray'];
  let s = seed >>> 0 || 1;
  const rand = () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 2 ** 32;
  };
  const steps = Math.ceil(seconds / symbolSeconds);
  const boxes: string[] = [];
  for (let i = 0; i < steps; i++) {
    const c = colours[Math.floor(rand() * colours.length)]!;
    const a = (i * symbolSeconds).toFixed(3);
    const b = ((i + 1) * symbolSeconds).toFixed(3);
    boxes.push(`drawbox=x=13:y=7:w=26:h=22:color=${c}:t=fill:enable='between(t,${a},${b})'`);
  }
  return cached(join(NEGATIVES_DIR, `rhythm-${seed}-${seconds}s-v1.mp4`), (partial) =>
    ffmpeg(
      [
        '-f',
        'lavfi',
        '-i',
        'testsrc2=size=640x360:rate=25',
        '-t',
        String(seconds),
        '-vf',
        `${boxes.join(',')},format=yuv420p`,
        ...x264(),
        partial,
      ],
      'a random rhythm clip',
    ),
  );
}
