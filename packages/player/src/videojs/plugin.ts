/// <reference lib="dom" />
/**
 * The video.js 8 plugin: `player.vigil({ server, token })` runs a VigilSession on the player's video
 * element and the player element (which holds the mark, also in fullscreen). VHS plays the packager's
 * multi-period CENC DASH with EME handled by the session (no videojs-contrib-eme), and HLS AES-128 with
 * `?token=` added to the key server's key URIs by a VHS request hook, which also reads the directive
 * header and refusals from key answers. The same hook handles signed delivery: origin requests under a
 * delivery token's prefix get the newest token as `?vd=` (from a source URL that came with one, or from
 * `/v1/delivery` when the source is given as the `src` option), renewed at half its lifetime.
 *
 * After the call, `player.vigil` is the plugin's handle: `.directive`, `.stop(reason)`, `.debug()`,
 * `.session`; the player triggers `vigil:directive`, `vigil:banned`, `vigil:tamper`, `vigil:stopped` and
 * `vigil:error` with the detail as the second listener argument.
 */
import { refusalFrom, VigilRefusal } from '../core/client.ts';
import { SignedDelivery } from '../core/delivery.ts';
import type { WatermarkDirective } from '../core/directive.ts';
import {
  type VigilDebug,
  type VigilEventDetail,
  type VigilEventType,
  VigilSession,
} from '../core/session.ts';
import type { ColorCodec } from '../watermark/codec.ts';

/* Just what the plugin uses of video.js 8 and VHS. */

export interface VhsXhrOptions {
  uri: string;
  [key: string]: unknown;
}

export interface VhsXhrResponse {
  statusCode?: number;
  headers?: Record<string, string | undefined>;
  body?: unknown;
  responseBody?: unknown;
}

export interface VhsXhr {
  onRequest?(hook: (options: VhsXhrOptions) => VhsXhrOptions): void;
  onResponse?(
    hook: (request: { uri?: string }, error: unknown, response: VhsXhrResponse | undefined) => void,
  ): void;
  offRequest?(hook: (options: VhsXhrOptions) => VhsXhrOptions): void;
  offResponse?(
    hook: (request: { uri?: string }, error: unknown, response: VhsXhrResponse | undefined) => void,
  ): void;
}

export interface VideoJsTech {
  el(): HTMLElement;
  vhs?: { xhr?: VhsXhr };
}

export interface VideoJsPlayer {
  el(): HTMLElement;
  tech(safety?: boolean): VideoJsTech | undefined;
  ready(fn: () => void): void;
  pause(): void;
  reset(): void;
  disablePictureInPicture?(value: boolean): void;
  on(type: string, fn: (...args: unknown[]) => void): void;
  off(type: string, fn: (...args: unknown[]) => void): void;
  trigger(type: string, hash?: unknown): void;
  src?(source: { src: string; type?: string }): unknown;
  currentSrc?(): string;
  eme?: unknown;
  vigil?: unknown;
}

export interface VideoJsStatic {
  registerPlugin(
    name: string,
    plugin: (this: VideoJsPlayer, options: VigilPluginOptions) => unknown,
  ): unknown;
  getPlugin(name: string): unknown;
  Vhs?: Record<string, unknown>;
}

export interface VigilPluginOptions {
  /** The key server's base URL. */
  server: string;
  /** The viewer token from the tenant's backend. */
  token: string;
  /** The colour-mode codec; default `@vigil/watermark-codec`'s default design. */
  codec?: ColorCodec;
  /** A directive to start from before the key server's first answer. */
  directive?: Partial<WatermarkDirective>;
  /**
   * The source to play with signed delivery: the plugin gets a delivery token from `/v1/delivery` with
   * the viewer token and sets the signed URL as the player's source. Relative URLs are relative to
   * `server`. (A source set by the page whose URL already carries `vd=` needs nothing.)
   */
  src?: { src: string; type?: string };
  /**
   * Caps how far ahead VHS buffers, in seconds of media, so licenses are asked for shortly before
   * their key period plays and a ban stops playback within about a key period. VHS keeps this setting
   * per page (`videojs.Vhs.GOAL_BUFFER_LENGTH`): it applies to every player on the page. Default:
   * VHS's own (30 s, growing to 60 s).
   */
  bufferAheadSeconds?: number;
  heartbeat?: boolean;
  checkIntervalMs?: number;
  reportDebounceMs?: number;
}

export interface VigilHandle {
  (): VigilHandle;
  readonly directive: WatermarkDirective;
  readonly session: VigilSession;
  /** Signed delivery's tokens for origin requests. */
  readonly delivery: SignedDelivery;
  /** Stops playback for good with a message: `banned`, `tamper`, or a reason shown as given. */
  stop(reason: string): void;
  /** The mark's rectangle, mode, colour symbol and counters: for tests and diagnostics. */
  debug(): VigilDebug;
  dispose(): void;
}

const EVENTS: VigilEventType[] = ['directive', 'banned', 'tamper', 'stopped', 'error'];

function bodyText(body: unknown): string {
  if (typeof body === 'string') return body;
  if (body instanceof ArrayBuffer) return new TextDecoder().decode(body);
  if (ArrayBuffer.isView(body)) return new TextDecoder().decode(body);
  return '';
}

