import { xmlEscape } from '@vigil/keys';
import { type CpixRequest, NS } from './cpix.ts';
import { hlsKeyLine, type KeyServerUrls, signalingFor } from './signaling.ts';

/** A content key as the answer carries it. */
export interface IssuedKey {
  /** 16 key bytes. */
  key: Buffer;
  /** The key's IV, 32 hex digits (answered as explicitIV when the request asked for one). */
  iv: string;
}

export interface CpixResponseOptions {
  /** Issued keys by kid (32 lowercase hex digits); one for every content key of the request. */
  keys: ReadonlyMap<string, IssuedKey>;
  urls: KeyServerUrls;
}

const b64 = (value: Buffer | string) =>
  (typeof value === 'string' ? Buffer.from(value, 'utf8') : value).toString('base64');
const attrsXml = (attrs: Iterable<[string, string]>) =>
  [...attrs].map(([name, value]) => ` ${name}="${xmlEscape(value)}"`).join('');
const element = (qname: string, content: string) => `<${qname}>${content}</${qname}>`;

/**
 * The CPIX answer to a request: the same document with every content key's value in
 * `cpix:Data/pskc:Secret/pskc:PlainValue`, and for every DRM system the signalling it asked for (PSSH,
 * ContentProtectionData, HLS signalling, v1's URIExtXKey and speke:* elements). Key periods and usage rules
 * are echoed. Elements that don't apply to a system are left out.
 */
export function buildCpixResponse(request: CpixRequest, opts: CpixResponseOptions): string {
  const v1 = request.spekeVersion === '1.0';
  const schemeOf = new Map(request.contentKeys.map((k) => [k.kidHex, k.commonEncryptionScheme]));
  const ivOf = new Map(request.contentKeys.map((k) => [k.kidHex, k.explicitIV !== undefined]));
  const out: string[] = ['<?xml version="1.0" encoding="UTF-8"?>\n'];
  const namespaces: [string, string][] = [
    ['xmlns:cpix', NS.cpix],
    ['xmlns:pskc', NS.pskc],
  ];
  const spekeElements = request.drmSystems.some(
    (d) => d.spekeKeyFormat || d.spekeKeyFormatVersions || d.spekeProtectionHeader,
  );
  if (v1 || spekeElements) namespaces.push(['xmlns:speke', NS.speke]);
  out.push(`<cpix:CPIX${attrsXml(request.rootAttrs)}${attrsXml(namespaces)}>`);

  out.push('<cpix:ContentKeyList>');
  for (const key of request.contentKeys) {
    const issued = opts.keys.get(key.kidHex);
    if (!issued || issued.key.length !== 16) throw new Error(`no 16-byte key for kid ${key.kid}`);
    const attrs: [string, string][] = [['kid', key.kidAttr]];
    if (key.commonEncryptionScheme) attrs.push(['commonEncryptionScheme', key.commonEncryptionScheme]);
    if (key.explicitIV) attrs.push(['explicitIV', Buffer.from(issued.iv, 'hex').toString('base64')]);
    out.push(
      `<cpix:ContentKey${attrsXml(attrs)}><cpix:Data><pskc:Secret><pskc:PlainValue>${b64(issued.key)}</pskc:PlainValue></pskc:Secret></cpix:Data></cpix:ContentKey>`,
    );
  }
  out.push('</cpix:ContentKeyList>');

  if (request.drmSystems.length > 0) {
    out.push('<cpix:DRMSystemList>');
    for (const d of request.drmSystems) {
      const signal = signalingFor(
        d.systemId,
        d.kidHex,
        schemeOf.get(d.kidHex),
        opts.urls,
        ivOf.get(d.kidHex) ? opts.keys.get(d.kidHex)?.iv : undefined,
      );
      const parts: string[] = [];
      if (d.pssh && signal.pssh) parts.push(element('cpix:PSSH', b64(signal.pssh)));
      if (d.contentProtectionData && signal.contentProtectionData) {
        parts.push(element('cpix:ContentProtectionData', b64(signal.contentProtectionData)));
      }
      if (d.uriExtXKey && signal.hls) parts.push(element('cpix:URIExtXKey', b64(signal.hls.uri)));
      if (signal.hls) {
        for (const playlist of d.hlsSignaling) {
          parts.push(
            `<cpix:HLSSignalingData playlist="${playlist}">${b64(hlsKeyLine(signal.hls, playlist))}</cpix:HLSSignalingData>`,
          );
        }
      }
      if (d.smoothStreaming && signal.playReadyObject) {
        parts.push(element('cpix:SmoothStreamingProtectionHeaderData', b64(signal.playReadyObject)));
      }
      if (d.spekeKeyFormat && signal.hls) parts.push(element('speke:KeyFormat', b64(signal.hls.keyFormat)));
      if (d.spekeKeyFormatVersions && signal.hls) {
        parts.push(element('speke:KeyFormatVersions', b64(signal.hls.keyFormatVersions)));
      }
      if (d.spekeProtectionHeader && signal.playReadyObject) {
        parts.push(element('speke:ProtectionHeader', b64(signal.playReadyObject)));
      }
      const attrs: [string, string][] = [
        ['kid', d.kidAttr],
        ['systemId', d.systemId],
      ];
      out.push(`<cpix:DRMSystem${attrsXml(attrs)}>${parts.join('')}</cpix:DRMSystem>`);
    }
    out.push('</cpix:DRMSystemList>');
  }

  if (request.periods.length > 0) {
    out.push('<cpix:ContentKeyPeriodList>');
    for (const p of request.periods) {
      const attrs: [string, string][] = [['id', p.id], ['index', String(p.index)], ...p.attrs];
      out.push(`<cpix:ContentKeyPeriod${attrsXml(attrs)}/>`);
    }
    out.push('</cpix:ContentKeyPeriodList>');
  }

  if (request.usageRules.length > 0) {
    out.push('<cpix:ContentKeyUsageRuleList>');
    for (const rule of request.usageRules) {
      out.push(`<cpix:ContentKeyUsageRule${attrsXml([['kid', rule.kidAttr], ...rule.attrs])}>`);
      for (const f of rule.filters) out.push(`<cpix:${f.type}${attrsXml(f.attrs)}/>`);
      out.push('</cpix:ContentKeyUsageRule>');
    }
    out.push('</cpix:ContentKeyUsageRuleList>');
  }
  out.push('</cpix:CPIX>\n');
  return out.join('');
}
