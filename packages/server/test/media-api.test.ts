/**
 * The media API's delivery and monitoring routes against a real `vigil serve` and an asset processed
 * into a 720p (HD key) and a 240p (SD key) rendition: a per-asset watermark reaches stream-url's
 * watermarkId and the viewer's directive; the usage policy holds on the viewer license path
 * (`/v1/license/clearkey`: no HD key under a 480p cap, a second session of the user refused, the
 * token's life capped by playbackDuration); the asset's access log (filters, pages) and access report;
 * another tenant's key sees 404.
 */
import assert from 'node:assert/strict';
import { createVerify, generateKeyPairSync } from 'node:crypto';
import { rmSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { HD_SD_MEDIA_ENV, hdClip, uploadReadyAsset } from '../../../test/support/media.ts';
import { type ChildServer, call, spawnVigil, tempDir } from '../../../test/support/vigil.ts';

const API_KEY = 'vk_media_api_key_0123456789abcdef';
const ENV = {
  VIGIL_MASTER_KEY: '78'.repeat(32),
  VIGIL_API_KEY: API_KEY,
  VIGIL_JWT_SECRET: 'media-api-viewer-secret-0123456789abcdef',
  ...HD_SD_MEDIA_ENV,
};

const b64url = (hex: string) => Buffer.from(hex, 'hex').toString('base64url');
const hexOf = (kid: string) => Buffer.from(kid, 'base64url').toString('hex');

describe('media API: watermark, viewer usage policy, access logs and report', { timeout: 150_000 }, () => {
  const data = tempDir('vigil-media-api-');
  let server: ChildServer | undefined;
  let url = '';
  let assetId = '';
  let hd = '';
  let sd = '';
  let otherKey = '';

  before(async () => {
    server = await spawnVigil(['--data', data], ENV);
    url = server.url;
    const ready = await uploadReadyAsset(url, API_KEY, hdClip(4));
    assetId = ready.assetId;
    [hd, sd] = ready.variants.map((v) => v.encryptionKeyId) as [string, string];
    const tenant = await call(`${url}/v1/tenants`, { token: API_KEY, body: { id: 'other', name: 'Other' } });
    assert.equal(tenant.status, 201, JSON.stringify(tenant.body));
    otherKey = tenant.body.apiKey;
  });
  after(async () => {
    await server?.stop();
    rmSync(data, { recursive: true, force: true });
  });

  const streamUrl = async (userId: string, sessionId: string, extra = '') => {
    const res = await call(
      `${url}/v1/media/${assetId}/stream-url?userId=${userId}&sessionId=${sessionId}&ip=127.0.0.1${extra}`,
      { token: API_KEY },
    );
    assert.equal(res.status, 200, JSON.stringify(res.body));
    return res.body;
  };
  const viewerLicense = (token: string, kids: string[]) =>
    call(`${url}/v1/license/clearkey`, { token, body: { kids: kids.map(b64url), type: 'temporary' } });
  const directiveOf = (headers: Headers) =>
    JSON.parse(Buffer.from(headers.get('vigil-watermark') ?? '', 'base64url').toString('utf8'));

  it('a per-asset watermark names the sessions and draws their directive', async () => {
    const before = await streamUrl('user-w', 'wm-0');
    assert.match(before.watermarkId, /^watermark_[0-9a-f]{24}$/);
    const tenantMark = directiveOf((await viewerLicense(before.viewerToken, [sd])).headers);
    assert.equal(tenantMark.mode, 'text', "the tenant's default");

    const set = await call(`${url}/v1/media/${assetId}/watermark`, {
      token: API_KEY,
      body: { type: 'forensic', position: 'bottomRight', opacity: 0.5, userSpecificData: { campaign: 'x' } },
    });
    assert.equal(set.status, 200, JSON.stringify(set.body));
    assert.equal(set.body.isForensic, true);
    assert.equal(set.body.config.mode, 'color');
    const { box } = set.body.config;
    assert.equal(box.x + box.width, 98, 'placed at the right edge, 2% in');
    assert.equal(box.y + box.height, 98);
    assert.match(set.body.watermarkId, /^watermark_[0-9a-f]{24}$/);
    const read = await call(`${url}/v1/media/${assetId}/watermark`, { token: API_KEY });
    assert.equal(read.body.watermarkId, set.body.watermarkId);
    assert.deepEqual(read.body.userSpecificData, { campaign: 'x' });

    const session = await streamUrl('user-w', 'wm-1');
    assert.ok(session.watermarkId.startsWith(`${set.body.watermarkId}_`), session.watermarkId);
    const granted = await viewerLicense(session.viewerToken, [sd]);
    assert.equal(granted.status, 200, JSON.stringify(granted.body));
    const directive = directiveOf(granted.headers);
    assert.equal(directive.mode, 'color');
    assert.equal(directive.sessionId, 'wm-1');
    assert.deepEqual(directive.box, box);
    const beat = await call(`${url}/v1/heartbeat`, { token: session.viewerToken, body: {} });
    assert.equal(beat.status, 200, JSON.stringify(beat.body));
    assert.equal(beat.body.watermark.mode, 'color');

    const moved = await call(`${url}/v1/media/${assetId}/watermark`, {
      token: API_KEY,
      body: { type: 'visible', watermarkId: 'promo-1', opacity: 0.3 },
    });
    assert.equal(moved.status, 200, JSON.stringify(moved.body));
    const text = directiveOf((await viewerLicense(session.viewerToken, [sd])).headers);
    assert.equal(text.mode, 'text', 'a change reaches the running session');
    assert.equal(text.textOpacity, 0.3);
    assert.match((await streamUrl('user-w', 'wm-2')).watermarkId, /^promo-1_[0-9a-f]{16}$/);

    for (const [body, code] of [
      [{ type: 'sparkly' }, 'invalid_request'],
      [{ type: 'forensic', position: { x: 99, y: 99 } }, 'watermarking_invalid'],
    ] as const) {
      const bad = await call(`${url}/v1/media/${assetId}/watermark`, { token: API_KEY, body });
      assert.equal(bad.status, 400, JSON.stringify(bad.body));
      assert.equal(bad.body.code, code);
    }
  });

  it('the usage policy holds on the viewer license path', async () => {
    const set = await call(`${url}/v1/media/${assetId}/protect`, {
      token: API_KEY,
      body: { usagePolicy: { maxResolution: '480p', playbackDuration: 120, concurrentStreams: 1 } },
    });
    assert.equal(set.status, 200, JSON.stringify(set.body));
    const first = await streamUrl('user-a', 'sess-a1', '&ttlSeconds=3600');
    const life = Date.parse(first.expiresAt) - Date.now();
    assert.ok(life > 110_000 && life <= 120_000, `playbackDuration caps the session: ${life} ms`);
    const both = await viewerLicense(first.viewerToken, [hd, sd]);
    assert.equal(both.status, 200, JSON.stringify(both.body));
    assert.deepEqual(
      both.body.keys.map((k: { kid: string }) => hexOf(k.kid)),
      [sd],
      'the HD key is withheld, the SD one given',
    );
    const hdOnly = await viewerLicense(first.viewerToken, [hd]);
    assert.equal(hdOnly.status, 403);
    assert.equal(hdOnly.body.code, 'resolution_capped');

    const second = await streamUrl('user-a', 'sess-a2');
    const refused = await viewerLicense(second.viewerToken, [sd]);
    assert.equal(refused.status, 403, JSON.stringify(refused.body));
    assert.equal(refused.body.code, 'concurrent_streams');
    assert.equal((await viewerLicense(first.viewerToken, [sd])).status, 200, 'the first session renews');
    const other = await streamUrl('user-b', 'sess-b1');
    assert.equal((await viewerLicense(other.viewerToken, [sd])).status, 200, 'another user streams');
  });

  it("the asset's access log: filters and pages", async () => {
    const logs = (q: string, token = API_KEY) =>
      call(`${url}/v1/media/${assetId}/access-logs${q}`, { token });
    const userA = await logs('?userId=user-a');
    assert.equal(userA.status, 200, JSON.stringify(userA.body));
    assert.ok(userA.body.logs.length >= 3);
    assert.ok(userA.body.logs.every((e: { userId: string; assetId: string }) => e.userId === 'user-a'));
    assert.ok(userA.body.logs.every((e: { assetId: string }) => e.assetId === assetId));
    const denied = await logs('?action=accessDenied&userId=user-a');
    assert.deepEqual(
      denied.body.logs.map((e: { metadata: { reason: string } }) => e.metadata.reason).sort(),
      ['concurrent_streams', 'resolution_capped'],
    );
    const session = await logs('?sessionId=sess-a2');
    assert.deepEqual(
      session.body.logs.map((e: { action: string }) => e.action),
      ['accessDenied'],
    );
    const page1 = await logs('?userId=user-a&limit=1');
    assert.equal(page1.body.logs.length, 1);
    assert.ok(page1.body.next);
    const page2 = await logs(`?userId=user-a&limit=1&cursor=${page1.body.next}`);
    assert.equal(page2.body.logs.length, 1);
    assert.notEqual(page2.body.logs[0].id, page1.body.logs[0].id);
    const future = new Date(Date.now() + 3600_000).toISOString();
    assert.deepEqual((await logs(`?since=${future}`)).body.logs, []);
    const backwards = await logs(`?since=${future}&until=${new Date().toISOString()}`);
    assert.equal(backwards.status, 400);
    assert.equal(backwards.body.code, 'monitoring_invalid_period');
    assert.equal((await logs('?limit=0')).body.code, 'invalid_limit');
  });

  it('the access report sums up a period', async () => {
    const report = await call(`${url}/v1/media/${assetId}/access-report`, { token: API_KEY, body: {} });
    assert.equal(report.status, 200, JSON.stringify(report.body));
    const { totals } = report.body;
    // Sessions wm-0, wm-1, sess-a1 and sess-b1 got keys; sess-a2 was refused.
    assert.equal(totals.views, 4);
    assert.equal(totals.uniqueSessions, 5);
    assert.equal(totals.uniqueUsers, 3);
    assert.equal(totals.uniqueIps, 1);
    assert.deepEqual(report.body.denialsByReason, { concurrent_streams: 1, resolution_capped: 1 });
    assert.equal(totals.denials, 2);
    // user-a: a start and two refusals; user-w: two starts and a heartbeat; user-b: a start.
    assert.deepEqual(
      report.body.topUsers.map((u: { userId: string; events: number }) => [u.userId, u.events]),
      [
        ['user-a', 3],
        ['user-w', 3],
        ['user-b', 1],
      ],
    );
    const past = await call(`${url}/v1/media/${assetId}/access-report`, {
      token: API_KEY,
      body: { from: '2020-01-01T00:00:00Z', to: '2020-01-02T00:00:00Z' },
    });
    assert.equal(past.body.totals.events, 0);
    assert.equal(past.body.firstAccessAt, null);
    const tooLong = await call(`${url}/v1/media/${assetId}/access-report`, {
      token: API_KEY,
      body: { from: '2020-01-01T00:00:00Z', to: '2022-01-01T00:00:00Z' },
    });
    assert.equal(tooLong.status, 400);
    assert.equal(tooLong.body.code, 'monitoring_invalid_period');
  });

  it("another tenant's key sees 404; every route is in the OpenAPI document", async () => {
    for (const [method, path, body] of [
      ['GET', 'access-logs', undefined],
      ['POST', 'access-report', {}],
      ['POST', 'watermark', { type: 'visible' }],
      ['GET', 'watermark', undefined],
    ] as const) {
      const res = await call(`${url}/v1/media/${assetId}/${path}`, { method, token: otherKey, body });
      assert.equal(res.status, 404, `${method} ${path}: ${JSON.stringify(res.body)}`);
      assert.equal(res.body.code, 'asset_not_found');
    }
    const doc = (await call(`${url}/docs/json`)).body;
    for (const p of ['watermark', 'access-logs', 'access-report'])
      assert.ok(doc.paths[`/v1/media/{assetId}/${p}`], p);
    assert.ok(doc.paths['/v1/media/cloudfront']);
  });

  it("stream-url signs for the tenant's CloudFront distribution", async () => {
    const cdn = `${url}/v1/media/${assetId}/stream-url?userId=user-c&sessionId=cdn-1&ip=127.0.0.1&cdn=cloudfront`;
    const unconfigured = await call(cdn, { token: API_KEY });
    assert.equal(unconfigured.status, 409);
    assert.equal(unconfigured.body.code, 'delivery_cdn_unconfigured');
    const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
    const domain = 'https://d111111abcdef8.cloudfront.net';
    const put = (body: Record<string, string>) =>
      call(`${url}/v1/media/cloudfront`, {
        method: 'PUT',
        token: API_KEY,
        body: { keyPairId: 'K2JCJMDEHXQW5F', privateKey: pem, domain, ...body },
      });
    for (const bad of [{ domain: 'http://x.example' }, { privateKey: 'not a key' }] as Record<
      string,
      string
    >[]) {
      const res = await put(bad);
      assert.equal(res.status, 400, JSON.stringify(res.body));
      assert.equal(res.body.code, 'delivery_cdn_invalid');
    }
    const set = await put({});
    assert.equal(set.status, 200, JSON.stringify(set.body));
    assert.equal(set.body.privateKey, undefined, 'the key is never answered');

    const res = await call(cdn, { token: API_KEY });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const signed = new URL(res.body.streamUrl);
    assert.equal(signed.origin, domain);
    assert.ok(signed.pathname.startsWith(`/origin/default/${assetId}/`), signed.pathname);
    assert.ok(signed.searchParams.get('vd'), "the origin's own delivery token rides along");
    const fromCf = (s: string) =>
      Buffer.from(s.replace(/-/g, '+').replace(/_/g, '=').replace(/~/g, '/'), 'base64');
    const policy = fromCf(signed.searchParams.get('Policy')!).toString('utf8');
    const statement = JSON.parse(policy).Statement[0];
    assert.equal(statement.Resource, `${domain}/origin/default/${assetId}/*`);
    assert.equal(statement.Condition.IpAddress['AWS:SourceIp'], '127.0.0.1/32');
    assert.equal(statement.Condition.DateLessThan['AWS:EpochTime'], Date.parse(res.body.expiresAt) / 1000);
    const verifies = (sig: string) =>
      createVerify('RSA-SHA1').update(policy, 'utf8').verify(publicKey, fromCf(sig));
    assert.ok(verifies(signed.searchParams.get('Signature')!));
    const { cookies } = res.body.cloudfront;
    assert.equal(fromCf(cookies['CloudFront-Policy']).toString('utf8'), policy);
    assert.ok(verifies(cookies['CloudFront-Signature']));
    assert.equal(cookies['CloudFront-Key-Pair-Id'], 'K2JCJMDEHXQW5F');
  });
});
