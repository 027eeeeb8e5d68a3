/**
 * POST /v1/speke over HTTP, as AWS encoders call it: the reference server's request bodies, the CPIX
 * answers read the way a consumer reads them, and then the key server handing the very same key bytes to
 * a viewer of that content id. Also idempotency (encoders retry), tenancy, auth and hostile XML.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parsePssh, SYSTEM_IDS } from '@vigil/keys';
import { XMLParser } from 'fast-xml-parser';
import pg from 'pg';
import {
  call,
  kidB64,
  startVigil,
  TEST_DATABASE_URL,
  type TestServer,
  uniqueSchema,
  viewerToken,
} from '../../../test/support/vigil.ts';

const VECTORS = join(import.meta.dirname, '../../speke/test/vectors');
const vector = (name: string) => readFileSync(join(VECTORS, name), 'utf8');
const V1 = vector('speke_v1_request_keyperiod_rotation.xml');
const V2_WIDEVINE = vector('speke_v2_request_dash_widevine_preset_video1_audio1.xml');
const V2_FAIRPLAY_CENC = vector('speke_v2_request_cenc_widevine_playready_fairplay_video_audio.xml');
const NS_DECL = 'xmlns:cpix="urn:dashif:org:cpix" xmlns:pskc="urn:ietf:params:xml:ns:keyprov:pskc"';

const hex = (uuid: string) => uuid.replaceAll('-', '').toLowerCase();
const randomUuid = () => crypto.randomUUID();

interface SpekeCall {
  status: number;
  headers: Headers;
  text: string;
  // biome-ignore lint/suspicious/noExplicitAny: JSON error bodies are untyped.
  json?: any;
}

async function speke(
  server: TestServer,
  body: string,
  opts: { version?: string; token?: string | null; contentType?: string; query?: string } = {},
): Promise<SpekeCall> {
  const headers: Record<string, string> = { 'content-type': opts.contentType ?? 'application/xml' };
  const token = opts.token === undefined ? server.apiKey : opts.token;
  if (token !== null) headers.authorization = `Bearer ${token}`;
  if (opts.version) headers['x-speke-version'] = opts.version;
  const res = await fetch(`${server.url}/v1/speke${opts.query ?? ''}`, { method: 'POST', headers, body });
  const text = await res.text();
  const json = (res.headers.get('content-type') ?? '').includes('json') ? JSON.parse(text) : undefined;
  return { status: res.status, headers: res.headers, text, json };
}

const LISTS = new Set(['cpix:ContentKey', 'cpix:DRMSystem', 'cpix:HLSSignalingData']);
const consumer = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '@',
  parseTagValue: false,
  isArray: (name) => LISTS.has(name),
});

/** What a CPIX consumer takes from an answer: kid → key bytes, and the DRM systems. */
function readAnswer(xml: string) {
  const root = consumer.parse(xml)['cpix:CPIX'];
  assert.ok(root, 'the answer is a cpix:CPIX document');
  const keys = new Map<string, Buffer>();
  for (const key of root['cpix:ContentKeyList']['cpix:ContentKey']) {
    const value = key['cpix:Data']['pskc:Secret']['pskc:PlainValue'];
    assert.match(value, /^[A-Za-z0-9+/]{22}==$/, 'PlainValue is base64 of 16 bytes');
    const bytes = Buffer.from(value, 'base64');
    assert.equal(bytes.length, 16);
    keys.set(hex(key['@kid']), bytes);
  }
  // biome-ignore lint/suspicious/noExplicitAny: a parsed XML document is untyped.
  const drmSystems: any[] = root['cpix:DRMSystemList']?.['cpix:DRMSystem'] ?? [];
  return { root, keys, drmSystems };
}

/** Asks the key server for these kids with a viewer token for `resourceId`; returns kid → key bytes. */
async function licenseKeys(
  server: TestServer,
  resourceId: string,
  kids: string[],
  claims: { secret?: string; tenant?: string } = {},
): Promise<Map<string, Buffer>> {
  const token = await viewerToken(claims.secret ?? server.secret, {
    resourceId,
    ...(claims.tenant ? { tenant: claims.tenant } : {}),
  });
  const res = await call(`${server.url}/v1/license/clearkey`, { token, body: { kids: kids.map(kidB64) } });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return new Map(
    res.body.keys.map((k: { kid: string; k: string }) => [
      Buffer.from(k.kid, 'base64url').toString('hex'),
      Buffer.from(k.k, 'base64url'),
    ]),
  );
}

