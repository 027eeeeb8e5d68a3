/// <reference lib="dom" />
/**
 * One viewer session on one media element, independent of any player framework: ClearKey licenses with
 * the viewer token (EME handled on the element), the watermark directive applied live from license,
 * key and heartbeat answers, heartbeats, the watermark and its tamper guard, and stopping playback when
 * the key server bans the session or the mark is tampered with under the `stop` policy.
 */

import { type TamperCheck, TamperGuard } from '../tamper/guard.ts';
import { type ColorCodec, DEFAULT_COLOR_CODEC } from '../watermark/codec.ts';
import { Watermark, type WatermarkDebug } from '../watermark/watermark.ts';
import { type EventReport, refusalFrom, VigilClient, VigilRefusal, WATERMARK_HEADER } from './client.ts';
import {
  DEFAULT_DIRECTIVE,
  decodeDirectiveHeader,
  mergeDirective,
  sameDirective,
  type WatermarkDirective,
} from './directive.ts';
import { ClearKeyEme } from './eme.ts';
import { MessageOverlay } from './overlay.ts';

export const BANNED_MESSAGE = 'Playback stopped: this session is banned';
export const TAMPER_MESSAGE = 'Playback stopped: the watermark was tampered with';

export interface VigilSessionOptions {
  /** The key server's base URL. */
  server: string;
  /** The viewer token from the tenant's backend. */
  token: string;
  media: HTMLVideoElement;
  /** The element over the video that holds the mark and messages (the player element); default the media's parent. */
  container?: HTMLElement;
  /** The colour-mode codec; default `@vigil/watermark-codec`'s default design. */
  codec?: ColorCodec;
  /** A directive to start from before the key server's first answer (merged over the defaults). */
  directive?: Partial<WatermarkDirective>;
  /** Stops the source for good; default: pause, drop `src`, `load()`. Player adapters detach their way. */
  detach?: () => void;
  /** Called when picture-in-picture gets forbidden (true) or allowed again (false), for player UIs. */
  onPictureInPicturePolicy?: (disabled: boolean) => void;
  /** Default true. */
  heartbeat?: boolean;
  /** Milliseconds between integrity checks of the mark; default 500. */
  checkIntervalMs?: number;
  /** One tamper report per check kind per this many milliseconds; default 5000. */
  reportDebounceMs?: number;
  fetch?: typeof fetch;
}

export type VigilEventType = 'directive' | 'banned' | 'tamper' | 'stopped' | 'error';

export interface VigilEventDetail {
  directive?: WatermarkDirective;
  check?: TamperCheck;
  reason?: string;
  code?: string;
  status?: number;
  message?: string;
  /** `stopped`/`banned`: the media time playback stopped at. */
  mediaTime?: number;
}

export interface VigilDebug extends WatermarkDebug {
  directive: WatermarkDirective;
  stopped: boolean;
  stopReason: string | null;
  message: string | null;
  guardChecks: number;
  reports: number;
  heartbeats: number;
  licenses: number;
  sessions: number;
}

/** The `sessionId` claim of a JWT, read without verifying (only to label the mark until the server speaks). */
export function sessionIdOfToken(token: string): string | undefined {
  try {
    const part = token.split('.')[1] ?? '';
    const b64 = part.replace(/-/g, '+').replace(/_/g, '/');
    const json = new TextDecoder().decode(
      Uint8Array.from(atob(b64 + '='.repeat((4 - (b64.length % 4)) % 4)), (c) => c.charCodeAt(0)),
    );
    const id = (JSON.parse(json) as { sessionId?: unknown }).sessionId;
    return typeof id === 'string' ? id : undefined;
  } catch {
    return undefined;
  }
}

