/**
 * What a file's first bytes say it is: the container families Vigil ingests (ISO BMFF/QuickTime,
 * Matroska/WebM, MPEG-TS, AVI, FLV, MPEG-PS), or what it plainly is not. Pure: no I/O.
 */
export type Sniffed =
  | { kind: 'video'; container: 'mp4' | 'matroska' | 'mpegts' | 'avi' | 'flv' | 'mpegps' }
  | { kind: 'other'; what: string }
  | { kind: 'unknown' };

const ascii = (b: Uint8Array, at: number, n: number) => String.fromCharCode(...b.subarray(at, at + n));

export function sniff(head: Uint8Array): Sniffed {
  if (head.length >= 12) {
    const box = ascii(head, 4, 4);
    if (['ftyp', 'moov', 'mdat', 'free', 'wide', 'skip', 'styp'].includes(box))
      return { kind: 'video', container: 'mp4' };
  }
  if (head.length >= 4 && head[0] === 0x1a && head[1] === 0x45 && head[2] === 0xdf && head[3] === 0xa3)
    return { kind: 'video', container: 'matroska' };
  if (head.length >= 189 && head[0] === 0x47 && head[188] === 0x47)
    return { kind: 'video', container: 'mpegts' };
  if (head.length >= 12 && ascii(head, 0, 4) === 'RIFF' && ascii(head, 8, 4) === 'AVI ')
    return { kind: 'video', container: 'avi' };
  if (head.length >= 3 && ascii(head, 0, 3) === 'FLV') return { kind: 'video', container: 'flv' };
  if (head.length >= 4 && head[0] === 0 && head[1] === 0 && head[2] === 1 && head[3] === 0xba)
    return { kind: 'video', container: 'mpegps' };
  const others: [number[], string][] = [
    [[0x89, 0x50, 0x4e, 0x47], 'a PNG image'],
    [[0xff, 0xd8, 0xff], 'a JPEG image'],
    [[0x47, 0x49, 0x46, 0x38], 'a GIF image'],
    [[0x25, 0x50, 0x44, 0x46], 'a PDF document'],
    [[0x50, 0x4b, 0x03, 0x04], 'a ZIP archive'],
    [[0x7f, 0x45, 0x4c, 0x46], 'an executable'],
    [[0x4d, 0x5a], 'an executable'],
    [[0x49, 0x44, 0x33], 'MP3 audio'],
    [[0x66, 0x4c, 0x61, 0x43], 'FLAC audio'],
    [[0x4f, 0x67, 0x67, 0x53], 'an Ogg stream'],
  ];
  for (const [sig, what] of others) if (sig.every((b, i) => head[i] === b)) return { kind: 'other', what };
  if (head.length >= 12 && ascii(head, 0, 4) === 'RIFF' && ascii(head, 8, 4) === 'WAVE')
    return { kind: 'other', what: 'WAV audio' };
  if (
    head.length > 0 &&
    head
      .subarray(0, Math.min(head.length, 512))
      .every((b) => b === 9 || b === 10 || b === 13 || (b >= 32 && b < 127))
  )
    return { kind: 'other', what: 'text' };
  return { kind: 'unknown' };
}

/** MIME types accepted at initiation. */
export const VIDEO_MIME_TYPES = new Set([
  'video/mp4',
  'video/quicktime',
  'video/x-m4v',
  'video/webm',
  'video/x-matroska',
  'video/mp2t',
  'video/x-msvideo',
  'video/x-flv',
  'video/mpeg',
  'application/octet-stream',
]);

/** 1–255 characters, no path separators, control characters or leading dot. */
export function validFilename(name: string): boolean {
  return (
    name.length >= 1 &&
    Buffer.byteLength(name) <= 255 &&
    ![...name].some((c) => c === '/' || c === '\\' || c.charCodeAt(0) < 32 || c.charCodeAt(0) === 127) &&
    !name.startsWith('.') &&
    name.trim() === name
  );
}
