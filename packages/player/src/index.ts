/// <reference lib="dom" />
/**
 * @vigil/player: Vigil in the browser. A framework-agnostic session (ClearKey EME with the viewer token,
 * watermark directive, heartbeats, bans), the watermark renderer and its tamper guard, and the video.js 8
 * plugin (`registerVigilPlugin(videojs)`, then `player.vigil({ server, token })`).
 */
export {
  type DeliveryAnswer,
  type EventReport,
  type HeartbeatAnswer,
  type LicenseAnswer,
  refusalFrom,
  VigilClient,
  type VigilClientOptions,
  VigilRefusal,
  WATERMARK_HEADER,
} from './core/client.ts';
export {
  DELIVERY_PARAM,
  readDeliveryToken,
  SignedDelivery,
  type SignedDeliveryOptions,
} from './core/delivery.ts';
export {
  colorTagOf,
  DEFAULT_DIRECTIVE,
  decodeDirectiveHeader,
  mergeDirective,
  sameDirective,
  type WatermarkBox,
  type WatermarkDirective,
} from './core/directive.ts';
export {
  CLEARKEY,
  ClearKeyEme,
  type ClearKeyEmeOptions,
  initDataKey,
  kidsFromCencInitData,
} from './core/eme.ts';
export { MESSAGE_CLASS, MessageOverlay } from './core/overlay.ts';
export {
  BANNED_MESSAGE,
  sessionIdOfToken,
  TAMPER_MESSAGE,
  type VigilDebug,
  type VigilEventDetail,
  type VigilEventType,
  VigilSession,
  type VigilSessionOptions,
} from './core/session.ts';
export { type TamperCheck, TamperGuard, type TamperGuardOptions, type TamperTarget } from './tamper/guard.ts';
export {
  registerVigilPlugin,
  type VideoJsPlayer,
  type VideoJsStatic,
  type VigilHandle,
  type VigilPluginOptions,
} from './videojs/plugin.ts';
export { type ColorCodec, DEFAULT_COLOR_CODEC } from './watermark/codec.ts';
export { MarkHost, randomTagName } from './watermark/host.ts';
export { type Rect, Watermark, type WatermarkDebug, type WatermarkOptions } from './watermark/watermark.ts';