/** Inline properties removed from the player element chain when a check failed there. */
const INLINE_FIXES: Partial<Record<TamperCheck, string[]>> = {
  display: ['display'],
  visibility: ['visibility', 'content-visibility'],
  opacity: ['opacity'],
  filter: ['filter'],
  blend: ['mix-blend-mode'],
  zoom: ['zoom'],
  font: ['font-size'],
  'clip-path': ['clip-path', 'mask', '-webkit-mask', 'mask-image', '-webkit-mask-image'],
};

const LICENSE_ATTEMPTS = 3;

export class VigilSession {
  readonly client: VigilClient;
  readonly media: HTMLVideoElement;
  readonly container: HTMLElement;
  private readonly opts: VigilSessionOptions;
  private readonly eme: ClearKeyEme;
  private readonly watermark: Watermark;
  private readonly guard: TamperGuard;
  private readonly overlay: MessageOverlay;
  private current: WatermarkDirective;
  private readonly listeners = new Map<VigilEventType, Set<(detail: VigilEventDetail) => void>>();
  private heartbeatTimer: ReturnType<typeof setTimeout> | undefined;
  private readonly lastReport = new Map<string, number>();
  private started = false;
  private stoppedReason: string | undefined;
  private reports = 0;
  private heartbeats = 0;
  private pipForbidden = false;
  /** The element's own `disablePictureInPicture`, given back when watermarking ends. */
  private pipBefore = false;
  private readonly onEnterPip = () => {
    if (this.pipForbidden) document.exitPictureInPicture?.().catch(() => {});
  };
  private readonly onPlayAfterStop = () => {
    if (this.stoppedReason !== undefined) this.media.pause();
  };

  constructor(opts: VigilSessionOptions) {
    this.opts = opts;
    this.media = opts.media;
    const container = opts.container ?? opts.media.parentElement;
    if (!container) throw new Error('the media element needs a container for the watermark');
    this.container = container;
    this.client = new VigilClient({ server: opts.server, token: opts.token, fetch: opts.fetch });
    this.current = mergeDirective(
      { ...DEFAULT_DIRECTIVE, sessionId: sessionIdOfToken(opts.token) ?? '' },
      opts.directive,
    );
    this.eme = new ClearKeyEme({
      media: this.media,
      requestLicense: (message) => this.requestLicense(message),
      onError: (err) => this.handleFailure(err, 'license'),
    });
    this.watermark = new Watermark({
      container: this.container,
      media: this.media,
      codec: opts.codec ?? DEFAULT_COLOR_CODEC,
      onHostChanged: () => this.guard.rearm(),
    });
    this.guard = new TamperGuard(
      {
        host: () => this.watermark.hostElement(),
        mountPoint: () => this.watermark.mountPoint(),
        container: this.container,
        media: this.media,
        expectedRect: () => this.watermark.expectedRect(),
        sync: () => this.watermark.refresh(),
        layered: () => this.watermark.isOpen(),
        raise: () => this.watermark.raise(),
        racingElement: () => this.watermark.racingElement(),
      },
      {
        intervalMs: opts.checkIntervalMs ?? 500,
        onViolation: (check, detail) => this.handleTamper(check, detail.element),
      },
    );
    this.overlay = new MessageOverlay(this.container);
  }

  get directive(): WatermarkDirective {
    return this.current;
  }

  get stopped(): boolean {
    return this.stoppedReason !== undefined;
  }

  on(type: VigilEventType, listener: (detail: VigilEventDetail) => void): () => void {
    let set = this.listeners.get(type);
    if (!set) {
      set = new Set();
      this.listeners.set(type, set);
    }
    set.add(listener);
    return () => set.delete(listener);
  }

  private emit(type: VigilEventType, detail: VigilEventDetail): void {
    for (const listener of this.listeners.get(type) ?? []) {
      try {
        listener(detail);
      } catch (err) {
        console.error('vigil: event listener failed', err);
      }
    }
  }

