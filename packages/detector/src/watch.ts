/**
 * A live restream, followed: frames are read continuously and cut into disjoint windows; each window that
 * yields a passing decode mapping to exactly one session is an `identified` event, after which a new
 * window starts. A window that runs twice its length without one, after an identification, is `lost`.
 */

import { DEFAULT_CODEC, layoutOf } from '@vigil/watermark-codec';
import { ColorReader, colorFrames, hitProbability, minColorSeconds } from './color/index.ts';
import { frames, NoVideoError } from './input/index.ts';
import type { DetectContext, DetectMode, WatchEvent } from './types.ts';
import { watchText } from './watch-text.ts';

export async function* watch(
  url: string,
  mode: DetectMode,
  ctx: DetectContext & { windowSeconds?: number },
): AsyncGenerator<WatchEvent> {
  if (mode === 'text' || (mode === 'auto' && ctx.watermark.mode === 'text')) {
    yield* watchText(url, ctx);
    return;
  }
  const symbol = ctx.watermark.symbolSeconds;
  const minSeconds = minColorSeconds(symbol);
  // A window long enough for one whole cycle and a symbol either side (the strongest decode).
  const cycleSeconds = layoutOf(DEFAULT_CODEC).cycleLength * symbol;
  const windowSeconds = Math.max(ctx.windowSeconds ?? cycleSeconds + 2 * symbol, minSeconds);
  let reader = new ColorReader(ctx.watermark);
  let windowStart = 0;
  let identified = false;
  let lostSaid = false;
  const every = Math.max(1, Math.round(reader.fps)); // one attempt a second of footage
  try {
    for await (const frame of frames(url, {
      ...colorFrames(symbol),
      fetch: ctx.fetch,
      signal: ctx.signal,
    })) {
      if (ctx.signal?.aborted) return;
      if (ctx.maxSeconds !== undefined && frame.t > ctx.maxSeconds) return;
      reader.push(frame);
      const span = frame.t + 1 / reader.fps - windowStart;
      ctx.onProgress?.({ fraction: 0, footageSeconds: frame.t });
      if (reader.frames % every !== 0 || span < minSeconds) continue;
      const hit = reader.attempt(2 * windowSeconds); // the reader holds only this window's frames
      if (hit) {
        const sessions = [...new Set(await ctx.sessionsForTag(hit.decode.tag))];
        if (sessions.length === 1) {
          const p = hitProbability(hit);
          yield {
            event: 'identified',
            sessionId: sessions[0]!,
            atSeconds: round(frame.t + 1 / reader.fps),
            confidence: 1 - p,
            falseMatchProbability: p,
            mode: 'color',
            window: [round(windowStart), round(frame.t + 1 / reader.fps)],
          };
          identified = true;
          lostSaid = false;
        }
        reader = new ColorReader(ctx.watermark);
        windowStart = frame.t + 1 / reader.fps;
        continue;
      }
      if (span > 2 * windowSeconds) {
        if (identified && !lostSaid) {
          yield { event: 'lost', atSeconds: round(frame.t) };
          lostSaid = true;
        }
        reader = new ColorReader(ctx.watermark);
        windowStart = frame.t + 1 / reader.fps;
      }
    }
    if (identified && !lostSaid) yield { event: 'lost', atSeconds: round(windowStart) };
  } catch (err) {
    if (ctx.signal?.aborted) return;
    yield { event: 'error', message: err instanceof NoVideoError ? err.message : (err as Error).message };
  }
}

const round = (s: number) => Math.round(s * 100) / 100;
