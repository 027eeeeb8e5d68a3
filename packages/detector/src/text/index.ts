/**
 * Text mode: reads the session id the player draws over the picture and names the session, only when
 * the readings of several frames agree on one id the tenant actually served.
 *
 * Per sampled frame: the mark map and its text lines (preprocess.ts), each line OCR'd (ocr.ts), each
 * reading matched against the candidates and voted (match.ts). The vote is decisive as soon as one
 * candidate passes the acceptance rules; `footageSeconds` is the clip time of that frame.
 *
 * - `falseMatchProbability`: the chance that one reading of something else (texture, another id) comes
 *   as close to some candidate as the median vote did, under a random-string model over the candidates'
 *   folded alphabet (see `falseMatchEstimate`); no credit is taken for the repetition across frames.
 * - `confidence`: (1 − that) × (1 − mean vote distance / id length) × (votes − runner-up) / (votes +
 *   runner-up) × (1 − 2^−votes): high for many close votes for one id and none for any other.
 *
 * Cost: the worker starts on the first text line found (about 0.5 s), each line is about 100 ms of OCR
 * on a quiet core (FACTS) and the mark map about 10–20 ms a 640×360 frame; lines whose reading is unlike
 * any candidate twice at the same place (a clock in the picture) are skipped for a few seconds.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { DetectResult, Frame } from '../types.ts';
import {
  Ballot,
  falseMatchEstimate,
  farFromAll,
  fold,
  MIN_ID_LENGTH,
  prepareCandidates,
  voteOf,
} from './match.ts';
import { createLineReader, type LineReader } from './ocr.ts';
import { framePng, grayPng } from './png.ts';
import {
  type Box,
  crop,
  findTextLines,
  type Gray,
  markMap,
  mirror,
  ocrImage,
  sameBox,
  stillMap,
  type TextLine,
  upscaled,
} from './preprocess.ts';

/** The frames text mode asks the input layer for: 2 a second, pictures wider than 1280 px scaled down. */
export const TEXT_FRAMES: { fps: number; width?: number } = { fps: 2, width: 1280 };

/** Frames whose mark maps make the still map (the mark stays put for seconds: 1 s at 2 fps). */
const STILL_FRAMES = 3;

/** How long a place that twice read as unrelated text is not OCR'd again (the mark jumps every 5 s). */
const QUIET_SECONDS = 3;

export interface TextMarkOptions {
  signal?: AbortSignal;
  /** Where the evidence PNGs go (created if missing); none are written when absent. */
  evidenceDir?: string;
  tenantId?: string;
  /** Stop after this much clip time (s) without a decision. Default 180. */
  maxSeconds?: number;
  /** Stop after this much wall time (ms) without a decision. Default 120 000. */
  budgetMs?: number;
  /** Lines OCR'd per frame at most (best first). Default 3. */
  linesPerFrame?: number;
}

export interface TextMarkStats {
  frames: number;
  linesRead: number;
  /** Wall ms spent in the mark map and line search, and in OCR. */
  preprocessMs: number;
  ocrMs: number;
  /** Every reading, for diagnostics. */
  readings: { t: number; text: string; votedFor?: string; distance?: number }[];
}

/** Characters a session id is read in: letters, digits and the usual separators, plus the candidates' own. */
function alphabetOf(candidates: readonly string[]): string {
  const set = new Set('ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.:');
  for (const c of candidates)
    for (const ch of c) if (!/\s/u.test(ch) && ch !== '"' && ch !== '\\') set.add(ch);
  return [...set].join('');
}

/** The evidence crop: the line with some picture around it. */
function evidenceBox(frame: Frame, line: Box): Box {
  const mx = Math.round(line.height * 0.8);
  const x = Math.max(0, line.x - mx);
  const y = Math.max(0, line.y - mx);
  return {
    x,
    y,
    width: Math.min(frame.width, line.x + line.width + mx) - x,
    height: Math.min(frame.height, line.y + line.height + mx) - y,
  };
}

export async function readTextMark(
  frames: AsyncIterable<Frame>,
  candidates: readonly string[],
  opts: TextMarkOptions = {},
): Promise<DetectResult> {
  return (await readTextMarkDetailed(frames, candidates, opts)).result;
}