  /** Starts handling EME, draws the mark, starts heartbeats. */
  start(): void {
    if (this.started || this.stopped) return;
    this.started = true;
    if (getComputedStyle(this.container).position === 'static') this.container.style.position = 'relative';
    this.eme.attach();
    this.media.addEventListener('enterpictureinpicture', this.onEnterPip);
    this.apply(this.current, true);
    if (this.opts.heartbeat !== false) this.heartbeat();
  }

  /** Merges a directive from the key server (decoded JSON) and applies it if anything changed. */
  receiveDirective(raw: unknown): void {
    if (this.stopped || raw === undefined) return;
    const next = mergeDirective(this.current, raw);
    if (sameDirective(next, this.current)) return;
    this.apply(next, false);
  }

  private apply(directive: WatermarkDirective, initial: boolean): void {
    const previous = this.current;
    this.current = directive;
    this.watermark.update(directive);
    if (directive.enabled) {
      this.guard.start();
      this.guard.rearm();
    } else this.guard.stop();
    this.setPipPolicy(directive.enabled);
    if (!initial && previous.heartbeatSeconds !== directive.heartbeatSeconds && this.heartbeatTimer) {
      this.scheduleHeartbeat();
    }
    this.emit('directive', { directive });
  }

  private setPipPolicy(forbidden: boolean): void {
    if (forbidden === this.pipForbidden) return;
    if (forbidden) this.pipBefore = this.media.disablePictureInPicture;
    this.pipForbidden = forbidden;
    this.media.disablePictureInPicture = forbidden || this.pipBefore;
    if (forbidden && document.pictureInPictureElement === this.media) {
      document.exitPictureInPicture().catch(() => {});
    }
    this.opts.onPictureInPicturePolicy?.(forbidden || this.pipBefore);
  }

  private async requestLicense(message: ArrayBuffer): Promise<ArrayBuffer> {
    for (let attempt = 1; ; attempt++) {
      if (this.stopped) throw new Error('stopped');
      try {
        const answer = await this.client.license(message);
        this.receiveDirective(answer.directive);
        return answer.body;
      } catch (err) {
        // Refusals are final; a network failure is tried again a few times.
        if (err instanceof VigilRefusal || attempt >= LICENSE_ATTEMPTS) throw err;
        await new Promise((r) => setTimeout(r, 500 * 2 ** attempt));
      }
    }
  }

  private heartbeat(): void {
    if (this.stopped) return;
    this.heartbeats++;
    this.client.heartbeat().then(
      (answer) => {
        this.receiveDirective(answer.directive);
        this.scheduleHeartbeat();
      },
      (err: unknown) => {
        // A refusal counts (a ban stops playback); an unreachable server does not: the next license
        // request decides.
        if (err instanceof VigilRefusal) this.handleFailure(err, 'heartbeat');
        this.scheduleHeartbeat();
      },
    );
  }

  private scheduleHeartbeat(): void {
    clearTimeout(this.heartbeatTimer);
    this.heartbeatTimer = undefined;
    if (this.stopped || this.opts.heartbeat === false) return;
    this.heartbeatTimer = setTimeout(() => this.heartbeat(), this.current.heartbeatSeconds * 1000);
  }

  /**
   * A key server answer seen by a player adapter (HLS AES-128 key requests go through the player's own
   * loader): picks up the directive header, and acts on a refusal.
   */
  receiveKeyResponse(status: number, headers: Record<string, string | undefined>, body?: string): void {
    if (this.stopped) return;
    const header = headers[WATERMARK_HEADER] ?? headers['Vigil-Watermark'];
    if (header) this.receiveDirective(decodeDirectiveHeader(header));
    if (status >= 400) this.handleFailure(refusalFrom(status, body ?? ''), 'license');
  }

  /**
   * A refusal from another endpoint a player adapter calls (signed delivery's `/v1/delivery`): a ban
   * stops playback, anything else is shown like a license refusal, since the media can't be fetched.
   */
  receiveRefusal(err: VigilRefusal): void {
    this.handleFailure(err, 'license');
  }

