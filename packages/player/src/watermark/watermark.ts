/// <reference lib="dom" />
/**
 * Draws the session watermark over the video picture, as the directive says:
 * - `text`: the session id on a canvas, outlined so it reads on any background, at a random spot of the
 *   picture that changes every `textIntervalSeconds`, with opacity `textOpacity`;
 * - `color`: a box at `box` (position in percent of the picture; size in percent, or CSS px) showing the codec's colour sequence for the
 *   session tag, symbol i = floor(t / symbolSeconds) mod length, t = wall-clock time since the mark
 *   started (performance.now), so the sequence does not depend on playback.
 * The host goes inside the player element (or whatever element is fullscreen and holds the video), and
 * is drawn in the top layer (see host.ts) at the video's place in viewport px, followed in the next
 * animation frame after a resize, a scroll anywhere or a change of the page's elements (and before every
 * check of the tamper guard, which catches any other move). It is raised to the top of the top layer again whenever another element may have entered it
 * (a `beforetoggle`/`toggle` of a popover or dialog, a dialog's `open`, a fullscreen change) and on
 * every `raise()` the tamper guard makes each check, which also covers top-layer elements of closed
 * shadow trees whose events never reach the document.
 */
import { colorTagOf, type WatermarkDirective } from '../core/directive.ts';
import type { ColorCodec } from './codec.ts';
import { type HostGeometry, MarkHost } from './host.ts';
import { onTopLayerEntry } from './top-layer.ts';

/** Another element entering the top layer this often within RACE_WINDOW_MS is racing the mark for the top. */
const RACE_OPENS = 20;
const RACE_WINDOW_MS = 5000;

export interface Rect {
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface WatermarkOptions {
  /** The element the mark is attached to: the player element, which also goes fullscreen. */
  container: HTMLElement;
  media: HTMLVideoElement;
  codec: ColorCodec;
  random?: () => number;
  /** The host was created, replaced or moved by the watermark itself (the tamper guard re-arms). */
  onHostChanged?: () => void;
}

export interface WatermarkDebug {
  enabled: boolean;
  mode: WatermarkDirective['mode'];
  /** The host's rectangle in viewport CSS px (getBoundingClientRect), if it is attached. */
  rect: Rect | null;
  /** Where the host should be, in viewport CSS px. */
  expected: Rect | null;
  /** The video picture (the element's content box less letterboxing), in viewport CSS px. */
  picture: Rect | null;
  tag: string | null;
  className: string | null;
  /** Text mode: what is drawn. */
  text: string | null;
  /** Colour mode: the sequence, the symbol now shown and its colour. */
  sequence: number[] | null;
  symbolIndex: number | null;
  color: [number, number, number] | null;
  /** Hosts re-created after tampering. */
  restores: number;
  /** Position changes in text mode. */
  moves: number;
  /** Times the host was raised to the top of the top layer. */
  raises: number;
  /** Whether the host is shown in the top layer. */
  layered: boolean;
}

const rectOf = (r: DOMRect): Rect => ({ x: r.left, y: r.top, width: r.width, height: r.height });

export class Watermark {
  private readonly opts: WatermarkOptions;
  private readonly random: () => number;
  private directive: WatermarkDirective | undefined;
  private host: MarkHost | undefined;
  private moveTimer: ReturnType<typeof setTimeout> | undefined;
  private symbolTimer: ReturnType<typeof setTimeout> | undefined;
  /** Text position as fractions of the free space of the picture, so it survives resizes. */
  private spot = { fx: 0.5, fy: 0.5 };
  private startedAt = performance.now();
  private sequence: number[] = [];
  private palette: [number, number, number][] = [];
  /** What the text canvas shows and its CSS size. */
  private drawn = { key: '', width: 0, height: 0 };
  private symbolIndex = -1;
  private resize: ResizeObserver | undefined;
  private restores = 0;
  private moves = 0;
  private raises = 0;
  private frame: number | undefined;
  private raiseQueued = false;
  private dialogs: MutationObserver | undefined;
  private readonly relayout = () => this.layout(false);
  private readonly onFullscreen = () => this.handleFullscreen();
  private readonly onFrame = () => {
    this.frame = undefined;
    this.layout(false);
  };
  /** Re-places the host in the next animation frame (once however many events ask). */
  private readonly queueLayout = () => {
    if (this.frame !== undefined || !this.host || typeof requestAnimationFrame === 'undefined') return;
    this.frame = requestAnimationFrame(this.onFrame);
  };
  /** Another element entering the top layer: raise the host after it (once the caller's script ends). */
  private readonly onToggle = (event: Event) => {
    if (!this.host || event.target === this.host.element) return;
    if (event.type === 'beforetoggle' && (event as Event & { newState?: string }).newState === 'open') {
      this.noteEntry(event.target as Element);
    }
    this.queueRaise();
  };
  private readonly onEntry = (el: Element) => {
    if (!this.host || el === this.host.element) return;
    this.noteEntry(el);
    this.queueRaise();
  };
  private stopEntries: (() => void) | undefined;
  /** When other elements entered the top layer lately. */
  private entries = new WeakMap<Element, number[]>();
  private racer: WeakRef<Element> | undefined;

