/// <reference lib="dom" />
/**
 * Watches the watermark host for attempts to hide it: a MutationObserver on the host and its ancestors
 * (reacting at once), and an integrity check every ~500 ms that catches what mutations do not show
 * (stylesheets, covering elements, layout): the host is still attached where it belongs and shown in the
 * top layer; its computed style does not hide it; it has its size and lies over the video; and
 * hit-testing at several points over the mark finds the host, not something on top of it. After each
 * check the host is raised to the top of the top layer again (`raise`).
 *
 * In the top layer nothing of the page paints above the mark and its ancestors' opacity, filters and
 * blend modes do not apply to it, so attempts of that kind fail; they are still reported, once per
 * element and kind while they last (those above the player element after lasting a check interval, so
 * a page's fade or transition is not taken for one): an ancestor's `opacity` under 0.9, `filter`,
 * `mix-blend-mode`; a zoom of the page (cancelled by the host's own zoom); `font-size: 0` on the root,
 * the body or the player; and an element that paints over a large part of the mark and the picture:
 * found by hit-testing above the video, or, for elements hit-testing does not see (`pointer-events:
 * none`), by a scan of the page outside the player. What to do about a violation (restore, report,
 * stop) is the caller's `onViolation`.
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
  | 'blend'
  | 'zoom'
  | 'font'
  | 'layer'
  | 'transition'
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
  /** Whether the host is shown in the top layer (absent or true where the browser has none). */
  layered?(): boolean;
  /** Raises the host to the top of the top layer; called after every periodic check. */
  raise?(): void;
  /** An element that keeps re-entering the top layer to get above the host, while it does. */
  racingElement?(): Element | undefined;
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
  ['mix-blend-mode', 'blend'],
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

/** A finding of a check, and the element it was found on. */
interface Finding {
  check: TamperCheck;
  element?: Element;
  /**
   * An attempt the top layer already defeats (or the host's zoom cancels): reported once per element
   * and check while it lasts, not acted on again every check.
   */
  defeated?: boolean;
  /** Counted only once it lasted a check interval (covering elements, the page's own styles). */
  lasting?: boolean;
  /** How long it must last, if longer than a check interval. */
  lastingMs?: number;
}

/**
 * A view transition's pseudo-elements paint above everything, the top layer included: a page can keep
 * one running (long animations) with the video captured as its own group, above the root's picture
 * that holds the mark. The page's own transitions end well within this.
 */
const VIEW_TRANSITION_MS = 2000;

function viewTransitionActive(): boolean {
  try {
    return document.documentElement.matches(':active-view-transition');
  } catch {
    return false;
  }
}

/** The alpha of a computed `rgb()`/`rgba()` colour; 1 for anything else that is not transparent. */
function alphaOf(color: string): number {
  if (color === 'transparent') return 0;
  const m = /^rgba?\(([^)]*)\)$/.exec(color.trim());
  if (!m) return 1;
  const parts = m[1]!.split(/[\s,/]+/).filter(Boolean);
  if (parts.length < 4) return 1;
  const a = parts[3]!;
  return a.endsWith('%') ? Number.parseFloat(a) / 100 : Number.parseFloat(a);
}

const REPLACED = new Set(['IMG', 'CANVAS', 'VIDEO', 'IFRAME', 'SVG', 'OBJECT', 'EMBED', 'PICTURE']);

/** Whether `el` paints something that would hide what is under it (not a transparent box). */
function paints(el: Element, cs: CSSStyleDeclaration): boolean {
  if (cs.visibility !== 'visible' || Number.parseFloat(cs.opacity) < 0.1) return false;
  if (REPLACED.has(el.tagName.toUpperCase())) return true;
  return (
    alphaOf(cs.backgroundColor) >= 0.3 ||
    cs.backgroundImage !== 'none' ||
    (cs.backdropFilter !== undefined && cs.backdropFilter !== 'none' && cs.backdropFilter !== '') ||
    cs.mixBlendMode !== 'normal'
  );
}

interface Box {
  left: number;
  top: number;
  right: number;
  bottom: number;
  width: number;
  height: number;
}

const overlapArea = (a: Box, b: Box): number =>
  Math.max(0, Math.min(a.right, b.right) - Math.max(a.left, b.left)) *
  Math.max(0, Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top));

/** Periodic checks between raises of the host when nothing else is seen in the top layer. */
const RAISE_EVERY = 4;

