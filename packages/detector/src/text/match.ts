/**
 * Matching OCR readings against the session ids a tenant has served, and the vote across frames.
 *
 * OCR of a small semi-transparent mark over video is never exact, so a reading is not trusted as a
 * session id: it is compared with each candidate after folding the characters OCR confuses (0/O,
 * 1/l/I, 5/S, 8/B, 2/Z, 9/g/q, dashes) and case, by the edit distance to the best run of the
 * reading's words (the crop may take in some background, which OCR puts into words of its own). A
 * reading votes for the single closest candidate, and only when that one is close and strictly closer
 * than every other.
 *
 * A candidate is accepted when it has enough votes from distinct frames, clearly more than any other,
 * and every one of its characters was read as itself by some votes, and more often than as any one
 * other character (misreadings scattered over many characters are noise; one character read in its
 * place again and again is what the mark says; a character missing from a reading counts neither way):
 * an id one character off the real mark (a near miss) is read wrong at that character, the same wrong
 * way, in every frame, so it is refused; so is an id the real one extends (extra characters read at the
 * same place in half the votes).
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
  /** Edits: substitutions, deletions and insertions. */
  distance: number;
  /** Per candidate character: read as itself, as another character, or missing. */
  ops: Op[];
  /** Per candidate character: the (folded) character read in its place; '' when missing. */
  read: string[];
  /** Slots (0 = before the first character, m = after the last) where the reading has extra characters. */
  inserted: number[];
}

/** Global edit alignment of a folded reading with a folded candidate, with its backtrace. */
export function align(reading: string, cand: string): Alignment {
  const n = reading.length;
  const m = cand.length;
  const w = n + 1;
  const d = new Uint16Array((m + 1) * w);
  for (let j = 0; j <= n; j++) d[j] = j;
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
  const distance = d[m * w + n]!;
  const ops: Op[] = new Array(m);
  const read: string[] = new Array(m);
  const inserted: number[] = [];
  let i = m;
  let j = n;
  while (i > 0 || j > 0) {
    const here = d[i * w + j]!;
    if (i > 0 && j > 0 && here === d[(i - 1) * w + j - 1]! + (reading[j - 1] === cand[i - 1] ? 0 : 1)) {
      ops[i - 1] = reading[j - 1] === cand[i - 1] ? 'match' : 'sub';
      read[i - 1] = reading[j - 1]!;
      i--;
      j--;
    } else if (i > 0 && here === d[(i - 1) * w + j]! + 1) {
      ops[i - 1] = 'del';
      read[i - 1] = '';
      i--;
    } else {
      if (inserted[inserted.length - 1] !== i) inserted.push(i);
      j--;
    }
  }
  return { distance, ops, read, inserted };
}

/** Characters a reading may carry at its ends that are never part of a mark's letters. */
const edgeJunk = (s: string): string => s.replace(/^[^\p{L}\p{N}]+|[^\p{L}\p{N}]+$/gu, '');

/**
 * The parts of a raw reading that may be the mark: every run of consecutive whitespace-separated words
 * (OCR of a line crop puts background texture into words of its own), folded, without punctuation at
 * the ends. Characters glued to the mark's own word are kept and cost edits, so an id that is a prefix
 * of the real one is not matched by it.
 */
export function spans(reading: string): string[] {
  const words = reading
    .split(/\s+/u)
    .filter((w) => w.length > 0)
    .slice(0, 12);
  const out = new Set<string>();
  for (let a = 0; a < words.length; a++) {
    for (let b = a + 1; b <= words.length; b++) {
      const span = edgeJunk(fold(words.slice(a, b).join('')));
      if (span.length > 0) out.add(span);
    }
  }
  return [...out];
}

/** The most edits a reading may have and still vote for a candidate of `length` folded characters. */
export const maxEdits = (length: number): number => Math.max(1, Math.floor(length * 0.25));

/** Shorter folded ids are too easy to read into background texture: text mode does not accuse them. */
export const MIN_ID_LENGTH = 6;

export interface Candidate {
  id: string;
  key: string;
  /** The distinct character pairs of the key (without junk at its ends), for a quick filter. */
  grams: Set<string>;
}

function bigrams(s: string): Set<string> {
  const out = new Set<string>();
  for (let i = 0; i + 1 < s.length; i++) out.add(s.slice(i, i + 2));
  return out;
}

/** Bigrams of a whole reading: every run of its words is a part of it joined without spaces. */
const readingGrams = (reading: string): Set<string> => bigrams(fold(reading));

