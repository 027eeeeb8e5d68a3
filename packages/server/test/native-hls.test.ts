/**
 * Native HLS and players without hooks: the origin writes the delivery token into the URIs a playlist
 * lists on this server (when it came as `?vd=`) and a short-lived key grant (`?kg=`) into the URIs of
 * the HLS key endpoint, which takes it without an Authorization header. Checked here over HTTP: what is
 * rewritten and what is left alone, the key grant's own MAC domain (it is accepted nowhere else and
 * nothing else is accepted as one), its bindings (session, resource, IP, expiry) and bans at key time.
 * Playback from the signed master URL alone, in hls.js with no hooks, is in native-hls-playback.test.ts.
 */
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { keyGrantKeyLabel, signDelivery, signKeyGrant, verifyKeyGrant } from '@vigil/core';
import {
  call,
  createKeys,
  kidB64,
  startVigil,
  type TestServer,
  viewerToken,
} from '../../../test/support/vigil.ts';

const RES = 'native-vod';
const OTHER = 'native-other';
const SEGMENT = Buffer.from(Array.from({ length: 900 }, (_, i) => (i * 7) % 251));

/** The query parameter `name` of a URI as written in a playlist (relative or absolute). */
const param = (uri: string, name: string) => new URL(uri, 'http://x.invalid/').searchParams.get(name);
const payloadOf = (grant: string) =>
  JSON.parse(Buffer.from(grant.split('.')[1]!, 'base64url').toString('utf8')) as Record<string, unknown>;

