/// <reference lib="dom" />
/** A plain message box over the player: why playback stopped, or what the key server refused. */

export const MESSAGE_CLASS = 'vigil-message';

export class MessageOverlay {
  private readonly container: HTMLElement;
  private element: HTMLElement | undefined;

  constructor(container: HTMLElement) {
    this.container = container;
  }

  get text(): string | null {
    return this.element?.isConnected ? (this.element.textContent ?? null) : null;
  }

  show(message: string, kind: 'stopped' | 'error'): void {
    if (!this.element) {
      const el = document.createElement('div');
      el.className = MESSAGE_CLASS;
      el.setAttribute('role', 'alert');
      el.style.cssText = [
        'position:absolute',
        'left:50%',
        'top:50%',
        'transform:translate(-50%,-50%)',
        'max-width:80%',
        'padding:12px 18px',
        'border-radius:6px',
        'background:rgba(0,0,0,0.82)',
        'color:#fff',
        'font:600 16px/1.35 system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif',
        'text-align:center',
        'z-index:2147483647',
        'pointer-events:none',
      ].join(';');
      this.element = el;
    }
    this.element.dataset.kind = kind;
    this.element.textContent = message;
    if (this.element.parentElement !== this.container) this.container.append(this.element);
  }

  hide(): void {
    this.element?.remove();
  }
}