/** A SPEKE v2 ClearKey request for new kids of a content id, optionally with key periods. */
function clearKeyRequest(
  contentId: string,
  kids: string[],
  opts: { periods?: number[]; scheme?: string } = {},
) {
  const scheme = opts.scheme ?? 'cenc';
  const periods = opts.periods ?? [];
  return `<?xml version="1.0" encoding="UTF-8"?>
<cpix:CPIX contentId="${contentId}" version="2.3" ${NS_DECL}>
  <cpix:ContentKeyList>${kids.map((kid) => `<cpix:ContentKey kid="${kid}" commonEncryptionScheme="${scheme}"/>`).join('')}</cpix:ContentKeyList>
  <cpix:DRMSystemList>${kids
    .map(
      (kid) =>
        `<cpix:DRMSystem kid="${kid}" systemId="${SYSTEM_IDS.clearKey}"><cpix:PSSH/><cpix:ContentProtectionData/><cpix:HLSSignalingData playlist="media"/></cpix:DRMSystem>`,
    )
    .join('')}</cpix:DRMSystemList>
  ${
    periods.length
      ? `<cpix:ContentKeyPeriodList>${periods.map((p) => `<cpix:ContentKeyPeriod id="p${p}" index="${p}"/>`).join('')}</cpix:ContentKeyPeriodList>`
      : ''
  }
  <cpix:ContentKeyUsageRuleList>${kids
    .map(
      (kid, i) =>
        `<cpix:ContentKeyUsageRule kid="${kid}" intendedTrackType="VIDEO">${periods.length ? `<cpix:KeyPeriodFilter periodId="p${periods[i]}"/>` : ''}<cpix:VideoFilter maxPixels="2073600"/></cpix:ContentKeyUsageRule>`,
    )
    .join('')}</cpix:ContentKeyUsageRuleList>
</cpix:CPIX>`;
}

