import { ControlError } from '@vigil/control';
import { UrlForbidden } from '../outbound.ts';

const PREFLIGHT_TIMEOUT_MS = 10_000;

/**
 * Before a detection or a watch of a URL is accepted: the outbound guard must let the URL through (and
 * every redirect it answers), and it must answer. 400 `url_forbidden` or `url_unreachable`, said plainly.
 */
export function preflight(guardedFetch: typeof fetch): (url: string) => Promise<void> {
  return async (url) => {
    const signal = AbortSignal.timeout(PREFLIGHT_TIMEOUT_MS);
    let res: Response;
    try {
      res = await guardedFetch(url, { signal });
    } catch (err) {
      throw refusal(err);
    }
    await res.body?.cancel().catch(() => {});
    if (!res.ok)
      throw new ControlError(400, 'url_unreachable', `${redact(url)} answered HTTP ${res.status}`, {
        httpStatus: res.status,
      });
  };
}

/** A fetch failure as the control API's error. */
export function refusal(err: unknown): ControlError {
  if (err instanceof UrlForbidden) return new ControlError(400, 'url_forbidden', err.message);
  const e = err as Error;
  if (e?.name === 'TimeoutError' || e?.name === 'AbortError')
    return new ControlError(400, 'url_unreachable', `no answer within ${PREFLIGHT_TIMEOUT_MS / 1000} s`);
  const cause = (e?.cause as Error | undefined)?.message;
  return new ControlError(
    400,
    'url_unreachable',
    `could not fetch the URL: ${cause ?? e?.message ?? String(err)}`,
  );
}

/** A URL without its query string (tokens live there), for messages. */
export function redact(url: string): string {
  try {
    const u = new URL(url);
    return `${u.origin}${u.pathname}${u.search ? '?…' : ''}`;
  } catch {
    return '(malformed URL)';
  }
}
