/**
 * Rotating a tenant's HS256 viewer-token secret: `POST /v1/tenant/secret/rotate` answers the new secret
 * once; tokens signed with it are admitted at once, tokens signed with the old one only for the grace
 * period, then refused. The rotation is the tenant's own (another tenant's tokens are untouched), needs
 * the admin role, validates its input, and survives a restart; `vigil tenant rotate-secret` does the same.
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import {
  call,
  createKeys,
  kidB64,
  runCli,
  startVigil,
  type TestServer,
  tempDir,
  viewerToken,
} from '../../../test/support/vigil.ts';

const RESOURCE = 'rotation-film';

describe('viewer-token secret rotation', () => {
  const dataDir = tempDir('vigil-rotation-');
  const masterKey = '5a'.repeat(32);
  let server: TestServer;
  let kids: string[];
  let other: { id: string; jwtSecret: string; apiKey: string };
  let rotated: string;

  const license = (token: string) =>
    call(`${server.url}/v1/license/clearkey`, { token, body: { kids: kids.map(kidB64) } });

  before(async () => {
    server = await startVigil({ dataDir, masterKey });
    kids = await createKeys(server, RESOURCE);
    const res = await call(`${server.url}/v1/tenants`, { token: server.apiKey, body: { id: 'other' } });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    other = res.body;
  });

  after(async () => {
    await server?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('answers a new secret once; the old one verifies only for the grace period', async () => {
    const before = await viewerToken(server.secret, { resourceId: RESOURCE });
    assert.equal((await license(before)).status, 200);
    const otherToken = await viewerToken(other.jwtSecret, { resourceId: RESOURCE, tenant: 'other' });

    const res = await call(`${server.url}/v1/tenant/secret/rotate`, {
      token: server.apiKey,
      body: { graceSeconds: 2 },
    });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    rotated = res.body.jwtSecret;
    assert.ok(rotated.length >= 32 && rotated !== server.secret);
    assert.ok(Math.abs(res.body.previousSecretValidUntil - (Date.now() + 2000)) < 1500);
    const settings = await call(`${server.url}/v1/tenant`, { token: server.apiKey });
    assert.equal(settings.body.previousSecretValidUntil, res.body.previousSecretValidUntil);

    const after = await viewerToken(rotated, { resourceId: RESOURCE });
    assert.equal((await license(after)).status, 200, 'a token signed with the new secret');
    assert.equal((await license(before)).status, 200, 'the old secret, within the grace period');
    await new Promise((r) => setTimeout(r, 2300));
    const refused = await license(await viewerToken(server.secret, { resourceId: RESOURCE }));
    assert.equal(refused.status, 401, JSON.stringify(refused.body));
    assert.equal(refused.body.code, 'token_invalid', JSON.stringify(refused.body));
    assert.equal((await license(after)).status, 200);
    const settingsLater = await call(`${server.url}/v1/tenant`, { token: server.apiKey });
    assert.equal(settingsLater.body.previousSecretValidUntil, undefined);
    // Another tenant's secret is its own.
    const otherLicense = await call(`${server.url}/v1/license/clearkey`, {
      token: otherToken,
      body: { kids: kids.map(kidB64) },
    });
    assert.notEqual(otherLicense.body.code, 'token_invalid', JSON.stringify(otherLicense.body));
  });

  it('needs the admin role and a valid grace period', async () => {
    const readonly = await call(`${server.url}/v1/apikeys`, {
      token: server.apiKey,
      body: { name: 'viewer', role: 'readonly' },
    });
    assert.equal(readonly.status, 201, JSON.stringify(readonly.body));
    const denied = await call(`${server.url}/v1/tenant/secret/rotate`, {
      token: readonly.body.key,
      body: {},
    });
    assert.equal(denied.status, 403, JSON.stringify(denied.body));
    for (const body of [
      { graceSeconds: -1 },
      { graceSeconds: 8 * 86_400 },
      { graceSeconds: 'soon' },
      { x: 1 },
    ]) {
      const bad = await call(`${server.url}/v1/tenant/secret/rotate`, { token: server.apiKey, body });
      assert.equal(bad.status, 400, `${JSON.stringify(body)}: ${JSON.stringify(bad.body)}`);
    }
    const unauthenticated = await call(`${server.url}/v1/tenant/secret/rotate`, { body: {} });
    assert.equal(unauthenticated.status, 401);
    // Nothing changed: the rotated secret still verifies.
    assert.equal((await license(await viewerToken(rotated, { resourceId: RESOURCE }))).status, 200);
  });

  it('survives a restart, and the CLI rotates too (no grace: the old secret stops at once)', async () => {
    await server.close();
    server = await startVigil({ dataDir, masterKey, jwtSecret: null });
    assert.equal((await license(await viewerToken(rotated, { resourceId: RESOURCE }))).status, 200);
    await server.close();
    const env = { VIGIL_MASTER_KEY: masterKey, VIGIL_JWT_SECRET: '' };
    const cli = await runCli(['tenant', 'rotate-secret', '--data', dataDir, '--grace', '0'], env);
    assert.equal(cli.code, 0, cli.stderr);
    const secret = /secret \(HS256\): (\S+)/.exec(cli.stdout)?.[1];
    assert.ok(secret, cli.stdout);
    server = await startVigil({ dataDir, masterKey, jwtSecret: null });
    assert.equal((await license(await viewerToken(secret, { resourceId: RESOURCE }))).status, 200);
    const old = await license(await viewerToken(rotated, { resourceId: RESOURCE }));
    assert.equal(old.status, 401, JSON.stringify(old.body));
    assert.equal(old.body.code, 'token_invalid');
    const bad = await runCli(['tenant', 'rotate-secret', '--data', dataDir, '--grace', 'x'], env);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /grace/i);
  });
});
