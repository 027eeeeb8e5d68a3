/// <reference lib="dom" />
/**
 * Watches the watermark host for attempts to hide it: a MutationObserver on the host and its ancestors
 * (reacting at once), and an integrity check every ~500 ms that catches what mutations do not show
 * (stylesheets, covering elements, layout): the host is still attached where it belongs; its computed
 * style and that of its ancestors up to the player do not hide it; it has its size and lies over the
 * video; and hit-testing at several points over the mark finds the host, not something on top of it.
 * What to do about a violation (restore, report, stop) is the caller's `onViolation`.
 */

export type TamperCheck =
  | 'attached'
  | 'attribute'
  | 'display'
  | 'visibility'
  | 'opacity'
  | 'transform'
  | 'filter'
  | 'clip-path'
  | 'size'
  | 'offscreen'
  | 'covered';

export interface TamperTarget {
  /** The host now in use; undefined while the mark is off. */
  host(): HTMLElement | undefined;
  /** Where the host must be attached (the player element, or the fullscreen element holding the video). */
  mountPoint(): HTMLElement;
  /** The player element: ancestors are checked up to it. */
  container: HTMLElement;
  media: HTMLVideoElement;
  /** Where the host should be, viewport px. */
  expectedRect(): { x: number; y: number; width: number; height: number } | null;
  /** Brings the host's placement up to date with the layout, before it is checked. */
  sync?(): void;
}

export interface TamperGuardOptions {
  intervalMs?: number;
  /** Called once per detected violation; the guard checks again only after it returns. */
  onViolation(check: TamperCheck, detail: { element?: Element }): void;
}

/** Inline style properties whose presence on the host is an attack, and the check each belongs to. */
const HOST_STYLE_CHECKS: [string, TamperCheck][] = [
  ['display', 'display'],
  ['visibility', 'visibility'],
  ['content-visibility', 'visibility'],
  ['opacity', 'opacity'],
  ['transform', 'transform'],
  ['translate', 'transform'],
  ['scale', 'transform'],
  ['rotate', 'transform'],
  ['filter', 'filter'],
  ['mix-blend-mode', 'filter'],
  ['clip-path', 'clip-path'],
  ['clip', 'clip-path'],
  ['mask', 'clip-path'],
  ['width', 'size'],
  ['height', 'size'],
  ['zoom', 'size'],
  ['left', 'offscreen'],
  ['top', 'offscreen'],
  ['right', 'offscreen'],
  ['bottom', 'offscreen'],
  ['position', 'offscreen'],
  ['margin', 'offscreen'],
  ['z-index', 'covered'],
];

/** Which check an inline style on the host was aimed at; 'attribute' for anything else. */
export function checkForHostStyle(style: CSSStyleDeclaration): TamperCheck {
  for (const [property, check] of HOST_STYLE_CHECKS) {
    if (style.getPropertyValue(property) !== '') return check;
  }
  return 'attribute';
}

const WATCHED_ATTRIBUTES = ['style', 'class', 'hidden', 'id', 'popover', 'inert'];

export class TamperGuard {
  private readonly target: TamperTarget;
  private readonly opts: TamperGuardOptions;
  private timer: ReturnType<typeof setInterval> | undefined;
  private observer: MutationObserver | undefined;
  private observedHost: HTMLElement | undefined;
  private scheduled = false;
  private coveredSince: number | undefined;
  /** Integrity checks run (diagnostics). */
  checks = 0;

  constructor(target: TamperTarget, opts: TamperGuardOptions) {
    this.target = target;
    this.opts = opts;
  }

  get running(): boolean {
    return this.timer !== undefined;
  }

  start(): void {
    if (this.timer !== undefined) return;
    this.observer = new MutationObserver((records) => this.onMutations(records));
    this.observe();
    this.timer = setInterval(() => this.run(), this.opts.intervalMs ?? 500);
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.observer?.disconnect();
    this.observer = undefined;
    this.observedHost = undefined;
  }

  /** Call after the host was replaced or moved by its owner: observe the new one, drop own mutations. */
  rearm(): void {
    if (!this.observer) return;
    this.observer.takeRecords();
    this.observe();
  }

  private observe(): void {
    const observer = this.observer;
    if (!observer) return;
    observer.disconnect();
    const host = this.target.host();
    this.observedHost = host;
    if (host) observer.observe(host, { attributes: true });
    // The mount point's children (removal of the host), and attributes up the tree.
    const mount = this.target.mountPoint();
    observer.observe(mount, { childList: true, attributes: true, attributeFilter: WATCHED_ATTRIBUTES });
    for (let el = mount.parentElement; el; el = el.parentElement) {
      observer.observe(el, { attributes: true, attributeFilter: WATCHED_ATTRIBUTES });
    }
  }

