/**
 * The embedded store is crash-safe: `vigil serve` runs as a child process while concurrent writes hit
 * its API (bans, unbans, key creations, watermark config changes); it is SIGKILLed at a random moment in
 * the middle of them and restarted on the same data folder, and every write it acknowledged (2xx) must
 * still be there, every multi-key creation must be all or nothing, and the database must be intact.
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import BetterSqlite3 from 'better-sqlite3';
import {
  type ChildServer,
  call,
  kidB64,
  spawnVigil,
  tempDir,
  viewerToken,
} from '../../../test/support/vigil.ts';

const ROUNDS = 10;
const WRITERS = 6;
const API_KEY = 'vk_crash_test_key_0123456789';
const JWT_SECRET = 'crash-test-viewer-secret-0123456789';
const ENV = {
  VIGIL_MASTER_KEY: '22'.repeat(32),
  VIGIL_API_KEY: API_KEY,
  VIGIL_JWT_SECRET: JWT_SECRET,
  // The embedded store, whatever this process's environment says.
  DATABASE_URL: '',
  VIGIL_PG_SCHEMA: '',
};

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** What the server acknowledged, across all rounds, and what was merely attempted. */
class Ledger {
  /** Acknowledged bans still expected: session id -> ban id. */
  readonly bans = new Map<string, string>();
  /** Every session a ban was attempted for (acknowledged or not). */
  readonly attemptedBans = new Set<string>();
  /** Ban ids whose removal was acknowledged. */
  readonly unbanned = new Set<string>();
  /** Acknowledged key creations: resource id -> kids. */
  readonly keys = new Map<string, string[]>();
  /** Every key creation attempted: resource id -> how many keys it makes. */
  readonly attemptedKeys = new Map<string, number>();
  /** Sequence numbers of watermark config writes: the last acknowledged and the last attempted. */
  configAcked = 0;
  configAttempted = 0;
  acks = 0;
  /** Requests sent and not yet answered. */
  inFlight = 0;
  /** Answers that were neither 2xx nor a dropped connection: each one is a bug. */
  readonly unexpected: string[] = [];
}

/** One writer: bans, unbans and key creations until told to stop. */
async function writer(url: string, ledger: Ledger, tag: string, stopped: () => boolean): Promise<void> {
  for (let i = 0; !stopped(); i++) {
    const roll = Math.random();
    ledger.inFlight++;
    try {
      if (roll < 0.45) {
        const sessionId = `${tag}-s${i}`;
        ledger.attemptedBans.add(sessionId);
        const res = await call(`${url}/v1/bans`, { token: API_KEY, body: { sessionId, reason: tag } });
        if (res.status !== 201) ledger.unexpected.push(`POST /v1/bans: ${res.status} ${res.raw}`);
        else {
          ledger.bans.set(sessionId, res.body.id);
          ledger.acks++;
        }
      } else if (roll < 0.6 && ledger.bans.size > 0) {
        // Lift an acknowledged ban; until the answer comes, it is neither expected nor unexpected.
        const [sessionId, id] = ledger.bans.entries().next().value as [string, string];
        ledger.bans.delete(sessionId);
        const res = await call(`${url}/v1/bans/${id}`, { method: 'DELETE', token: API_KEY });
        if (res.status !== 204) ledger.unexpected.push(`DELETE /v1/bans/${id}: ${res.status} ${res.raw}`);
        else {
          ledger.unbanned.add(id);
          ledger.acks++;
        }
      } else {
        const resourceId = `${tag}-r${i}`;
        const periods = 1 + Math.floor(Math.random() * 4);
        const trackTypes = Math.random() < 0.5 ? ['all'] : ['sd', 'hd'];
        ledger.attemptedKeys.set(resourceId, periods * trackTypes.length);
        const res = await call(`${url}/v1/keys`, {
          token: API_KEY,
          body: { resourceId, periods, trackTypes },
        });
        if (res.status !== 201) ledger.unexpected.push(`POST /v1/keys: ${res.status} ${res.raw}`);
        else {
          ledger.keys.set(
            resourceId,
            res.body.keys.map((k: { kid: string }) => k.kid),
          );
          ledger.acks++;
        }
      }
    } catch {
      // The connection dropped: the server was killed. Not acknowledged, so nothing is expected.
      await sleep(1);
    } finally {
      ledger.inFlight--;
    }
  }
}

