/**
 * Common Encryption (ISO/IEC 23001-7) of CMAF/fragmented MP4: `cenc` (AES-128-CTR) and `cbcs`
 * (AES-128-CBC, 1:9 pattern on video) for H.264 video and any audio.
 */
export { describeBoxes } from './describe.ts';
export { encryptInit, parseInit } from './init.ts';
export { decryptSegment, type EncryptSegmentOptions, encryptSegment } from './segment.ts';
export type { Scheme, Subsample, TrackInfo } from './types.ts';