  private onMutations(records: MutationRecord[]): void {
    const host = this.observedHost;
    if (!host) return;
    for (const r of records) {
      if (r.type === 'childList' && [...r.removedNodes].includes(host)) {
        this.violation('attached', host);
        return;
      }
      if (r.type === 'attributes' && r.target === host) {
        // The host's looks are pinned from its shadow root: any attribute written from outside is an
        // attempt; name it after what it went for.
        this.violation(r.attributeName === 'style' ? checkForHostStyle(host.style) : 'attribute', host);
        return;
      }
    }
    // Ancestors changed (players toggle classes all the time): check what that did, once per batch.
    if (this.scheduled) return;
    this.scheduled = true;
    queueMicrotask(() => {
      this.scheduled = false;
      this.run();
    });
  }

  private violation(check: TamperCheck, element?: Element): void {
    this.opts.onViolation(check, { element });
  }

  /**
   * Runs every integrity check now; reports the first violation and returns it. Being covered counts
   * only when it lasts a check interval: menus and tooltips pass over the mark for a moment.
   */
  run(): TamperCheck | undefined {
    if (!this.running) return undefined;
    this.checks++;
    const found = this.inspect();
    if (found?.check === 'covered') {
      const now = performance.now();
      this.coveredSince ??= now;
      if (now - this.coveredSince < (this.opts.intervalMs ?? 500)) return undefined;
    }
    this.coveredSince = undefined;
    if (found) this.violation(found.check, found.element);
    return found?.check;
  }

  private modalOpen(): boolean {
    try {
      const modal = document.querySelector('dialog:modal');
      return modal !== null && !modal.contains(this.target.container);
    } catch {
      return false;
    }
  }

  /** The integrity checks, without side effects. */
  inspect(): { check: TamperCheck; element?: Element } | undefined {
    const host = this.target.host();
    if (!host) return undefined;
    this.target.sync?.();
    // A video that is not rendered (its player hidden by the page, not laid out yet) shows nothing to mark.
    const video = this.target.media.getBoundingClientRect();
    if (video.width < 2 || video.height < 2) return undefined;
    const mount = this.target.mountPoint();
    if (!host.isConnected || host.parentElement !== mount) return { check: 'attached', element: host };
    if (host !== this.observedHost) this.observe();

    // Computed style of the host and of its ancestors up to the player element.
    const chain: HTMLElement[] = [];
    for (let el: HTMLElement | null = host; el; el = el.parentElement) {
      chain.push(el);
      if (el === this.target.container || el === mount) break;
    }
    for (const el of chain) {
      const cs = getComputedStyle(el);
      const isHost = el === host;
      if (cs.display === 'none' || cs.display === 'contents') return { check: 'display', element: el };
      if (cs.contentVisibility === 'hidden') return { check: 'visibility', element: el };
      if (isHost && cs.visibility !== 'visible') return { check: 'visibility', element: el };
      if (Number.parseFloat(cs.opacity) < (isHost ? 0.99 : 0.9)) return { check: 'opacity', element: el };
      if (
        isHost &&
        (cs.transform !== 'none' || cs.translate !== 'none' || cs.scale !== 'none' || cs.rotate !== 'none')
      ) {
        return { check: 'transform', element: el };
      }
      if (cs.filter !== 'none' || (isHost && cs.mixBlendMode !== 'normal'))
        return { check: 'filter', element: el };
      const mask = cs.getPropertyValue('mask-image') || cs.getPropertyValue('-webkit-mask-image');
      if (cs.clipPath !== 'none' || (mask && mask !== 'none')) return { check: 'clip-path', element: el };
    }

    // Size and place.
    const rect = host.getBoundingClientRect();
    const expected = this.target.expectedRect();
    if (rect.width < 1 || rect.height < 1) return { check: 'size', element: host };
    if (
      expected &&
      (Math.abs(rect.width - expected.width) > 1.5 || Math.abs(rect.height - expected.height) > 1.5)
    ) {
      return { check: 'size', element: host };
    }
    const overlapW = Math.min(rect.right, video.right) - Math.max(rect.left, video.left);
    const overlapH = Math.min(rect.bottom, video.bottom) - Math.max(rect.top, video.top);
    if (overlapW <= 0 || overlapH <= 0 || overlapW * overlapH < 0.5 * rect.width * rect.height) {
      return { check: 'offscreen', element: host };
    }

    // Hit-testing: the topmost element at points over the mark must be the host (the closed shadow root
    // retargets hits on the canvas to it). Not while a modal dialog of the page holds the screen: it
    // covers the video as much as the mark.
    if (this.modalOpen()) return undefined;
    const root = host.getRootNode() as Document | ShadowRoot;
    const probe = 'elementFromPoint' in root ? root : document;
    const vw = window.innerWidth;
    const vh = window.innerHeight;
    for (const [fx, fy] of [
      [0.5, 0.5],
      [0.2, 0.25],
      [0.8, 0.25],
      [0.2, 0.75],
      [0.8, 0.75],
    ] as const) {
      const x = rect.left + rect.width * fx;
      const y = rect.top + rect.height * fy;
      if (x < 0 || y < 0 || x >= vw || y >= vh) continue;
      const top = probe.elementFromPoint(x, y);
      if (top && top !== host) return { check: 'covered', element: top };
    }
    return undefined;
  }
}
