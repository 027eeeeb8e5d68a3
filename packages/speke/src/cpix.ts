import { type ProtectionScheme, SYSTEM_IDS, type TrackType } from '@vigil/keys';
import { invalid } from './errors.ts';
import { DEFAULT_XML_LIMITS, parseXml, type XmlElement, type XmlLimits } from './xml.ts';

export const NS = {
  cpix: 'urn:dashif:org:cpix',
  pskc: 'urn:ietf:params:xml:ns:keyprov:pskc',
  ds: 'http://www.w3.org/2000/09/xmldsig#',
  enc: 'http://www.w3.org/2001/04/xmlenc#',
  speke: 'urn:aws:amazon:com:speke',
} as const;

/** Namespace URIs the conventional prefixes must be bound to when a document declares them. */
const CONVENTIONAL_PREFIXES = new Map<string, string>([
  ['cpix', NS.cpix],
  ['pskc', NS.pskc],
  ['ds', NS.ds],
  ['speke', NS.speke],
]);

/** The SPEKE version, from the `X-Speke-Version` header (none: 1.0). */
export type SpekeVersion = '1.0' | '2.0' | '2.1';
export const SPEKE_VERSIONS: readonly SpekeVersion[] = ['1.0', '2.0', '2.1'];
/** CPIX@version each SPEKE version requires (v1 documents may omit it). */
const CPIX_VERSIONS: Record<SpekeVersion, readonly string[]> = {
  '1.0': ['2.0', '2.1', '2.2', '2.3'],
  '2.0': ['2.3'],
  '2.1': ['2.4'],
};

export const SCHEMES: readonly ProtectionScheme[] = ['cenc', 'cbc1', 'cens', 'cbcs'];

/** Key providers' DRM system ids for plain HLS AES-128 (the key fetched from a URL). */
export const HLS_AES_128_SYSTEM_IDS = [
  /** AWS MediaPackage's "ClearKey AES-128". */
  '3ea8778f-7742-4bf9-b18b-e834b2acbd47',
  /** The SPEKE reference server's own id for HLS AES-128. */
  '81376844-f976-481e-a84e-cc25d39b0b33',
] as const;

/** DRM systems this key provider signals, by system id. */
export const SUPPORTED_SYSTEMS: Record<string, string> = {
  [SYSTEM_IDS.clearKey]: 'ClearKey (W3C common)',
  [SYSTEM_IDS.dashIfClearKey]: 'ClearKey (DASH-IF)',
  [SYSTEM_IDS.widevine]: 'Widevine',
  [SYSTEM_IDS.playReady]: 'PlayReady',
  [HLS_AES_128_SYSTEM_IDS[0]]: 'HLS AES-128',
  [HLS_AES_128_SYSTEM_IDS[1]]: 'HLS AES-128',
};

export interface CpixContentKey {
  /** The kid exactly as the request wrote it (echoed back). */
  kidAttr: string;
  /** Lowercase UUID with dashes. */
  kid: string;
  /** 32 lowercase hex digits, as Vigil stores kids. */
  kidHex: string;
  commonEncryptionScheme?: ProtectionScheme;
  /** 16 bytes, when the request asked for an explicit IV. */
  explicitIV?: Buffer;
}

export type HlsPlaylist = 'media' | 'master';

/** What the encryptor asked to be filled in for one (DRM system, key) pair. */
export interface CpixDrmSystem {
  kidAttr: string;
  kidHex: string;
  /** Lowercase UUID. */
  systemId: string;
  pssh: boolean;
  contentProtectionData: boolean;
  uriExtXKey: boolean;
  hlsSignaling: HlsPlaylist[];
  smoothStreaming: boolean;
  /** SPEKE v1 extensions. */
  spekeKeyFormat: boolean;
  spekeKeyFormatVersions: boolean;
  spekeProtectionHeader: boolean;
}

