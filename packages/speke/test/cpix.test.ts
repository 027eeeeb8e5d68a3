/**
 * The pure SPEKE/CPIX core: parsing the shapes AWS encoders send (the reference server's request bodies in
 * ./vectors), the answers as a CPIX consumer reads them, and hostile or malformed XML.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parsePssh, playReadyKid, SYSTEM_IDS } from '@vigil/keys';
import {
  buildCpixResponse,
  CpixError,
  type CpixRequest,
  type IssuedKey,
  type KeyServerUrls,
  parseCpixRequest,
  planKeys,
} from '@vigil/speke';
import { XMLParser } from 'fast-xml-parser';

const VECTORS = join(import.meta.dirname, 'vectors');
const vector = (name: string) => readFileSync(join(VECTORS, name), 'utf8');
const V1 = vector('speke_v1_request_keyperiod_rotation.xml');
const V2_WIDEVINE = vector('speke_v2_request_dash_widevine_preset_video1_audio1.xml');
const V2_FAIRPLAY_CENC = vector('speke_v2_request_cenc_widevine_playready_fairplay_video_audio.xml');

const URLS: KeyServerUrls = {
  clearKeyLicense: 'https://keys.example/v1/license/clearkey',
  hlsKey: (kid) => `https://keys.example/v1/license/hls/${kid}`,
};
const NS_DECL =
  'xmlns:cpix="urn:dashif:org:cpix" xmlns:pskc="urn:ietf:params:xml:ns:keyprov:pskc" xmlns:ds="http://www.w3.org/2000/09/xmldsig#"';
const KID_A = '11111111-2222-4333-8444-555555555555';
const KID_B = 'aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee';
const hex = (uuid: string) => uuid.replaceAll('-', '');

/** A SPEKE v2 request with the given content keys, DRM systems and usage rules. */
function v2Request(body: {
  keys: string;
  drm?: string;
  rules?: string;
  periods?: string;
  root?: string;
}): string {
  return `<?xml version="1.0" encoding="UTF-8"?>
<cpix:CPIX ${body.root ?? 'contentId="movie-1" version="2.3"'} ${NS_DECL}>
  <cpix:ContentKeyList>${body.keys}</cpix:ContentKeyList>
  <cpix:DRMSystemList>${body.drm ?? ''}</cpix:DRMSystemList>
  ${body.periods ?? ''}
  <cpix:ContentKeyUsageRuleList>${body.rules ?? ''}</cpix:ContentKeyUsageRuleList>
</cpix:CPIX>`;
}

/** Random keys for every requested kid, as the server would issue them. */
function issue(request: CpixRequest): Map<string, IssuedKey> {
  return new Map(
    planKeys(request).map((p) => [
      p.kidHex,
      { key: randomBytes(16), iv: p.iv ?? randomBytes(16).toString('hex') },
    ]),
  );
}

const LISTS = new Set([
  'cpix:ContentKey',
  'cpix:DRMSystem',
  'cpix:HLSSignalingData',
  'cpix:ContentKeyPeriod',
  'cpix:ContentKeyUsageRule',
]);
const consumer = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '@',
  parseTagValue: false,
  parseAttributeValue: false,
  isArray: (name) => LISTS.has(name),
});

// biome-ignore lint/suspicious/noExplicitAny: a parsed XML document is untyped.
type Node = any;

/** Reads an answer the way a CPIX consumer does: namespaced elements, base64 values decoded by the caller. */
function readAnswer(xml: string): Node {
  const doc = consumer.parse(xml);
  const root = doc['cpix:CPIX'];
  assert.ok(root, 'the answer has a cpix:CPIX root');
  assert.equal(root['@xmlns:cpix'], 'urn:dashif:org:cpix');
  assert.equal(root['@xmlns:pskc'], 'urn:ietf:params:xml:ns:keyprov:pskc');
  return root;
}

const plainValue = (key: Node) => Buffer.from(key['cpix:Data']['pskc:Secret']['pskc:PlainValue'], 'base64');
const decode = (b64: string) => Buffer.from(b64, 'base64').toString('utf8');
const hlsOf = (drm: Node, playlist: string) =>
  decode(drm['cpix:HLSSignalingData'].find((h: Node) => h['@playlist'] === playlist)['#text']);

/** Asserts that `fn` throws a CpixError with this status and (optionally) a message matching. */
function refuses(fn: () => unknown, status: number, message?: RegExp, code?: string): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof CpixError, `expected a CpixError, got ${String(err)}`);
    assert.equal(err.status, status, err.message);
    if (message) assert.match(err.message, message);
    if (code) assert.equal(err.code, code);
    return true;
  });
}

