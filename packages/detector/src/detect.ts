/** One clip (a file or a URL) -> the session it was recorded from, in colour mode, text mode or both. */
import { colorFrames, readColorMark } from './color/index.ts';
import { checkInput, frames, NoVideoError } from './input/index.ts';
import { readTextMark, TEXT_FRAMES } from './text/index.ts';
import type { DetectContext, DetectMode, DetectResult } from './types.ts';

/** Read at most this many seconds of a clip unless the caller says otherwise. */
export const DEFAULT_MAX_SECONDS = 180;

export async function detect(input: string, mode: DetectMode, ctx: DetectContext): Promise<DetectResult> {
  checkInput(input);
  const order: ('color' | 'text')[] =
    mode === 'auto' ? (ctx.watermark.mode === 'text' ? ['text', 'color'] : ['color', 'text']) : [mode];
  const reasons: string[] = [];
  for (const m of order) {
    const result = await guarded(() => (m === 'color' ? detectColor(input, ctx) : detectText(input, ctx)));
    if (result.found) return result;
    // Not a video at all: the other mode would say the same.
    if (result.reason.startsWith('not a readable video')) return result;
    reasons.push(order.length > 1 ? `${m}: ${result.reason}` : result.reason);
    if (ctx.signal?.aborted) break;
  }
  return { found: false, reason: reasons.join('; ') };
}

/** Decoding failures become `found: false`; input errors (missing file, unreachable URL) propagate. */
async function guarded(run: () => Promise<DetectResult>): Promise<DetectResult> {
  try {
    return await run();
  } catch (err) {
    if (err instanceof NoVideoError) return { found: false, reason: `not a readable video (${err.message})` };
    throw err;
  }
}

function detectColor(input: string, ctx: DetectContext): Promise<DetectResult> {
  const maxSeconds = ctx.maxSeconds ?? DEFAULT_MAX_SECONDS;
  return readColorMark(
    frames(input, {
      ...colorFrames(ctx.watermark.symbolSeconds),
      fetch: ctx.fetch,
      signal: ctx.signal,
    }),
    {
      watermark: ctx.watermark,
      tenantId: ctx.tenantId,
      sessionsForTag: ctx.sessionsForTag,
      evidenceDir: ctx.evidenceDir,
      signal: ctx.signal,
      maxSeconds,
      onProgress: (footageSeconds) =>
        ctx.onProgress?.({ fraction: Math.min(1, footageSeconds / maxSeconds), footageSeconds }),
    },
  );
}

async function detectText(input: string, ctx: DetectContext): Promise<DetectResult> {
  const candidates = await ctx.servedSessions();
  if (candidates.length === 0)
    return { found: false, reason: 'the tenant has served no sessions to match text against' };
  const maxSeconds = ctx.maxSeconds ?? DEFAULT_MAX_SECONDS;
  async function* limited() {
    for await (const f of frames(input, { ...TEXT_FRAMES, fetch: ctx.fetch, signal: ctx.signal })) {
      if (f.t > maxSeconds) return;
      ctx.onProgress?.({ fraction: Math.min(1, f.t / maxSeconds), footageSeconds: f.t });
      yield f;
    }
  }
  const result = await readTextMark(limited(), candidates, {
    signal: ctx.signal,
    evidenceDir: ctx.evidenceDir,
  });
  return result.found ? { ...result, tenant: ctx.tenantId } : result;
}
