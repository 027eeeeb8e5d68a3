/**
 * Splits ffmpeg's `image2pipe` PPM (P6) stream into RGB24 pictures. Pure, incremental: each picture's
 * bytes are copied once, straight from the chunks into its own buffer.
 */

export interface Picture {
  width: number;
  height: number;
  data: Uint8Array;
}

const MAX_SIDE = 8192;
/** A header longer than this is not one ffmpeg writes. */
const MAX_HEADER = 64;
const EMPTY = Buffer.alloc(0);

export class PpmSplitter {
  /** Bytes of a header not yet complete. */
  private head: Buffer = EMPTY;
  /** The picture being filled, and how many of its bytes have come. */
  private pic: Picture | null = null;
  private filled = 0;

  /** Feeds bytes; returns the pictures completed by them. Throws on a malformed stream. */
  push(chunk: Buffer): Picture[] {
    const out: Picture[] = [];
    let rest = chunk;
    while (rest.length > 0) {
      if (!this.pic) {
        this.head = this.head.length === 0 ? rest : Buffer.concat([this.head, rest]);
        const header = parseHeader(this.head);
        if (!header) {
          if (this.head.length > MAX_HEADER) throw new Error('malformed frame stream from ffmpeg');
          return out;
        }
        const { width, height, offset } = header;
        this.pic = { width, height, data: new Uint8Array(width * height * 3) };
        this.filled = 0;
        rest = this.head.subarray(offset);
        this.head = EMPTY;
      }
      const data = this.pic.data;
      const n = Math.min(rest.length, data.length - this.filled);
      data.set(rest.subarray(0, n), this.filled);
      this.filled += n;
      rest = rest.subarray(n);
      if (this.filled === data.length) {
        out.push(this.pic);
        this.pic = null;
      }
    }
    return out;
  }
}

/** "P6" ws width ws height ws maxval single-ws (ffmpeg writes "P6\n<w> <h>\n255\n"); null if incomplete. */
function parseHeader(b: Buffer): { width: number; height: number; offset: number } | null {
  if (b.length < 2) return null;
  if (b[0] !== 0x50 || b[1] !== 0x36) throw new Error('malformed frame stream from ffmpeg');
  const fields: number[] = [];
  let i = 2;
  while (fields.length < 3) {
    while (i < b.length && isSpace(b[i]!)) i++;
    let n = 0;
    let digits = 0;
    while (i < b.length && b[i]! >= 0x30 && b[i]! <= 0x39) {
      n = n * 10 + (b[i]! - 0x30);
      i++;
      digits++;
      if (digits > 6) throw new Error('malformed frame stream from ffmpeg');
    }
    if (i >= b.length) return null;
    if (digits === 0) throw new Error('malformed frame stream from ffmpeg');
    fields.push(n);
  }
  if (i >= b.length) return null;
  const [width, height, maxval] = fields as [number, number, number];
  if (maxval !== 255 || width < 1 || height < 1 || width > MAX_SIDE || height > MAX_SIDE) {
    throw new Error('unsupported frame format from ffmpeg');
  }
  return { width, height, offset: i + 1 };
}

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}