describe('SPEKE key provider (POST /v1/speke)', () => {
  let server: TestServer;
  before(async () => {
    server = await startVigil({ config: { publicUrl: 'https://vigil.example/' } });
  });
  after(() => server.close());

  it('answers the SPEKE v1 body (key period rotation); the HLS key URL then serves the same key', async () => {
    const res = await speke(server, V1);
    assert.equal(res.status, 200, res.text);
    assert.match(res.headers.get('content-type')!, /^application\/xml/);
    assert.equal(res.headers.get('x-speke-user-agent'), 'Vigil');
    assert.equal(res.headers.get('x-speke-version'), null);
    const { root, keys, drmSystems } = readAnswer(res.text);
    assert.equal(root['@id'], '5E99137A-BD6C-4ECC-A24D-A3EE04B4E011');
    const kid = '6c5f52067d98480884d894f132c1e9fe';
    assert.deepEqual([...keys.keys()], [kid]);
    const uri = Buffer.from(drmSystems[0]['cpix:URIExtXKey'], 'base64').toString('utf8');
    assert.equal(uri, `https://vigil.example/v1/license/hls/${kid}`);

    const resourceId = '5E99137A-BD6C-4ECC-A24D-A3EE04B4E011';
    const token = await viewerToken(server.secret, { resourceId });
    const hls = await call(`${server.url}/v1/license/hls/${kid}?token=${token}`);
    assert.equal(hls.status, 200);
    assert.deepEqual(hls.raw, keys.get(kid));
    assert.deepEqual((await licenseKeys(server, resourceId, [kid])).get(kid), keys.get(kid));

    const listed = await call(`${server.url}/v1/keys?resourceId=${resourceId}`, { token: server.apiKey });
    assert.deepEqual(
      listed.body.keys.map((k: { kid: string; keyPeriod: number; trackType: string }) => [
        k.kid,
        k.keyPeriod,
        k.trackType,
      ]),
      [[kid, 11425, 'all']],
    );
  });

  it('answers the SPEKE v2 Widevine preset with v2 headers, pssh boxes, and keys the key server serves', async () => {
    const res = await speke(server, V2_WIDEVINE, { version: '2.0' });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.headers.get('x-speke-version'), '2.0');
    assert.equal(res.headers.get('x-speke-user-agent'), 'Vigil');
    const { root, keys, drmSystems } = readAnswer(res.text);
    assert.equal(root['@contentId'], 'test_case_generic');
    assert.equal(root['@version'], '2.3');
    assert.equal(keys.size, 2);
    assert.equal(drmSystems.length, 2);
    for (const drm of drmSystems) {
      const box = parsePssh(Buffer.from(drm['cpix:PSSH'], 'base64'));
      assert.equal(box.systemId, SYSTEM_IDS.widevine);
      // WidevinePsshData starts with key_id (field 2): tag 0x12, length 16, the kid.
      assert.equal(box.data.subarray(2, 18).toString('hex'), hex(drm['@kid']));
      const media = Buffer.from(drm['cpix:HLSSignalingData'][0]['#text'], 'base64').toString('utf8');
      assert.match(media, /^#EXT-X-KEY:METHOD=SAMPLE-AES-CTR,/);
    }
    const served = await licenseKeys(server, 'test_case_generic', [...keys.keys()]);
    assert.deepEqual(served, keys);

    const listed = await call(`${server.url}/v1/keys?resourceId=test_case_generic`, { token: server.apiKey });
    assert.deepEqual(
      listed.body.keys.map((k: { kid: string; trackType: string }) => [k.kid, k.trackType]).sort(),
      [
        ['041fdd3a7f5e4848a7cb65e97758e9a0', 'audio'],
        ['0f083e4eb8314a3d917ece78076e54aa', 'all'],
      ],
    );
  });

  it('refuses the FairPlay + cenc body with 422 and a MediaPackage-like message', async () => {
    const res = await speke(server, V2_FAIRPLAY_CENC, { version: '2.0' });
    assert.equal(res.status, 422);
    assert.equal(res.json.statusCode, 422);
    assert.equal(res.json.code, 'invalid_scheme_for_drm_system');
    assert.match(res.json.message, /^Non compliant ContentKey@commonEncryptionScheme combination: FairPlay/);
    // Nothing was stored for its kids' content.
    const listed = await call(`${server.url}/v1/keys?resourceId=cenc_test_001`, { token: server.apiKey });
    assert.deepEqual(listed.body.keys, []);
  });

  it('is idempotent: retries, sequential or concurrent, get the same keys', async () => {
    const first = readAnswer((await speke(server, V2_WIDEVINE, { version: '2.0' })).text).keys;
    const again = readAnswer((await speke(server, V2_WIDEVINE, { version: '2.0' })).text).keys;
    assert.deepEqual(again, first);

    const contentId = `live-${randomUuid()}`;
    const kids = [randomUuid(), randomUuid()];
    const body = clearKeyRequest(contentId, kids);
    const answers = await Promise.all(
      Array.from({ length: 4 }, () => speke(server, body, { version: '2.0' })),
    );
    for (const a of answers) assert.equal(a.status, 200, a.text);
    const keySets = answers.map((a) => readAnswer(a.text).keys);
    for (const k of keySets.slice(1)) assert.deepEqual(k, keySets[0]);
    assert.deepEqual(await licenseKeys(server, contentId, kids.map(hex)), keySets[0]);
  });

  it('stores key periods and track types for rotation, and the keys expire per ttlSeconds', async () => {
    const contentId = `rotating-${randomUuid()}`;
    const kids = [randomUuid(), randomUuid(), randomUuid()];
    const res = await speke(
      server,
      clearKeyRequest(contentId, kids, { periods: [100, 101, 102], scheme: 'cbcs' }),
      {
        version: '2.0',
        query: '?ttlSeconds=3600',
      },
    );
    assert.equal(res.status, 200, res.text);
    const { keys, drmSystems } = readAnswer(res.text);
    for (const drm of drmSystems) {
      const box = parsePssh(Buffer.from(drm['cpix:PSSH'], 'base64'));
      assert.equal(box.systemId, SYSTEM_IDS.clearKey);
      assert.deepEqual(box.kids, [hex(drm['@kid'])]);
      const media = Buffer.from(drm['cpix:HLSSignalingData'][0]['#text'], 'base64').toString('utf8');
      assert.match(media, /^#EXT-X-KEY:METHOD=SAMPLE-AES,.*KEYFORMAT="org.w3.clearkey"/);
      const cpd = Buffer.from(drm['cpix:ContentProtectionData'], 'base64').toString('utf8');
      assert.ok(cpd.includes('>https://vigil.example/v1/license/clearkey</Laurl>'));
    }
    const listed = await call(`${server.url}/v1/keys?resourceId=${contentId}`, { token: server.apiKey });
    assert.deepEqual(
      listed.body.keys.map((k: { kid: string; keyPeriod: number; trackType: string }) => [
        k.kid,
        k.keyPeriod,
        k.trackType,
      ]),
      kids.map((kid, i) => [hex(kid), 100 + i, 'hd']),
    );
    for (const k of listed.body.keys) {
      const ttl = Date.parse(k.expiresAt) - Date.now();
      assert.ok(ttl > 3500_000 && ttl <= 3600_000, `expiry in an hour, not ${ttl} ms`);
    }
    assert.deepEqual(await licenseKeys(server, contentId, kids.map(hex)), keys);
  });

  it('refuses a kid the tenant already uses for another content id (409), writing nothing', async () => {
    const kid = randomUuid();
    assert.equal((await speke(server, clearKeyRequest('content-a', [kid]), { version: '2.0' })).status, 200);
    const other = randomUuid();
    const res = await speke(server, clearKeyRequest('content-b', [other, kid]), { version: '2.0' });
    assert.equal(res.status, 409);
    assert.equal(res.json.code, 'kid_conflict');
    assert.match(res.json.message, new RegExp(`KID ${kid} already belongs to another content id`));
    const listed = await call(`${server.url}/v1/keys?resourceId=content-b`, { token: server.apiKey });
    assert.deepEqual(listed.body.keys, []);
  });

  it('replaces a kid whose key has expired (the purge would free it anyway) and checks ttlSeconds', async () => {
    const kid = randomUuid();
    const expired = Buffer.alloc(16, 7);
    await server.store.putContentKeys([
      {
        tenantId: 'default',
        resourceId: 'old-content',
        kid: hex(kid),
        key: expired,
        iv: '00'.repeat(16),
        keyPeriod: 0,
        trackType: 'all',
        expiresAt: Date.now() - 1000,
        createdAt: Date.now() - 10_000,
      },
    ]);
    const res = await speke(server, clearKeyRequest('new-content', [kid]), { version: '2.0' });
    assert.equal(res.status, 200, res.text);
    const { keys } = readAnswer(res.text);
    assert.notDeepEqual(keys.get(hex(kid)), expired);
    assert.deepEqual(await licenseKeys(server, 'new-content', [hex(kid)]), keys);

    const tooShort = await speke(server, clearKeyRequest('x', [randomUuid()]), {
      version: '2.0',
      query: '?ttlSeconds=5',
    });
    assert.equal(tooShort.status, 400);
    assert.equal(tooShort.json.code, 'invalid_request');
  });

  it('keeps tenants apart: another tenant asking for the same kids gets its own keys', async () => {
    const created = await call(`${server.url}/v1/tenants`, {
      token: server.apiKey,
      body: { id: 'speke-other' },
    });
    assert.equal(created.status, 201);
    const mine = readAnswer((await speke(server, V2_WIDEVINE, { version: '2.0' })).text).keys;
    const res = await speke(server, V2_WIDEVINE, { version: '2.0', token: created.body.apiKey });
    assert.equal(res.status, 200, res.text);
    const theirs = readAnswer(res.text).keys;
    assert.deepEqual([...theirs.keys()], [...mine.keys()]);
    for (const [kid, key] of theirs) assert.notDeepEqual(key, mine.get(kid));
    const served = await licenseKeys(server, 'test_case_generic', [...theirs.keys()], {
      secret: created.body.jwtSecret,
      tenant: 'speke-other',
    });
    assert.deepEqual(served, theirs);
  });

  it('needs an admin API key as a bearer token', async () => {
    const missing = await speke(server, V2_WIDEVINE, { version: '2.0', token: null });
    assert.equal(missing.status, 401);
    assert.equal(missing.json.code, 'api_key_missing');
    const wrong = await speke(server, V2_WIDEVINE, { version: '2.0', token: 'vk_not_a_real_key' });
    assert.equal(wrong.status, 401);
    assert.equal(wrong.json.code, 'api_key_invalid');
    const basic = await fetch(`${server.url}/v1/speke`, {
      method: 'POST',
      headers: { authorization: `Basic ${Buffer.from(`x:${server.apiKey}`).toString('base64')}` },
      body: V2_WIDEVINE,
    });
    assert.equal(basic.status, 401);
    const operator = await call(`${server.url}/v1/apikeys`, {
      token: server.apiKey,
      body: { role: 'operator' },
    });
    const forbidden = await speke(server, V2_WIDEVINE, { version: '2.0', token: operator.body.key });
    assert.equal(forbidden.status, 403);
  });

  it('answers hostile and malformed XML with a precise 4xx, never a 500', async () => {
    const cases: [string, string, number, string | RegExp][] = [
      [
        'billion laughs',
        `<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;">]><cpix:CPIX contentId="&b;" version="2.3" ${NS_DECL}/>`,
        400,
        'xml_dtd_forbidden',
      ],
      [
        'external entity',
        `<?xml version="1.0"?><!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><cpix:CPIX contentId="&xxe;" version="2.3" ${NS_DECL}/>`,
        400,
        'xml_dtd_forbidden',
      ],
      ['undeclared entity', V2_WIDEVINE.replace('test_case_generic', '&xxe;'), 400, 'xml_entity_forbidden'],
      [
        'depth bomb',
        `<cpix:CPIX contentId="x" version="2.3" ${NS_DECL}>${'<a>'.repeat(5000)}${'</a>'.repeat(5000)}</cpix:CPIX>`,
        400,
        'xml_too_deep',
      ],
      ['not XML', '{"kids":[]}', 400, 'xml_malformed'],
      ['unclosed element', V2_WIDEVINE.replace('</cpix:ContentKeyList>', ''), 400, 'xml_malformed'],
      ['empty body', '', 400, /xml_malformed/],
      [
        'wrong namespace',
        V2_WIDEVINE.replace('xmlns:cpix="urn:dashif:org:cpix"', 'xmlns:cpix="urn:dashif:org:cpix:v9"'),
        422,
        'invalid_namespace',
      ],
      [
        'missing ContentKeyList',
        V2_WIDEVINE.replace(/<cpix:ContentKeyList>[\s\S]*<\/cpix:ContentKeyList>/, ''),
        422,
        'missing_content_key_list',
      ],
      [
        'bad kid',
        V2_WIDEVINE.replaceAll('0f083e4e-b831-4a3d-917e-ce78076e54aa', 'Dwg+TrgxSj2R'),
        422,
        'invalid_kid',
      ],
      [
        'missing contentId',
        V2_WIDEVINE.replace('contentId="test_case_generic" ', ''),
        422,
        'missing_content_id',
      ],
      [
        'unsupported CPIX version',
        V2_WIDEVINE.replace('version="2.3"', 'version="9.9"'),
        422,
        'unsupported_cpix_version',
      ],
    ];
    for (const [name, body, status, code] of cases) {
      const res = await speke(server, body, { version: '2.0' });
      assert.equal(res.status, status, `${name}: ${res.text}`);
      assert.equal(res.json.statusCode, status, name);
      if (typeof code === 'string') assert.equal(res.json.code, code, `${name}: ${res.json.message}`);
      else assert.match(res.json.code, code);
      assert.ok(res.json.message.length > 10, name);
    }
    const missing = await speke(server, V2_WIDEVINE.replace('contentId="test_case_generic" ', ''), {
      version: '2.0',
    });
    assert.equal(missing.json.message, 'Missing CPIX@contentId');
    const badVersion = await speke(server, V2_WIDEVINE, { version: '7.0' });
    assert.equal(badVersion.status, 422);
    assert.equal(badVersion.json.message, 'Unsupported SPEKE version');
  });

  it('refuses a 1 MB body with 413 and takes XML whatever the content type says', async () => {
    const huge = V2_WIDEVINE.replace('</cpix:CPIX>', `<!-- ${'x'.repeat(1024 * 1024)} --></cpix:CPIX>`);
    const res = await speke(server, huge, { version: '2.0' });
    assert.equal(res.status, 413);
    assert.equal(res.json.code, 'body_too_large');
    for (const contentType of ['text/xml', 'application/json', 'text/plain; charset=utf-8']) {
      const ok = await speke(server, V2_WIDEVINE, { version: '2.0', contentType });
      assert.equal(ok.status, 200, `${contentType}: ${ok.text}`);
    }
  });
});

describe('SPEKE key provider on PostgreSQL', () => {
  const schema = uniqueSchema();
  let server: TestServer | undefined;
  before(async () => {
    try {
      server = await startVigil({ databaseUrl: TEST_DATABASE_URL, pgSchema: schema });
    } catch (err) {
      throw new Error(`PostgreSQL is required at ${TEST_DATABASE_URL}: ${(err as Error).message}`);
    }
  });
  after(async () => {
    await server?.close();
    const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
    await client.connect();
    try {
      await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    } finally {
      await client.end();
    }
  });

  it('hands out one key per kid under concurrent retries, and the key server serves it', async () => {
    const contentId = `pg-${randomUuid()}`;
    const kids = [randomUuid(), randomUuid()];
    const body = clearKeyRequest(contentId, kids);
    const answers = await Promise.all(
      Array.from({ length: 4 }, () => speke(server!, body, { version: '2.0' })),
    );
    for (const a of answers) assert.equal(a.status, 200, a.text);
    const keySets = answers.map((a) => readAnswer(a.text).keys);
    for (const k of keySets.slice(1)) assert.deepEqual(k, keySets[0]);
    assert.deepEqual(await licenseKeys(server!, contentId, kids.map(hex)), keySets[0]);
    const conflict = await speke(server!, clearKeyRequest('elsewhere', [kids[0]!]), { version: '2.0' });
    assert.equal(conflict.status, 409);
  });
});