/** Elements scanned for transparent-to-hit-testing covers, at most, per check. */
const SCAN_LIMIT = 5000;

export class TamperGuard {
  private readonly target: TamperTarget;
  private readonly opts: TamperGuardOptions;
  private timer: ReturnType<typeof setInterval> | undefined;
  private observer: MutationObserver | undefined;
  private observedHost: HTMLElement | undefined;
  private scheduled = false;
  /** When each lasting finding (element and check) was first seen. */
  private readonly since = new Map<Element, Map<TamperCheck, number>>();
  /** Defeated attempts already reported, while they last. */
  private readonly known = new Map<Element, Set<TamperCheck>>();
  private readonly onHostToggle = (event: Event) => {
    if ((event as Event & { newState?: string }).newState === 'closed') this.schedule();
  };
  /** Integrity checks run (diagnostics). */
  checks = 0;
  private ticks = 0;
  private fullChecks = 0;
  /** Covers that hit-testing does not see, found by the last scan of the page. */
  private scanned: Element[] = [];

  constructor(target: TamperTarget, opts: TamperGuardOptions) {
    this.target = target;
    this.opts = opts;
  }

  get running(): boolean {
    return this.timer !== undefined;
  }

  private get intervalMs(): number {
    return this.opts.intervalMs ?? 500;
  }

  start(): void {
    if (this.timer !== undefined) return;
    this.observer = new MutationObserver((records) => this.onMutations(records));
    this.observe();
    this.timer = setInterval(() => this.tick(), this.intervalMs);
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.observer?.disconnect();
    this.observer = undefined;
    this.observedHost?.removeEventListener('toggle', this.onHostToggle);
    this.observedHost = undefined;
    this.since.clear();
    this.known.clear();
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
    this.observedHost?.removeEventListener('toggle', this.onHostToggle);
    const host = this.target.host();
    this.observedHost = host;
    if (host) {
      observer.observe(host, { attributes: true });
      // hidePopover() on the host changes no attribute: its toggle event tells.
      host.addEventListener('toggle', this.onHostToggle);
    }
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
    this.schedule();
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    queueMicrotask(() => {
      this.scheduled = false;
      // What an attribute change can do shows in computed styles and geometry: the costlier covering
      // checks (hit-testing, the page scan) wait for the periodic check.
      this.run(false);
    });
  }

  private violation(check: TamperCheck, element?: Element): void {
    this.opts.onViolation(check, { element });
  }

  /**
   * The periodic check: the integrity checks, then the host back on top of the top layer: at once when
   * another element is in the top layer, else every few checks (for top-layer elements of closed shadow
   * trees, which no query finds).
   */
  private tick(): void {
    this.run();
    if (!this.running) return;
    this.ticks++;
    if (this.ticks % RAISE_EVERY === 0 || this.otherTopLayer()) this.target.raise?.();
  }

  private otherTopLayer(): boolean {
    const host = this.target.host();
    try {
      if (document.fullscreenElement || document.querySelector('dialog:modal')) return true;
      for (const el of document.querySelectorAll(':popover-open')) if (el !== host) return true;
    } catch {
      return true;
    }
    return false;
  }

  /**
   * Runs every integrity check now; reports the first violation and returns it. Lasting findings
   * (covering elements, the page's styles) count only once they lasted a check interval: menus and
   * tooltips pass over the mark for a moment, pages fade. Defeated attempts are reported once while
   * they last.
   */
  run(full = true): TamperCheck | undefined {
    if (!this.running) return undefined;
    this.checks++;
    const findings = this.inspectAll(full);
    const now = performance.now();
    // Forget what is gone.
    const seen = new Map<Element, Set<TamperCheck>>();
    for (const f of findings) {
      if (!f.element) continue;
      const set = seen.get(f.element) ?? new Set<TamperCheck>();
      seen.set(f.element, set);
      set.add(f.check);
    }
    for (const map of [this.since, this.known] as Map<
      Element,
      Map<TamperCheck, number> | Set<TamperCheck>
    >[]) {
      for (const [el, checks] of map) {
        for (const check of checks.keys()) {
          // A partial run did not look for covers: keep what the last full one found.
          if (!full && check === 'covered') continue;
          if (!seen.get(el)?.has(check)) checks.delete(check);
        }
        if (checks.size === 0) map.delete(el);
      }
    }
    for (const f of findings) {
      const el = f.element;
      if (f.lasting && el) {
        const times = this.since.get(el) ?? new Map<TamperCheck, number>();
        this.since.set(el, times);
        const first = times.get(f.check) ?? now;
        times.set(f.check, first);
        if (now - first < Math.max(this.intervalMs, f.lastingMs ?? 0)) continue;
      }
      if (f.defeated && el) {
        const set = this.known.get(el) ?? new Set<TamperCheck>();
        if (set.has(f.check)) continue;
        this.known.set(el, set);
        set.add(f.check);
      }
      this.violation(f.check, el);
      return f.check;
    }
    return undefined;
  }

