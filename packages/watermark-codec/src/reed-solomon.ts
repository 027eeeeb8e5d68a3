/**
 * A systematic Reed-Solomon code RS(n, k) over GF(2^m) (n <= 2^m - 1; shortened when smaller), with an
 * errors-and-erasures decoder: Berlekamp-Massey started from the erasure locator, Chien search and Forney's
 * formula. Written from the textbook algorithms (Blahut, "Algebraic Codes for Data Transmission", ch. 7).
 *
 * Codewords are arrays of field elements, message first: index i holds the coefficient of x^(n-1-i), so
 * index i is the error location X = alpha^(n-1-i).
 */
import type { GaloisField } from './gf.ts';

export interface RsDecoded {
  /** The k message symbols. */
  message: number[];
  /** The corrected codeword. */
  codeword: number[];
  /** Positions that were wrong and not declared erased. */
  errors: number;
  /** Every position the decoder changed (errors and erasures that needed a change). */
  corrected: number[];
}

export class ReedSolomon {
  /** Number of parity symbols, n - k (= 2t). */
  readonly parity: number;
  /** Generator polynomial, highest degree first, monic. */
  private readonly generator: number[];

  /**
   * @param firstRoot b: the generator's roots are alpha^b .. alpha^(b+n-k-1).
   */
  constructor(
    readonly field: GaloisField,
    readonly n: number,
    readonly k: number,
    readonly firstRoot = 1,
  ) {
    if (!Number.isInteger(n) || !Number.isInteger(k) || k < 1 || n <= k || n > field.order) {
      throw new RangeError(`RS(${n}, ${k}) does not exist over GF(${field.size})`);
    }
    this.parity = n - k;
    let g = [1];
    for (let j = 0; j < this.parity; j++) {
      const root = field.pow(firstRoot + j);
      // g(x) * (x + root), highest degree first
      const next = new Array<number>(g.length + 1).fill(0);
      for (let i = 0; i < g.length; i++) {
        next[i] = next[i]! ^ g[i]!;
        next[i + 1] = next[i + 1]! ^ field.mul(g[i]!, root);
      }
      g = next;
    }
    this.generator = g;
  }

  /** Appends n - k parity symbols to k message symbols. */
  encode(message: readonly number[]): number[] {
    const { field, k, parity } = this;
    if (message.length !== k) throw new RangeError(`message must have ${k} symbols`);
    const work = [...message, ...new Array<number>(parity).fill(0)];
    for (let i = 0; i < k; i++) {
      const s = work[i]!;
      if (!Number.isInteger(s) || s < 0 || s >= field.size) throw new RangeError('symbol out of field');
      if (s === 0) continue;
      for (let j = 1; j <= parity; j++) work[i + j] = work[i + j]! ^ field.mul(this.generator[j]!, s);
    }
    return [...message, ...work.slice(k)];
  }

  /** S_j = r(alpha^(b+j)), j = 0 .. n-k-1. */
  syndromes(word: readonly number[]): number[] {
    const { field } = this;
    const out: number[] = [];
    for (let j = 0; j < this.parity; j++) {
      const a = field.pow(this.firstRoot + j);
      let s = 0;
      for (const c of word) s = field.mul(s, a) ^ c;
      out.push(s);
    }
    return out;
  }

  /**
   * Decodes a received word in which the positions `erasures` are known to be unreliable (their values are
   * ignored). Succeeds only when the result lies within the budget: 2 * errors + erasures <= budget
   * (default n - k, the code's full capability). A smaller budget keeps spare parity for detection: a word
   * that is not within the budget of any codeword is refused rather than "corrected" to a wrong one.
   */
  decode(
    received: readonly number[],
    erasures: readonly number[] = [],
    budget = this.parity,
  ): RsDecoded | null {
    const { field, n, parity } = this;
    if (received.length !== n) throw new RangeError(`word must have ${n} symbols`);
    const erased = [...new Set(erasures)].filter((p) => Number.isInteger(p) && p >= 0 && p < n);
    const f = erased.length;
    if (f > Math.min(budget, parity)) return null;
    const word = received.map((c, i) => (erased.includes(i) ? 0 : c & field.order));
    const S = this.syndromes(word);
    const locOf = (i: number) => field.pow(n - 1 - i);

    // Erasure locator Gamma(x) = prod (1 + X_l x), lowest degree first.
    let gamma = [1];
    for (const p of erased) {
      const X = locOf(p);
      const next = new Array<number>(gamma.length + 1).fill(0);
      for (let i = 0; i < gamma.length; i++) {
        next[i] = next[i]! ^ gamma[i]!;
        next[i + 1] = next[i + 1]! ^ field.mul(gamma[i]!, X);
      }
      gamma = next;
    }

    // Berlekamp-Massey, initialised with the erasure locator (Blahut's errors-and-erasures form).
    let lambda = gamma.slice();
    let B = gamma.slice();
    let L = f;
    let shift = 1;
    let lastDelta = 1;
    for (let r = f; r < parity; r++) {
      let delta = 0;
      for (let i = 0; i <= L && i < lambda.length; i++) delta ^= field.mul(lambda[i]!, S[r - i]!);
      if (delta === 0) {
        shift++;
        continue;
      }
      const coef = field.div(delta, lastDelta);
      const next = lambda.slice();
      while (next.length < B.length + shift) next.push(0);
      for (let i = 0; i < B.length; i++) next[i + shift] = next[i + shift]! ^ field.mul(coef, B[i]!);
      if (2 * L <= r + f) {
        B = lambda;
        L = r + 1 + f - L;
        lastDelta = delta;
        shift = 1;
      } else {
        shift++;
      }
      lambda = next;
    }
    while (lambda.length > 1 && lambda[lambda.length - 1] === 0) lambda.pop();
    const degree = lambda.length - 1;
    if (degree !== L || 2 * L - f > parity) return null;

    // Chien search over the (possibly shortened) code's positions only.
    const positions: number[] = [];
    for (let i = 0; i < n; i++) {
      if (field.evalLow(lambda, field.inv(locOf(i))) === 0) positions.push(i);
    }
    if (positions.length !== degree) return null;

    // Forney: Omega = S(x) Lambda(x) mod x^(n-k); Y = X^(1-b) Omega(X^-1) / Lambda'(X^-1).
    const omega = new Array<number>(parity).fill(0);
    for (let i = 0; i < lambda.length; i++) {
      for (let j = 0; j < parity && i + j < parity; j++) {
        omega[i + j] = omega[i + j]! ^ field.mul(lambda[i]!, S[j]!);
      }
    }
    const derivative: number[] = [];
    for (let i = 1; i < lambda.length; i++) derivative.push(i % 2 === 1 ? lambda[i]! : 0);
    const codeword = word.slice();
    const corrected: number[] = [];
    let errors = 0;
    for (const p of positions) {
      const X = locOf(p);
      const Xinv = field.inv(X);
      const den = field.evalLow(derivative, Xinv);
      if (den === 0) return null;
      const Y = field.mul(
        field.pow((1 - this.firstRoot) * field.log(X)),
        field.div(field.evalLow(omega, Xinv), den),
      );
      if (Y !== 0) {
        codeword[p] = codeword[p]! ^ Y;
        corrected.push(p);
        if (!erased.includes(p)) errors++;
      }
    }
    if (2 * errors + f > budget) return null;
    if (this.syndromes(codeword).some((s) => s !== 0)) return null;
    return { message: codeword.slice(0, this.k), codeword, errors, corrected };
  }
}
