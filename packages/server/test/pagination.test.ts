/**
 * Every list endpoint is paginated: keyset order, opaque cursors, `limit` with a default and a maximum,
 * `next` null on the last page, 400 `invalid_limit` / `invalid_cursor`; the seed-compatible `/get/` keeps
 * its body and says "more" in `Vigil-Next-Cursor`. Run on the embedded store and on PostgreSQL.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { SignJWT } from 'jose';
import pg from 'pg';
import {
  call,
  startVigil,
  TEST_DATABASE_URL,
  type TestServer,
  uniqueSchema,
  viewerToken,
} from '../../../test/support/vigil.ts';

/** Reads a list to its end with `limit`, checking each page's size and that next is null only at the end. */
async function readAll(
  server: TestServer,
  path: string,
  field: string,
  limit: number,
  apiKey = server.apiKey,
): Promise<{ items: Record<string, unknown>[]; pages: number }> {
  const items: Record<string, unknown>[] = [];
  let cursor: string | null = null;
  let pages = 0;
  const sep = path.includes('?') ? '&' : '?';
  do {
    const url: string = `${server.url}${path}${sep}limit=${limit}${cursor ? `&cursor=${cursor}` : ''}`;
    const res = await call(url, { token: apiKey });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const page = res.body[field] as Record<string, unknown>[];
    assert.ok(page.length <= limit);
    assert.ok('next' in res.body, 'every page says whether another follows');
    if (res.body.next !== null) {
      assert.equal(page.length, limit, 'only a full page has a next one');
      assert.match(res.body.next, /^[A-Za-z0-9_-]+$/, 'cursors are base64url');
    }
    items.push(...page);
    cursor = res.body.next;
    pages++;
  } while (cursor !== null);
  return { items, pages };
}

async function ban(server: TestServer, sessionId: string): Promise<string> {
  const res = await call(`${server.url}/v1/bans`, { token: server.apiKey, body: { sessionId } });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  return res.body.id;
}

/** A seed-style compat admin JWT (HS256, iat as jsonwebtoken adds it). */
const compatAdmin = (secret: string) =>
  new SignJWT({})
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setIssuedAt()
    .sign(new TextEncoder().encode(secret));