describe('SPEKE v1 (reference server body: one key, a key period for rotation)', () => {
  const request = parseCpixRequest(V1);

  it('reads the content id, the kid, the key period and the DRM system asked for', () => {
    assert.equal(request.spekeVersion, '1.0');
    assert.equal(request.contentId, '5E99137A-BD6C-4ECC-A24D-A3EE04B4E011');
    assert.deepEqual(
      request.contentKeys.map((k) => k.kidHex),
      ['6c5f52067d98480884d894f132c1e9fe'],
    );
    assert.deepEqual(request.periods, [
      { id: 'keyPeriod_e64248f6-f307-4b99-aa67-b35a78253622', index: 11425, attrs: [] },
    ]);
    const [drm] = request.drmSystems;
    assert.equal(drm!.systemId, '81376844-f976-481e-a84e-cc25d39b0b33');
    assert.ok(drm!.uriExtXKey && drm!.spekeKeyFormat && drm!.spekeKeyFormatVersions && drm!.pssh);
    assert.deepEqual(planKeys(request), [
      { kidHex: '6c5f52067d98480884d894f132c1e9fe', trackType: 'all', keyPeriod: 11425 },
    ]);
  });

  it('answers the key, the HLS AES-128 key URL and key format, and echoes period and rule', () => {
    const keys = issue(request);
    const root = readAnswer(buildCpixResponse(request, { keys, urls: URLS }));
    assert.equal(root['@id'], '5E99137A-BD6C-4ECC-A24D-A3EE04B4E011');
    assert.equal(root['@xmlns:speke'], 'urn:aws:amazon:com:speke');
    const [key] = root['cpix:ContentKeyList']['cpix:ContentKey'];
    assert.equal(key['@kid'], '6c5f5206-7d98-4808-84d8-94f132c1e9fe');
    assert.deepEqual(plainValue(key), keys.get('6c5f52067d98480884d894f132c1e9fe')!.key);
    const [drm] = root['cpix:DRMSystemList']['cpix:DRMSystem'];
    assert.equal(
      decode(drm['cpix:URIExtXKey']),
      'https://keys.example/v1/license/hls/6c5f52067d98480884d894f132c1e9fe',
    );
    assert.equal(decode(drm['speke:KeyFormat']), 'identity');
    assert.equal(decode(drm['speke:KeyFormatVersions']), '1');
    // HLS AES-128 has no pssh or DASH signalling: those requested elements are left out, not left empty.
    assert.equal(drm['cpix:PSSH'], undefined);
    assert.equal(drm['cpix:ContentProtectionData'], undefined);
    assert.equal(drm['speke:ProtectionHeader'], undefined);
    const [period] = root['cpix:ContentKeyPeriodList']['cpix:ContentKeyPeriod'];
    assert.equal(period['@index'], '11425');
    const [rule] = root['cpix:ContentKeyUsageRuleList']['cpix:ContentKeyUsageRule'];
    assert.equal(rule['cpix:KeyPeriodFilter']['@periodId'], period['@id']);
  });
});