export interface CpixKeyPeriod {
  id: string;
  index: number;
  /** Other attributes (start, end, startOffset, endOffset), echoed as given. */
  attrs: [string, string][];
}

export type CpixFilterType =
  | 'KeyPeriodFilter'
  | 'LabelFilter'
  | 'VideoFilter'
  | 'AudioFilter'
  | 'BitrateFilter';
export const FILTER_TYPES: readonly CpixFilterType[] = [
  'KeyPeriodFilter',
  'LabelFilter',
  'VideoFilter',
  'AudioFilter',
  'BitrateFilter',
];

export interface CpixFilter {
  type: CpixFilterType;
  attrs: [string, string][];
}

export interface CpixUsageRule {
  kidAttr: string;
  kidHex: string;
  /** Other attributes of the rule (intendedTrackType, ...), echoed as given. */
  attrs: [string, string][];
  filters: CpixFilter[];
}

export interface CpixRequest {
  spekeVersion: SpekeVersion;
  /** CPIX@version as sent, if any. */
  cpixVersion?: string;
  /** The content the keys are for: CPIX@contentId, or SPEKE v1's CPIX@id. */
  contentId: string;
  /** Root attributes echoed in the answer (id, contentId, version, name). */
  rootAttrs: [string, string][];
  contentKeys: CpixContentKey[];
  drmSystems: CpixDrmSystem[];
  periods: CpixKeyPeriod[];
  usageRules: CpixUsageRule[];
}

export interface CpixParseOptions {
  /** The X-Speke-Version header; none means SPEKE v1. */
  spekeVersion?: string | undefined;
  limits?: XmlLimits;
  /** Most content keys one request may ask for. */
  maxContentKeys?: number;
}

const UUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
/** What Vigil accepts as a resource id everywhere (printable ASCII, no spaces). */
const RESOURCE_ID = /^[\x21-\x7e]{1,256}$/;
const NON_NEGATIVE_INTEGER = /^[0-9]{1,13}$/;

/** Reads the SPEKE version from the X-Speke-Version header value. */
export function spekeVersionOf(header: string | undefined): SpekeVersion {
  if (header === undefined || header.trim() === '') return '1.0';
  const v = header.trim();
  if (v === '1' || v === '1.0') return '1.0';
  if ((SPEKE_VERSIONS as readonly string[]).includes(v)) return v as SpekeVersion;
  throw invalid('Unsupported SPEKE version', 'unsupported_speke_version');
}

const cpixChildren = (el: XmlElement, name: string) =>
  el.children.filter((c) => c.ns === NS.cpix && c.name === name);

function onlyChild(el: XmlElement, name: string): XmlElement | undefined {
  const found = cpixChildren(el, name);
  if (found.length > 1) throw invalid(`cpix:${name} appears ${found.length} times; at most once is allowed`);
  return found[0];
}

/** Attributes without a namespace prefix: the ones an answer can echo without the request's declarations. */
const unprefixed = (el: XmlElement): [string, string][] =>
  [...el.attrs].filter(([name]) => !name.includes(':'));

function parseKid(
  value: string | undefined,
  where: string,
): { kidAttr: string; kid: string; kidHex: string } {
  if (value === undefined || value.trim() === '') throw invalid(`Missing ${where}@kid`, 'missing_kid');
  const kidAttr = value.trim();
  if (!UUID.test(kidAttr)) {
    throw invalid(
      `${where}@kid "${kidAttr.slice(0, 64)}" is not a UUID (8-4-4-4-12 hex digits)`,
      'invalid_kid',
    );
  }
  const kid = kidAttr.toLowerCase();
  return { kidAttr, kid, kidHex: kid.replaceAll('-', '') };
}

function parseExplicitIV(value: string, kid: string): Buffer {
  const text = value.trim();
  const bytes = Buffer.from(text, 'base64');
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(text) || text.length % 4 !== 0 || bytes.length !== 16) {
    throw invalid(`ContentKey@explicitIV of KID ${kid} must be base64 of 16 bytes`, 'invalid_explicit_iv');
  }
  return bytes;
}

