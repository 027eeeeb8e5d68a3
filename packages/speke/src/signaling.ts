import {
  clearKeyPssh,
  type ProtectionScheme,
  playReadyObject,
  playReadyPssh,
  psshBox,
  SYSTEM_IDS,
  widevinePssh,
  xmlEscape,
} from '@vigil/keys';
import { HLS_AES_128_SYSTEM_IDS, type HlsPlaylist } from './cpix.ts';

/** Where players get keys from Vigil's key server. */
export interface KeyServerUrls {
  /** The W3C ClearKey license endpoint (POST /v1/license/clearkey). */
  clearKeyLicense: string;
  /** The HLS AES-128 key URL of one kid (GET /v1/license/hls/<kid>). */
  hlsKey(kidHex: string): string;
}

/** An HLS key tag's attributes; rendered as #EXT-X-KEY (media) or #EXT-X-SESSION-KEY (master). */
export interface HlsKey {
  method: 'AES-128' | 'SAMPLE-AES' | 'SAMPLE-AES-CTR';
  uri: string;
  keyFormat: string;
  keyFormatVersions: string;
  /** 32 hex digits, written as KEYID=0x... */
  keyId?: string;
  /** 32 hex digits, written as IV=0x... */
  iv?: string;
}

/** What Vigil answers for one (DRM system, key) pair; absent fields don't apply to the system. */
export interface DrmSignaling {
  /** The whole `pssh` box. */
  pssh?: Buffer;
  /** The XML to place inside the DASH ContentProtection element (standalone, unprefixed). */
  contentProtectionData?: string;
  hls?: HlsKey;
  /** PlayReady Object, for Smooth Streaming's ProtectionHeader. */
  playReadyObject?: Buffer;
}

const CENC_NS = 'urn:mpeg:cenc:2013';
const psshXml = (box: Buffer) => `<pssh xmlns="${CENC_NS}">${box.toString('base64')}</pssh>`;
const laurlXml = (url: string) =>
  `<Laurl xmlns="https://dashif.org/CPS" licenseType="EME-1.0">${xmlEscape(url)}</Laurl>`;

/** HLS's sample encryption method for a Common Encryption scheme: CBC → SAMPLE-AES, CTR → SAMPLE-AES-CTR. */
export function sampleAesMethod(scheme: ProtectionScheme | undefined): HlsKey['method'] {
  return scheme === 'cbcs' || scheme === 'cbc1' ? 'SAMPLE-AES' : 'SAMPLE-AES-CTR';
}

/**
 * The signalling of one DRM system for one key. ClearKey and HLS AES-128 point at Vigil's key server;
 * Widevine and PlayReady get `pssh` boxes naming the kid (Vigil issues no licenses for them).
 */
export function signalingFor(
  systemId: string,
  kidHex: string,
  scheme: ProtectionScheme | undefined,
  urls: KeyServerUrls,
  explicitIvHex?: string,
): DrmSignaling {
  const kidData = `data:text/plain;base64,${Buffer.from(kidHex, 'hex').toString('base64')}`;
  switch (systemId) {
    case SYSTEM_IDS.clearKey:
    case SYSTEM_IDS.dashIfClearKey: {
      const pssh =
        systemId === SYSTEM_IDS.clearKey
          ? clearKeyPssh([kidHex])
          : psshBox(SYSTEM_IDS.dashIfClearKey, [kidHex]);
      return {
        pssh,
        contentProtectionData: psshXml(pssh) + laurlXml(urls.clearKeyLicense),
        hls: {
          method: sampleAesMethod(scheme),
          uri: kidData,
          keyFormat: 'org.w3.clearkey',
          keyFormatVersions: '1',
          keyId: kidHex,
        },
      };
    }
    case SYSTEM_IDS.widevine: {
      const pssh = widevinePssh([kidHex], scheme ? { protectionScheme: scheme } : {});
      return {
        pssh,
        contentProtectionData: psshXml(pssh),
        hls: {
          method: sampleAesMethod(scheme),
          uri: `data:text/plain;base64,${pssh.toString('base64')}`,
          keyFormat: `urn:uuid:${SYSTEM_IDS.widevine}`,
          keyFormatVersions: '1',
          keyId: kidHex,
        },
      };
    }
    case SYSTEM_IDS.playReady: {
      const opts = scheme ? { protectionScheme: scheme } : {};
      const pro = playReadyObject([kidHex], opts);
      const pssh = playReadyPssh([kidHex], opts);
      return {
        pssh,
        contentProtectionData: `${psshXml(pssh)}<pro xmlns="urn:microsoft:playready">${pro.toString('base64')}</pro>`,
        hls: {
          method: sampleAesMethod(scheme),
          uri: `data:text/plain;charset=UTF-16;base64,${pro.toString('base64')}`,
          keyFormat: 'com.microsoft.playready',
          keyFormatVersions: '1',
          keyId: kidHex,
        },
        playReadyObject: pro,
      };
    }
    case HLS_AES_128_SYSTEM_IDS[0]:
    case HLS_AES_128_SYSTEM_IDS[1]: {
      const hls: HlsKey = {
        method: 'AES-128',
        uri: urls.hlsKey(kidHex),
        keyFormat: 'identity',
        keyFormatVersions: '1',
      };
      if (explicitIvHex) hls.iv = explicitIvHex;
      return { hls };
    }
    default:
      return {};
  }
}

/** One HLS tag line: #EXT-X-KEY for media playlists, #EXT-X-SESSION-KEY for the master playlist. */
export function hlsKeyLine(key: HlsKey, playlist: HlsPlaylist): string {
  const attrs = [`METHOD=${key.method}`, `URI="${key.uri}"`];
  if (key.keyId) attrs.push(`KEYID=0x${key.keyId.toUpperCase()}`);
  if (key.iv) attrs.push(`IV=0x${key.iv.toUpperCase()}`);
  attrs.push(`KEYFORMAT="${key.keyFormat}"`, `KEYFORMATVERSIONS="${key.keyFormatVersions}"`);
  return `${playlist === 'master' ? '#EXT-X-SESSION-KEY' : '#EXT-X-KEY'}:${attrs.join(',')}`;
}
