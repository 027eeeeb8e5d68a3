/**
 * Arithmetic in the binary extension field GF(2^m), by log/antilog tables. Addition is XOR.
 *
 * Kept separate from the Reed-Solomon code so that the field size is a parameter of the codec.
 */
export class GaloisField {
  /** Number of elements, 2^m. */
  readonly size: number;
  /** Multiplicative order, 2^m - 1. */
  readonly order: number;
  /** exp[i] = alpha^i, doubled in length so that exp[log a + log b] needs no reduction. */
  private readonly exp: Uint16Array;
  private readonly logTable: Int32Array;

  /** @param bits m, 2..12. @param primitive the primitive polynomial, bit i = coefficient of x^i. */
  constructor(
    readonly bits: number,
    primitive: number,
  ) {
    if (!Number.isInteger(bits) || bits < 2 || bits > 12) throw new RangeError('field bits must be 2..12');
    this.size = 1 << bits;
    this.order = this.size - 1;
    this.exp = new Uint16Array(this.order * 2);
    this.logTable = new Int32Array(this.size).fill(-1);
    let x = 1;
    for (let i = 0; i < this.order; i++) {
      if (this.logTable[x] !== -1) throw new RangeError(`0x${primitive.toString(16)} is not primitive`);
      this.exp[i] = x;
      this.logTable[x] = i;
      x <<= 1;
      if (x & this.size) x ^= primitive;
    }
    if (x !== 1) throw new RangeError(`0x${primitive.toString(16)} is not primitive`);
    for (let i = this.order; i < this.order * 2; i++) this.exp[i] = this.exp[i - this.order]!;
  }

  /** alpha^e for any integer e. */
  pow(e: number): number {
    const r = e % this.order;
    return this.exp[r < 0 ? r + this.order : r]!;
  }

  mul(a: number, b: number): number {
    if (a === 0 || b === 0) return 0;
    return this.exp[this.logTable[a]! + this.logTable[b]!]!;
  }

  div(a: number, b: number): number {
    if (b === 0) throw new RangeError('division by zero in GF');
    if (a === 0) return 0;
    return this.exp[this.logTable[a]! - this.logTable[b]! + this.order]!;
  }

  /** The discrete logarithm: log(alpha^e) = e mod (2^m - 1). */
  log(a: number): number {
    if (a === 0) throw new RangeError('log of zero in GF');
    return this.logTable[a]!;
  }

  inv(a: number): number {
    return this.div(1, a);
  }

  /** Evaluates a polynomial given lowest degree first (p[i] is the coefficient of x^i). */
  evalLow(p: readonly number[], x: number): number {
    let y = 0;
    for (let i = p.length - 1; i >= 0; i--) y = this.mul(y, x) ^ p[i]!;
    return y;
  }
}