  constructor(opts: WatermarkOptions) {
    this.opts = opts;
    this.random = opts.random ?? Math.random;
  }

  get active(): boolean {
    return this.directive?.enabled === true && this.host !== undefined;
  }

  /** The current host element (for the tamper guard); undefined while the mark is off. */
  hostElement(): HTMLElement | undefined {
    return this.host?.element;
  }

  /**
   * Where the host is meant to be attached: the player element, or a fullscreen element holding the
   * video; the video's own parent if the video was taken out of the player element. The host shares its
   * ancestors with the video, so what hides them (`display: none`, `content-visibility`) hides both.
   */
  mountPoint(): HTMLElement {
    const fs = document.fullscreenElement as HTMLElement | null;
    const { container, media } = this.opts;
    if (fs && fs !== media && !fs.contains(container) && fs.contains(media)) return fs;
    if (!container.contains(media) && media.parentElement) return media.parentElement;
    return container;
  }

  /** Raises the host to the top of the top layer (the tamper guard calls it on every check). */
  raise(): void {
    if (!this.host?.open) return;
    this.raises++;
    this.host.raise();
  }

  /** Whether the host is shown in the top layer (true where the browser has no top layer). */
  isOpen(): boolean {
    return this.host?.open ?? false;
  }

  /** Counts an element's entry into the top layer (its event and its method call count once). */
  private noteEntry(el: Element): void {
    const now = performance.now();
    const times = (this.entries.get(el) ?? []).filter((t) => now - t < RACE_WINDOW_MS);
    if (times.length > 0 && now - times[times.length - 1]! < 5) return;
    times.push(now);
    this.entries.set(el, times);
    if (times.length >= RACE_OPENS && typeof WeakRef !== 'undefined') this.racer = new WeakRef(el);
  }

  /**
   * An element that keeps re-entering the top layer (to stay above the mark between its raises), while
   * it does.
   */
  racingElement(): Element | undefined {
    const el = this.racer?.deref();
    if (!el) return undefined;
    const now = performance.now();
    const recent = (this.entries.get(el) ?? []).filter((t) => now - t < RACE_WINDOW_MS);
    if (recent.length >= RACE_OPENS / 2 && el.isConnected) return el;
    this.racer = undefined;
    return undefined;
  }

  private queueRaise(): void {
    if (this.raiseQueued) return;
    this.raiseQueued = true;
    queueMicrotask(() => {
      this.raiseQueued = false;
      this.raise();
    });
  }

  /** Applies a directive: turns the mark on or off, switches mode, redraws. */
  update(directive: WatermarkDirective): void {
    const previous = this.directive;
    this.directive = directive;
    if (!directive.enabled) {
      this.teardown();
      return;
    }
    if (!this.host) {
      this.startedAt = performance.now();
      this.mount(new MarkHost(this.random));
      this.listen();
    }
    const modeChanged = previous?.mode !== directive.mode || !previous?.enabled;
    if (directive.mode === 'text') {
      this.stopSymbols();
      if (modeChanged || previous?.textIntervalSeconds !== directive.textIntervalSeconds) this.scheduleMove();
      if (modeChanged) this.pickSpot();
    } else {
      this.stopMoving();
      const tag = colorTagOf(directive);
      if (modeChanged || !previous || colorTagOf(previous) !== tag) {
        this.sequence = tag === undefined ? [] : this.opts.codec.encodeTag(tag);
        this.palette = this.opts.codec.paletteRgb();
        if (modeChanged) this.startedAt = performance.now();
      }
      this.symbolIndex = -1;
    }
    this.layout();
  }

