import { codewordToColours, messageToTag } from '../encode.ts';
import { type CodecLayout, TAG_BITS } from '../params.ts';
import { dataPosition, type Labelling, nearestData } from './slots.ts';
import type { DecodeResult } from './types.ts';

/**
 * The share of all words of length m over GF(q) that lie within distance e of one of the 2^32 codewords
 * carrying a valid tag: 2^32 * sum_{i<=e} C(m, i) (q-1)^i / q^m.
 */
function falseMatchShare(layout: CodecLayout, known: number, errors: number): number {
  const q = layout.rs.field.size;
  let volume = 0;
  let binomial = 1;
  for (let i = 0; i <= errors; i++) {
    volume += binomial * (q - 1) ** i;
    binomial = (binomial * (known - i)) / (i + 1);
  }
  return Math.min(1, (2 ** TAG_BITS * volume) / q ** known);
}

/** Combines the cycles of a labelling into one word per data position and runs the Reed-Solomon decoder. */
export function decodeLabelling(
  labelling: Labelling,
  layout: CodecLayout,
  attempts: { count: number },
): Omit<DecodeResult, 'startedAt' | 'symbolMs'> | null {
  const { dists, syncResidue } = labelling;
  const data = layout.syncIndex;
  // Robust cost per data position and colour: each sighting adds its capped squared distance.
  const D = layout.dataLength;
  const cost = Array.from({ length: D }, () => new Float64Array(data));
  const seenCount = new Int32Array(D);
  dists.forEach((d, j) => {
    const q = dataPosition(j, syncResidue, layout);
    if (!d || q < 0) return;
    seenCount[q] = seenCount[q]! + 1;
    for (let c = 0; c < data; c++) cost[q]![c] = cost[q]![c]! + Math.min(d[c]! ** 2, 1);
  });
  const labels: number[] = [];
  const margins: number[] = [];
  for (let q = 0; q < D; q++) {
    const c = cost[q]!;
    const bestColour = nearestData([...c], data);
    let second = Number.POSITIVE_INFINITY;
    for (let k = 0; k < data; k++) if (k !== bestColour) second = Math.min(second, c[k]!);
    labels.push(bestColour);
    margins.push(seenCount[q]! > 0 ? (second - c[bestColour]!) / seenCount[q]! : 0);
  }

  // The Reed-Solomon word, with unseen symbols erased and a reliability per symbol.
  const { params, rs, coloursPerSymbol: cps, bitsPerColour } = layout;
  const word: number[] = [];
  const reliability: number[] = [];
  const unseen: number[] = [];
  for (let s = 0; s < params.codeLength; s++) {
    let value = 0;
    let rel = Number.POSITIVE_INFINITY;
    let missing = false;
    for (let j = 0; j < cps; j++) {
      const q = s * cps + j;
      value = (value << bitsPerColour) | (labels[q]! ^ params.whitening[q % params.whitening.length]!);
      rel = Math.min(rel, margins[q]!);
      if (seenCount[q] === 0) missing = true;
    }
    word.push(value);
    reliability.push(rel);
    if (missing) unseen.push(s);
  }
  if (unseen.length > params.maxErasures) return null;
  const budget = rs.parity - params.spareParity;
  // Generalised minimum distance: if the word does not decode, erase its two least reliable symbols.
  const erasureSets = [unseen];
  if (unseen.length + 2 <= params.maxErasures) {
    const doubtful = [...reliability.keys()]
      .filter((s) => !unseen.includes(s))
      .sort((a, b) => reliability[a]! - reliability[b]!)
      .slice(0, 2);
    if (doubtful.length === 2 && doubtful.every((s) => reliability[s]! < 0.5))
      erasureSets.push([...unseen, ...doubtful]);
  }
  for (const erasures of erasureSets) {
    attempts.count++;
    const decoded = rs.decode(word, erasures, budget);
    if (!decoded) continue;
    const tag = messageToTag(decoded.message, layout);
    if (tag === null) continue;
    const expected = codewordToColours(decoded.codeword, layout);
    let symbolErrors = 0;
    let erased = 0;
    for (let q = 0; q < D; q++) {
      if (seenCount[q] === 0) erased++;
      else if (labels[q] !== expected[q]) symbolErrors++;
    }
    const known = params.codeLength - erasures.length;
    return {
      tag,
      symbolErrors,
      erasures: erased,
      cycles: seenCount.reduce((a, b) => a + b, 0) / D,
      falseMatchProbability: Math.min(1, attempts.count * falseMatchShare(layout, known, decoded.errors)),
    };
  }
  return null;
}
