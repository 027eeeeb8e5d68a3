/**
 * A DOM for component tests: happy-dom's window installed as the globals React needs. Node's own
 * fetch, Blob, URL and timers stay (so the console's API client talks to real servers over HTTP).
 */
import { Window } from 'happy-dom';

const KEEP = new Set([
  'fetch',
  'Blob',
  'File',
  'FormData',
  'Headers',
  'Request',
  'Response',
  'URL',
  'URLSearchParams',
  'AbortController',
  'AbortSignal',
  'TextEncoder',
  'TextDecoder',
  'setTimeout',
  'clearTimeout',
  'setInterval',
  'clearInterval',
  'queueMicrotask',
  'structuredClone',
  'crypto',
  'performance',
  'console',
  'ReadableStream',
  'WritableStream',
  'TransformStream',
  'Event',
  'EventTarget',
  'MessageChannel',
  'MessagePort',
  'BroadcastChannel',
]);

export function installDom(url = 'http://127.0.0.1/admin/'): { window: Window; close(): Promise<void> } {
  const window = new Window({ url, width: 1280, height: 800 });
  const g = globalThis as Record<string, unknown>;
  for (const key of Object.getOwnPropertyNames(window)) {
    if (KEEP.has(key) || key in g) continue;
    const value = (window as unknown as Record<string, unknown>)[key];
    g[key] =
      typeof value === 'function' && /^[a-z]/.test(key) ? (value as () => unknown).bind(window) : value;
  }
  g.window = window;
  g.document = window.document;
  // Pages load and poll by themselves, as in a browser: tests wait for what shows, not for act().
  g.IS_REACT_ACT_ENVIRONMENT = false;
  return {
    window,
    async close() {
      // The globals stay: React's scheduler may still run a last callback that reads them.
      await window.happyDOM.abort();
    },
  };
}

/** Polls until `probe` returns a value (not undefined, null or false), or fails after `ms`. */
export async function until<T>(
  what: string,
  probe: () => T | undefined | null | false,
  ms = 10_000,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = probe();
    if (v !== undefined && v !== null && v !== false) return v;
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${what}; page: ${document.body.textContent}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