  /** Replaces the host by a new one (new random name, pristine) at the same place; after tampering. */
  restore(): void {
    if (!this.directive?.enabled) return;
    this.restores++;
    // A view transition paints above the top layer: end it (it jumps to its end state).
    (
      document as Document & { activeViewTransition?: { skipTransition(): void } | null }
    ).activeViewTransition?.skipTransition();
    this.host?.remove();
    this.mount(new MarkHost(this.random));
    this.layout();
  }

  private mount(host: MarkHost): void {
    this.host = host;
    this.mountPoint().append(host.element);
    host.show();
    this.opts.onHostChanged?.();
  }

  /** The events the mark follows: listen() adds and teardown() removes exactly these. */
  private followed(): readonly (readonly [EventTarget, string, EventListener, boolean])[] {
    const { media } = this.opts;
    const relayout = this.relayout as EventListener;
    return [
      [media, 'loadedmetadata', relayout, false],
      [media, 'resize', relayout, false],
      [document, 'fullscreenchange', this.onFullscreen as EventListener, false],
      [window, 'resize', relayout, false],
      // Toggle events do not bubble: listen in the capture phase, which every element's event goes through.
      [document, 'beforetoggle', this.onToggle as EventListener, true],
      [document, 'toggle', this.onToggle as EventListener, true],
    ];
  }

  private listen(): void {
    if (this.resize) return;
    const { container, media } = this.opts;
    if (typeof ResizeObserver !== 'undefined') {
      this.resize = new ResizeObserver(this.relayout);
      this.resize.observe(container);
      this.resize.observe(media);
    }
    for (const [target, type, listener, capture] of this.followed()) {
      target.addEventListener(type, listener, capture);
    }
    // And popovers and dialogs of closed shadow trees, whose events stay inside them.
    this.stopEntries = onTopLayerEntry(this.onEntry);
    if (typeof MutationObserver !== 'undefined') {
      // A dialog's `open` (it may have entered the top layer); any element added or removed (the
      // player may have moved).
      this.dialogs = new MutationObserver((records) => {
        if (records.some((r) => r.type === 'attributes')) this.queueRaise();
        this.queueLayout();
      });
      this.dialogs.observe(document.documentElement, {
        subtree: true,
        childList: true,
        attributes: true,
        attributeFilter: ['open'],
      });
    }
    document.addEventListener('scroll', this.queueLayout, { capture: true, passive: true });
  }

  private handleFullscreen(): void {
    const fs = document.fullscreenElement;
    // The video element itself in fullscreen cannot hold the mark: leave fullscreen (the player
    // element's own fullscreen, which holds it, is fine).
    if (fs && fs === this.opts.media && this.directive?.enabled) {
      document.exitFullscreen().catch(() => {});
      return;
    }
    if (this.host && this.host.element.parentElement !== this.mountPoint()) {
      this.mountPoint().append(this.host.element);
      this.host.show();
      this.opts.onHostChanged?.();
    }
    // The fullscreen element entered the top layer after the host: the host goes above it again.
    this.raise();
    this.layout(false);
  }

  /** The video picture inside the media element (object-fit: contain), relative to the viewport. */
  pictureRect(): Rect {
    const { media } = this.opts;
    const m = media.getBoundingClientRect();
    const vw = media.videoWidth || m.width;
    const vh = media.videoHeight || m.height;
    if (vw <= 0 || vh <= 0 || m.width <= 0 || m.height <= 0) return rectOf(m);
    const scale = Math.min(m.width / vw, m.height / vh);
    const width = vw * scale;
    const height = vh * scale;
    return { x: m.left + (m.width - width) / 2, y: m.top + (m.height - height) / 2, width, height };
  }

  /** The host's intended rectangle in viewport px. */
  expectedRect(): Rect | null {
    if (!this.host?.element.isConnected) return null;
    const g = this.host.geometry;
    return { x: g.left, y: g.top, width: g.width, height: g.height };
  }

