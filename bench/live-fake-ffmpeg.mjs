#!/usr/bin/env node
/**
 * A stand-in for ffmpeg in bench/live.ts: replays CMAF fragments made once by the real ffmpeg, so a live
 * channel can be measured without the cost of encoding. It takes ffmpeg's arguments as the channel
 * builds them and only uses the last one (the DASH muxer's manifest path): its folder is the output.
 *
 * It writes the init segments, then each segment group (every stream's fragment of one number) the way
 * ffmpeg's DASH muxer does: to `<name>.tmp`, renamed when complete, then its own manifest. After the last
 * group it idles until killed, as a live encoder would (an exit would make the channel restart it).
 *
 * Environment:
 *   VIGIL_BENCH_LIVE_FRAGMENTS   folder of cached fragments: init-<s>.m4s, seg-<s>-<nnnnn>.m4s, ffmpeg.mpd
 *   VIGIL_BENCH_LIVE_PACE        `consume` (default): write a group once the consumer deleted the previous
 *                                one; or a speed factor, e.g. `10`: one group per segment duration / 10
 *   VIGIL_BENCH_LIVE_SEGMENT_SECONDS   segment duration, for a speed factor (default 2)
 */
import { copyFileSync, existsSync, readdirSync, renameSync, watch } from 'node:fs';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

const source = process.env.VIGIL_BENCH_LIVE_FRAGMENTS;
const pace = process.env.VIGIL_BENCH_LIVE_PACE || 'consume';
const segmentSeconds = Number(process.env.VIGIL_BENCH_LIVE_SEGMENT_SECONDS || 2);
const manifest = process.argv.at(-1);
if (!source || !manifest || process.argv.length < 3) {
  console.error('live-fake-ffmpeg: needs VIGIL_BENCH_LIVE_FRAGMENTS and ffmpeg-style arguments');
  process.exit(2);
}
const speed = pace === 'consume' ? 0 : Number(pace);
if (pace !== 'consume' && !(speed > 0)) {
  console.error(
    `live-fake-ffmpeg: VIGIL_BENCH_LIVE_PACE must be "consume" or a positive number, not "${pace}"`,
  );
  process.exit(2);
}
const out = dirname(manifest);

process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));

const names = readdirSync(source);
const inits = names.filter((n) => /^init-\d+\.m4s$/.test(n)).sort();
const streams = inits.length;
const numbers = [
  ...new Set(names.flatMap((n) => /^seg-\d+-(\d+)\.m4s$/.exec(n)?.[1] ?? []).map(Number)),
].sort((a, b) => a - b);
const groupOf = (n) =>
  Array.from({ length: streams }, (_, s) => `seg-${s}-${String(n).padStart(5, '0')}.m4s`);
const groups = numbers.map(groupOf).filter((g) => g.every((name) => names.includes(name)));

/** Copies one cached file into the output folder as `<name>.tmp`, then renames it. */
function put(name, as = name) {
  const tmp = join(out, `${as}.tmp`);
  copyFileSync(join(source, name), tmp);
  renameSync(tmp, join(out, as));
}

/** Resolves once none of `files` is left in the output folder (the consumer has taken them). */
async function consumed(files) {
  const gone = () => files.every((f) => !existsSync(join(out, f)));
  if (gone()) return;
  await new Promise((done) => {
    const watcher = watch(out, check);
    // Watch events can be missed or coalesced: a slow poll as a backstop.
    const timer = setInterval(check, 100);
    function check() {
      if (!gone()) return;
      watcher.close();
      clearInterval(timer);
      done();
    }
    check();
  });
}

for (const init of inits) put(init);
const started = performance.now();
for (const [i, group] of groups.entries()) {
  if (i > 0) {
    if (speed === 0) await consumed(groups[i - 1]);
    else await sleep(Math.max(0, started + (i * segmentSeconds * 1000) / speed - performance.now()));
  }
  for (const name of group) put(name);
  if (names.includes('ffmpeg.mpd')) put('ffmpeg.mpd');
}
console.error(`live-fake-ffmpeg: wrote ${groups.length} groups of ${streams} streams`);
// Idle like a live encoder until the channel stops it.
setInterval(() => {}, 60_000);
