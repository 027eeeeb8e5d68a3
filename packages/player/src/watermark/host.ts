/// <reference lib="dom" />
/**
 * The element that carries the mark: a host with a random custom-element tag and class, whose content (a
 * canvas) lives in a closed shadow root, so page scripts and styles cannot reach the drawing. Its
 * geometry and every property that could hide it are set from inside the shadow root with `:host { …
 * !important }`: important declarations of the inner (shadow) context win over the page's, inline style
 * attributes included, so restyling the host from outside has no effect (and is reported as tampering).
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
  'display:block',
  'position:absolute',
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
  'zoom:1',
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
];

export class MarkHost {
  readonly element: HTMLElement;
  readonly tag: string;
  readonly className: string;
  readonly canvas: HTMLCanvasElement;
  private readonly style: HTMLStyleElement;
  geometry: HostGeometry = { left: 0, top: 0, width: 0, height: 0 };
  private passThrough = false;

  constructor(random: () => number = Math.random) {
    this.forward = this.forward.bind(this);
    this.tag = randomTagName(random);
    this.className = randomLetters(6 + Math.floor(random() * 6), random);
    this.element = document.createElement(this.tag);
    this.element.className = this.className;
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

  /** Moves and sizes the host (from inside the shadow root, so the page cannot override it). */
  place(g: HostGeometry): void {
    this.geometry = { ...g };
    const px = (n: number) => `${Math.round(n * 100) / 100}px`;
    const host = [
      ...PINNED.filter((d) => !this.passThrough || !d.startsWith('pointer-events')),
      ...(this.passThrough ? ['pointer-events:none'] : []),
      `left:${px(g.left)}`,
      `top:${px(g.top)}`,
      `width:${px(g.width)}`,
      `height:${px(g.height)}`,
    ]
      .map((d) => `${d} !important;`)
      .join('');
    this.style.textContent = `:host{${host}}canvas{display:block;width:100%;height:100%;}`;
  }

  remove(): void {
    this.element.remove();
  }
}
