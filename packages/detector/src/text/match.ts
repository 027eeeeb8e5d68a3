/**
 * Matching OCR readings against the session ids a tenant has served, and the vote across frames.
 *
 * OCR of a small semi-transparent mark over video is never exact, so a reading is not trusted as a
 * session id: it is compared with each candidate after folding the characters OCR confuses (0/O,
 * 1/l/I, 5/S, 8/B, 2/Z, 9/g/q, dashes) and case, by an edit distance that lets the reading carry stray
 * characters before and after the mark (the crop may take in some background). A reading votes for the
 * single closest candidate, and only when that one is close and strictly closer than every other.
 *
 * A candidate is accepted when it has enough votes from distinct frames, clearly more than any other,
 * and every one of its characters was read as itself by some votes and more often than as any other
 * character (a character missing from a reading counts neither way): an id one character off the real
 * mark (a near miss) is read wrong at that character in every frame, so it is refused.
 */

const FOLD: Record<string, string> = {
  o: '0',
  q: '9',
  g: '9',
  i: '1',
  l: '1',
  '|': '1',
  '!': '1',
  ı: '1',
  s: '5',
  $: '5',
  b: '8',
  z: '2',
  _: '-',
  ':': '-',
  '–': '-',
  '—': '-',
  '~': '-',
  '=': '-',
};

/** The reading or id in the folded alphabet: lower case, confusable characters merged, no spaces. */
export function fold(text: string): string {
  let out = '';
  for (const ch of text.normalize('NFKC').toLowerCase()) {
    if (/\s/u.test(ch)) continue;
    out += FOLD[ch] ?? ch;
  }
  return out;
}

/** How one candidate character came out in a reading. */
export type Op = 'match' | 'sub' | 'del';

export interface Alignment {
  /** Edits (substitutions, deletions, insertions inside the matched span). */
  distance: number;
  /** Per candidate character: read as itself, as another character, or missing. */
  ops: Op[];
}

/**
 * Aligns the whole of `cand` with the best-fitting part of `reading` (both folded): characters of
 * the reading before and after the matched span cost nothing; inside it, every insertion, deletion
 * and substitution costs one.
 */
export function align(reading: string, cand: string): Alignment {
  const n = reading.length;
  const m = cand.length;
  const w = n + 1;
  const d = new Uint16Array((m + 1) * w);
  for (let i = 1; i <= m; i++) d[i * w] = i;
  for (let i = 1; i <= m; i++) {
    const c = cand.charCodeAt(i - 1);
    for (let j = 1; j <= n; j++) {
      const sub = d[(i - 1) * w + j - 1]! + (reading.charCodeAt(j - 1) === c ? 0 : 1);
      const del = d[(i - 1) * w + j]! + 1;
      const ins = d[i * w + j - 1]! + 1;
      d[i * w + j] = Math.min(sub, del, ins);
    }
  }
  let j = 0;
  for (let k = 1; k <= n; k++) if (d[m * w + k]! < d[m * w + j]!) j = k;
  const distance = d[m * w + j]!;
  const ops: Op[] = new Array(m);
  let i = m;
  while (i > 0) {
    const here = d[i * w + j]!;
    if (j > 0 && here === d[(i - 1) * w + j - 1]! + (reading[j - 1] === cand[i - 1] ? 0 : 1)) {
      ops[i - 1] = reading[j - 1] === cand[i - 1] ? 'match' : 'sub';
      i--;
      j--;
    } else if (here === d[(i - 1) * w + j]! + 1) {
      ops[i - 1] = 'del';
      i--;
    } else {
      j--;
    }
  }
  return { distance, ops };
}

/** The most edits a reading may have and still vote for a candidate of `length` folded characters. */
export const maxEdits = (length: number): number => Math.max(1, Math.floor(length * 0.25));

/** Shorter folded ids are too easy to read into background texture: text mode does not accuse them. */
export const MIN_ID_LENGTH = 6;

export interface Candidate {
  id: string;
  key: string;
}

export function prepareCandidates(ids: readonly string[]): Candidate[] {
  const seen = new Set<string>();
  const out: Candidate[] = [];
  for (const id of ids) {
    if (typeof id !== 'string' || id.length === 0 || seen.has(id)) continue;
    seen.add(id);
    out.push({ id, key: fold(id) });
  }
  return out;
}

export interface Vote {
  candidate: number;
  distance: number;
  ops: Op[];
}

/**
 * The vote of one reading: the single candidate within `maxEdits` of it and strictly closer than any
 * other; none when two are equally close (ids alike after folding) or none is close.
 */
