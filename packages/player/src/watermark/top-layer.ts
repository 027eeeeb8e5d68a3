/// <reference lib="dom" />
/**
 * Tells when an element enters the top layer through the DOM methods that put it there
 * (`showPopover`, `togglePopover`, `showModal`), wherever the element is: its `beforetoggle`/`toggle`
 * events reach the document only from the document's own tree, never from a closed shadow root. The
 * methods are wrapped once, on the prototypes, when the first listener is added; each still does exactly
 * what it did (same arguments, result and exceptions), then the listeners are told. A script that ran
 * before and kept the originals is not seen (see the package's README, Limits).
 */

type Listener = (element: Element) => void;

const listeners = new Set<Listener>();
let patched = false;

function wrap(proto: object | undefined, name: string): void {
  if (!proto) return;
  const original = (proto as Record<string, unknown>)[name];
  if (typeof original !== 'function') return;
  Object.defineProperty(proto, name, {
    configurable: true,
    writable: true,
    enumerable: false,
    value: function (this: Element, ...args: unknown[]) {
      const result = (original as (...a: unknown[]) => unknown).apply(this, args);
      for (const listener of listeners) {
        try {
          listener(this);
        } catch (err) {
          console.error('vigil: top-layer listener failed', err);
        }
      }
      return result;
    },
  });
}

/** Calls `listener` after an element was shown as a popover or modal dialog; returns the unsubscribe. */
export function onTopLayerEntry(listener: Listener): () => void {
  if (!patched && typeof HTMLElement !== 'undefined') {
    patched = true;
    wrap(HTMLElement.prototype, 'showPopover');
    wrap(HTMLElement.prototype, 'togglePopover');
    wrap(typeof HTMLDialogElement !== 'undefined' ? HTMLDialogElement.prototype : undefined, 'showModal');
  }
  listeners.add(listener);
  return () => {
    listeners.delete(listener);
  };
}