  private modalOpen(): boolean {
    try {
      const modal = document.querySelector('dialog:modal');
      return modal !== null && !modal.contains(this.target.container);
    } catch {
      return false;
    }
  }

  /** The first finding of the integrity checks, without side effects. */
  inspect(): { check: TamperCheck; element?: Element } | undefined {
    const first = this.inspectAll()[0];
    return first && { check: first.check, element: first.element };
  }

  /**
   * The integrity checks, without side effects: what hides the mark first (the caller acts on the
   * first that counts), then defeated attempts.
   */
  private inspectAll(full = true): Finding[] {
    const host = this.target.host();
    if (!host) return [];
    this.target.sync?.();
    // A video that is not rendered (its player hidden by the page, not laid out yet) shows nothing to mark.
    const video = this.target.media.getBoundingClientRect();
    if (video.width < 2 || video.height < 2) return [];
    const mount = this.target.mountPoint();
    if (!host.isConnected || host.parentElement !== mount) return [{ check: 'attached', element: host }];
    if (host !== this.observedHost) this.observe();
    if (this.target.layered && !this.target.layered()) return [{ check: 'layer', element: host }];

    const found: Finding[] = [];
    const transition = viewTransitionActive();
    if (transition) {
      found.push({
        check: 'transition',
        element: document.documentElement,
        lasting: true,
        lastingMs: VIEW_TRANSITION_MS,
      });
    }
    // The host's own computed style (pinned from its shadow root: anything else is an attack).
    const cs = getComputedStyle(host);
    if (cs.display === 'none' || cs.display === 'contents') return [{ check: 'display', element: host }];
    if (cs.contentVisibility === 'hidden') return [{ check: 'visibility', element: host }];
    if (cs.visibility !== 'visible') return [{ check: 'visibility', element: host }];
    if (Number.parseFloat(cs.opacity) < 0.99) return [{ check: 'opacity', element: host }];
    if (cs.transform !== 'none' || cs.translate !== 'none' || cs.scale !== 'none' || cs.rotate !== 'none') {
      return [{ check: 'transform', element: host }];
    }
    if (cs.filter !== 'none') return [{ check: 'filter', element: host }];
    if (cs.mixBlendMode !== 'normal') return [{ check: 'blend', element: host }];
    const hostMask = cs.getPropertyValue('mask-image') || cs.getPropertyValue('-webkit-mask-image');
    if (cs.clipPath !== 'none' || (hostMask && hostMask !== 'none')) {
      return [{ check: 'clip-path', element: host }];
    }

    // Ancestors. Those that hide the video too (display, content-visibility) end the check above (the
    // video has no size). The rest cannot reach into the top layer: defeated attempts, reported.
    const modal = this.modalOpen();
    let own = true;
    for (let el: HTMLElement | null = host.parentElement; el; el = el.parentElement) {
      const a = getComputedStyle(el);
      const page = !own;
      if (el === this.target.container || el === mount) own = false;
      const defeated = { element: el, defeated: true, lasting: page };
      if (own || el === this.target.container || el === mount) {
        if (a.display === 'none' || a.display === 'contents') found.push({ check: 'display', element: el });
        if (a.contentVisibility === 'hidden') found.push({ check: 'visibility', element: el });
      }
      // A page that blurs or dims itself behind its own modal dialog is not attacking the mark.
      if (page && modal) continue;
      if (Number.parseFloat(a.opacity) < 0.9) found.push({ check: 'opacity', ...defeated });
      if (a.filter !== 'none') found.push({ check: 'filter', ...defeated });
      if (a.mixBlendMode !== 'normal') found.push({ check: 'blend', ...defeated });
      if (!page) {
        const mask = a.getPropertyValue('mask-image') || a.getPropertyValue('-webkit-mask-image');
        if (a.clipPath !== 'none' || (mask && mask !== 'none'))
          found.push({ check: 'clip-path', ...defeated });
      }
      const root = el === document.documentElement || el === document.body;
      if ((root || !page) && Number.parseFloat(a.fontSize) < 1) found.push({ check: 'font', ...defeated });
    }
    const parentZoom = (host.parentElement as Element & { currentCSSZoom?: number }).currentCSSZoom;
    if (typeof parentZoom === 'number' && Math.abs(parentZoom - 1) > 0.001) {
      found.push({ check: 'zoom', element: document.documentElement, defeated: true, lasting: true });
    }
    // What hides the mark comes first.
    found.sort((x, y) => Number(x.defeated === true) - Number(y.defeated === true));

    // Size and place.
    const rect = host.getBoundingClientRect();
    const expected = this.target.expectedRect();
    if (rect.width < 1 || rect.height < 1) return [{ check: 'size', element: host }, ...found];
    if (
      expected &&
      (Math.abs(rect.width - expected.width) > 1.5 || Math.abs(rect.height - expected.height) > 1.5)
    ) {
      return [{ check: 'size', element: host }, ...found];
    }
    const overlapW = Math.min(rect.right, video.right) - Math.max(rect.left, video.left);
    const overlapH = Math.min(rect.bottom, video.bottom) - Math.max(rect.top, video.top);
    if (overlapW <= 0 || overlapH <= 0 || overlapW * overlapH < 0.5 * rect.width * rect.height) {
      return [{ check: 'offscreen', element: host }, ...found];
    }

    // Hit-testing: the topmost element at points over the mark must be the host (the closed shadow root
    // retargets hits on the canvas to it). Not while a modal dialog of the page holds the screen: it
    // covers the video as much as the mark (and makes the host inert).
    const racer = this.target.racingElement?.();
    if (racer) found.push({ check: 'covered', element: racer, defeated: true });
    // Nor during a view transition, when hit-testing finds the root element everywhere.
    if (modal || transition || !full) return found;
    const vw = window.innerWidth;
    const vh = window.innerHeight;
    const media = this.target.media;
    const container = this.target.container;
    // The player's own controls and menus pass over the mark: inside the player only what covers a
    // quarter of the picture counts, and not the player's dialogs (text track settings, errors).
    const covers = (el: Element, r: Box) => {
      if (el === host || el === media || el.contains(media) || el.contains(host)) return false;
      if (overlapArea(r, rect) < 0.5 * rect.width * rect.height) return false;
      if (overlapArea(r, video) >= 0.25 * video.width * video.height) {
        return !container.contains(el) || el.closest('[role="dialog"]') === null;
      }
      // Or a patch laid over the mark itself, from outside the player.
      return r.width * r.height <= 4 * rect.width * rect.height && !container.contains(el);
    };
    const hit = new Set<Element>();
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
      const stack = document.elementsFromPoint(x, y);
      const top = stack[0];
      // Something is above the host: a top-layer element it has not been raised over yet.
      if (top && top !== host) found.unshift({ check: 'covered', element: top, lasting: true });
      // Elements painted above the video that would hide the mark but for the top layer.
      for (const el of stack) {
        if (el === media) break;
        if (el !== host) hit.add(el);
      }
    }
    for (const el of hit) {
      if (covers(el, el.getBoundingClientRect()) && paints(el, getComputedStyle(el))) {
        found.push({ check: 'covered', element: el, defeated: true, lasting: true });
      }
    }
    // Elements hit-testing does not see (`pointer-events: none`), outside the player (whose own
    // overlays, a title bar say, are not attacks): the page is scanned every other check, and every
    // check while a scan found one.
    const invisibleCover = (el: Element): boolean => {
      if (!el.isConnected || hit.has(el) || container.contains(el)) return false;
      const ecs = getComputedStyle(el);
      if (ecs.pointerEvents !== 'none' || ecs.display === 'none') return false;
      return covers(el, el.getBoundingClientRect()) && paints(el, ecs);
    };
    this.fullChecks++;
    if (this.fullChecks % 2 === 1 || this.scanned.length > 0) {
      this.scanned = [];
      const all = document.body?.getElementsByTagName('*') ?? [];
      for (let i = 0; i < all.length && i < SCAN_LIMIT; i++) {
        if (invisibleCover(all[i]!)) this.scanned.push(all[i]!);
      }
    }
    for (const el of this.scanned)
      found.push({ check: 'covered', element: el, defeated: true, lasting: true });
    return found;
  }
}