export function voteOf(reading: string, candidates: readonly Candidate[]): Vote | undefined {
  const r = fold(reading);
  if (r.length < MIN_ID_LENGTH - 1) return undefined;
  let best: Vote | undefined;
  let second = Number.POSITIVE_INFINITY;
  for (let c = 0; c < candidates.length; c++) {
    const key = candidates[c]!.key;
    if (key.length < MIN_ID_LENGTH) continue;
    // A reading much shorter than the id cannot carry it.
    if (r.length < key.length - maxEdits(key.length)) continue;
    const a = align(r, key);
    if (!best || a.distance < best.distance) {
      if (best) second = Math.min(second, best.distance);
      best = { candidate: c, distance: a.distance, ops: a.ops };
    } else {
      second = Math.min(second, a.distance);
    }
  }
  if (!best || second <= best.distance) return undefined;
  if (best.distance > maxEdits(candidates[best.candidate]!.key.length)) return undefined;
  return best;
}

export interface Tally {
  /** Frame times (s) of the votes, one per frame. */
  times: number[];
  distances: number[];
  /** Per candidate character: votes that read it as itself, and votes that read another character there. */
  agree: number[];
  disagree: number[];
}

export interface Decision {
  candidate: number;
  votes: number;
  runnerUp: number;
  meanDistance: number;
  medianDistance: number;
}

export const MIN_VOTES = 3;

/** Votes of every reading, at most one per candidate and frame (the closest reading of that frame). */
export class Ballot {
  readonly tallies = new Map<number, Tally>();
  private readonly frameVotes = new Map<string, Vote>();

  add(t: number, vote: Vote): void {
    const key = `${vote.candidate}@${t}`;
    const prior = this.frameVotes.get(key);
    let tally = this.tallies.get(vote.candidate);
    if (!tally) {
      tally = { times: [], distances: [], agree: [], disagree: [] };
      this.tallies.set(vote.candidate, tally);
    }
    if (prior) {
      if (prior.distance <= vote.distance) return;
      this.remove(tally, prior, t);
    }
    this.frameVotes.set(key, vote);
    tally.times.push(t);
    tally.distances.push(vote.distance);
    vote.ops.forEach((op, i) => {
      tally.agree[i] = (tally.agree[i] ?? 0) + (op === 'match' ? 1 : 0);
      tally.disagree[i] = (tally.disagree[i] ?? 0) + (op === 'sub' ? 1 : 0);
    });
  }

  private remove(tally: Tally, vote: Vote, t: number): void {
    const at = tally.times.indexOf(t);
    tally.times.splice(at, 1);
    tally.distances.splice(at, 1);
    vote.ops.forEach((op, i) => {
      tally.agree[i]! -= op === 'match' ? 1 : 0;
      tally.disagree[i]! -= op === 'sub' ? 1 : 0;
    });
  }

  /** The leading candidate and why it is or is not accepted yet. */
  standing(): { leader?: Decision; accepted: boolean; why: string } {
    const ranked = [...this.tallies.entries()]
      .map(([candidate, t]) => ({ candidate, t, votes: t.times.length }))
      .filter((r) => r.votes > 0)
      .sort((a, b) => b.votes - a.votes);
    const top = ranked[0];
    if (!top) return { accepted: false, why: 'no reading matched a session id the tenant served' };
    const runnerUp = ranked[1]?.votes ?? 0;
    const sorted = [...top.t.distances].sort((a, b) => a - b);
    const leader: Decision = {
      candidate: top.candidate,
      votes: top.votes,
      runnerUp,
      meanDistance: sorted.reduce((s, d) => s + d, 0) / sorted.length,
      medianDistance: sorted[Math.floor((sorted.length - 1) / 2)]!,
    };
    if (top.votes < MIN_VOTES) {
      return {
        leader,
        accepted: false,
        why: `a session id was read in ${top.votes} frame(s), fewer than ${MIN_VOTES}`,
      };
    }
    if (top.votes < 3 * runnerUp || top.votes - runnerUp < 2) {
      return { leader, accepted: false, why: 'readings matched more than one session id' };
    }
    const contradicted = top.t.agree.findIndex((a, i) => a === 0 || a <= (top.t.disagree[i] ?? 0));
    if (contradicted >= 0) {
      return {
        leader,
        accepted: false,
        why: `the closest session id differs from what was read at character ${contradicted + 1}`,
      };
    }
    return { leader, accepted: true, why: 'accepted' };
  }
}

function binomial(n: number, k: number): number {
  let r = 1;
  for (let i = 1; i <= k; i++) r = (r * (n - k + i)) / i;
  return r;
}

/**
 * The chance that one reading of something other than the mark (background texture, another id)
 * lands within `edits` of some candidate: N × Σ_{j≤edits} C(m, j)(A−1)^j / A^m over an alphabet of A
 * folded characters (those of the candidates, at least 16) — a random-string model, counting one
 * reading only (the repetition across frames is not credited, since frames of one mark are not
 * independent).
 */
export function falseMatchEstimate(candidates: readonly Candidate[], length: number, edits: number): number {
  const alphabet = new Set<string>();
  for (const c of candidates) for (const ch of c.key) alphabet.add(ch);
  const a = Math.max(16, alphabet.size);
  let within = 0;
  for (let j = 0; j <= edits; j++) within += binomial(length, j) * (a - 1) ** j;
  return Math.min(1, (candidates.length * within) / a ** length);
}
