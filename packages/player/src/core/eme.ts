/// <reference lib="dom" />
/**
 * W3C EME with ClearKey, handled on the media element itself (no player plugin needed): on `encrypted`
 * the element gets ClearKey MediaKeys once, and every new set of key ids gets a session whose license
 * request goes to the key server. Init data seen again (the same kids, e.g. an init segment appended
 * twice) is not requested again.
 */

export const CLEARKEY = 'org.w3.clearkey';
/** The common (W3C) system id, which ClearKey reads kids from. */
const COMMON_SYSTEM_ID = '1077efecc0b24d02ace33c1e52e2fb4b';

const hex = (bytes: Uint8Array) => Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');

/** The kids (32 hex digits) listed by v1 `pssh` boxes of the common system in `cenc` init data. */
export function kidsFromCencInitData(data: Uint8Array): string[] {
  const kids: string[] = [];
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  let offset = 0;
  while (offset + 32 <= data.byteLength) {
    const size = view.getUint32(offset);
    if (size < 32 || offset + size > data.byteLength) break;
    const type = String.fromCharCode(...data.subarray(offset + 4, offset + 8));
    const version = data[offset + 8];
    const systemId = hex(data.subarray(offset + 12, offset + 28));
    if (type === 'pssh' && version !== undefined && version > 0 && systemId === COMMON_SYSTEM_ID) {
      const count = view.getUint32(offset + 28);
      for (let i = 0; i < count && offset + 32 + 16 * (i + 1) <= offset + size; i++) {
        kids.push(hex(data.subarray(offset + 32 + 16 * i, offset + 48 + 16 * i)));
      }
    }
    offset += size;
  }
  return kids;
}

function base64UrlToHex(s: string): string {
  const b64 = s.replace(/-/g, '+').replace(/_/g, '/');
  return hex(Uint8Array.from(atob(b64 + '='.repeat((4 - (b64.length % 4)) % 4)), (c) => c.charCodeAt(0)));
}

/** The kids of `keyids` init data (`{"kids":["<base64url>"]}`). */
export function kidsFromKeyIdsInitData(data: Uint8Array): string[] {
  try {
    const parsed = JSON.parse(new TextDecoder().decode(data)) as { kids?: unknown };
    if (!Array.isArray(parsed.kids)) return [];
    return parsed.kids.filter((k): k is string => typeof k === 'string').map(base64UrlToHex);
  } catch {
    return [];
  }
}

/** What identifies init data for deduplication: its sorted kids, else its bytes. */
export function initDataKey(initDataType: string, data: Uint8Array): string {
  const kids = initDataType === 'keyids' ? kidsFromKeyIdsInitData(data) : kidsFromCencInitData(data);
  return kids.length > 0 ? `kids:${[...new Set(kids)].sort().join(',')}` : `${initDataType}:${hex(data)}`;
}

export interface ClearKeyEmeOptions {
  media: HTMLMediaElement;
  /** Sends the CDM's license request to the key server and returns the license bytes. */
  requestLicense(message: ArrayBuffer): Promise<ArrayBuffer>;
  /** A failure: of the key system setup, of a license request (e.g. a VigilRefusal), or of an update. */
  onError(error: unknown): void;
  /** Open sessions kept before the oldest is closed (long live streams rotate keys forever). */
  maxSessions?: number;
}

const CONFIG: MediaKeySystemConfiguration[] = [
  {
    initDataTypes: ['cenc', 'keyids'],
    videoCapabilities: [{ contentType: 'video/mp4; codecs="avc1.64001f"' }],
    audioCapabilities: [{ contentType: 'audio/mp4; codecs="mp4a.40.2"' }],
  },
];

export class ClearKeyEme {
  private readonly opts: ClearKeyEmeOptions;
  private mediaKeys: Promise<MediaKeys> | undefined;
  /** Init data keys with an open session (null while it opens), oldest first. */
  private readonly sessions = new Map<string, MediaKeySession | null>();
  private attached = false;
  private readonly onEncrypted = (event: MediaEncryptedEvent) => this.handle(event);
  /** How many `encrypted` events and sessions there were (diagnostics and tests). */
  readonly stats = { encrypted: 0, sessions: 0, licenses: 0 };

  constructor(opts: ClearKeyEmeOptions) {
    this.opts = opts;
  }

  attach(): void {
    if (this.attached) return;
    this.attached = true;
    this.opts.media.addEventListener('encrypted', this.onEncrypted);
  }

  /** Stops listening and closes every session (their keys go with them). */
  detach(): void {
    this.attached = false;
    this.opts.media.removeEventListener('encrypted', this.onEncrypted);
    for (const session of this.sessions.values()) session?.close().catch(() => {});
    this.sessions.clear();
  }

  private keys(): Promise<MediaKeys> {
    this.mediaKeys ??= (async () => {
      const access = await navigator.requestMediaKeySystemAccess(CLEARKEY, CONFIG);
      const keys = await access.createMediaKeys();
      await this.opts.media.setMediaKeys(keys);
      return keys;
    })();
    return this.mediaKeys;
  }

  private handle(event: MediaEncryptedEvent): void {
    this.stats.encrypted++;
    const { initDataType, initData } = event;
    if ((initDataType !== 'cenc' && initDataType !== 'keyids') || !initData) return;
    const data = new Uint8Array(initData.slice(0));
    const key = initDataKey(initDataType, data);
    if (this.sessions.has(key)) return;
    // Reserve the key at once: `encrypted` fires per appended init segment, often twice in a row.
    const pending = this.openSession(key, initDataType, data);
    pending.catch((err: unknown) => {
      this.sessions.delete(key);
      if (this.attached) this.opts.onError(err);
    });
  }

  private async openSession(key: string, initDataType: string, data: Uint8Array<ArrayBuffer>): Promise<void> {
    // A placeholder until the session exists, so concurrent events for the same kids are dropped.
    this.sessions.set(key, null);
    const keys = await this.keys();
    if (!this.attached) return;
    const session = keys.createSession('temporary');
    this.sessions.set(key, session);
    this.stats.sessions++;
    this.trim();
    const failed = (err: unknown) => {
      if (this.sessions.get(key) === session) this.sessions.delete(key);
      session.close().catch(() => {});
      if (this.attached) this.opts.onError(err);
    };
    session.addEventListener('message', (msg: MediaKeyMessageEvent) => {
      this.opts
        .requestLicense(msg.message)
        .then((license) => {
          if (!this.attached) return;
          this.stats.licenses++;
          return session.update(license);
        })
        .catch(failed);
    });
    await session.generateRequest(initDataType, data);
  }

  /** Closes the oldest sessions beyond the limit; their init data may then be requested again. */
  private trim(): void {
    const max = this.opts.maxSessions ?? 32;
    for (const [key, session] of this.sessions) {
      if (this.sessions.size <= max) break;
      if (!session) continue;
      this.sessions.delete(key);
      session.close().catch(() => {});
    }
  }
}