/**
 * Parses and validates a CPIX request as SPEKE v1 or v2 encryptors send it. Throws {@link CpixError}: 400
 * or 413 for XML that is malformed, hostile or too big, 422 for a document that is not an acceptable CPIX
 * request (MediaPackage's messages where it has one).
 */
export function parseCpixRequest(xml: string, opts: CpixParseOptions = {}): CpixRequest {
  const spekeVersion = spekeVersionOf(opts.spekeVersion);
  const root = parseXml(xml, opts.limits ?? DEFAULT_XML_LIMITS);
  const maxContentKeys = opts.maxContentKeys ?? 256;

  if (root.name !== 'CPIX') {
    throw invalid(
      `the root element must be cpix:CPIX, not <${root.qname.slice(0, 64)}>`,
      'invalid_cpix_root',
    );
  }
  if (root.ns !== NS.cpix) {
    throw invalid(
      `the root element CPIX must be in the namespace ${NS.cpix}, not ${root.ns === '' ? 'no namespace' : root.ns.slice(0, 100)}`,
      'invalid_namespace',
    );
  }
  checkNamespaceBindings(root);

  const cpixVersion = root.attrs.get('version')?.trim();
  if (spekeVersion !== '1.0' && (cpixVersion === undefined || cpixVersion === '')) {
    throw invalid('Missing CPIX@version', 'missing_cpix_version');
  }
  if (cpixVersion !== undefined && !CPIX_VERSIONS[spekeVersion].includes(cpixVersion)) {
    throw invalid(
      `Unsupported CPIX@version: ${cpixVersion.slice(0, 16)} (SPEKE ${spekeVersion} uses CPIX ${CPIX_VERSIONS[spekeVersion].join(', ')})`,
      'unsupported_cpix_version',
    );
  }
  const contentIdAttr = root.attrs.get('contentId')?.trim();
  const idAttr = root.attrs.get('id')?.trim();
  let contentId: string | undefined;
  if (spekeVersion === '1.0') {
    contentId = idAttr || contentIdAttr;
    if (!contentId) throw invalid('Missing CPIX@id (the content id)', 'missing_content_id');
  } else {
    contentId = contentIdAttr;
    if (!contentId) throw invalid('Missing CPIX@contentId', 'missing_content_id');
  }
  if (!RESOURCE_ID.test(contentId)) {
    throw invalid(
      'the content id must be 1 to 256 printable ASCII characters without spaces',
      'invalid_content_id',
    );
  }
  const rootAttrs: [string, string][] = [];
  for (const name of ['id', 'contentId', 'name', 'version']) {
    const value = root.attrs.get(name);
    if (value !== undefined) rootAttrs.push([name, value]);
  }

  if (onlyChild(root, 'DeliveryDataList')) {
    throw invalid(
      'encrypted content key delivery (cpix:DeliveryDataList) is not supported: keys are returned in plain, protected by HTTPS',
      'unsupported_key_encryption',
    );
  }

  // Content keys.
  const keyList = onlyChild(root, 'ContentKeyList');
  if (!keyList) throw invalid('Missing cpix:ContentKeyList', 'missing_content_key_list');
  const keyElements = cpixChildren(keyList, 'ContentKey');
  if (keyElements.length === 0)
    throw invalid('cpix:ContentKeyList has no cpix:ContentKey', 'missing_content_key');
  if (keyElements.length > maxContentKeys) {
    throw invalid(`a request may ask for at most ${maxContentKeys} content keys, not ${keyElements.length}`);
  }
  const contentKeys: CpixContentKey[] = [];
  const byKid = new Map<string, CpixContentKey>();
  for (const el of keyElements) {
    const { kidAttr, kid, kidHex } = parseKid(el.attrs.get('kid'), 'ContentKey');
    if (byKid.has(kidHex)) throw invalid(`ContentKey@kid ${kid} appears more than once`, 'duplicate_kid');
    const key: CpixContentKey = { kidAttr, kid, kidHex };
    const scheme = el.attrs.get('commonEncryptionScheme')?.trim();
    if (scheme === undefined || scheme === '') {
      if (spekeVersion !== '1.0') {
        throw invalid(
          `Missing ContentKey@commonEncryptionScheme for KID ${kid}`,
          'missing_encryption_scheme',
        );
      }
    } else if (!(SCHEMES as readonly string[]).includes(scheme)) {
      throw invalid(
        `Unsupported ContentKey@commonEncryptionScheme "${scheme.slice(0, 16)}" for KID ${kid} (one of ${SCHEMES.join(', ')})`,
        'unsupported_encryption_scheme',
      );
    } else {
      key.commonEncryptionScheme = scheme as ProtectionScheme;
    }
    const iv = el.attrs.get('explicitIV');
    if (iv !== undefined) key.explicitIV = parseExplicitIV(iv, kid);
    byKid.set(kidHex, key);
    contentKeys.push(key);
  }
  if (spekeVersion !== '1.0' && new Set(contentKeys.map((k) => k.commonEncryptionScheme)).size > 1) {
    throw invalid(
      'Non compliant ContentKey@commonEncryptionScheme combination: every content key of a request must use the same scheme',
      'mixed_encryption_schemes',
    );
  }
  const keyOf = (el: XmlElement, where: string) => {
    const parsed = parseKid(el.attrs.get('kid'), where);
    const key = byKid.get(parsed.kidHex);
    if (!key) throw invalid(`${where}@kid ${parsed.kid} is not in the cpix:ContentKeyList`, 'unknown_kid');
    return { ...parsed, key };
  };

  // DRM systems.
  const drmList = onlyChild(root, 'DRMSystemList');
  if (!drmList && spekeVersion !== '1.0')
    throw invalid('Missing cpix:DRMSystemList', 'missing_drm_system_list');
  const drmSystems: CpixDrmSystem[] = [];
  for (const el of drmList ? cpixChildren(drmList, 'DRMSystem') : []) {
    const { kidAttr, kidHex, kid, key } = keyOf(el, 'DRMSystem');
    const rawSystemId = el.attrs.get('systemId')?.trim();
    if (!rawSystemId) throw invalid(`Missing DRMSystem@systemId for KID ${kid}`, 'missing_system_id');
    if (!UUID.test(rawSystemId)) {
      throw invalid(`DRMSystem@systemId "${rawSystemId.slice(0, 64)}" is not a UUID`, 'invalid_system_id');
    }
    const systemId = rawSystemId.toLowerCase();
    if (
      systemId === SYSTEM_IDS.fairPlay &&
      key.commonEncryptionScheme &&
      key.commonEncryptionScheme !== 'cbcs'
    ) {
      throw invalid(
        `Non compliant ContentKey@commonEncryptionScheme combination: FairPlay (${SYSTEM_IDS.fairPlay}) requires cbcs, but KID ${kid} uses ${key.commonEncryptionScheme}`,
        'invalid_scheme_for_drm_system',
      );
    }
    if (drmSystems.some((d) => d.kidHex === kidHex && d.systemId === systemId)) {
      throw invalid(`DRMSystem ${systemId} appears more than once for KID ${kid}`, 'duplicate_drm_system');
    }
    const has = (ns: string, name: string) => el.children.some((c) => c.ns === ns && c.name === name);
    const playlists: HlsPlaylist[] = [];
    for (const h of cpixChildren(el, 'HLSSignalingData')) {
      const playlist = (h.attrs.get('playlist') ?? 'media').trim();
      if (playlist !== 'media' && playlist !== 'master') {
        throw invalid(
          `HLSSignalingData@playlist must be "media" or "master", not "${playlist.slice(0, 16)}"`,
        );
      }
      if (!playlists.includes(playlist)) playlists.push(playlist);
    }
    drmSystems.push({
      kidAttr,
      kidHex,
      systemId,
      pssh: has(NS.cpix, 'PSSH'),
      contentProtectionData: has(NS.cpix, 'ContentProtectionData'),
      uriExtXKey: has(NS.cpix, 'URIExtXKey'),
      hlsSignaling: playlists,
      smoothStreaming: has(NS.cpix, 'SmoothStreamingProtectionHeaderData'),
      spekeKeyFormat: has(NS.speke, 'KeyFormat'),
      spekeKeyFormatVersions: has(NS.speke, 'KeyFormatVersions'),
      spekeProtectionHeader: has(NS.speke, 'ProtectionHeader'),
    });
  }
  for (const d of drmSystems) {
    if (!Object.hasOwn(SUPPORTED_SYSTEMS, d.systemId)) {
      const name = d.systemId === SYSTEM_IDS.fairPlay ? 'FairPlay' : 'DRM system';
      throw invalid(
        `Unsupported DRM system: ${name} ${d.systemId} (supported: ${Object.keys(SUPPORTED_SYSTEMS).join(', ')})`,
        'unsupported_drm_system',
      );
    }
  }

  // Key periods (rotation).
  const periods: CpixKeyPeriod[] = [];
  const periodList = onlyChild(root, 'ContentKeyPeriodList');
  for (const el of periodList ? cpixChildren(periodList, 'ContentKeyPeriod') : []) {
    const id = el.attrs.get('id')?.trim();
    if (!id) throw invalid('Missing ContentKeyPeriod@id', 'invalid_key_period');
    const index = el.attrs.get('index')?.trim();
    if (index === undefined || !NON_NEGATIVE_INTEGER.test(index)) {
      throw invalid(
        `ContentKeyPeriod@index of period ${id.slice(0, 64)} must be a non-negative integer`,
        'invalid_key_period',
      );
    }
    if (periods.some((p) => p.id === id))
      throw invalid(`ContentKeyPeriod@id ${id.slice(0, 64)} appears more than once`);
    const attrs = unprefixed(el).filter(([name]) => name !== 'id' && name !== 'index');
    periods.push({ id, index: Number(index), attrs });
  }

  // Usage rules.
  const ruleList = onlyChild(root, 'ContentKeyUsageRuleList');
  if (!ruleList && spekeVersion !== '1.0') {
    throw invalid('Missing cpix:ContentKeyUsageRuleList', 'missing_usage_rule_list');
  }
  const usageRules: CpixUsageRule[] = [];
  for (const el of ruleList ? cpixChildren(ruleList, 'ContentKeyUsageRule') : []) {
    const { kidAttr, kidHex } = keyOf(el, 'ContentKeyUsageRule');
    const filters: CpixFilter[] = [];
    for (const child of el.children) {
      if (child.ns !== NS.cpix || !(FILTER_TYPES as readonly string[]).includes(child.name)) continue;
      const type = child.name as CpixFilterType;
      if (type === 'KeyPeriodFilter') {
        const periodId = child.attrs.get('periodId')?.trim();
        if (!periodId || !periods.some((p) => p.id === periodId)) {
          throw invalid(
            `KeyPeriodFilter@periodId "${(periodId ?? '').slice(0, 64)}" names no cpix:ContentKeyPeriod`,
            'unknown_key_period',
          );
        }
      }
      for (const [name, value] of child.attrs) {
        if (
          /^(min|max)(Pixels|Fps|Channels|Bitrate)$/.test(name) &&
          !/^[0-9]+(\.[0-9]+)?$/.test(value.trim())
        ) {
          throw invalid(`${type}@${name} must be a non-negative number, not "${value.slice(0, 16)}"`);
        }
      }
      filters.push({ type, attrs: unprefixed(child) });
    }
    usageRules.push({ kidAttr, kidHex, attrs: unprefixed(el).filter(([name]) => name !== 'kid'), filters });
  }

  return { spekeVersion, cpixVersion, contentId, rootAttrs, contentKeys, drmSystems, periods, usageRules };
}

