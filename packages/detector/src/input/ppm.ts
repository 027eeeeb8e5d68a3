/** Splits ffmpeg's `image2pipe` PPM (P6) stream into RGB24 pictures. Pure, incremental. */

export interface Picture {
  width: number;
  height: number;
  data: Uint8Array;
}

const MAX_SIDE = 8192;

export class PpmSplitter {
  private buf: Buffer = Buffer.alloc(0);

  /** Feeds bytes; returns the pictures completed by them. Throws on a malformed stream. */
  push(chunk: Buffer): Picture[] {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    const out: Picture[] = [];
    for (;;) {
      const header = this.header();
      if (!header) break;
      const { width, height, offset } = header;
      const size = width * height * 3;
      if (this.buf.length < offset + size) break;
      out.push({ width, height, data: new Uint8Array(this.buf.subarray(offset, offset + size)) });
      this.buf = this.buf.subarray(offset + size);
    }
    return out;
  }

  private header(): { width: number; height: number; offset: number } | null {
    // "P6" ws width ws height ws maxval single-ws; ffmpeg writes "P6\n<w> <h>\n255\n".
    const b = this.buf;
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
}

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}