  private handleFailure(err: unknown, source: 'license' | 'heartbeat'): void {
    if (this.stopped) return;
    if (err instanceof VigilRefusal) {
      if (err.code === 'banned') {
        this.stop('banned');
        return;
      }
      this.emit('error', { code: err.code, status: err.status, message: err.message });
      // Without a license the video cannot go on: say why. A heartbeat refusal alone is not shown.
      if (source === 'license') this.overlay.show(`Playback failed: ${err.message} (${err.code})`, 'error');
      return;
    }
    const message = err instanceof Error ? err.message : String(err);
    this.emit('error', { message, code: 'license_failed' });
    if (source === 'license')
      this.overlay.show(`Playback failed: the license request failed (${message})`, 'error');
  }

  private handleTamper(check: TamperCheck, element: Element | undefined): void {
    if (this.stopped) return;
    this.emit('tamper', { check });
    this.report(check);
    if (this.current.tamperPolicy === 'stop') {
      this.stop('tamper');
      return;
    }
    // Undo what can be undone on the player's own elements, then a fresh host on top.
    const props = INLINE_FIXES[check];
    const ownChain = element === this.container || element === this.watermark.mountPoint();
    if (props && element instanceof HTMLElement && ownChain) {
      for (const p of props) element.style.removeProperty(p);
    }
    this.watermark.restore();
  }

  private report(check: TamperCheck): void {
    const now = performance.now();
    const debounce = this.opts.reportDebounceMs ?? 5000;
    const last = this.lastReport.get(check);
    if (last !== undefined && now - last < debounce) return;
    this.lastReport.set(check, now);
    this.reports++;
    const event: EventReport = { action: 'suspiciousActivity', detail: { kind: 'tamper', check } };
    void this.client.report(event);
  }

  /**
   * Stops playback for good: pauses, detaches the source, removes the mark and shows why. `reason`
   * `banned` and `tamper` have their own messages; anything else is shown as given.
   */
  stop(reason: string): void {
    if (this.stopped) return;
    this.stoppedReason = reason;
    const mediaTime = this.media.currentTime;
    clearTimeout(this.heartbeatTimer);
    this.heartbeatTimer = undefined;
    this.guard.stop();
    this.watermark.dispose();
    try {
      this.media.pause();
      (this.opts.detach ?? (() => this.detachMedia()))();
    } catch (err) {
      console.error('vigil: detaching the source failed', err);
    }
    this.media.addEventListener('play', this.onPlayAfterStop);
    this.eme.detach();
    const message =
      reason === 'banned'
        ? BANNED_MESSAGE
        : reason === 'tamper'
          ? TAMPER_MESSAGE
          : `Playback stopped: ${reason}`;
    this.overlay.show(message, 'stopped');
    if (reason === 'banned') this.emit('banned', { reason, message, mediaTime });
    this.emit('stopped', { reason, message, mediaTime });
  }

  private detachMedia(): void {
    this.media.removeAttribute('src');
    this.media.srcObject = null;
    this.media.load();
  }

  /** Ends the session without a message (the player is going away). */
  dispose(): void {
    clearTimeout(this.heartbeatTimer);
    this.heartbeatTimer = undefined;
    this.guard.stop();
    this.watermark.dispose();
    this.eme.detach();
    this.setPipPolicy(false);
    this.overlay.hide();
    this.media.removeEventListener('enterpictureinpicture', this.onEnterPip);
    this.media.removeEventListener('play', this.onPlayAfterStop);
    this.listeners.clear();
  }

  debug(): VigilDebug {
    return {
      ...this.watermark.debug(),
      directive: this.current,
      stopped: this.stopped,
      stopReason: this.stoppedReason ?? null,
      message: this.overlay.text,
      guardChecks: this.guard.checks,
      reports: this.reports,
      heartbeats: this.heartbeats,
      licenses: this.eme.stats.licenses,
      sessions: this.eme.stats.sessions,
    };
  }
}
