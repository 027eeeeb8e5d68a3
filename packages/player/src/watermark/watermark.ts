/// <reference lib="dom" />
/**
 * Draws the session watermark over the video picture, as the directive says:
 * - `text`: the session id on a canvas, outlined so it reads on any background, at a random spot of the
 *   picture that changes every `textIntervalSeconds`, with opacity `textOpacity`;
 * - `color`: a box at `box` (position in percent of the picture; size in percent, or CSS px) showing the codec's colour sequence for the
 *   session tag, symbol i = floor(t / symbolSeconds) mod length, t = wall-clock time since the mark
 *   started (performance.now), so the sequence does not depend on playback.
 * The host goes inside the player element (or whatever element is fullscreen and holds the video), so
 * the mark follows the video into fullscreen.
 */
import { colorTagOf, type WatermarkDirective } from '../core/directive.ts';
import type { ColorCodec } from './codec.ts';
import { type HostGeometry, MarkHost } from './host.ts';

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
  private readonly relayout = () => this.layout(false);
  private readonly onFullscreen = () => this.handleFullscreen();

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

  /** Where the host is meant to be attached: the player element, or a fullscreen element holding the video. */
  mountPoint(): HTMLElement {
    const fs = document.fullscreenElement as HTMLElement | null;
    const { container, media } = this.opts;
    if (fs && fs !== media && !fs.contains(container) && fs.contains(media)) return fs;
    return container;
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
    this.host?.remove();
    this.mount(new MarkHost(this.random));
    this.layout();
  }

  private mount(host: MarkHost): void {
    this.host = host;
    this.mountPoint().append(host.element);
    this.opts.onHostChanged?.();
  }

  private listen(): void {
    if (this.resize) return;
    const { container, media } = this.opts;
    if (typeof ResizeObserver !== 'undefined') {
      this.resize = new ResizeObserver(this.relayout);
      this.resize.observe(container);
      this.resize.observe(media);
    }
    media.addEventListener('loadedmetadata', this.relayout);
    media.addEventListener('resize', this.relayout);
    document.addEventListener('fullscreenchange', this.onFullscreen);
    window.addEventListener('resize', this.relayout);
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
      this.opts.onHostChanged?.();
    }
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
    const origin = this.originOf(this.host.element.parentElement!);
    const g = this.host.geometry;
    return { x: origin.x + g.left, y: origin.y + g.top, width: g.width, height: g.height };
  }

  /** The viewport position of the padding box of `el`, which absolute children are placed against. */
  private originOf(el: HTMLElement): { x: number; y: number } {
    const r = el.getBoundingClientRect();
    return { x: r.left + el.clientLeft, y: r.top + el.clientTop };
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
    const origin = this.originOf(parent);
    const pic = this.pictureRect();
    let g: HostGeometry;
    if (d.mode === 'text') {
      const { width, height } = this.drawText(d, redraw);
      const freeW = Math.max(0, pic.width - width);
      const freeH = Math.max(0, pic.height - height);
      g = {
        left: pic.x - origin.x + freeW * this.spot.fx,
        top: pic.y - origin.y + freeH * this.spot.fy,
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
        left: pic.x - origin.x + left,
        top: pic.y - origin.y + top,
        width: Math.max(2, px ? Math.min(b.width, pic.width - left) : (pic.width * b.width) / 100),
        height: Math.max(2, px ? Math.min(b.height, pic.height - top) : (pic.height * b.height) / 100),
      };
      if (redraw) this.drawSymbol(true);
    }
    const old = host.geometry;
    const same = (a: number, b: number) => Math.abs(a - b) < 0.01;
    if (
      redraw ||
      !same(old.left, g.left) ||
      !same(old.top, g.top) ||
      !same(old.width, g.width) ||
      !same(old.height, g.height)
    ) {
      host.place(g);
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
    const { media } = this.opts;
    media.removeEventListener('loadedmetadata', this.relayout);
    media.removeEventListener('resize', this.relayout);
    document.removeEventListener('fullscreenchange', this.onFullscreen);
    window.removeEventListener('resize', this.relayout);
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
    };
  }
}