describe('native HLS: tokens written into playlists, key grants at the key endpoint', () => {
  let server: TestServer;
  let kids: string[];
  let otherKid: string;
  const dir = () => join(server.dataDir!, 'origin', 'default', RES);
  const folder = `/origin/default/${RES}/`;
  const write = (path: string, content: string | Buffer) => {
    const file = join(dir(), path);
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, content);
  };

  const master = () =>
    [
      '#EXTM3U',
      '#EXT-X-VERSION:7',
      '# a comment that says URI="hls/v.m3u8"',
      `#EXT-X-SESSION-KEY:METHOD=AES-128,URI="${server.url}/v1/license/hls/${kids[0]}"`,
      '#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="aud",NAME="en, stereo",DEFAULT=YES,URI="hls/audio.m3u8"',
      '#EXT-X-STREAM-INF:BANDWIDTH=1000,CODECS="avc1.64001e,mp4a.40.2",AUDIO="aud"',
      'hls/v.m3u8',
      '#EXT-X-STREAM-INF:BANDWIDTH=2000',
      'https://cdn.example.com/other/v.m3u8',
      '#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=100,URI="hls/iframes.m3u8"',
      '',
    ].join('\n');

  /** A media playlist with every URI form; CRLF line ends. */
  const media = (ended: boolean) =>
    [
      '#EXTM3U',
      '#EXT-X-TARGETDURATION:2',
      '#EXT-X-MAP:URI="v/init.mp4",BYTERANGE="800@0"',
      `#EXT-X-KEY:METHOD=AES-128,URI="${server.url}/v1/license/hls/${kids[0]}",IV=0x0000000000000000000000000000000a`,
      '#EXTINF:2.000,',
      'v/1.m4s',
      '#EXT-X-BYTERANGE:500@0',
      '#EXTINF:2.000,',
      `/origin/default/${RES}/hls/v/2.m4s?x=1`,
      '#EXT-X-KEY:METHOD=AES-128,URI="https://keys.example.com/k/1"',
      '#EXTINF:2,',
      `${server.url}/origin/default/${RES}/hls/v/3.m4s#t=1`,
      '#EXTINF:2,',
      'https://cdn.example.com/seg/4.m4s',
      '#EXTINF:2,',
      '../../other-res/seg.m4s',
      '#EXTINF:2,',
      '{$base}/5.m4s',
      `#EXT-X-KEY:METHOD=AES-128,URI="/v1/license/hls/${kids[1]}"`,
      '#EXTINF:2,',
      'v/6.m4s?vd=stale&y=2',
      ...(ended ? ['#EXT-X-ENDLIST'] : []),
      '',
    ].join('\r\n');

  const viewer = (sessionId: string, resourceId = RES) =>
    viewerToken(server.secret, { resourceId, sessionId, ip: '127.0.0.1' });
  const deliveryFor = async (sessionId: string, resourceId = RES) => {
    const res = await call(`${server.url}/v1/delivery`, {
      method: 'POST',
      token: await viewer(sessionId, resourceId),
    });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    return res.body as { token: string; expiresAt: string };
  };
  const get = (path: string, headers: Record<string, string> = {}) =>
    call(`${server.url}${path}`, { headers });
  /** The lines of a playlist fetched with `?vd=`. */
  const playlist = async (path: string, token: string) => {
    const res = await get(`${folder}${path}?vd=${token}`);
    assert.equal(res.status, 200, String(res.body));
    return { res, lines: (res.body as string).split(/\r?\n/) };
  };
  const keyUri = (line: string) => /URI="([^"]+)"/.exec(line)![1]!;

  before(async () => {
    server = await startVigil();
    kids = await createKeys(server, RES, 2);
    otherKid = (await createKeys(server, OTHER, 1))[0]!;
    write('master.m3u8', master());
    write('hls/v.m3u8', media(true));
    write('hls/live.m3u8', media(false));
    write('hls/v/1.m4s', SEGMENT);
    write('hls/not-a-playlist.m3u8', 'hello\n');
    const otherFolder = join(server.dataDir!, 'origin', 'default', OTHER);
    mkdirSync(otherFolder, { recursive: true });
    writeFileSync(join(otherFolder, 'master.m3u8'), master());
  });

  after(async () => {
    await server?.close();
  });

  it('writes the delivery token into the master playlist URIs on this server, and a key grant into key URIs', async () => {
    const d = await deliveryFor('native-1');
    const { res, lines } = await playlist('master.m3u8', d.token);
    assert.equal(res.headers.get('content-type'), 'application/vnd.apple.mpegurl');
    assert.equal(res.headers.get('cache-control'), 'private, no-store');
    assert.equal(res.headers.get('etag'), null);
    const original = master().split('\n');
    assert.equal(lines.length, original.length);
    assert.equal(lines[0], '#EXTM3U');
    assert.equal(lines[2], original[2], 'comments are left alone');
    const sessionKey = keyUri(lines[3]!);
    assert.ok(sessionKey.startsWith(`${server.url}/v1/license/hls/${kids[0]}?kg=kg1.`), sessionKey);
    assert.equal(
      lines[4],
      `#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="aud",NAME="en, stereo",DEFAULT=YES,URI="hls/audio.m3u8?vd=${d.token}"`,
    );
    assert.equal(lines[5], original[5]);
    assert.equal(lines[6], `hls/v.m3u8?vd=${d.token}`);
    assert.equal(lines[8], 'https://cdn.example.com/other/v.m3u8', 'another host gets nothing');
    assert.equal(lines[9], `#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=100,URI="hls/iframes.m3u8?vd=${d.token}"`);
    // HEAD answers the same length.
    const head = await fetch(`${server.url}${folder}master.m3u8?vd=${d.token}`, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(Number(head.headers.get('content-length')), res.raw.length);
  });

  it('rewrites every URI form of a media playlist, keeps CRLF, leaves other hosts and paths alone', async () => {
    const d = await deliveryFor('native-2');
    const res = await get(`${folder}hls/v.m3u8?vd=${d.token}`);
    assert.equal(res.status, 200);
    const text = res.body as string;
    assert.ok(text.includes('\r\n') && !/[^\r]\n/.test(text), 'CRLF kept');
    const lines = text.split('\r\n');
    const original = media(true).split('\r\n');
    assert.equal(lines.length, original.length);
    const vd = `vd=${d.token}`;
    assert.equal(lines[2], `#EXT-X-MAP:URI="v/init.mp4?${vd}",BYTERANGE="800@0"`);
    const key0 = keyUri(lines[3]!);
    assert.ok(lines[3]!.endsWith(',IV=0x0000000000000000000000000000000a'));
    assert.equal(key0.split('?')[0], `${server.url}/v1/license/hls/${kids[0]}`);
    assert.equal(lines[5], `v/1.m4s?${vd}`);
    assert.equal(lines[6], '#EXT-X-BYTERANGE:500@0');
    assert.equal(lines[8], `/origin/default/${RES}/hls/v/2.m4s?x=1&${vd}`);
    assert.equal(lines[9], original[9], 'a key URI of another host is left alone');
    assert.equal(lines[11], `${server.url}/origin/default/${RES}/hls/v/3.m4s?${vd}#t=1`);
    assert.equal(lines[13], 'https://cdn.example.com/seg/4.m4s');
    assert.equal(lines[15], '../../other-res/seg.m4s', 'outside the token prefix: left alone');
    assert.equal(lines[17], '{$base}/5.m4s', 'variables could expand to another host: left alone');
    const key1 = keyUri(lines[18]!);
    assert.equal(key1.split('?')[0], `/v1/license/hls/${kids[1]}`);
    assert.equal(lines[20], `v/6.m4s?y=2&${vd}`, 'a stale vd is replaced');
    assert.equal(lines[21], '#EXT-X-ENDLIST');

    // One grant per playlist, naming the session, the resource and the bound address; an ended
    // playlist's lives as long as the delivery token (the player never reloads it).
    const grant = param(key0, 'kg')!;
    assert.equal(param(key1, 'kg'), grant);
    const p = payloadOf(grant);
    assert.deepEqual(
      { ...p, e: undefined },
      { v: 1, typ: 'hls-key', t: 'default', s: 'native-2', r: RES, i: '127.0.0.1', e: undefined },
    );
    assert.equal(p.e, Date.parse(d.expiresAt));

    // The segments under the token play as before (validators and all).
    const seg = await get(`${folder}${lines[5]!.replace(/^/, 'hls/')}`);
    assert.equal(seg.status, 200);
    assert.deepEqual(seg.raw, SEGMENT);
    assert.ok(seg.headers.get('etag'));
  });

  it("a live playlist's key grant lives a few minutes, the same on every reload within the minute", async () => {
    const d = await deliveryFor('native-live');
    const first = await playlist('hls/live.m3u8', d.token);
    const again = await playlist('hls/live.m3u8', d.token);
    const grant = param(keyUri(first.lines[3]!), 'kg')!;
    assert.equal(param(keyUri(again.lines[3]!), 'kg'), grant);
    const e = payloadOf(grant).e as number;
    assert.ok(
      e > Date.now() + 299_000 && e <= Date.now() + 361_000,
      `expires in ${(e - Date.now()) / 1000} s`,
    );
    assert.ok(e <= Date.parse(d.expiresAt));
  });

  it('the key endpoint gives the key for a grant, without a header, and only of its resource', async () => {
    const d = await deliveryFor('native-3');
    const { lines } = await playlist('hls/v.m3u8', d.token);
    const uri = keyUri(lines[3]!);
    const key = await get(new URL(uri).pathname + new URL(uri).search);
    assert.equal(key.status, 200, JSON.stringify(key.body));
    assert.equal(key.headers.get('content-type'), 'application/octet-stream');
    assert.equal(key.raw.length, 16);
    // The same bytes the viewer token gets.
    const withToken = await call(`${server.url}/v1/license/hls/${kids[0]}`, {
      token: await viewer('native-3'),
    });
    assert.deepEqual(key.raw, withToken.raw);
    assert.ok(key.headers.get('vigil-watermark'));
    const grant = param(uri, 'kg')!;
    const second = await get(`/v1/license/hls/${kids[1]}?kg=${grant}`);
    assert.equal(second.status, 200);
    // Another resource's key: refused.
    const other = await get(`/v1/license/hls/${otherKid}?kg=${grant}`);
    assert.equal(other.status, 403);
    assert.equal(other.body.code, 'resource_mismatch');
    // A grant from another resource's playlist doesn't open this one's keys.
    const otherDelivery = await deliveryFor('native-3', OTHER);
    const otherPlaylist = await get(`/origin/default/${OTHER}/master.m3u8?vd=${otherDelivery.token}`);
    const otherGrant = param(keyUri((otherPlaylist.body as string).split('\n')[3]!), 'kg')!;
    assert.equal(payloadOf(otherGrant).r, OTHER);
    const crossed = await get(`/v1/license/hls/${kids[0]}?kg=${otherGrant}`);
    assert.equal(crossed.status, 403);
    assert.equal(crossed.body.code, 'resource_mismatch');
  });

  it('a key grant is its own kind: accepted nowhere else, and nothing else is accepted as one', async () => {
    const d = await deliveryFor('native-4');
    const { lines } = await playlist('hls/v.m3u8', d.token);
    const grant = param(keyUri(lines[3]!), 'kg')!;
    assert.match(grant, /^kg1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}$/);
    // Not a viewer token: not for licenses, keys (as a token), heartbeats or delivery.
    const license = await call(`${server.url}/v1/license/clearkey`, {
      token: grant,
      body: { kids: [kidB64(kids[0]!)], type: 'temporary' },
    });
    assert.equal(license.status, 401);
    const asToken = await get(`/v1/license/hls/${kids[0]}?token=${grant}`);
    assert.equal(asToken.status, 401);
    const asBearer = await call(`${server.url}/v1/license/hls/${kids[0]}`, { token: grant });
    assert.equal(asBearer.status, 401);
    const heartbeat = await call(`${server.url}/v1/heartbeat`, { method: 'POST', token: grant });
    assert.equal(heartbeat.status, 401);
    const delivery = await call(`${server.url}/v1/delivery`, { method: 'POST', token: grant });
    assert.equal(delivery.status, 401);
    // Not a delivery token: the origin refuses it.
    const origin = await get(`${folder}hls/v/1.m4s?vd=${grant}`);
    assert.equal(origin.status, 403);
    assert.equal(origin.body.code, 'delivery_malformed');
    const originCookie = await get(`${folder}hls/v/1.m4s`, { cookie: `vigil_delivery=${grant}` });
    assert.equal(originCookie.status, 403);
    // Neither a delivery token nor a viewer token is a key grant.
    for (const other of [d.token, await viewer('native-4'), 'kg1.x.y', 'garbage']) {
      const res = await get(`/v1/license/hls/${kids[0]}?kg=${encodeURIComponent(other)}`);
      assert.equal(res.status, 401, other);
      assert.equal(res.body.code, 'key_grant_malformed');
    }
    // A grant signed under the delivery secret (the other MAC key), or edited, fails its signature.
    const envelope = server.store.envelope;
    const deliverySecret = envelope.deriveKey('delivery:v1:default');
    const wrongKey = signKeyGrant(
      { tenantId: 'default', sessionId: 'native-4', resourceId: RES, expiresAt: Date.now() + 60_000 },
      deliverySecret,
    );
    const forged = await get(`/v1/license/hls/${kids[0]}?kg=${wrongKey}`);
    assert.equal(forged.status, 401);
    assert.equal(forged.body.code, 'key_grant_signature');
    const mac = grant.split('.')[2];
    const edited = Buffer.from(JSON.stringify({ ...payloadOf(grant), s: 'someone-else' }), 'utf8').toString(
      'base64url',
    );
    const tampered = await get(`/v1/license/hls/${kids[0]}?kg=kg1.${edited}.${mac}`);
    assert.equal(tampered.status, 401);
    assert.equal(tampered.body.code, 'key_grant_signature');
    // The delivery verifier refuses a grant signed like a delivery token's payload, too.
    const grantSecret = envelope.deriveKey(keyGrantKeyLabel('default'));
    const asDelivery = signDelivery(
      { tenantId: 'default', prefix: folder, expiresAt: Date.now() + 60_000, sessionId: 'native-4' },
      grantSecret,
    );
    const originForged = await get(`${folder}hls/v/1.m4s?vd=${asDelivery}`);
    assert.equal(originForged.status, 403);
    assert.equal(originForged.body.code, 'delivery_signature');
    assert.equal(verifyKeyGrant(asDelivery, { now: Date.now(), secretFor: () => grantSecret }).ok, false);
  });

  it('a key grant is bound to its address and expires', async () => {
    const secret = server.store.envelope.deriveKey(keyGrantKeyLabel('default'));
    const elsewhere = signKeyGrant(
      {
        tenantId: 'default',
        sessionId: 'native-5',
        resourceId: RES,
        expiresAt: Date.now() + 60_000,
        ip: '10.1.2.3',
      },
      secret,
    );
    const bound = await get(`/v1/license/hls/${kids[0]}?kg=${elsewhere}`);
    assert.equal(bound.status, 403);
    assert.equal(bound.body.code, 'ip_mismatch');
    const expired = signKeyGrant(
      { tenantId: 'default', sessionId: 'native-5', resourceId: RES, expiresAt: Date.now() - 1000 },
      secret,
    );
    const late = await get(`/v1/license/hls/${kids[0]}?kg=${expired}`);
    assert.equal(late.status, 401);
    assert.equal(late.body.code, 'key_grant_expired');
    const unbound = signKeyGrant(
      { tenantId: 'default', sessionId: 'native-5', resourceId: RES, expiresAt: Date.now() + 60_000 },
      secret,
    );
    assert.equal((await get(`/v1/license/hls/${kids[0]}?kg=${unbound}`)).status, 200);
  });

  it('a token from the cookie: media URIs are left as they are, key URIs still get a grant', async () => {
    const d = await deliveryFor('native-6');
    const res = await get(`${folder}hls/v.m3u8`, { cookie: `vigil_delivery=${d.token}` });
    assert.equal(res.status, 200);
    const lines = (res.body as string).split('\r\n');
    const original = media(true).split('\r\n');
    for (const n of [2, 5, 8, 11, 20]) assert.equal(lines[n], original[n]);
    const grant = param(keyUri(lines[3]!), 'kg');
    assert.ok(grant?.startsWith('kg1.'));
    assert.equal(payloadOf(grant!).s, 'native-6');
  });

  it('no session in the delivery token: no key grants; not a playlist: served as it is', async () => {
    const signed = await call(`${server.url}/v1/delivery/sign`, {
      token: server.apiKey,
      body: { resourceId: RES },
    });
    assert.equal(signed.status, 200);
    const { lines } = await playlist('hls/v.m3u8', signed.body.token);
    assert.equal(lines[3], media(true).split('\r\n')[3]);
    assert.equal(lines[5], `v/1.m4s?vd=${signed.body.token}`);
    // Beyond the bound (4 MiB), a playlist is served as the file it is.
    const big = `#EXTM3U\n${'#EXTINF:2,\nv/1.m4s\n'.repeat(Math.ceil((4 * 1024 * 1024) / 17) + 10)}`;
    write('hls/big.m3u8', big);
    const large = await get(`${folder}hls/big.m3u8?vd=${signed.body.token}`);
    assert.equal(large.status, 200);
    assert.equal(large.raw.length, Buffer.byteLength(big));
    assert.ok(large.headers.get('etag'));
    const plain = await get(`${folder}hls/not-a-playlist.m3u8?vd=${signed.body.token}`);
    assert.equal(plain.status, 200);
    assert.equal(plain.body, 'hello\n');
    assert.ok(plain.headers.get('etag'));
    assert.equal(plain.headers.get('cache-control'), 'private, no-cache');
  });

  it("a banned session's key grants and segments are refused; a banned address's too", async () => {
    const session = 'native-banned';
    const d = await deliveryFor(session);
    const { lines } = await playlist('hls/v.m3u8', d.token);
    const grant = param(keyUri(lines[3]!), 'kg')!;
    assert.equal((await get(`/v1/license/hls/${kids[0]}?kg=${grant}`)).status, 200);
    assert.equal((await get(`${folder}hls/v/1.m4s?vd=${d.token}`)).status, 200);
    const ban = await call(`${server.url}/v1/bans`, { token: server.apiKey, body: { sessionId: session } });
    assert.equal(ban.status, 201);
    const key = await get(`/v1/license/hls/${kids[1]}?kg=${grant}`);
    assert.equal(key.status, 403);
    assert.equal(key.body.code, 'banned');
    const segment = await get(`${folder}hls/v/1.m4s?vd=${d.token}`);
    assert.equal(segment.status, 403);
    assert.equal(segment.body.code, 'banned');
    const again = await get(`${folder}hls/v.m3u8?vd=${d.token}`);
    assert.equal(again.status, 403);
    // The key refusal is in the session's access log (written within a flush interval).
    const deadline = Date.now() + 10_000;
    for (;;) {
      const log = await call(`${server.url}/v1/access-logs?sessionId=${session}&action=accessDenied`, {
        token: server.apiKey,
      });
      assert.equal(log.status, 200, JSON.stringify(log.body));
      const entries = log.body.entries as { metadata: { endpoint?: string; reason?: string } | null }[];
      if (entries.some((e) => e.metadata?.endpoint === 'hls' && e.metadata.reason === 'banned')) break;
      assert.ok(Date.now() < deadline, `no refusal logged: ${JSON.stringify(entries)}`);
      await new Promise((r) => setTimeout(r, 200));
    }

    // By address: every session from it.
    const d2 = await deliveryFor('native-ip');
    const grant2 = param(keyUri((await playlist('hls/v.m3u8', d2.token)).lines[3]!), 'kg')!;
    const ipBan = await call(`${server.url}/v1/bans`, { token: server.apiKey, body: { ip: '127.0.0.1' } });
    assert.equal(ipBan.status, 201);
    try {
      const byIp = await get(`/v1/license/hls/${kids[0]}?kg=${grant2}`);
      assert.equal(byIp.status, 403);
      assert.equal(byIp.body.code, 'banned');
      assert.equal((await get(`${folder}hls/v/1.m4s?vd=${d2.token}`)).status, 403);
    } finally {
      const del = await call(`${server.url}/v1/bans/${ipBan.body.id}`, {
        method: 'DELETE',
        token: server.apiKey,
      });
      assert.equal(del.status, 204);
    }
    assert.equal((await get(`/v1/license/hls/${kids[0]}?kg=${grant2}`)).status, 200);
  });
});
