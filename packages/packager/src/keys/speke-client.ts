/**
 * A SPEKE v2.0 client: asks a key provider (a running Vigil's `POST /v1/speke`, or any CPIX 2.3 key
 * server) for content keys exactly as an external packager would: the packager chooses the key ids, the
 * provider answers with the key values (`pskc:PlainValue`, base64) and stores them for the license path.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { hexToUuid, SYSTEM_IDS, type TrackType, xmlEscape } from '@vigil/keys';
import { PackagerError } from '../pipeline/errors.ts';
import { DEFAULT_KEY_TTL_SECONDS, type KeySource, type KeySpec, type PackagingKey } from './source.ts';

const CPIX_NS = 'urn:dashif:org:cpix';
const PSKC_NS = 'urn:ietf:params:xml:ns:keyprov:pskc';
/** AWS MediaPackage's system id for HLS AES-128 ("ClearKey AES-128"), which Vigil's SPEKE knows. */
export const HLS_AES128_SYSTEM_ID = '3ea8778f-7742-4bf9-b18b-e834b2acbd47';
/** Keys per request: CPIX servers bound the document size (Vigil: 256 content keys). */
const KEYS_PER_REQUEST = 120;

export interface SpekeClientOptions {
  /** The Vigil server's base URL (the endpoint is `<server>/v1/speke`), or the full endpoint URL. */
  server: string;
  /** An admin API key of the tenant (sent as `Authorization: Bearer`). */
  apiKey: string;
  /**
   * Lifetime of the created keys, when the provider honours `?ttlSeconds=` (Vigil does); default ten
   * years, as packaged content outlives the server's default key TTL.
   */
  ttlSeconds?: number;
  fetch?: typeof fetch;
  timeoutMs?: number;
}

/** The video pixel bounds SPEKE presets use for SD/HD/UHD (SD up to PAL 768×576, HD up to 1920×1080). */
const SD_MAX_PIXELS = 768 * 576;
const HD_MAX_PIXELS = 1920 * 1080;

function usageFilter(trackType: TrackType): { intended: string; filter: string } {
  switch (trackType) {
    case 'audio':
      return { intended: 'AUDIO', filter: '<cpix:AudioFilter/>' };
    case 'sd':
      return { intended: 'SD', filter: `<cpix:VideoFilter maxPixels="${SD_MAX_PIXELS}"/>` };
    case 'hd':
      return {
        intended: 'HD',
        filter: `<cpix:VideoFilter minPixels="${SD_MAX_PIXELS + 1}" maxPixels="${HD_MAX_PIXELS}"/>`,
      };
    case 'uhd':
      return { intended: 'UHD1', filter: `<cpix:VideoFilter minPixels="${HD_MAX_PIXELS + 1}"/>` };
    default:
      return { intended: 'ALL', filter: '' };
  }
}

export interface CpixKeyRequest extends KeySpec {
  kid: string;
  iv: Buffer;
}