/**
 * Whether a reading may be within `edits` of a candidate: each edit destroys at most two of the
 * candidate's distinct bigrams, so at least `grams − 2 × edits` of them must occur in the reading.
 * A necessary condition only, which keeps thousands of candidates cheap.
 */
function mayMatch(c: Candidate, grams: Set<string>, edits: number): boolean {
  const need = c.grams.size - 2 * edits;
  if (need <= 0) return true;
  let have = 0;
  for (const g of c.grams) if (grams.has(g) && ++have >= need) return true;
  return false;
}

export function prepareCandidates(ids: readonly string[]): Candidate[] {
  const seen = new Set<string>();
  const out: Candidate[] = [];
  for (const id of ids) {
    if (typeof id !== 'string' || id.length === 0 || seen.has(id)) continue;
    seen.add(id);
    const key = fold(id);
    out.push({ id, key, grams: bigrams(edgeJunk(key)) });
  }
  return out;
}

export interface Vote extends Alignment {
  candidate: number;
  /** The candidate's folded key as aligned (without junk at its ends). */
  key: string;
}

/**
 * The vote of one reading: the single candidate within `maxEdits` of it and strictly closer than any
 * other; none when two are equally close (ids alike after folding) or none is close.
 */
export function voteOf(reading: string, candidates: readonly Candidate[]): Vote | undefined {
  const parts = spans(reading).filter((p) => p.length >= MIN_ID_LENGTH - 1);
  if (parts.length === 0) return undefined;
  const grams = readingGrams(reading);
  let best: Vote | undefined;
  let second = Number.POSITIVE_INFINITY;
  for (let c = 0; c < candidates.length; c++) {
    const key = edgeJunk(candidates[c]!.key);
    if (key.length < MIN_ID_LENGTH) continue;
    // A vote needs its best within maxEdits; a candidate farther than that can neither win nor tie it.
    if (!mayMatch(candidates[c]!, grams, maxEdits(key.length))) continue;
    let mine: Alignment | undefined;
    for (const part of parts) {
      if (Math.abs(part.length - key.length) > maxEdits(key.length)) continue;
      const a = align(part, key);
      if (!mine || a.distance < mine.distance) mine = a;
    }
    if (!mine) continue;
    if (!best || mine.distance < best.distance) {
      if (best) second = Math.min(second, best.distance);
      best = { candidate: c, key, ...mine };
    } else {
      second = Math.min(second, mine.distance);
    }
  }
  if (!best || second <= best.distance) return undefined;
  if (best.distance > maxEdits(edgeJunk(candidates[best.candidate]!.key).length)) return undefined;
  return best;
}

/**
 * Whether a reading shows more than `key` at its ends: extra letters or digits glued to the best
 * matching run of words, or a word of one or two characters right beside it. Evidence that the mark is
 * a longer id that starts or ends with this one.
 */
export function extensionOf(reading: string, key: string): { start: boolean; end: boolean } {
  const words = reading
    .split(/\s+/u)
    .filter((w) => w.length > 0)
    .slice(0, 12);
  let best: { a: number; b: number; al: Alignment } | undefined;
  for (let a = 0; a < words.length; a++) {
    for (let b = a + 1; b <= words.length; b++) {
      const span = edgeJunk(fold(words.slice(a, b).join('')));
      if (span.length === 0) continue;
      const al = align(span, key);
      if (!best || al.distance < best.al.distance) best = { a, b, al };
    }
  }
  if (!best) return { start: false, end: false };
  const short = (w: string | undefined) => {
    const core = w === undefined ? '' : edgeJunk(fold(w));
    // A lone thin stroke ('l', 'I', '|', '1') beside a crop is mostly the edge of something else.
    return core.length > 0 && core.length <= 2 && core !== '1';
  };
  return {
    start: best.al.inserted.includes(0) || short(words[best.a - 1]),
    end: best.al.inserted.includes(key.length) || short(words[best.b]),
  };
}

/** Whether a reading is nowhere near any candidate (more than twice the edits a vote may have). */
export function farFromAll(reading: string, candidates: readonly Candidate[]): boolean {
  const parts = spans(reading);
  const grams = readingGrams(reading);
  for (const c of candidates) {
    const key = edgeJunk(c.key);
    const limit = 2 * maxEdits(key.length);
    if (!mayMatch(c, grams, limit)) continue;
    for (const part of parts) {
      if (Math.abs(part.length - key.length) > limit) continue;
      if (align(part, key).distance <= limit) return false;
    }
  }
  return true;
}