function startVigil(videojs: VideoJsStatic, player: VideoJsPlayer, options: VigilPluginOptions): VigilHandle {
  if (!options?.server || !options?.token) throw new Error('player.vigil needs { server, token }');
  const tech = player.tech(true);
  const media = tech?.el();
  if (!(media instanceof HTMLVideoElement))
    throw new Error('player.vigil needs the HTML5 tech (a <video> element)');

  if (options.bufferAheadSeconds !== undefined && videojs.Vhs) {
    const seconds = Math.max(1, options.bufferAheadSeconds);
    videojs.Vhs.GOAL_BUFFER_LENGTH = seconds;
    videojs.Vhs.MAX_GOAL_BUFFER_LENGTH = seconds;
  }
  // VHS calls `player.eme.initializeMediaKeys` on `waitingforkey` and throws a TypeError without
  // videojs-contrib-eme; an `eme` without that method tells it there is nothing to do: the session
  // handles EME on the element itself.
  if (player.eme === undefined && !videojs.getPlugin('eme')) player.eme = {};

  const session = new VigilSession({
    server: options.server,
    token: options.token,
    media,
    container: player.el(),
    codec: options.codec,
    directive: options.directive,
    heartbeat: options.heartbeat,
    checkIntervalMs: options.checkIntervalMs,
    reportDebounceMs: options.reportDebounceMs,
    detach: () => {
      player.pause();
      player.reset();
    },
    onPictureInPicturePolicy: (disabled) => player.disablePictureInPicture?.(disabled),
  });
  for (const type of EVENTS) {
    session.on(type, (detail: VigilEventDetail) => player.trigger(`vigil:${type}`, detail));
  }

  const delivery = new SignedDelivery({
    client: session.client,
    onRefusal: (err) => session.receiveRefusal(err),
  });
  const adoptSource = () => {
    const current = player.currentSrc?.();
    if (current) delivery.sign(current);
  };

  // HLS AES-128: the token on this server's key URIs, and the key answers' directive and refusals.
  // Signed delivery: the newest delivery token on origin URLs.
  const onRequest = (o: VhsXhrOptions): VhsXhrOptions => {
    if (typeof o.uri !== 'string') return o;
    if (session.client.isHlsKeyUrl(o.uri)) o.uri = session.client.withToken(o.uri);
    else o.uri = delivery.sign(o.uri);
    return o;
  };
  const onResponse = (request: { uri?: string }, _error: unknown, response: VhsXhrResponse | undefined) => {
    const uri = request?.uri ?? '';
    if (response && (response.statusCode ?? 0) === 403 && delivery.covers(uri)) {
      const refusal = refusalFrom(403, bodyText(response.body ?? response.responseBody));
      if (refusal.code === 'banned') session.receiveRefusal(refusal);
      else if (refusal.code === 'delivery_expired') void delivery.renew();
      return;
    }
    if (!response || !session.client.isHlsKeyUrl(uri)) return;
    const status = response.statusCode ?? 0;
    session.receiveKeyResponse(
      status,
      response.headers ?? {},
      status >= 400 ? bodyText(response.body ?? response.responseBody) : undefined,
    );
  };
  let hooked: VhsXhr | undefined;
  const hookVhs = () => {
    const xhr = player.tech(true)?.vhs?.xhr;
    if (!xhr || xhr === hooked || !xhr.onRequest || !xhr.onResponse) return;
    hooked = xhr;
    xhr.onRequest(onRequest);
    xhr.onResponse(onResponse);
  };
  player.on('xhr-hooks-ready', hookVhs);
  hookVhs();
  player.on('loadstart', adoptSource);
  adoptSource();

  const handle = (() => handle) as VigilHandle;
  Object.defineProperties(handle, {
    directive: { get: () => session.directive, enumerable: true },
    session: { value: session, enumerable: true },
    delivery: { value: delivery, enumerable: true },
    stop: { value: (reason: string) => session.stop(reason) },
    debug: { value: () => session.debug() },
    dispose: {
      value: () => {
        player.off('xhr-hooks-ready', hookVhs);
        player.off('loadstart', adoptSource);
        delivery.dispose();
        hooked?.offRequest?.(onRequest);
        hooked?.offResponse?.(onResponse);
        session.dispose();
      },
    },
  });
  player.on('dispose', () => handle.dispose());
  session.start();
  if (options.src) {
    const { src, type } = options.src;
    const absolute = new URL(src, `${session.client.server}/`).toString();
    delivery.signedSource(absolute).then(
      (signed) => {
        if (!session.stopped) player.src?.(type ? { src: signed, type } : { src: signed });
      },
      (err: unknown) =>
        session.receiveRefusal(
          err instanceof VigilRefusal
            ? err
            : new VigilRefusal(0, 'delivery_failed', `no delivery token: ${(err as Error)?.message ?? err}`),
        ),
    );
  }
  return handle;
}

/**
 * Registers the `vigil` plugin with video.js (idempotent). The `<script>` bundle does this with the
 * global `videojs` when it loads; ESM users pass their `videojs`.
 */
export function registerVigilPlugin(videojs: VideoJsStatic): void {
  if (videojs.getPlugin('vigil')) return;
  videojs.registerPlugin('vigil', function vigil(this: VideoJsPlayer, options: VigilPluginOptions) {
    if (!this.tech(true)) {
      // Called through `options.plugins`, before the player has its tech: start once it is ready;
      // `player.vigil` becomes the handle then.
      this.ready(() => {
        this.vigil = startVigil(videojs, this, options);
      });
      return undefined;
    }
    const previous = this.vigil as Partial<VigilHandle> | undefined;
    if (typeof previous?.dispose === 'function') previous.dispose();
    const handle = startVigil(videojs, this, options);
    // The handle replaces the plugin function on this player: `player.vigil.directive`, `.stop()`…
    this.vigil = handle;
    return handle;
  });
}
