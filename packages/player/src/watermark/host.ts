/// <reference lib="dom" />
/**
 * The element that carries the mark: a host with a random custom-element tag and class, whose content (a
 * canvas) lives in a closed shadow root, so page scripts and styles cannot reach the drawing. Its
 * geometry and every property that could hide it are set from inside the shadow root with `:host { all:
 * initial !important; … !important }`: important declarations of the inner (shadow) context win over the
 * page's, inline style attributes and `[popover]`/`:popover-open` rules included, so restyling the host
 * from outside has no effect (and is reported as tampering).
 *
 * The host is a `popover="manual"` element shown with `showPopover()`: it is drawn in the browser's top
 * layer, above every element of the page whatever its z-index, and outside the stacking contexts of its
 * ancestors (their opacity, filters, blend modes, clipping and transforms do not apply to it). It is
 * `position: fixed` at viewport coordinates; its own `zoom` cancels the zoom of its ancestors (which the
 * top layer does not undo), so its geometry is in viewport px whatever the page's zoom. Browsers without
 * popovers draw it as a fixed element with the highest z-index instead.
 */

const LETTERS = 'abcdefghijklmnopqrstuvwxyz';

export function randomLetters(length: number, random: () => number = Math.random): string {
  let out = '';
  for (let i = 0; i < length; i++) out += LETTERS[Math.floor(random() * LETTERS.length)];
  return out;
}

/** Valid-looking names the HTML standard reserves (no shadow root can be attached to them). */
const RESERVED = new Set(['annotation-xml', 'color-profile', 'font-face', 'missing-glyph']);

/** A valid custom element name (lowercase letters, one hyphen) that is new every time. */
export function randomTagName(random: () => number = Math.random): string {
  for (;;) {
    const name = `${randomLetters(3 + Math.floor(random() * 5), random)}-${randomLetters(3 + Math.floor(random() * 5), random)}`;
    if (!RESERVED.has(name)) return name;
  }
}

export interface HostGeometry {
  /** CSS px, relative to the padding box of the element the host is attached to. */
  left: number;
  top: number;
  width: number;
  height: number;
}

/** Properties the shadow root pins on the host; the tamper guard checks the computed values of many. */
const PINNED = [
  // First: every property back to its initial value, whatever the page sets or lets inherit.
  'all:initial',
  'display:block',
  'position:fixed',
  'visibility:visible',
  'opacity:1',
  'transform:none',
  'translate:none',
  'scale:none',
  'rotate:none',
  'filter:none',
  'backdrop-filter:none',
  'clip-path:none',
  'mask:none',
  'mix-blend-mode:normal',
  'content-visibility:visible',
  'margin:0',
  'padding:0',
  'border:0',
  'box-sizing:border-box',
  'overflow:hidden',
  'pointer-events:auto',
  'z-index:2147483647',
  'right:auto',
  'bottom:auto',
  'min-width:0',
  'min-height:0',
  'max-width:none',
  'max-height:none',
  'background:transparent',
  'outline:0',
  'transition:none',
  'animation:none',
];

/** The top layer, where the browser has it (popovers). */
const hasPopover = (el: HTMLElement): boolean => typeof el.showPopover === 'function';

export class MarkHost {
  readonly element: HTMLElement;
  readonly tag: string;
  readonly className: string;
  readonly canvas: HTMLCanvasElement;
  private readonly style: HTMLStyleElement;
  geometry: HostGeometry = { left: 0, top: 0, width: 0, height: 0 };
  /** The host's own `zoom`: 1 / the effective zoom of its parent. */
  zoom = 1;
  private passThrough = false;

  constructor(random: () => number = Math.random) {
    this.forward = this.forward.bind(this);
    this.tag = randomTagName(random);
    this.className = randomLetters(6 + Math.floor(random() * 6), random);
    this.element = document.createElement(this.tag);
    this.element.className = this.className;
    this.element.setAttribute('popover', 'manual');
    const shadow = this.element.attachShadow({ mode: 'closed' });
    this.style = document.createElement('style');
    this.canvas = document.createElement('canvas');
    shadow.append(this.style, this.canvas);
    this.place(this.geometry);
    // The host takes hits (so the tamper guard can tell it is on top), but clicks are the player's.
    this.element.addEventListener('click', this.forward);
    this.element.addEventListener('dblclick', this.forward);
  }

  /** Hands a click on the mark to whatever is under it. */
  private forward(event: MouseEvent): void {
    event.stopPropagation();
    this.passThrough = true;
    this.place(this.geometry);
    const below = document.elementFromPoint(event.clientX, event.clientY);
    this.passThrough = false;
    this.place(this.geometry);
    if (below && below !== this.element) below.dispatchEvent(new MouseEvent(event.type, event));
  }

  /** Whether the browser draws the host in its top layer (popovers exist). */
  get layered(): boolean {
    return hasPopover(this.element);
  }

  /** Whether the host is shown in the top layer (always true where popovers do not exist). */
  get open(): boolean {
    if (!this.layered) return true;
    try {
      return this.element.matches(':popover-open');
    } catch {
      return true;
    }
  }

  /** Shows the host in the top layer if it is not shown (it must be connected). */
  show(): void {
    if (!this.layered || !this.element.isConnected || this.open) return;
    try {
      this.element.showPopover();
    } catch {
      // Not connected, or the document is going away: the guard sees it.
    }
  }

  /**
   * Puts the shown host on top of the top layer again: the top layer paints in the order elements
   * entered it, so a dialog, popover or fullscreen element that opened after the host is above it
   * until then. Hiding and showing within one task paints nothing in between. A host that is not shown
   * is left for the guard to see.
   */
  raise(): void {
    if (!this.layered || !this.element.isConnected || !this.open) return;
    try {
      this.element.hidePopover();
      this.element.showPopover();
    } catch {
      // As in show().
    }
  }

  /**
   * Moves and sizes the host (from inside the shadow root, so the page cannot override it). `g` is in
   * viewport px; `zoom` is the host's own zoom (1 / its parent's effective zoom).
   */
  place(g: HostGeometry, zoom = this.zoom): void {
    this.geometry = { ...g };
    this.zoom = zoom;
    const px = (n: number) => `${Math.round(n * 100) / 100}px`;
    const host = [
      ...PINNED.filter((d) => !this.passThrough || !d.startsWith('pointer-events')),
      ...(this.passThrough ? ['pointer-events:none'] : []),
      `left:${px(g.left)}`,
      `top:${px(g.top)}`,
      `width:${px(g.width)}`,
      `height:${px(g.height)}`,
      `zoom:${zoom}`,
    ]
      .map((d) => `${d} !important;`)
      .join('');
    this.style.textContent = `:host{${host}}canvas{all:initial;display:block;width:100%;height:100%;}`;
  }

  remove(): void {
    this.element.remove();
  }
}
