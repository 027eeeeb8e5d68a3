import { isIP } from 'node:net';

/**
 * RTMP and SRT input URLs, parsed and rebuilt: ffmpeg gets only what is read here — scheme, host, port,
 * RTMP path, and SRT options from an allow-list with checked values — never a URL as it was given.
 */

export type InputErrorCode = 'input_url_invalid' | 'input_option_not_allowed' | 'input_option_invalid';

/** One thing wrong with an input URL, with a code the control API answers with (400). */
export class InputUrlError extends Error {
  override readonly name = 'InputUrlError';
  constructor(
    readonly code: InputErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export interface ParsedInputUrl {
  /** The URL rebuilt from the parts below (what is stored). */
  url: string;
  /** What ffmpeg is given: the same, with SRT's mode always spelled out (ffmpeg's own default is caller). */
  ffmpegUrl: string;
  host: string;
  port: number;
  /**
   * Whether ffmpeg connects out instead of listening: SRT `mode=caller` or `mode=rendezvous`. RTMP inputs
   * always listen (ffmpeg runs with `-listen 1`).
   */
  outbound: boolean;
  /** The address is one this machine can listen on: an IP literal or `localhost` (no name to resolve). */
  localBind: boolean;
}

const flag = (v: string) => v === '0' || v === '1';
const intIn = (min: number, max: number) => (v: string) =>
  /^-?\d{1,12}$/.test(v) && Number(v) >= min && Number(v) <= max;

/** SRT options ffmpeg may be given, by name, with what their values may be. */
const SRT_OPTIONS: Record<string, { valid: (v: string) => boolean; says: string }> = {
  mode: {
    valid: (v) => ['listener', 'caller', 'rendezvous'].includes(v),
    says: 'listener, caller or rendezvous',
  },
  latency: { valid: intIn(0, 10_000_000), says: 'microseconds, 0 to 10000000' },
  rcvlatency: { valid: intIn(0, 10_000_000), says: 'microseconds, 0 to 10000000' },
  peerlatency: { valid: intIn(0, 10_000_000), says: 'microseconds, 0 to 10000000' },
  passphrase: {
    valid: (v) => /^[A-Za-z0-9._~-]{10,79}$/.test(v),
    says: '10 to 79 letters, digits, ".", "_", "~" or "-"',
  },
  pbkeylen: { valid: (v) => ['0', '16', '24', '32'].includes(v), says: '0, 16, 24 or 32' },
  enforced_encryption: { valid: flag, says: '0 or 1' },
  tlpktdrop: { valid: flag, says: '0 or 1' },
  nakreport: { valid: flag, says: '0 or 1' },
  payload_size: { valid: intIn(188, 1456), says: '188 to 1456' },
  streamid: {
    valid: (v) => /^[A-Za-z0-9._~:/=,!-]{1,512}$/.test(v),
    says: 'up to 512 letters, digits or ._~:/=,!-',
  },
};

function invalid(message: string): never {
  throw new InputUrlError('input_url_invalid', message);
}

function hostOf(raw: string, kind: string): { host: string; localBind: boolean } {
  if (raw.startsWith('[')) {
    const inner = raw.slice(1, -1);
    if (!raw.endsWith(']') || isIP(inner) !== 6)
      invalid(`the ${kind} input's host ${raw} is not an IPv6 address`);
    return { host: `[${inner.toLowerCase()}]`, localBind: true };
  }
  if (isIP(raw) === 4) return { host: raw, localBind: true };
  const host = raw.toLowerCase();
  if (!/^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/.test(host))
    invalid(`the ${kind} input's host is not an address or a host name`);
  return { host, localBind: host === 'localhost' };
}

/** Reads `rtmp://host:port/app/key` or `srt://host:port?options` strictly (InputUrlError). */
export function parseInputUrl(kind: 'rtmp' | 'srt', text: string): ParsedInputUrl {
  const m = /^([a-z]+):\/\/([^/?#]*)([^?#]*)(\?[^#]*)?(#.*)?$/i.exec(text.trim());
  if (!m || m[1]!.toLowerCase() !== kind) invalid(`the input must be an ${kind}:// URL`);
  const [, , authority, path, query, fragment] = m;
  if (fragment !== undefined) invalid(`the ${kind} input URL may not have a #fragment`);
  if (authority!.includes('@')) invalid(`the ${kind} input URL may not carry a user name or password`);
  const hp = /^(\[[^\]]*\]|[^:]*):(\d{1,5})$/.exec(authority!);
  if (!hp) invalid(`the ${kind} input must name a host and a port (${kind}://<host>:<port>…)`);
  const { host, localBind } = hostOf(hp[1]!, kind);
  const port = Number(hp[2]);
  if (port < 1 || port > 65535) invalid(`the ${kind} input's port must be 1 to 65535`);

  if (kind === 'rtmp') {
    if (query !== undefined) {
      throw new InputUrlError(
        'input_option_not_allowed',
        'an rtmp input takes no URL options (?…): ffmpeg listens with its own settings',
      );
    }
    const segments = path!.split('/').slice(1);
    if (
      segments.length < 1 ||
      segments.length > 4 ||
      !segments.every((s) => /^(?!\.+$)[A-Za-z0-9._~-]{1,128}$/.test(s))
    )
      invalid(
        'an rtmp input names an application and a stream key: rtmp://<host>:<port>/<app>/<key>, letters, digits, ".", "_", "~", "-"',
      );
    const url = `rtmp://${host}:${port}/${segments.join('/')}`;
    return { url, ffmpegUrl: url, host, port, outbound: false, localBind };
  }

  if (path !== '' && path !== '/') invalid('an srt input URL has no path: srt://<host>:<port>?<options>');
  const options: [string, string][] = [];
  const seen = new Set<string>();
  for (const pair of (query ?? '').slice(1).split('&')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    const name = eq < 0 ? pair : pair.slice(0, eq);
    const value = eq < 0 ? '' : pair.slice(eq + 1);
    const rule = Object.hasOwn(SRT_OPTIONS, name) ? SRT_OPTIONS[name] : undefined;
    if (!rule) {
      throw new InputUrlError(
        'input_option_not_allowed',
        `the srt option "${name.slice(0, 40)}" is not allowed (allowed: ${Object.keys(SRT_OPTIONS).join(', ')})`,
      );
    }
    if (seen.has(name))
      throw new InputUrlError('input_option_invalid', `the srt option ${name} is given twice`);
    seen.add(name);
    if (!rule.valid(value)) {
      throw new InputUrlError('input_option_invalid', `the srt option ${name} must be ${rule.says}`);
    }
    options.push([name, value]);
  }
  const mode = options.find(([n]) => n === 'mode')?.[1] ?? 'listener';
  const q = options.map(([n, v]) => `${n}=${v}`).join('&');
  const withMode = seen.has('mode') ? q : [`mode=${mode}`, q].filter(Boolean).join('&');
  return {
    url: `srt://${host}:${port}${q ? `?${q}` : ''}`,
    ffmpegUrl: `srt://${host}:${port}?${withMode}`,
    host,
    port,
    outbound: mode !== 'listener',
    localBind,
  };
}