/** The CPIX 2.3 request document for these keys (all of one scheme, as SPEKE v2 requires). */
export function buildCpixRequest(contentId: string, scheme: string, keys: CpixKeyRequest[]): string {
  const periods = [...new Set(keys.map((k) => k.keyPeriod))].sort((a, b) => a - b);
  const lines = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<cpix:CPIX xmlns:cpix="${CPIX_NS}" xmlns:pskc="${PSKC_NS}" contentId="${xmlEscape(contentId)}" version="2.3">`,
    '  <cpix:ContentKeyList>',
    ...keys.map(
      (k) =>
        `    <cpix:ContentKey kid="${hexToUuid(k.kid)}" commonEncryptionScheme="${scheme}" explicitIV="${k.iv.toString('base64')}"/>`,
    ),
    '  </cpix:ContentKeyList>',
    '  <cpix:DRMSystemList>',
    ...keys.map((k) =>
      k.use === 'hls-aes128'
        ? `    <cpix:DRMSystem kid="${hexToUuid(k.kid)}" systemId="${HLS_AES128_SYSTEM_ID}"><cpix:URIExtXKey/></cpix:DRMSystem>`
        : `    <cpix:DRMSystem kid="${hexToUuid(k.kid)}" systemId="${SYSTEM_IDS.clearKey}"><cpix:PSSH/></cpix:DRMSystem>`,
    ),
    '  </cpix:DRMSystemList>',
    '  <cpix:ContentKeyPeriodList>',
    ...periods.map((p) => `    <cpix:ContentKeyPeriod id="keyPeriod_${p}" index="${p}"/>`),
    '  </cpix:ContentKeyPeriodList>',
    '  <cpix:ContentKeyUsageRuleList>',
    ...keys.map((k) => {
      const { intended, filter } = usageFilter(k.trackType);
      return `    <cpix:ContentKeyUsageRule kid="${hexToUuid(k.kid)}" intendedTrackType="${intended}"><cpix:KeyPeriodFilter periodId="keyPeriod_${k.keyPeriod}"/>${filter}</cpix:ContentKeyUsageRule>`;
    }),
    '  </cpix:ContentKeyUsageRuleList>',
    '</cpix:CPIX>',
  ];
  return `${lines.join('\n')}\n`;
}

/** kid (32 hex digits) → key bytes and explicit IV, from a CPIX answer, whatever its namespace prefixes. */
export function parseCpixKeys(xml: string): Map<string, { key: Buffer; iv?: Buffer }> {
  const keys = new Map<string, { key: Buffer; iv?: Buffer }>();
  const contentKey = /<(?:[\w.-]+:)?ContentKey\b([^>]*?)(?:\/>|>([\s\S]*?)<\/(?:[\w.-]+:)?ContentKey>)/g;
  for (const m of xml.matchAll(contentKey)) {
    const attrs = m[1] ?? '';
    const kid = /\bkid\s*=\s*["']([^"']+)["']/.exec(attrs)?.[1];
    const value = /<(?:[\w.-]+:)?PlainValue>\s*([A-Za-z0-9+/=\s]+?)\s*<\/(?:[\w.-]+:)?PlainValue>/.exec(
      m[2] ?? '',
    )?.[1];
    if (!kid || !value) continue;
    const key = Buffer.from(value.replace(/\s+/g, ''), 'base64');
    const ivText = /\bexplicitIV\s*=\s*["']([^"']+)["']/.exec(attrs)?.[1];
    const entry: { key: Buffer; iv?: Buffer } = { key };
    if (ivText) entry.iv = Buffer.from(ivText, 'base64');
    keys.set(kid.replaceAll('-', '').toLowerCase(), entry);
  }
  return keys;
}

function spekeUrl(server: string, ttlSeconds: number | undefined): string {
  const base = server.replace(/\/+$/, '');
  const url = new URL(/\/v1\/speke$/.test(base) ? base : `${base}/v1/speke`);
  if (ttlSeconds !== undefined) url.searchParams.set('ttlSeconds', String(Math.round(ttlSeconds)));
  return url.toString();
}

/** One CPIX exchange: the keys for `requests`, checked to be 16 bytes each and complete. */
export async function requestSpekeKeys(
  opts: SpekeClientOptions,
  contentId: string,
  scheme: string,
  requests: CpixKeyRequest[],
): Promise<Map<string, { key: Buffer; iv?: Buffer }>> {
  const url = spekeUrl(opts.server, opts.ttlSeconds ?? DEFAULT_KEY_TTL_SECONDS);
  const doFetch = opts.fetch ?? fetch;
  let res: Response;
  try {
    res = await doFetch(url, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${opts.apiKey}`,
        'content-type': 'application/xml',
        'x-speke-version': '2.0',
      },
      body: buildCpixRequest(contentId, scheme, requests),
      signal: AbortSignal.timeout(opts.timeoutMs ?? 30_000),
    });
  } catch (err) {
    throw new PackagerError(
      'keys_failed',
      `cannot reach the SPEKE endpoint ${new URL(url).origin}: ${(err as Error).message}`,
    );
  }
  const text = await res.text();
  if (!res.ok) {
    let detail = text.slice(0, 200).replace(/\s+/g, ' ');
    try {
      const json = JSON.parse(text) as { message?: string; code?: string };
      if (json.message) detail = `${json.code ? `${json.code}: ` : ''}${json.message}`;
    } catch {
      // not JSON: keep the text
    }
    throw new PackagerError(
      'keys_failed',
      `the SPEKE endpoint refused the key request (${res.status}): ${detail}`,
    );
  }
  const keys = parseCpixKeys(text);
  for (const r of requests) {
    const got = keys.get(r.kid);
    if (!got)
      throw new PackagerError('keys_failed', `the SPEKE answer has no key for KID ${hexToUuid(r.kid)}`);
    if (got.key.length !== 16) {
      throw new PackagerError(
        'keys_failed',
        `the SPEKE answer's key for KID ${hexToUuid(r.kid)} is not 16 bytes`,
      );
    }
  }
  return keys;
}

/** Keys from a running Vigil (or another SPEKE v2 provider) for the packaging pipeline. */
export function spekeKeySource(opts: SpekeClientOptions): KeySource {
  return {
    description: `SPEKE at ${new URL(spekeUrl(opts.server, undefined)).origin}`,
    async createKeys(resourceId, specs, scheme): Promise<PackagingKey[]> {
      const wanted = specs.map((spec) => ({
        ...spec,
        kid: randomUUID().replaceAll('-', ''),
        iv: randomBytes(16),
      }));
      const out: PackagingKey[] = [];
      // SPEKE v2 wants one scheme per request: the TS set's keys (whole-segment AES-128-CBC) go in
      // requests of their own, marked cbcs (the CBC scheme) with the HLS AES-128 system id.
      for (const use of ['cmaf', 'hls-aes128'] as const) {
        const group = wanted.filter((w) => w.use === use);
        for (let i = 0; i < group.length; i += KEYS_PER_REQUEST) {
          const batch = group.slice(i, i + KEYS_PER_REQUEST);
          const got = await requestSpekeKeys(opts, resourceId, use === 'cmaf' ? scheme : 'cbcs', batch);
          for (const w of batch) {
            const k = got.get(w.kid)!;
            out.push({ ...w, key: k.key, iv: k.iv?.length === 16 ? k.iv : w.iv });
          }
        }
      }
      return out;
    },
  };
}
