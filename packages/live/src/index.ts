/**
 * @vigil/live: protected live channels. A supervised ffmpeg encodes the input into a clear CMAF ladder;
 * each fragment is retimed onto the channel's clock, encrypted with keys that rotate every key period
 * (CENC with in-band signalling for DASH, AES-128 for HLS) and published with sliding-window manifests.
 */
export { type ChannelState, type ChannelStatus, LiveChannel, type LiveChannelOptions } from './channel.ts';
export {
  type ChannelDefinition,
  type ChannelWriter,
  checkResourceContent,
  defineChannel,
} from './define.ts';
export { EncoderRegistry, spawnGuarded } from './encoder-guard.ts';
export { INIT_NAME, liveFfmpegArgs, SEGMENT_NAME } from './ffmpeg-args.ts';
export * from './fragment/index.ts';
export { type InputErrorCode, InputUrlError, type ParsedInputUrl, parseInputUrl } from './input-url.ts';
export { KeyRing, type PeriodKeys } from './keyring.ts';
export { type ChannelRecord, LiveManager, type LiveManagerOptions, type LiveStorePort } from './manager.ts';
export * from './manifests.ts';
export {
  channelFolder,
  channelKeyOwner,
  claimFolder,
  foreignContent,
  OWNER_FILE,
  ResourceContentError,
  removeChannelFiles,
  TAKEOVER_DIR,
} from './ownership.ts';
export * from './settings.ts';
export { type RunExit, Supervisor, type SupervisorOptions, type SupervisorStatus } from './supervisor.ts';