export async function readTextMarkDetailed(
  frames: AsyncIterable<Frame>,
  candidateIds: readonly string[],
  opts: TextMarkOptions = {},
): Promise<{ result: DetectResult; stats: TextMarkStats }> {
  const stats: TextMarkStats = { frames: 0, linesRead: 0, preprocessMs: 0, ocrMs: 0, readings: [] };
  const candidates = prepareCandidates(candidateIds);
  if (candidates.length === 0) {
    return { result: { found: false, reason: 'the tenant has served no session to compare with' }, stats };
  }
  const maxSeconds = opts.maxSeconds ?? 180;
  const budgetMs = opts.budgetMs ?? 120_000;
  const perFrame = opts.linesPerFrame ?? 3;
  const started = performance.now();
  const ballot = new Ballot();
  /** Evidence kept per candidate: the first few frames that voted for it. */
  const evidence = new Map<number, { t: number; png: Buffer }[]>();
  let reader: LineReader | undefined;
  const history: Gray[] = [];
  /** Places whose lines read as nothing like any candidate. */
  const quiet: { box: Box; misses: number; until: number }[] = [];
  let mirrored = false;
  const readLine = async (image: Gray) => {
    reader ??= await createLineReader(alphabetOf(candidateIds));
    const t1 = performance.now();
    const { text } = await reader.read(grayPng(image));
    stats.ocrMs += performance.now() - t1;
    stats.linesRead++;
    const vote = voteOf(text, candidates);
    stats.readings.push({
      t: lastT,
      text,
      ...(vote ? { votedFor: candidates[vote.candidate]!.id, distance: vote.distance } : {}),
    });
    return { text, vote };
  };
  let linesSeen = 0;
  let lastT = 0;
  let stopped = '';
  try {
    for await (const input of frames) {
      opts.signal?.throwIfAborted();
      const frame = upscaled(input);
      stats.frames++;
      lastT = frame.t;
      const t0 = performance.now();
      const map = markMap(frame);
      history.push(map);
      if (history.length > STILL_FRAMES) history.shift();
      const still = stillMap(history);
      // Lines of the still map first (cleaner), then the frame's own lines elsewhere.
      const work: { map: Gray; line: TextLine }[] = [];
      if (still) for (const line of findTextLines(still, perFrame)) work.push({ map: still, line });
      for (const line of findTextLines(map, perFrame)) {
        if (!work.some((w) => sameBox(w.line, line))) work.push({ map, line });
      }
      stats.preprocessMs += performance.now() - t0;
      linesSeen += work.length;
      let triedOther = false;
      for (const { map: source, line } of work.slice(0, perFrame + 1)) {
        const known = quiet.find((q) => sameBox(q.box, line));
        if (known && known.until > frame.t) continue;
        const image = ocrImage(crop(source, line), line.letterHeight);
        // A mirrored restream shows the id backwards: once a mirrored reading has voted, read that way first.
        let { text, vote } = await readLine(mirrored ? mirror(image) : image);
        // The other way round only for one line a frame (the best placed), and for text-like readings.
        if (
          !vote &&
          !triedOther &&
          fold(text).replace(/[^\p{L}\p{N}]/gu, '').length >= MIN_ID_LENGTH &&
          farFromAll(text, candidates)
        ) {
          triedOther = true;
          const other = await readLine(mirrored ? image : mirror(image));
          if (other.vote) {
            ({ text, vote } = other);
            mirrored = !mirrored;
          }
        }
        if (vote) ballot.add(frame.t, vote);
        ballot.observe(frame.t, text, candidates);
        // Text of the picture itself (a clock, a caption) read twice at one place: left alone for a while.
        if (!vote && farFromAll(text, candidates)) {
          if (known) {
            known.box = line;
            if (++known.misses >= 2) known.until = frame.t + QUIET_SECONDS;
          } else {
            quiet.push({ box: line, misses: 1, until: 0 });
          }
        } else if (known) {
          quiet.splice(quiet.indexOf(known), 1);
        }
        if (!vote) continue;
        const kept = evidence.get(vote.candidate) ?? [];
        if (opts.evidenceDir && kept.length < 3 && !kept.some((e) => e.t === frame.t)) {
          kept.push({ t: frame.t, png: framePng(frame, evidenceBox(frame, line)) });
          evidence.set(vote.candidate, kept);
        }
      }
      const standing = ballot.standing();
      if (standing.accepted && standing.leader) {
        const leader = standing.leader;
        const cand = candidates[leader.candidate]!;
        const fmp = falseMatchEstimate(candidates, cand.key.length, leader.medianDistance);
        const confidence =
          (1 - fmp) *
          (1 - leader.meanDistance / cand.key.length) *
          ((leader.votes - leader.runnerUp) / (leader.votes + leader.runnerUp)) *
          (1 - 0.5 ** leader.votes);
        const kept = evidence.get(leader.candidate) ?? [];
        const files = opts.evidenceDir ? await writeEvidence(kept, opts.evidenceDir) : [];
        return {
          result: {
            found: true,
            sessionId: cand.id,
            tenant: opts.tenantId ?? 'default',
            mode: 'text',
            confidence: Math.round(confidence * 1000) / 1000,
            falseMatchProbability: fmp,
            footageSeconds: Math.round(frame.t * 100) / 100,
            evidence: files,
          },
          stats,
        };
      }
      if (frame.t >= maxSeconds) {
        stopped = `no decision within ${maxSeconds} s of footage`;
        break;
      }
      if (performance.now() - started > budgetMs) {
        stopped = `no decision within the time budget (${Math.round(budgetMs / 1000)} s), after ${Math.round(lastT)} s of footage`;
        break;
      }
    }
  } finally {
    await reader?.terminate();
  }
  const why = ballot.standing().why;
  let reason: string;
  if (stats.frames === 0) reason = 'the clip has no frames';
  else if (linesSeen === 0) reason = `no text mark found in ${Math.round(lastT)} s of footage`;
  else reason = stopped ? `${stopped}: ${why}` : why;
  return { result: { found: false, reason }, stats };
}

async function writeEvidence(
  kept: { t: number; png: Buffer }[],
  folder: string,
): Promise<{ t: number; file: string }[]> {
  await mkdir(folder, { recursive: true });
  const out: { t: number; file: string }[] = [];
  for (const e of kept) {
    const file = join(folder, `text-${e.t.toFixed(2)}s.png`);
    await writeFile(file, e.png);
    out.push({ t: e.t, file });
  }
  return out;
}