  /** The effective zoom of `el` (the product of the zooms of it and its ancestors). */
  private zoomOf(el: Element | null): number {
    if (!el) return 1;
    const current = (el as Element & { currentCSSZoom?: number }).currentCSSZoom;
    if (typeof current === 'number' && current > 0 && Number.isFinite(current)) return current;
    let zoom = 1;
    for (let e: Element | null = el; e; e = e.parentElement) {
      const z = Number.parseFloat(getComputedStyle(e).zoom);
      if (z > 0 && Number.isFinite(z)) zoom *= z;
    }
    return zoom;
  }

  /**
   * Re-places the host for the current picture (cheap when nothing changed). The tamper guard calls it
   * before checking, so a resize it sees before the ResizeObserver does is not taken for tampering.
   */
  refresh(): void {
    this.layout(false);
  }

  /** Places the host; `redraw` repaints its canvas even if what it shows did not change (a new host). */
  private layout(redraw = true): void {
    const d = this.directive;
    const host = this.host;
    if (!d?.enabled || !host) return;
    const parent = host.element.parentElement ?? this.mountPoint();
    // Viewport px: the host is fixed (in the top layer, against the viewport) and cancels its parent's zoom.
    const zoom = 1 / this.zoomOf(parent);
    const pic = this.pictureRect();
    let g: HostGeometry;
    if (d.mode === 'text') {
      const { width, height } = this.drawText(d, redraw);
      const freeW = Math.max(0, pic.width - width);
      const freeH = Math.max(0, pic.height - height);
      g = {
        left: pic.x + freeW * this.spot.fx,
        top: pic.y + freeH * this.spot.fy,
        width,
        height,
      };
    } else {
      const b = d.box;
      const left = (pic.width * b.x) / 100;
      const top = (pic.height * b.y) / 100;
      // Pixel sizes (the seed admin page's boxes) are kept inside the picture.
      const px = b.sizeUnit === 'px';
      g = {
        left: pic.x + left,
        top: pic.y + top,
        width: Math.max(2, px ? Math.min(b.width, pic.width - left) : (pic.width * b.width) / 100),
        height: Math.max(2, px ? Math.min(b.height, pic.height - top) : (pic.height * b.height) / 100),
      };
      if (redraw) this.drawSymbol(true);
    }
    const old = host.geometry;
    const same = (a: number, b: number) => Math.abs(a - b) < 0.01;
    if (
      redraw ||
      !same(host.zoom, zoom) ||
      !same(old.left, g.left) ||
      !same(old.top, g.top) ||
      !same(old.width, g.width) ||
      !same(old.height, g.height)
    ) {
      host.place(g, zoom);
    }
  }

  /** Draws the session id (unless the same is drawn already); returns the canvas' CSS size. */
  private drawText(d: WatermarkDirective, redraw: boolean): { width: number; height: number } {
    const canvas = this.host!.canvas;
    const pic = this.pictureRect();
    const fontSize = Math.round(Math.min(48, Math.max(12, pic.height * 0.05)));
    const font = `bold ${fontSize}px system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif`;
    const text = d.sessionId || '?';
    const dpr = Math.max(1, window.devicePixelRatio || 1);
    const key = `${text}\n${font}\n${d.textOpacity}\n${dpr}`;
    if (!redraw && key === this.drawn.key) return this.drawn;
    let ctx = canvas.getContext('2d');
    if (!ctx) return { width: 0, height: 0 };
    ctx.font = font;
    const outline = Math.max(2, Math.round(fontSize / 7));
    const pad = outline * 2;
    const width = Math.ceil(ctx.measureText(text).width) + pad * 2;
    const height = Math.ceil(fontSize * 1.3) + pad;
    if (canvas.width !== width * dpr || canvas.height !== height * dpr) {
      canvas.width = width * dpr;
      canvas.height = height * dpr;
      ctx = canvas.getContext('2d')!;
    }
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, width, height);
    ctx.globalAlpha = d.textOpacity;
    ctx.font = font;
    ctx.textBaseline = 'middle';
    ctx.lineJoin = 'round';
    // A dark outline under a light fill: legible on light and dark pictures alike.
    ctx.strokeStyle = 'rgb(0,0,0)';
    ctx.lineWidth = outline;
    ctx.shadowColor = 'rgba(0,0,0,0.8)';
    ctx.shadowBlur = outline;
    ctx.strokeText(text, pad, height / 2);
    ctx.shadowBlur = 0;
    ctx.fillStyle = 'rgb(255,255,255)';
    ctx.fillText(text, pad, height / 2);
    this.drawn = { key, width, height };
    return this.drawn;
  }