/**
 * The conventional prefixes must carry their namespaces: a document binding `pskc` to anything but
 * urn:ietf:params:xml:ns:keyprov:pskc (or `cpix`, `ds`, `speke` likewise) is refused with that message.
 */
function checkNamespaceBindings(el: XmlElement): void {
  for (const [prefix, uri] of el.declares) {
    const expected = CONVENTIONAL_PREFIXES.get(prefix);
    if (expected !== undefined && uri !== expected) {
      throw invalid(
        `the prefix "${prefix}" must be bound to the namespace ${expected}, not ${uri.slice(0, 100) || 'none'}`,
        'invalid_namespace',
      );
    }
  }
  for (const child of el.children) checkNamespaceBindings(child);
}

/** Highest pixel count of SD (PAL 768x576) and HD (1920x1080) video, for VideoFilter-based track types. */
const SD_MAX_PIXELS = 768 * 576;
const HD_MAX_PIXELS = 1920 * 1080;

function trackTypeOfRule(rule: CpixUsageRule): TrackType | undefined {
  const intended = rule.attrs
    .find(([name]) => name === 'intendedTrackType')?.[1]
    .trim()
    .toUpperCase();
  if (intended) {
    if (intended === 'AUDIO') return 'audio';
    if (intended === 'SD') return 'sd';
    if (/^HD\d?$/.test(intended) || intended === 'SD+HD1') return 'hd';
    if (/^UHD\d?$/.test(intended)) return 'uhd';
  }
  const video = rule.filters.filter((f) => f.type === 'VideoFilter');
  const audio = rule.filters.some((f) => f.type === 'AudioFilter');
  if (audio && video.length === 0) return 'audio';
  if (video.length === 0) return intended === 'ALL' ? 'all' : undefined;
  const types = new Set<TrackType>();
  for (const f of video) {
    const get = (name: string) => {
      const v = f.attrs.find(([n]) => n === name)?.[1];
      return v === undefined ? undefined : Number(v);
    };
    const min = get('minPixels');
    const max = get('maxPixels');
    if (max !== undefined && max <= SD_MAX_PIXELS) types.add('sd');
    else if (max !== undefined && max <= HD_MAX_PIXELS) types.add('hd');
    else if (min !== undefined && min > SD_MAX_PIXELS) types.add('uhd');
    else types.add('all');
  }
  return types.size === 1 ? [...types][0] : 'all';
}

