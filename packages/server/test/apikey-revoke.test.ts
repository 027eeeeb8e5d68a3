/**
 * Revoking an API key revokes that key only: keys sharing its 8-character prefix (operator-chosen keys
 * can) are refused as ambiguous (409 apikey_ambiguous) unless `?all=true` says so, and a tenant admin
 * cannot revoke the platform key.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { call, startVigil, type TestServer } from '../../../test/support/vigil.ts';

describe('API key revocation', () => {
  let server: TestServer;
  const first = `vk_same_${'a'.repeat(32)}`;
  const second = `vk_same_${'b'.repeat(32)}`;

  before(async () => {
    server = await startVigil();
    await server.store.storeApiKey('default', 'operator', 'first', first);
    await server.store.storeApiKey('default', 'operator', 'second', second);
  });
  after(async () => {
    await server.close();
  });

  const works = async (key: string) => (await call(`${server.url}/v1/bans`, { token: key })).status === 200;
  const revoke = (prefix: string, token = server.apiKey, query = '') =>
    call(`${server.url}/v1/apikeys/${prefix}${query}`, { method: 'DELETE', token });

  it('refuses a prefix two keys share, and revokes both only when told', async () => {
    const ambiguous = await revoke('vk_same_');
    assert.equal(ambiguous.status, 409, JSON.stringify(ambiguous.body));
    assert.equal(ambiguous.body.code, 'apikey_ambiguous');
    assert.ok((await works(first)) && (await works(second)), 'neither key was revoked');
    assert.equal((await revoke('vk_same_', server.apiKey, '?all=true')).status, 204);
    assert.ok(!(await works(first)) && !(await works(second)));
    assert.equal((await revoke('vk_same_')).status, 404);
  });

  it("a tenant admin can't revoke the platform key", async () => {
    const admin = await call(`${server.url}/v1/apikeys`, { token: server.apiKey, body: { role: 'admin' } });
    assert.equal(admin.status, 201);
    const res = await revoke(server.apiKey.slice(0, 8), admin.body.key);
    assert.equal(res.status, 403, JSON.stringify(res.body));
    assert.equal(res.body.code, 'forbidden');
    assert.ok(await works(server.apiKey));
    assert.equal((await revoke(admin.body.prefix, admin.body.key)).status, 204, 'its own key it may');
    assert.ok(!(await works(admin.body.key)));
  });
});
