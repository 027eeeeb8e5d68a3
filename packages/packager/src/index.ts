/**
 * @vigil/packager: turns a video into an encrypted, self-contained streaming package (multi-period DASH,
 * fMP4 HLS, optionally HLS AES-128) with keys from Vigil, and checks packages against the key server.
 */

export { readSampleInfo, readSenc, type SencEntries } from './cenc/aux-info.ts';
export {
  decryptSegment,
  describeBoxes,
  encryptInit,
  encryptSegment,
  parseInit,
  type Scheme,
  type TrackInfo,
} from './cenc/index.ts';
export { readInitTracks } from './cenc/init.ts';
export { decryptTsSegment, encryptTsSegment, sequenceIv } from './hls-aes/cipher.ts';
export { buildTsMasterPlaylist, buildTsMediaPlaylist, HLS_AES_DIR } from './hls-aes/package.ts';
export {
  type ContentKeyReader,
  type KeyLookup,
  licenseKeyLookup,
  storeKeyLookup,
} from './keys/license-client.ts';
export {
  type ContentKeyWriter,
  DEFAULT_KEY_TTL_SECONDS,
  ephemeralKeySource,
  type KeySource,
  type KeySpec,
  type KeyUse,
  type PackagingKey,
  storeKeySource,
} from './keys/source.ts';
export {
  buildCpixRequest,
  parseCpixKeys,
  requestSpekeKeys,
  type SpekeClientOptions,
  spekeKeySource,
} from './keys/speke-client.ts';
export { buildMpd } from './manifest/dash.ts';
export { buildCmafMasterPlaylist, buildCmafMediaPlaylist } from './manifest/hls.ts';
export {
  CLEARKEY_KEYFORMAT,
  formatDuration,
  type HlsAudioRendition,
  type HlsItem,
  type HlsKey,
  type HlsMasterPlaylist,
  type HlsMediaPlaylist,
  type HlsSegment,
  type HlsVariant,
  quoted,
  targetDuration,
  writeMasterPlaylist,
  writeMediaPlaylist,
} from './manifest/hls-writer.ts';
export {
  type AdaptationSetFields,
  adaptationSet,
  contentProtection,
  DASHIF_CLEARKEY_SCHEME,
  DASHIF_CPS_NS,
  isoDuration,
  MP4_PROTECTION_SCHEME,
  type MpdFields,
  period,
  type RepresentationFields,
  representation,
  type SegmentTemplateFields,
  segmentTimeline,
  timelineEntries,
  writeMpd,
  writeXml,
  type XmlElement,
} from './manifest/mpd-writer.ts';
export { aacArgs, type H264LadderOptions, h264LadderArgs } from './pipeline/encoder-args.ts';
export { PackagerError, type PackagerErrorCode } from './pipeline/errors.ts';
export {
  chooseRenditions,
  DEFAULT_LADDER,
  type Rung,
  trackTypeForHeight,
  type VideoRendition,
} from './pipeline/ladder.ts';
export * from './pipeline/layout.ts';
export { clearInit, readFragmentTiming, readInit, tencKid } from './pipeline/mp4.ts';
export {
  DEFAULT_KEY_PERIOD,
  DEFAULT_LICENSE_URL_BASE,
  DEFAULT_SEGMENT_DURATION,
  type PackageControl,
  type PackageOptions,
  type PackagePhase,
  type PackageProgress,
  type PackageSummary,
  packageMedia,
} from './pipeline/package.ts';
export { probeSource, type SourceInfo } from './pipeline/probe.ts';
export { decodeErrors, type RenditionCheck, readLayout, verifyPackage } from './pipeline/verify.ts';