export interface Tally {
  /** The candidate's folded key as aligned; `agree`, `others` and `inserted` are indexed by it. */
  key: string;
  /** Frame times (s) of the votes, one per frame. */
  times: number[];
  distances: number[];
  /** Per candidate character: votes that read it as itself, and how often each other character was read there. */
  agree: number[];
  others: Map<string, number>[];
  /** Per slot between candidate characters: votes that read extra characters there. */
  inserted: number[];
  /** Frames whose readings showed more than the candidate before its start, after its end. */
  extendedStart: Set<number>;
  extendedEnd: Set<number>;
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
      tally = {
        key: vote.key,
        times: [],
        distances: [],
        agree: [],
        others: [],
        inserted: [],
        extendedStart: new Set(),
        extendedEnd: new Set(),
      };
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
      const others = tally.others[i] ?? new Map<string, number>();
      tally.others[i] = others;
      if (op === 'sub') others.set(vote.read[i]!, (others.get(vote.read[i]!) ?? 0) + 1);
    });
    for (const slot of vote.inserted) tally.inserted[slot] = (tally.inserted[slot] ?? 0) + 1;
  }

  /** Looks at every reading (voting or not) for signs of a longer id around each voted candidate. */
  observe(t: number, reading: string, candidates: readonly Candidate[]): void {
    for (const [c, tally] of this.tallies) {
      const ext = extensionOf(reading, edgeJunk(candidates[c]!.key));
      if (ext.start) tally.extendedStart.add(t);
      if (ext.end) tally.extendedEnd.add(t);
    }
  }

  private remove(tally: Tally, vote: Vote, t: number): void {
    const at = tally.times.indexOf(t);
    tally.times.splice(at, 1);
    tally.distances.splice(at, 1);
    vote.ops.forEach((op, i) => {
      tally.agree[i]! -= op === 'match' ? 1 : 0;
      const others = tally.others[i]!;
      if (op === 'sub') others.set(vote.read[i]!, others.get(vote.read[i]!)! - 1);
    });
    for (const slot of vote.inserted) tally.inserted[slot]! -= 1;
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
    const contradicted = top.t.agree.findIndex((a, i) => contradicts(top.t.key[i]!, a, top.t.others[i]));
    if (contradicted >= 0) {
      return {
        leader,
        accepted: false,
        why: `the closest session id differs from what was read at character ${contradicted + 1}`,
      };
    }
    const extended = Math.max(top.t.extendedStart.size, top.t.extendedEnd.size);
    if (extended >= 2 && 3 * extended >= top.votes) {
      return {
        leader,
        accepted: false,
        why: 'what was read continues beyond the closest session id (a longer id that contains it)',
      };
    }
    const extra = top.t.inserted.findIndex((k) => k !== undefined && k >= 2 && 2 * k >= top.votes);
    if (extra >= 0) {
      return {
        leader,
        accepted: false,
        why: `what was read has characters the closest session id lacks (after its character ${extra})`,
      };
    }
    return { leader, accepted: true, why: 'accepted' };
  }
}

/**
 * Pairs of folded characters the OCR of the player's bold font confuses when the mark is small, blurred
 * or washed out (a bold 4 comes out as a, d, 3 or 9; a 7 as Z or 1; b as h, e as c), beyond the pairs
 * folded together outright.
 */
const CONFUSED = new Set(['4a', '4d', '43', '49', '72', '71', '8h', 'ec']);

/** Whether OCR confuses these two folded characters (see CONFUSED). */
export const confusable = (a: string, b: string): boolean => CONFUSED.has(a + b) || CONFUSED.has(b + a);

/**
 * Whether what was read at one character of a candidate contradicts it: never read as itself, or one
 * other character read there at least twice and at least as often. A character OCR confuses with the
 * candidate's counts half; the candidate's own support is its exact readings plus half of the confused
 * readings other than the rival (a 4 read as d, 3, a and 4 is a 4 hard to read; one read as d and
 * hardly ever as anything else is a d). Separators are not checked.
 */
function contradicts(own: string, agree: number, others: Map<string, number> | undefined): boolean {
  // A separator (a thin dash inside a dark outline) is what OCR loses first, merged into the outline or
  // read as a letter beside it: it costs an edit but neither names nor refuses an id.
  if (!/[\p{L}\p{N}]/u.test(own)) return false;
  if (agree === 0) return true;
  let rival = 0;
  let rivalChar = '';
  for (const [ch, n] of others ?? []) {
    const weight = confusable(own, ch) ? n / 2 : n;
    if (weight > rival) {
      rival = weight;
      rivalChar = ch;
    }
  }
  let support = agree;
  for (const [ch, n] of others ?? []) if (ch !== rivalChar && confusable(own, ch)) support += n / 2;
  return rival >= 2 && rival >= support;
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
