/**
 * A live restream followed in text mode: frames are cut into disjoint windows and each window's frames
 * are read as one clip (OCR, matched against the sessions the tenant has served, re-read each window
 * so a viewer who started meanwhile is a candidate); a window whose readings settle on one session is an
 * `identified` event. After an identification, a window without one is `lost`.
 */
import { frames, NoVideoError } from './input/index.ts';
import { readTextMark, TEXT_FRAMES } from './text/index.ts';
import type { DetectContext, Frame, WatchEvent } from './types.ts';

/** A text-mode window: long enough for the mark to be read at several places (it moves every 5 s). */
export const TEXT_WINDOW_SECONDS = 20;

export async function* watchText(
  url: string,
  ctx: DetectContext & { windowSeconds?: number },
): AsyncGenerator<WatchEvent> {
  const windowSeconds = Math.max(ctx.windowSeconds ?? TEXT_WINDOW_SECONDS, 5);
  const step = 1 / TEXT_FRAMES.fps;
  const source = frames(url, { ...TEXT_FRAMES, fetch: ctx.fetch, signal: ctx.signal })[
    Symbol.asyncIterator
  ]();
  let ended = false;
  let windowStart = 0;
  let last = -step;
  let identified = false;
  let lostSaid = false;
  /** This window's frames, pulled from the one stream; ends at the window's end or the stream's. */
  async function* windowFrames(end: number): AsyncGenerator<Frame> {
    for (;;) {
      const next = await source.next();
      if (
        next.done ||
        ctx.signal?.aborted ||
        (ctx.maxSeconds !== undefined && next.value.t > ctx.maxSeconds)
      ) {
        ended = true;
        return;
      }
      last = next.value.t;
      ctx.onProgress?.({ fraction: 0, footageSeconds: last });
      yield next.value;
      if (last + step >= end) return;
    }
  }
  try {
    while (!ended) {
      const end = windowStart + windowSeconds;
      const candidates = await ctx.servedSessions();
      const result = await readTextMark(windowFrames(end), candidates, {
        signal: ctx.signal,
        maxSeconds: Number.POSITIVE_INFINITY,
      });
      if (ctx.signal?.aborted) return;
      if (result.found) {
        yield {
          event: 'identified',
          sessionId: result.sessionId,
          atSeconds: round(last + step),
          confidence: result.confidence,
          falseMatchProbability: result.falseMatchProbability,
          mode: 'text',
          window: [round(windowStart), round(last + step)],
        };
        identified = true;
        lostSaid = false;
        // The reader stopped at its answer: the rest of the window is passed over (windows are disjoint).
        if (!ended && last + step < end) for await (const _ of windowFrames(end));
      } else if (identified && !lostSaid && !ended) {
        yield { event: 'lost', atSeconds: round(last + step) };
        lostSaid = true;
      }
      windowStart = last + step;
    }
    if (identified && !lostSaid) yield { event: 'lost', atSeconds: round(windowStart) };
  } catch (err) {
    if (ctx.signal?.aborted) return;
    yield { event: 'error', message: err instanceof NoVideoError ? err.message : (err as Error).message };
  } finally {
    await source.return?.(undefined);
  }
}

const round = (s: number) => Math.round(s * 100) / 100;