/** Watermark config changes, one at a time, so acknowledgement order is commit order. */
async function configWriter(url: string, ledger: Ledger, stopped: () => boolean): Promise<void> {
  while (!stopped()) {
    const seq = ++ledger.configAttempted;
    ledger.inFlight++;
    try {
      const res = await call(`${url}/v1/watermark`, {
        method: 'PUT',
        token: API_KEY,
        body: {
          textIntervalSeconds: 1 + (seq % 3000),
          mode: seq % 2 ? 'color' : 'text',
          legacyOptions: { seq },
        },
      });
      if (res.status !== 200) ledger.unexpected.push(`PUT /v1/watermark: ${res.status} ${res.raw}`);
      else {
        ledger.configAcked = seq;
        ledger.acks++;
      }
    } catch {
      await sleep(1);
    } finally {
      ledger.inFlight--;
    }
  }
}

/** Runs `fn` over `items`, `width` at a time. */
async function eachLimited<T>(items: T[], width: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

/** Checks everything acknowledged so far against a freshly restarted server. */
async function verify(url: string, dir: string, ledger: Ledger): Promise<void> {
  const health = await call(`${url}/healthz`);
  assert.deepEqual(health.body, { status: 'ok', store: 'sqlite' });

  // Bans: every acknowledged one, none whose removal was acknowledged, nothing never asked for.
  // Every page of them (the list is paginated).
  const bans: { id: string; value: string }[] = [];
  let cursor: string | null = null;
  do {
    const page = await call(`${url}/v1/bans?limit=1000${cursor ? `&cursor=${cursor}` : ''}`, {
      token: API_KEY,
    });
    assert.equal(page.status, 200);
    bans.push(...page.body.bans);
    cursor = page.body.next;
  } while (cursor !== null);
  const stored = new Map(bans.map((b) => [b.value, b.id]));
  for (const [sessionId, id] of ledger.bans) {
    assert.equal(stored.get(sessionId), id, `acknowledged ban of ${sessionId} is missing`);
  }
  for (const b of bans) {
    assert.ok(!ledger.unbanned.has(b.id), `ban ${b.id} was lifted (acknowledged) but is back`);
    assert.ok(ledger.attemptedBans.has(b.value), `ban of ${b.value} was never asked for`);
  }

  // Keys: every acknowledged creation complete; every attempted one all or nothing.
  await eachLimited([...ledger.attemptedKeys], 8, async ([resourceId, count]) => {
    const res = await call(`${url}/v1/keys?resourceId=${resourceId}&limit=1000`, { token: API_KEY });
    assert.equal(res.status, 200);
    assert.equal(res.body.next, null);
    const kids = res.body.keys.map((k: { kid: string }) => k.kid).sort();
    const acked = ledger.keys.get(resourceId);
    if (acked) assert.deepEqual(kids, [...acked].sort(), `acknowledged keys of ${resourceId}`);
    else
      assert.ok(kids.length === 0 || kids.length === count, `${resourceId}: ${kids.length} of ${count} keys`);
  });

  // Some acknowledged keys still open (sealed under the master key) and are served.
  const resources = [...ledger.keys.keys()].slice(-3);
  for (const resourceId of resources) {
    const kids = ledger.keys.get(resourceId)!;
    const token = await viewerToken(JWT_SECRET, { resourceId, sessionId: 'crash-check' });
    const res = await call(`${url}/v1/license/clearkey`, { token, body: { kids: kids.map(kidB64) } });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(res.body.keys.length, kids.length);
  }

  // Watermark config: the last acknowledged change, or a later one that was in flight; never torn.
  const wm = (await call(`${url}/v1/watermark`, { token: API_KEY })).body;
  const seq = wm.legacyOptions?.seq ?? 0;
  assert.ok(
    seq >= ledger.configAcked && seq <= ledger.configAttempted,
    `watermark config #${seq}; acknowledged up to #${ledger.configAcked}, attempted up to #${ledger.configAttempted}`,
  );
  if (seq > 0) {
    assert.equal(wm.textIntervalSeconds, 1 + (seq % 3000));
    assert.equal(wm.mode, seq % 2 ? 'color' : 'text');
  }

  // The file itself is sound.
  const db = new BetterSqlite3(join(dir, 'vigil.db'), { readonly: true, fileMustExist: true });
  try {
    assert.equal(db.pragma('integrity_check', { simple: true }), 'ok');
    assert.deepEqual(db.pragma('foreign_key_check'), []);
  } finally {
    db.close();
  }
}

describe('embedded store crash safety', () => {
  const dir = tempDir('vigil-crash-');
  let child: ChildServer | undefined;

  after(async () => {
    await child?.kill();
    rmSync(dir, { recursive: true, force: true });
  });

  it(`keeps every acknowledged write across ${ROUNDS} SIGKILLs in the middle of writing`, async () => {
    const ledger = new Ledger();
    child = await spawnVigil(['--data', dir], ENV);
    const perRound: string[] = [];
    let verifiedAcks = 0;
    let killedInFlight = 0;

    for (let round = 1; round <= ROUNDS; round++) {
      const url = child.url;
      let stop = false;
      const acksBefore = ledger.acks;
      const writing = [
        ...Array.from({ length: WRITERS }, (_, w) => writer(url, ledger, `r${round}w${w}`, () => stop)),
        configWriter(url, ledger, () => stop),
      ];
      // Writing has begun once the first write is acknowledged; the kill comes 100-400 ms later.
      const began = performance.now();
      while (ledger.acks === acksBefore && performance.now() - began < 10_000) await sleep(2);
      const killAfter = 100 + Math.floor(Math.random() * 300);
      await sleep(killAfter);
      killedInFlight += ledger.inFlight;
      await child.kill();
      stop = true;
      await Promise.all(writing);
      const roundAcks = ledger.acks - acksBefore;
      assert.ok(roundAcks > 0, `round ${round}: no write was acknowledged in ${killAfter} ms`);
      assert.deepEqual(ledger.unexpected, [], 'every write the live server answered was accepted');

      child = await spawnVigil(['--data', dir], ENV);
      assert.doesNotMatch(child.output(), /error|corrupt|malformed/i);
      await verify(child.url, dir, ledger);
      verifiedAcks += roundAcks;
      perRound.push(`${killAfter}ms:${roundAcks}`);
    }

    assert.ok(killedInFlight > 0, 'the kills came in the middle of writes');

    // The reopened store still takes writes, and a clean stop keeps them too.
    const last = await call(`${child.url}/v1/bans`, { token: API_KEY, body: { sessionId: 'after-crashes' } });
    assert.equal(last.status, 201);
    ledger.attemptedBans.add('after-crashes');
    ledger.bans.set('after-crashes', last.body.id);
    await child.stop();
    child = await spawnVigil(['--data', dir], ENV);
    await verify(child.url, dir, ledger);
    await child.stop();
    child = undefined;

    console.log(
      `[crash-safety] ${ROUNDS} SIGKILL rounds, ${verifiedAcks} acknowledged writes verified ` +
        `(${ledger.bans.size} bans kept, ${ledger.unbanned.size} unbans, ${ledger.keys.size} key sets, ` +
        `config #${ledger.configAcked}); ${killedInFlight} requests in flight at the kills; ` +
        `kill time:acks per round ${perRound.join(' ')}`,
    );
  });
});