  /** Colour mode: paints the symbol of this moment and schedules the next change. */
  private drawSymbol(force = false): void {
    const d = this.directive;
    const host = this.host;
    if (!d?.enabled || d.mode !== 'color' || !host || this.sequence.length === 0) return;
    const periodMs = d.symbolSeconds * 1000;
    const t = performance.now() - this.startedAt;
    const step = Math.floor(t / periodMs);
    const index = step % this.sequence.length;
    if (force || index !== this.symbolIndex) {
      this.symbolIndex = index;
      const canvas = host.canvas;
      if (canvas.width !== 1 || canvas.height !== 1) {
        canvas.width = 1;
        canvas.height = 1;
      }
      const ctx = canvas.getContext('2d');
      const rgb = this.currentColor();
      if (ctx && rgb) {
        ctx.fillStyle = `rgb(${rgb[0]},${rgb[1]},${rgb[2]})`;
        ctx.fillRect(0, 0, 1, 1);
      }
    }
    clearTimeout(this.symbolTimer);
    this.symbolTimer = setTimeout(() => this.drawSymbol(), Math.max(5, (step + 1) * periodMs - t + 1));
  }

  private currentColor(): [number, number, number] | null {
    const symbol = this.sequence[this.symbolIndex];
    if (symbol === undefined) return null;
    return this.palette[symbol] ?? null;
  }

  /** A new random spot, clearly away from the current one. */
  private pickSpot(): void {
    let next = { fx: this.random(), fy: this.random() };
    for (let i = 0; i < 8; i++) {
      if (Math.abs(next.fx - this.spot.fx) > 0.25 || Math.abs(next.fy - this.spot.fy) > 0.25) break;
      next = { fx: this.random(), fy: this.random() };
    }
    this.spot = next;
  }

  private scheduleMove(): void {
    this.stopMoving();
    const d = this.directive;
    if (!d?.enabled || d.mode !== 'text') return;
    this.moveTimer = setTimeout(() => {
      this.pickSpot();
      this.moves++;
      this.layout(false);
      this.scheduleMove();
    }, d.textIntervalSeconds * 1000);
  }

  private stopMoving(): void {
    clearTimeout(this.moveTimer);
    this.moveTimer = undefined;
  }

  private stopSymbols(): void {
    clearTimeout(this.symbolTimer);
    this.symbolTimer = undefined;
  }

  private teardown(): void {
    this.stopMoving();
    this.stopSymbols();
    this.host?.remove();
    this.host = undefined;
    this.resize?.disconnect();
    this.resize = undefined;
    this.dialogs?.disconnect();
    this.dialogs = undefined;
    if (this.frame !== undefined) cancelAnimationFrame(this.frame);
    this.frame = undefined;
    for (const [target, type, listener, capture] of this.followed()) {
      target.removeEventListener(type, listener, capture);
    }
    document.removeEventListener('scroll', this.queueLayout, { capture: true });
    this.stopEntries?.();
    this.stopEntries = undefined;
  }

  dispose(): void {
    this.directive = undefined;
    this.teardown();
  }

  debug(): WatermarkDebug {
    const d = this.directive;
    const el = this.host?.element;
    const color = d?.mode === 'color' ? this.currentColor() : null;
    return {
      enabled: d?.enabled === true,
      mode: d?.mode ?? 'text',
      rect: el?.isConnected ? rectOf(el.getBoundingClientRect()) : null,
      expected: this.expectedRect(),
      picture: this.pictureRect(),
      tag: this.host?.tag ?? null,
      className: this.host?.className ?? null,
      text: d?.enabled && d.mode === 'text' ? d.sessionId : null,
      sequence: d?.mode === 'color' ? [...this.sequence] : null,
      symbolIndex: d?.mode === 'color' ? this.symbolIndex : null,
      color,
      restores: this.restores,
      moves: this.moves,
      raises: this.raises,
      layered: this.host?.open ?? false,
    };
  }
}
