/**
 * The outbound guard over HTTP: a tenant's URL (`POST /v1/detections`, `POST /v1/watches`) never makes
 * the server reach its own network unless the operator allowed it. Loopback, private, link-local,
 * CGNAT, metadata and unspecified addresses, in every written form (IPv6, IPv4-mapped, NAT64), names
 * that resolve to them (`localhost`) and redirects that lead to them are refused with 400
 * `url_forbidden`, naming why and how to allow it; an address the operator allowed passes, and is
 * checked again at each redirect hop.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { call, startVigil, type TestServer } from '../../../test/support/vigil.ts';

/** An HTTP server on 127.0.0.2 (the address the operator allowed): a playlist, and redirects. */
async function startAllowedHost(privatePort: () => number): Promise<{ server: Server; base: string }> {
  const server = createServer((req, res) => {
    if (req.url === '/live.m3u8') {
      res.writeHead(200, { 'content-type': 'application/vnd.apple.mpegurl' });
      res.end('#EXTM3U\n#EXT-X-TARGETDURATION:2\n');
    } else if (req.url === '/to-private') {
      res.writeHead(302, { location: `http://127.0.0.1:${privatePort()}/secret` });
      res.end();
    } else if (req.url === '/to-metadata') {
      res.writeHead(307, { location: 'http://169.254.169.254/latest/meta-data/' });
      res.end();
    } else if (req.url === '/loop') {
      res.writeHead(302, { location: '/loop' });
      res.end();
    } else {
      res.writeHead(404);
      res.end();
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.2', r));
  return { server, base: `http://127.0.0.2:${(server.address() as AddressInfo).port}` };
}

describe('outbound URL guard', () => {
  let vigil: TestServer;
  let allowed: { server: Server; base: string };
  let internal: Server;
  let internalHits = 0;

  before(async () => {
    // An "internal service" on loopback that no tenant's URL may reach.
    internal = createServer((_req, res) => {
      internalHits++;
      res.end('internal');
    });
    await new Promise<void>((r) => internal.listen(0, '127.0.0.1', r));
    const internalPort = (internal.address() as AddressInfo).port;
    allowed = await startAllowedHost(() => internalPort);
    vigil = await startVigil({
      config: {
        detectOutbound: { allowPrivate: false, allowAddresses: ['127.0.0.2'] },
        detectConcurrency: 0,
      },
    });
  });

  after(async () => {
    await vigil?.close();
    allowed?.server.close();
    internal?.close();
  });

  const detection = (url: string) =>
    call(`${vigil.url}/v1/detections`, { token: vigil.apiKey, body: { url } });

  it('refuses loopback, private, link-local, CGNAT, metadata and unspecified addresses in every form', async () => {
    const port = (internal.address() as AddressInfo).port;
    const refused: [string, RegExp][] = [
      [`http://127.0.0.1:${port}/`, /loopback/],
      [`http://10.1.2.3:${port}/`, /private/],
      ['http://172.20.0.5/', /private/],
      ['http://192.168.1.1/', /private/],
      [`http://[::1]:${port}/`, /loopback/],
      [`http://[::ffff:127.0.0.1]:${port}/`, /loopback/],
      [`http://[::ffff:7f00:1]:${port}/`, /loopback/],
      ['http://[64:ff9b::a9fe:a9fe]/', /link-local.*NAT64/],
      ['http://[2002:7f00:1::]/', /loopback.*6to4/],
      ['http://169.254.169.254/latest/meta-data/', /link-local/],
      ['http://100.100.100.200/', /carrier-grade NAT/],
      ['http://0.0.0.0/', /unspecified/],
      ['http://[::]/', /unspecified/],
      ['http://[fd00:ec2::254]/', /unique local/],
      ['http://[fe80::1]/', /link-local/],
      ['http://224.0.0.1/', /multicast/],
      [`http://localhost:${port}/`, /"localhost" resolves to (127\.0\.0\.1|::1), a loopback address/],
    ];
    for (const [url, why] of refused) {
      const res = await detection(url);
      assert.equal(res.status, 400, `${url}: ${JSON.stringify(res.body)}`);
      assert.equal(res.body.code, 'url_forbidden', url);
      assert.match(res.body.message, why, url);
      assert.match(res.body.message, /VIGIL_DETECT_ALLOW_PRIVATE=1/, url);
    }
    assert.equal(internalHits, 0, 'the internal service was never reached');
  });

  it('refuses other schemes and credentials in the URL', async () => {
    for (const url of ['ftp://example.com/clip.mp4', 'file:///etc/passwd', 'gopher://127.0.0.2/']) {
      const res = await detection(url);
      assert.equal(res.status, 400, url);
      assert.equal(res.body.code, 'url_forbidden', url);
    }
    const creds = await detection(`http://user:secret@127.0.0.2:1/`);
    assert.equal(creds.body.code, 'url_forbidden');
    const notUrl = await detection('not a url');
    assert.equal(notUrl.body.code, 'invalid_url');
  });

  it('lets an address the operator allowed through, and checks every redirect hop', async () => {
    const ok = await detection(`${allowed.base}/live.m3u8`);
    assert.equal(ok.status, 202, JSON.stringify(ok.body));
    assert.match(ok.body.id, /^det_/);
    assert.equal(ok.body.status, 'queued');

    const toPrivate = await detection(`${allowed.base}/to-private`);
    assert.equal(toPrivate.status, 400, JSON.stringify(toPrivate.body));
    assert.equal(toPrivate.body.code, 'url_forbidden');
    assert.match(toPrivate.body.message, /127\.0\.0\.1 is a loopback address/);
    const toMetadata = await detection(`${allowed.base}/to-metadata`);
    assert.equal(toMetadata.body.code, 'url_forbidden');
    assert.match(toMetadata.body.message, /169\.254\.169\.254/);
    assert.equal(internalHits, 0);

    const loop = await detection(`${allowed.base}/loop`);
    assert.equal(loop.status, 400);
    assert.equal(loop.body.code, 'url_unreachable');
    assert.match(loop.body.message, /redirects/);
    const missing = await detection(`${allowed.base}/nothing-here`);
    assert.equal(missing.body.code, 'url_unreachable');
    assert.match(missing.body.message, /404/);
  });

  it('guards watches the same way', async () => {
    const port = (internal.address() as AddressInfo).port;
    const res = await call(`${vigil.url}/v1/watches`, {
      token: vigil.apiKey,
      body: { url: `http://127.0.0.1:${port}/live.m3u8`, mode: 'color', autoBan: true },
    });
    assert.equal(res.status, 400);
    assert.equal(res.body.code, 'url_forbidden');
    const redirected = await call(`${vigil.url}/v1/watches`, {
      token: vigil.apiKey,
      body: { url: `${allowed.base}/to-private`, mode: 'color' },
    });
    assert.equal(redirected.body.code, 'url_forbidden');
    assert.equal(internalHits, 0);
  });
});