describe('SPEKE v2 (CPIX 2.3)', () => {
  it('reads the Widevine DASH preset (video 1, audio 1): schemes, track types, signalling asked for', () => {
    const request = parseCpixRequest(V2_WIDEVINE, { spekeVersion: '2.0' });
    assert.equal(request.contentId, 'test_case_generic');
    assert.equal(request.cpixVersion, '2.3');
    assert.deepEqual(
      request.contentKeys.map((k) => k.commonEncryptionScheme),
      ['cenc', 'cenc'],
    );
    assert.deepEqual(
      planKeys(request).map((p) => p.trackType),
      ['all', 'audio'],
    );
    assert.deepEqual(request.drmSystems[0]!.hlsSignaling, ['media', 'master']);
  });

  it('answers Widevine pssh boxes naming each kid, DASH and HLS signalling, and echoes the rules', () => {
    const request = parseCpixRequest(V2_WIDEVINE, { spekeVersion: '2.0' });
    const keys = issue(request);
    const root = readAnswer(buildCpixResponse(request, { keys, urls: URLS }));
    assert.equal(root['@contentId'], 'test_case_generic');
    assert.equal(root['@version'], '2.3');
    for (const key of root['cpix:ContentKeyList']['cpix:ContentKey']) {
      assert.equal(key['@commonEncryptionScheme'], 'cenc');
      assert.deepEqual(plainValue(key), keys.get(hex(key['@kid']))!.key);
    }
    const systems = root['cpix:DRMSystemList']['cpix:DRMSystem'];
    assert.equal(systems.length, 2);
    for (const drm of systems) {
      assert.equal(drm['@systemId'], SYSTEM_IDS.widevine);
      const kid = hex(drm['@kid']);
      const pssh = parsePssh(Buffer.from(drm['cpix:PSSH'], 'base64'));
      assert.equal(pssh.systemId, SYSTEM_IDS.widevine);
      // WidevinePsshData: key_id (field 2, 16 bytes), then protection_scheme (field 9) 'cenc'.
      assert.deepEqual(
        pssh.data.subarray(0, 18),
        Buffer.concat([Buffer.from([0x12, 0x10]), Buffer.from(kid, 'hex')]),
      );
      assert.deepEqual(pssh.data.subarray(18), Buffer.from([0x48, 0xe3, 0xdc, 0x95, 0x9b, 0x06]));
      const cpd = decode(drm['cpix:ContentProtectionData']);
      assert.equal(cpd, `<pssh xmlns="urn:mpeg:cenc:2013">${drm['cpix:PSSH']}</pssh>`);
      const media = hlsOf(drm, 'media');
      assert.match(media, /^#EXT-X-KEY:METHOD=SAMPLE-AES-CTR,URI="data:text\/plain;base64,([^"]+)",/);
      assert.ok(media.includes(`URI="data:text/plain;base64,${drm['cpix:PSSH']}"`));
      assert.ok(media.includes(`KEYID=0x${kid.toUpperCase()}`));
      assert.ok(media.includes(`KEYFORMAT="urn:uuid:${SYSTEM_IDS.widevine}",KEYFORMATVERSIONS="1"`));
      assert.equal(hlsOf(drm, 'master'), media.replace('#EXT-X-KEY:', '#EXT-X-SESSION-KEY:'));
    }
    const rules = root['cpix:ContentKeyUsageRuleList']['cpix:ContentKeyUsageRule'];
    assert.equal(rules[0]['@intendedTrackType'], 'VIDEO');
    assert.equal(rules[0]['cpix:VideoFilter'], '');
    assert.equal(rules[1]['@intendedTrackType'], 'AUDIO');
    assert.equal(rules[1]['cpix:AudioFilter'], '');
  });

  it('refuses FairPlay combined with cenc (the reference body) with a 422 like MediaPackage', () => {
    refuses(
      () => parseCpixRequest(V2_FAIRPLAY_CENC, { spekeVersion: '2.0' }),
      422,
      /^Non compliant ContentKey@commonEncryptionScheme combination: FairPlay .* requires cbcs/,
    );
  });

  it('signals ClearKey with generated pssh boxes, the license URL and HLS sample-AES methods per scheme', () => {
    for (const [scheme, method] of [
      ['cenc', 'SAMPLE-AES-CTR'],
      ['cbcs', 'SAMPLE-AES'],
    ] as const) {
      const request = parseCpixRequest(
        v2Request({
          keys: `<cpix:ContentKey kid="${KID_A}" commonEncryptionScheme="${scheme}"/>`,
          drm: [SYSTEM_IDS.clearKey, SYSTEM_IDS.dashIfClearKey]
            .map(
              (id) =>
                `<cpix:DRMSystem kid="${KID_A}" systemId="${id}"><cpix:PSSH/><cpix:ContentProtectionData/><cpix:HLSSignalingData playlist="media"/><cpix:HLSSignalingData playlist="master"/></cpix:DRMSystem>`,
            )
            .join(''),
          rules: `<cpix:ContentKeyUsageRule kid="${KID_A}" intendedTrackType="ALL"/>`,
        }),
        { spekeVersion: '2.0' },
      );
      const root = readAnswer(buildCpixResponse(request, { keys: issue(request), urls: URLS }));
      const systems = root['cpix:DRMSystemList']['cpix:DRMSystem'];
      assert.deepEqual(
        systems.map((d: Node) => d['@systemId']),
        [SYSTEM_IDS.clearKey, SYSTEM_IDS.dashIfClearKey],
      );
      for (const drm of systems) {
        const pssh = parsePssh(Buffer.from(drm['cpix:PSSH'], 'base64'));
        assert.equal(pssh.systemId, drm['@systemId']);
        assert.deepEqual(pssh.kids, [hex(KID_A)]);
        const cpd = decode(drm['cpix:ContentProtectionData']);
        assert.ok(cpd.includes(`<pssh xmlns="urn:mpeg:cenc:2013">${drm['cpix:PSSH']}</pssh>`));
        assert.ok(cpd.includes(`licenseType="EME-1.0">${URLS.clearKeyLicense}</Laurl>`));
        const media = hlsOf(drm, 'media');
        const kidB64 = Buffer.from(hex(KID_A), 'hex').toString('base64');
        assert.equal(
          media,
          `#EXT-X-KEY:METHOD=${method},URI="data:text/plain;base64,${kidB64}",KEYID=0x${hex(KID_A).toUpperCase()},KEYFORMAT="org.w3.clearkey",KEYFORMATVERSIONS="1"`,
        );
        assert.ok(hlsOf(drm, 'master').startsWith(`#EXT-X-SESSION-KEY:METHOD=${method},`));
      }
    }
  });

  it('signals PlayReady with a pssh box carrying the PlayReady Object (KID little-endian GUID)', () => {
    const request = parseCpixRequest(
      v2Request({
        keys: `<cpix:ContentKey kid="${KID_A}" commonEncryptionScheme="cbcs"/>`,
        drm: `<cpix:DRMSystem kid="${KID_A}" systemId="${SYSTEM_IDS.playReady.toUpperCase()}"><cpix:PSSH/><cpix:ContentProtectionData/><cpix:HLSSignalingData playlist="media"/><cpix:SmoothStreamingProtectionHeaderData/></cpix:DRMSystem>`,
      }),
      { spekeVersion: '2.0' },
    );
    const root = readAnswer(buildCpixResponse(request, { keys: issue(request), urls: URLS }));
    const [drm] = root['cpix:DRMSystemList']['cpix:DRMSystem'];
    const pssh = parsePssh(Buffer.from(drm['cpix:PSSH'], 'base64'));
    assert.equal(pssh.systemId, SYSTEM_IDS.playReady);
    assert.deepEqual(pssh.kids, [hex(KID_A)]);
    const header = pssh.data.subarray(10).toString('utf16le');
    assert.ok(header.includes('version="4.3.0.0"'));
    assert.ok(header.includes(`<KID ALGID="AESCBC" VALUE="${playReadyKid(hex(KID_A))}"></KID>`));
    assert.equal(drm['cpix:SmoothStreamingProtectionHeaderData'], pssh.data.toString('base64'));
    assert.ok(decode(drm['cpix:ContentProtectionData']).includes(`<pro xmlns="urn:microsoft:playready">`));
    assert.ok(
      hlsOf(drm, 'media').startsWith(
        '#EXT-X-KEY:METHOD=SAMPLE-AES,URI="data:text/plain;charset=UTF-16;base64,',
      ),
    );
    assert.ok(hlsOf(drm, 'media').includes('KEYFORMAT="com.microsoft.playready"'));
  });

  it('derives track types from video filters by resolution and from audio filters', () => {
    const kids = Array.from({ length: 6 }, (_, i) => `00000000-0000-4000-8000-00000000000${i}`);
    const filters = [
      '<cpix:VideoFilter maxPixels="442368"/>',
      '<cpix:VideoFilter minPixels="442369" maxPixels="2073600"/>',
      '<cpix:VideoFilter minPixels="2073601"/>',
      '<cpix:AudioFilter maxChannels="2"/>',
      '<cpix:VideoFilter/>',
      '<cpix:VideoFilter maxPixels="442368"/><cpix:VideoFilter minPixels="2073601"/>',
    ];
    const request = parseCpixRequest(
      v2Request({
        keys: kids.map((kid) => `<cpix:ContentKey kid="${kid}" commonEncryptionScheme="cbcs"/>`).join(''),
        rules: kids
          .map((kid, i) => `<cpix:ContentKeyUsageRule kid="${kid}">${filters[i]}</cpix:ContentKeyUsageRule>`)
          .join(''),
      }),
      { spekeVersion: '2.0' },
    );
    assert.deepEqual(
      planKeys(request).map((p) => p.trackType),
      ['sd', 'hd', 'uhd', 'audio', 'all', 'all'],
    );
    const root = readAnswer(buildCpixResponse(request, { keys: issue(request), urls: URLS }));
    const rules = root['cpix:ContentKeyUsageRuleList']['cpix:ContentKeyUsageRule'];
    assert.equal(rules[1]['cpix:VideoFilter']['@minPixels'], '442369');
    assert.equal(rules[1]['cpix:VideoFilter']['@maxPixels'], '2073600');
    assert.equal(rules[3]['cpix:AudioFilter']['@maxChannels'], '2');
  });

  it('maps key periods for rotation and echoes them with their times', () => {
    const request = parseCpixRequest(
      v2Request({
        keys: `<cpix:ContentKey kid="${KID_A}" commonEncryptionScheme="cenc"/><cpix:ContentKey kid="${KID_B}" commonEncryptionScheme="cenc"/>`,
        periods:
          '<cpix:ContentKeyPeriodList><cpix:ContentKeyPeriod id="p7" index="7" start="2024-01-01T00:00:00Z" end="2024-01-01T00:10:00Z"/><cpix:ContentKeyPeriod id="p8" index="8"/></cpix:ContentKeyPeriodList>',
        rules: `<cpix:ContentKeyUsageRule kid="${KID_A}" intendedTrackType="HD"><cpix:KeyPeriodFilter periodId="p7"/><cpix:VideoFilter/></cpix:ContentKeyUsageRule><cpix:ContentKeyUsageRule kid="${KID_B}" intendedTrackType="HD"><cpix:KeyPeriodFilter periodId="p8"/><cpix:VideoFilter/></cpix:ContentKeyUsageRule>`,
      }),
      { spekeVersion: '2.0' },
    );
    assert.deepEqual(
      planKeys(request).map((p) => [p.keyPeriod, p.trackType]),
      [
        [7, 'hd'],
        [8, 'hd'],
      ],
    );
    const root = readAnswer(buildCpixResponse(request, { keys: issue(request), urls: URLS }));
    const periods = root['cpix:ContentKeyPeriodList']['cpix:ContentKeyPeriod'];
    assert.deepEqual(
      periods.map((p: Node) => [p['@id'], p['@index'], p['@start'], p['@end']]),
      [
        ['p7', '7', '2024-01-01T00:00:00Z', '2024-01-01T00:10:00Z'],
        ['p8', '8', undefined, undefined],
      ],
    );
  });

  it('keeps an explicit IV and answers it', () => {
    const iv = randomBytes(16);
    const request = parseCpixRequest(
      v2Request({
        keys: `<cpix:ContentKey kid="${KID_A}" commonEncryptionScheme="cbcs" explicitIV="${iv.toString('base64')}"/>`,
        drm: `<cpix:DRMSystem kid="${KID_A}" systemId="3ea8778f-7742-4bf9-b18b-e834b2acbd47"><cpix:HLSSignalingData playlist="media"/></cpix:DRMSystem>`,
      }),
      { spekeVersion: '2.0' },
    );
    assert.equal(planKeys(request)[0]!.iv, iv.toString('hex'));
    const root = readAnswer(buildCpixResponse(request, { keys: issue(request), urls: URLS }));
    assert.equal(root['cpix:ContentKeyList']['cpix:ContentKey'][0]['@explicitIV'], iv.toString('base64'));
    const [drm] = root['cpix:DRMSystemList']['cpix:DRMSystem'];
    assert.equal(
      hlsOf(drm, 'media'),
      `#EXT-X-KEY:METHOD=AES-128,URI="${URLS.hlsKey(hex(KID_A))}",IV=0x${iv.toString('hex').toUpperCase()},KEYFORMAT="identity",KEYFORMATVERSIONS="1"`,
    );
  });

  it('decodes the predefined entities and character references, and accepts a default namespace', () => {
    const request = parseCpixRequest(
      `<CPIX xmlns="urn:dashif:org:cpix" contentId="a&amp;b&#x2d;c&#46;" version="2.3"><ContentKeyList><ContentKey kid="${KID_A}" commonEncryptionScheme="cenc"/></ContentKeyList><DRMSystemList/><ContentKeyUsageRuleList/></CPIX>`,
      { spekeVersion: '2.0' },
    );
    assert.equal(request.contentId, 'a&b-c.');
    const root = consumer.parse(buildCpixResponse(request, { keys: issue(request), urls: URLS }))[
      'cpix:CPIX'
    ];
    assert.equal(root['@contentId'], 'a&b-c.');
  });

  it('checks versions, content id and encryption schemes with MediaPackage-style 422s', () => {
    const key = `<cpix:ContentKey kid="${KID_A}" commonEncryptionScheme="cenc"/>`;
    const v2 = (xml: string) => () => parseCpixRequest(xml, { spekeVersion: '2.0' });
    refuses(v2(v2Request({ keys: key, root: 'version="2.3"' })), 422, /^Missing CPIX@contentId$/);
    refuses(v2(v2Request({ keys: key, root: 'contentId="x"' })), 422, /^Missing CPIX@version$/);
    refuses(
      v2(v2Request({ keys: key, root: 'contentId="x" version="2.0"' })),
      422,
      /^Unsupported CPIX@version/,
    );
    refuses(
      v2(v2Request({ keys: `<cpix:ContentKey kid="${KID_A}"/>` })),
      422,
      new RegExp(`^Missing ContentKey@commonEncryptionScheme for KID ${KID_A}$`),
    );
    refuses(
      v2(v2Request({ keys: `<cpix:ContentKey kid="${KID_A}" commonEncryptionScheme="aes"/>` })),
      422,
      /Unsupported ContentKey@commonEncryptionScheme "aes"/,
    );
    refuses(
      v2(
        v2Request({
          keys: `${key}<cpix:ContentKey kid="${KID_B}" commonEncryptionScheme="cbcs"/>`,
        }),
      ),
      422,
      /^Non compliant ContentKey@commonEncryptionScheme combination/,
    );
    refuses(() => parseCpixRequest(V2_WIDEVINE, { spekeVersion: '3.0' }), 422, /^Unsupported SPEKE version$/);
    refuses(v2(V1), 422, /^Missing CPIX@version$/);
    refuses(v2(V1.replace('<cpix:CPIX ', '<cpix:CPIX version="2.3" ')), 422, /^Missing CPIX@contentId$/);
    // SPEKE v2.1 is CPIX 2.4.
    assert.equal(
      parseCpixRequest(v2Request({ keys: key, root: 'contentId="x" version="2.4"' }), { spekeVersion: '2.1' })
        .spekeVersion,
      '2.1',
    );
  });

  it('refuses DRM systems it does not signal, and inconsistent references', () => {
    const key = `<cpix:ContentKey kid="${KID_A}" commonEncryptionScheme="cbcs"/>`;
    const v2 = (parts: Parameters<typeof v2Request>[0]) => () =>
      parseCpixRequest(v2Request(parts), { spekeVersion: '2.0' });
    refuses(
      v2({ keys: key, drm: `<cpix:DRMSystem kid="${KID_A}" systemId="${SYSTEM_IDS.fairPlay}"/>` }),
      422,
      /^Unsupported DRM system: FairPlay/,
    );
    refuses(
      v2({ keys: key, drm: `<cpix:DRMSystem kid="${KID_B}" systemId="${SYSTEM_IDS.widevine}"/>` }),
      422,
      /DRMSystem@kid .* is not in the cpix:ContentKeyList/,
    );
    refuses(
      v2({ keys: key, drm: `<cpix:DRMSystem kid="${KID_A}" systemId="widevine"/>` }),
      422,
      /not a UUID/,
    );
    refuses(
      v2({
        keys: key,
        rules: `<cpix:ContentKeyUsageRule kid="${KID_A}"><cpix:KeyPeriodFilter periodId="nope"/></cpix:ContentKeyUsageRule>`,
      }),
      422,
      /names no cpix:ContentKeyPeriod/,
    );
    refuses(
      v2({
        keys: key,
        periods:
          '<cpix:ContentKeyPeriodList><cpix:ContentKeyPeriod id="p" index="-1"/></cpix:ContentKeyPeriodList>',
      }),
      422,
      /ContentKeyPeriod@index .* must be a non-negative integer/,
    );
    refuses(v2({ keys: `${key}${key}` }), 422, /appears more than once/);
    refuses(
      v2({
        keys: `<cpix:ContentKey kid="${KID_A}" commonEncryptionScheme="cbcs" explicitIV="not base64!"/>`,
      }),
      422,
      /explicitIV .* must be base64 of 16 bytes/,
    );
    refuses(
      v2({
        keys: key,
        rules: `<cpix:ContentKeyUsageRule kid="${KID_A}"><cpix:VideoFilter maxPixels="lots"/></cpix:ContentKeyUsageRule>`,
      }),
      422,
      /VideoFilter@maxPixels must be a non-negative number/,
    );
    refuses(
      v2({
        keys: Array.from({ length: 257 }, (_, i) =>
          key.replace('11111111', i.toString(16).padStart(8, '0')),
        ).join(''),
      }),
      422,
      /at most 256 content keys/,
    );
  });

  it('refuses encrypted key delivery rather than answering keys in plain', () => {
    refuses(
      () =>
        parseCpixRequest(
          V2_WIDEVINE.replace('<cpix:ContentKeyList>', '<cpix:DeliveryDataList/><cpix:ContentKeyList>'),
          { spekeVersion: '2.0' },
        ),
      422,
      /DeliveryDataList/,
      'unsupported_key_encryption',
    );
  });
});

describe('hostile and malformed XML', () => {
  const v2 = (xml: string) => () => parseCpixRequest(xml, { spekeVersion: '2.0' });

  it('refuses a DOCTYPE with entity declarations (billion laughs) before parsing', () => {
    const lol = `<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<cpix:CPIX contentId="&lol3;" version="2.3" ${NS_DECL}><cpix:ContentKeyList/></cpix:CPIX>`;
    refuses(v2(lol), 400, /DOCTYPE and ENTITY declarations are not allowed/, 'xml_dtd_forbidden');
  });

  it('refuses an external entity (file:///etc/passwd)', () => {
    const xxe = `<?xml version="1.0"?><!DOCTYPE cpix:CPIX [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><cpix:CPIX contentId="&xxe;" version="2.3" ${NS_DECL}/>`;
    refuses(v2(xxe), 400, /not allowed/, 'xml_dtd_forbidden');
    // A lone ENTITY declaration, or one written in lower case, is refused the same way.
    refuses(v2(`<!entity x SYSTEM "file:///etc/passwd"><a/>`), 400, undefined, 'xml_dtd_forbidden');
    refuses(v2(`<!ELEMENT a ANY><a/>`), 400, undefined, 'xml_dtd_forbidden');
  });

  it('refuses references to entities that were never declared', () => {
    refuses(
      v2(V2_WIDEVINE.replace('test_case_generic', '&xxe;')),
      400,
      /&xxe; is not allowed/,
      'xml_entity_forbidden',
    );
    refuses(v2(V2_WIDEVINE.replace('test_case_generic', 'a & b')), 400, /bare "&"/);
    refuses(v2(V2_WIDEVINE.replace('test_case_generic', '&#0;')), 400, /not an XML character/);
    refuses(
      v2(V2_WIDEVINE.replace('test_case_generic', '&constructor;')),
      400,
      undefined,
      'xml_entity_forbidden',
    );
  });

  it('refuses a 1 MB document with 413', () => {
    const big = V2_WIDEVINE.replace('</cpix:CPIX>', `<!-- ${'x'.repeat(1024 * 1024)} --></cpix:CPIX>`);
    refuses(v2(big), 413, /at most 262144 are accepted/, 'body_too_large');
  });

  it('refuses a depth bomb, and nesting one level too deep', () => {
    const bomb = `<cpix:CPIX contentId="x" version="2.3" ${NS_DECL}>${'<a>'.repeat(20_000)}${'</a>'.repeat(20_000)}</cpix:CPIX>`;
    refuses(v2(bomb), 400, /nested deeper than 32 levels/, 'xml_too_deep');
    const nest = (depth: number) =>
      `<cpix:CPIX contentId="x" version="2.3" ${NS_DECL}><cpix:ContentKeyList><cpix:ContentKey kid="${KID_A}" commonEncryptionScheme="cenc"/></cpix:ContentKeyList><cpix:DRMSystemList/><cpix:ContentKeyUsageRuleList/>${'<x>'.repeat(depth - 1)}${'</x>'.repeat(depth - 1)}</cpix:CPIX>`;
    assert.equal(parseCpixRequest(nest(32), { spekeVersion: '2.0' }).contentId, 'x');
    refuses(v2(nest(33)), 400, undefined, 'xml_too_deep');
  });

  it('refuses wrong namespaces and undeclared prefixes', () => {
    refuses(
      v2(V2_WIDEVINE.replace('xmlns:cpix="urn:dashif:org:cpix"', 'xmlns:cpix="urn:example:not-cpix"')),
      422,
      /root element CPIX must be in the namespace urn:dashif:org:cpix/,
      'invalid_namespace',
    );
    refuses(
      v2(V2_WIDEVINE.replace('urn:ietf:params:xml:ns:keyprov:pskc', 'urn:ietf:params:xml:ns:pskc')),
      422,
      /prefix "pskc" must be bound to the namespace urn:ietf:params:xml:ns:keyprov:pskc/,
    );
    refuses(
      v2(V2_WIDEVINE.replace('http://www.w3.org/2000/09/xmldsig#', 'http://example.com/dsig')),
      422,
      /prefix "ds" must be bound/,
    );
    refuses(
      v2(V2_WIDEVINE.replace(/ xmlns:cpix="[^"]*"/, '')),
      400,
      /prefix "cpix" .* is not declared/,
      'xml_namespace',
    );
    refuses(v2(`<CPIX contentId="x" version="2.3"/>`), 422, /not no namespace|no namespace/);
    refuses(v2(`<cpix:Other ${NS_DECL}/>`), 422, /root element must be cpix:CPIX/);
    // Lists in another namespace are not CPIX lists.
    refuses(
      v2(
        V2_WIDEVINE.replaceAll('cpix:ContentKeyList', 'x:ContentKeyList').replace(
          '<cpix:CPIX ',
          '<cpix:CPIX xmlns:x="urn:x" ',
        ),
      ),
      422,
      /^Missing cpix:ContentKeyList$/,
    );
  });

  it('refuses missing lists and keys', () => {
    const without = (name: string) =>
      V2_WIDEVINE.replace(new RegExp(`<cpix:${name}>[\\s\\S]*</cpix:${name}>`), '');
    refuses(v2(without('ContentKeyList')), 422, /^Missing cpix:ContentKeyList$/, 'missing_content_key_list');
    refuses(v2(without('DRMSystemList')), 422, /^Missing cpix:DRMSystemList$/);
    refuses(v2(without('ContentKeyUsageRuleList')), 422, /^Missing cpix:ContentKeyUsageRuleList$/);
    refuses(
      v2(
        V2_WIDEVINE.replace(/<cpix:ContentKeyList>[\s\S]*<\/cpix:ContentKeyList>/, '<cpix:ContentKeyList/>'),
      ),
      422,
      /has no cpix:ContentKey/,
    );
    refuses(
      v2(
        V2_WIDEVINE.replace(
          ' kid="0f083e4e-b831-4a3d-917e-ce78076e54aa" commonEncryptionScheme',
          ' commonEncryptionScheme',
        ),
      ),
      422,
      /^Missing ContentKey@kid$/,
    );
  });

  it('refuses kids that are not UUIDs (base64, garbage, too short)', () => {
    const withKid = (kid: string) => V2_WIDEVINE.replaceAll('0f083e4e-b831-4a3d-917e-ce78076e54aa', kid);
    refuses(v2(withKid('Dwg+TrgxSj2RfuzngHblSq==')), 422, /is not a UUID/, 'invalid_kid');
    refuses(v2(withKid('%%%not-base64%%%')), 422, /is not a UUID/, 'invalid_kid');
    refuses(v2(withKid('0f083e4e-b831-4a3d-917e-ce78076e54')), 422, /is not a UUID/);
    refuses(v2(withKid('0f083e4eb8314a3d917ece78076e54aa')), 422, /is not a UUID/);
  });

  it('refuses what is not well-formed XML with a 400 naming the problem', () => {
    refuses(v2(''), 400, /empty/);
    refuses(v2('not xml at all'), 400, undefined, 'xml_malformed');
    refuses(
      v2(V2_WIDEVINE.replace('</cpix:ContentKeyList>', '')),
      400,
      /not well-formed XML: .*line/,
      'xml_malformed',
    );
    refuses(v2(`${V2_WIDEVINE}<second/>`), 400, undefined, 'xml_malformed');
    refuses(
      v2(V2_WIDEVINE.replace('contentId="test_case_generic"', 'contentId="a" contentId="b"')),
      400,
      /repeated/,
    );
    refuses(
      v2(V2_WIDEVINE.replace('encoding="UTF-8"', 'encoding="UTF-16"')),
      400,
      /must be UTF-8/,
      'xml_encoding',
    );
    refuses(v2(`<__proto__ ${NS_DECL}/>`), 400, undefined, 'xml_malformed');
    // A prefix spelled like an Object.prototype property is just a prefix.
    const odd = V2_WIDEVINE.replace(
      '<cpix:CPIX ',
      '<cpix:CPIX xmlns:__proto__="urn:x" xmlns:constructor="urn:y" ',
    ).replace('<cpix:DRMSystemList>', '<__proto__:x/><constructor:y/><cpix:DRMSystemList>');
    assert.equal(parseCpixRequest(odd, { spekeVersion: '2.0' }).contentKeys.length, 2);
  });
});