function suite(
  name: string,
  start: () => Promise<TestServer>,
  cleanup: () => Promise<void> = async () => {},
) {
  describe(`pagination (${name})`, () => {
    let server: TestServer;
    const banned: string[] = [];

    before(async () => {
      server = await start();
      for (let i = 0; i < 105; i += 15) {
        const batch = Array.from(
          { length: Math.min(15, 105 - i) },
          (_, j) => `paged-${String(i + j).padStart(3, '0')}`,
        );
        await Promise.all(batch.map((s) => ban(server, s)));
        banned.push(...batch);
      }
    });
    after(async () => {
      await server?.close();
      await cleanup();
    });

    it('GET /v1/bans: 100 by default, then the rest; next is null at the end', async () => {
      const first = await call(`${server.url}/v1/bans`, { token: server.apiKey });
      assert.equal(first.status, 200);
      assert.equal(first.body.bans.length, 100);
      assert.equal(typeof first.body.next, 'string');
      const second = await call(`${server.url}/v1/bans?cursor=${first.body.next}`, { token: server.apiKey });
      assert.equal(second.status, 200);
      assert.equal(second.body.bans.length, 5);
      assert.equal(second.body.next, null);
      const all = [...first.body.bans, ...second.body.bans].map((b: { value: string }) => b.value);
      assert.deepEqual(new Set(all), new Set(banned), 'every ban once');
      assert.equal(all.length, banned.length);
      const created = [...first.body.bans, ...second.body.bans].map((b: { createdAt: string }) =>
        Date.parse(b.createdAt),
      );
      assert.deepEqual(
        created,
        [...created].sort((a, b) => a - b),
        'oldest first',
      );
      assert.ok(Array.isArray(first.body.bans[0].sightings));
    });

    it('pages are keyset: a ban lifted or added between pages neither repeats nor skips others', async () => {
      const page1 = await call(`${server.url}/v1/bans?limit=40`, { token: server.apiKey });
      assert.equal(page1.body.bans.length, 40);
      const seen = page1.body.bans.map((b: { value: string }) => b.value);
      // Lift one already read and add a new one: the rest of the walk is unchanged, plus the new one.
      const lifted = page1.body.bans[3];
      assert.equal(
        (await call(`${server.url}/v1/bans/${lifted.id}`, { method: 'DELETE', token: server.apiKey })).status,
        204,
      );
      await ban(server, 'paged-late');
      let cursor = page1.body.next;
      while (cursor) {
        const res = await call(`${server.url}/v1/bans?limit=40&cursor=${cursor}`, { token: server.apiKey });
        assert.equal(res.status, 200);
        seen.push(...res.body.bans.map((b: { value: string }) => b.value));
        cursor = res.body.next;
      }
      assert.equal(new Set(seen).size, seen.length, 'no ban twice');
      assert.deepEqual(new Set(seen), new Set([...banned, 'paged-late']));
      // Restore the lifted ban for the other cases.
      await ban(server, lifted.value);
      const del = await call(`${server.url}/v1/bans?limit=1000`, { token: server.apiKey });
      const late = del.body.bans.find((b: { value: string }) => b.value === 'paged-late');
      if (late) await call(`${server.url}/v1/bans/${late.id}`, { method: 'DELETE', token: server.apiKey });
    });

    it('refuses a bad limit with 400 invalid_limit', async () => {
      for (const limit of ['0', '-1', '1001', 'abc', '2.5', '']) {
        const res = await call(`${server.url}/v1/bans?limit=${limit}`, { token: server.apiKey });
        assert.equal(res.status, 400, `limit=${limit}`);
        assert.equal(res.body.code, 'invalid_limit', `limit=${limit}`);
      }
      const max = await call(`${server.url}/v1/bans?limit=1000`, { token: server.apiKey });
      assert.equal(max.status, 200);
      assert.equal(max.body.next, null);
    });

    it('refuses forged, altered or foreign cursors with 400 invalid_cursor', async () => {
      const bans = await call(`${server.url}/v1/bans?limit=2`, { token: server.apiKey });
      const good: string = bans.body.next;
      const flipped = `${good.slice(0, 20)}${good[20] === 'A' ? 'B' : 'A'}${good.slice(21)}`;
      const keys = await call(`${server.url}/v1/apikeys?limit=1`, { token: server.apiKey });
      await call(`${server.url}/v1/apikeys`, { token: server.apiKey, body: { role: 'readonly' } });
      const keys2 = await call(`${server.url}/v1/apikeys?limit=1`, { token: server.apiKey });
      const apiKeyCursor: string = keys.body.next ?? keys2.body.next;
      assert.equal(typeof apiKeyCursor, 'string');
      for (const cursor of ['abc', 'a+b/c=', flipped, good.slice(0, -4), apiKeyCursor, 'x'.repeat(2000)]) {
        const res = await call(`${server.url}/v1/bans?cursor=${encodeURIComponent(cursor)}`, {
          token: server.apiKey,
        });
        assert.equal(res.status, 400, cursor);
        assert.equal(res.body.code, 'invalid_cursor', cursor);
      }
      // Another tenant can't use this tenant's cursor (nor learn anything from it).
      const other = await call(`${server.url}/v1/tenants`, {
        token: server.apiKey,
        body: { id: 'paging-other' },
      });
      assert.equal(other.status, 201);
      const foreign = await call(`${server.url}/v1/bans?cursor=${good}`, { token: other.body.apiKey });
      assert.equal(foreign.status, 400);
      assert.equal(foreign.body.code, 'invalid_cursor');
    });

    it('GET /v1/keys pages through a resource’s keys by key period', async () => {
      const made = await call(`${server.url}/v1/keys`, {
        token: server.apiKey,
        body: { resourceId: 'paged-res', periods: 7, trackTypes: ['audio', 'sd'] },
      });
      assert.equal(made.status, 201);
      const { items, pages } = await readAll(server, '/v1/keys?resourceId=paged-res', 'keys', 5);
      assert.equal(pages, 3);
      assert.deepEqual(
        items.map((k) => k.kid),
        made.body.keys.map((k: { kid: string }) => k.kid),
      );
      assert.ok(
        items.every((k) => !('key' in k)),
        'never key bytes',
      );
    });

    it('GET /v1/apikeys and GET /v1/tenants page too', async () => {
      for (let i = 0; i < 4; i++) {
        const res = await call(`${server.url}/v1/apikeys`, {
          token: server.apiKey,
          body: { role: 'readonly', name: `paged-${i}` },
        });
        assert.equal(res.status, 201);
      }
      const keys = await readAll(server, '/v1/apikeys', 'apiKeys', 2);
      assert.ok(keys.items.length >= 5);
      assert.equal(new Set(keys.items.map((k) => k.prefix)).size, keys.items.length);
      assert.ok(keys.items.every((k) => !('hash' in k) && !('key' in k)));

      for (const id of ['paging-t1', 'paging-t2', 'paging-t3']) {
        assert.equal(
          (await call(`${server.url}/v1/tenants`, { token: server.apiKey, body: { id } })).status,
          201,
        );
      }
      const tenants = await readAll(server, '/v1/tenants', 'tenants', 2);
      const ids = tenants.items.map((t) => t.id as string);
      for (const id of ['default', 'paging-t1', 'paging-t2', 'paging-t3']) assert.ok(ids.includes(id), id);
      assert.deepEqual(ids, [...ids].sort(), 'by id');
    });

    it('GET /v1/sessions/by-tag/:tag pages the sessions of a tag', async () => {
      // Several sessions behind one tag only happen by collision, so they are recorded directly.
      const now = Date.now();
      await server.store.recordSessionTags(
        Array.from({ length: 7 }, (_, i) => ({
          tenantId: 'default',
          tag: 4242,
          sessionId: `tagged-${i}`,
          firstSeen: now + i,
        })),
      );
      const { items, pages } = await readAll(server, '/v1/sessions/by-tag/4242', 'sessions', 3);
      assert.equal(pages, 3);
      assert.deepEqual(
        items.map((s) => s.sessionId),
        Array.from({ length: 7 }, (_, i) => `tagged-${i}`),
      );
    });

    it('GET /v1/live/channels pages the channels by id', async () => {
      for (const id of ['paged-c', 'paged-a', 'paged-b']) {
        const res = await call(`${server.url}/v1/live/channels/${id}`, {
          method: 'PUT',
          token: server.apiKey,
          body: { input: 'test', start: false },
        });
        assert.ok(res.status === 201, JSON.stringify(res.body));
      }
      const { items, pages } = await readAll(server, '/v1/live/channels', 'channels', 2);
      assert.equal(pages, 2);
      assert.deepEqual(
        items.map((c) => c.id),
        ['paged-a', 'paged-b', 'paged-c'],
      );
    });

    it('GET /v1/access-logs pages newest first, and a cursor belongs to its filter', async () => {
      const token = await viewerToken(server.secret, { sessionId: 'paged-viewer' });
      for (let i = 0; i < 5; i++) {
        const res = await call(`${server.url}/v1/events`, {
          token,
          body: { action: 'streamProgress', detail: { i } },
        });
        assert.equal(res.status, 202);
      }
      const { items } = await readAll(server, '/v1/access-logs?sessionId=paged-viewer', 'entries', 2);
      assert.equal(items.length, 5);
      const at = items.map((e) => Date.parse(e.at as string));
      assert.deepEqual(
        at,
        [...at].sort((a, b) => b - a),
        'newest first',
      );
      const first = await call(`${server.url}/v1/access-logs?sessionId=paged-viewer&limit=2`, {
        token: server.apiKey,
      });
      const other = await call(
        `${server.url}/v1/access-logs?sessionId=someone-else&limit=2&cursor=${first.body.next}`,
        { token: server.apiKey },
      );
      assert.equal(other.status, 400);
      assert.equal(other.body.code, 'invalid_cursor');
    });

    it('compat /get/ keeps its body, caps the banned ids and says more in Vigil-Next-Cursor', async () => {
      const get = async (query = '') =>
        call(`${server.url}/qualabs/get/${query}`, {
          rawBody: await compatAdmin(server.secret),
          headers: { 'content-type': 'text/plain' },
        });
      const whole = await get();
      assert.equal(whole.status, 200, JSON.stringify(whole.body));
      assert.deepEqual(Object.keys(whole.body).sort(), ['banned', 'watermarking', 'wmOptions']);
      assert.equal(whole.headers.get('vigil-next-cursor'), null, 'all fit under the default cap');
      assert.deepEqual(new Set(whole.body.banned), new Set(banned));

      const seen: string[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const res = await get(`?limit=50${cursor ? `&cursor=${cursor}` : ''}`);
        assert.equal(res.status, 200);
        assert.deepEqual(Object.keys(res.body).sort(), ['banned', 'watermarking', 'wmOptions']);
        seen.push(...res.body.banned);
        cursor = res.headers.get('vigil-next-cursor');
        pages++;
      } while (cursor !== null);
      assert.equal(pages, 3);
      assert.deepEqual(seen, whole.body.banned, 'the same ids in the same order');

      const badLimit = await get('?limit=5000');
      assert.equal(badLimit.status, 400);
      assert.equal(badLimit.body.code, 'invalid_limit');
      const badCursor = await get('?cursor=nope');
      assert.equal(badCursor.status, 400);
      assert.equal(badCursor.body.code, 'invalid_cursor');
    });
  });
}

suite('embedded store', () => startVigil());

const schema = uniqueSchema();
suite(
  'PostgreSQL',
  () =>
    startVigil({ databaseUrl: TEST_DATABASE_URL, pgSchema: schema }).catch((err) => {
      throw new Error(`PostgreSQL is required at ${TEST_DATABASE_URL}: ${(err as Error).message}`);
    }),
  async () => {
    const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
    await client.connect();
    try {
      await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    } finally {
      await client.end();
    }
  },
);