/** How Vigil stores one requested key: its track type and key period, from the usage rules. */
export interface KeyPlan {
  kidHex: string;
  trackType: TrackType;
  keyPeriod: number;
  /** Hex, when the request fixed the IV. */
  iv?: string;
}

/**
 * Track type from the key's usage rules (audio filter → audio, video filters by resolution → sd/hd/uhd,
 * otherwise all) and key period from its KeyPeriodFilter's ContentKeyPeriod@index (none: 0).
 */
export function planKeys(request: CpixRequest): KeyPlan[] {
  return request.contentKeys.map((key) => {
    const rules = request.usageRules.filter((r) => r.kidHex === key.kidHex);
    const types = new Set(rules.map(trackTypeOfRule).filter((t): t is TrackType => t !== undefined));
    const trackType: TrackType = types.size === 1 ? [...types][0]! : 'all';
    let keyPeriod = 0;
    for (const rule of rules) {
      const filter = rule.filters.find((f) => f.type === 'KeyPeriodFilter');
      const periodId = filter?.attrs.find(([n]) => n === 'periodId')?.[1].trim();
      const period = request.periods.find((p) => p.id === periodId);
      if (period) {
        keyPeriod = period.index;
        break;
      }
    }
    const plan: KeyPlan = { kidHex: key.kidHex, trackType, keyPeriod };
    if (key.explicitIV) plan.iv = key.explicitIV.toString('hex');
    return plan;
  });
}
