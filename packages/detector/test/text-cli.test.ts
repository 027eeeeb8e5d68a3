/**
 * `vigil detect` in text mode: a restreamed recording of the player in text mode, against the store the
 * serving Vigil wrote (its access log names the sessions it served), found in auto mode (the tenant's
 * watermark is in text mode, so text is tried first), printed as one JSON object with evidence and the
 * session's access log; a clip without the mark gets `found: false`. `vigil watch --mode text` follows
 * the restream served over HTTP and names the session in a window.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { PNG } from 'pngjs';
import {
  copyRecordingStore,
  playerRecording,
  type Recording,
} from '../../../test/support/player-recording.ts';
import { runCli, tempDir } from '../../../test/support/vigil.ts';
import { attacked, attackNamed, lavfiClip } from './support/attacks.ts';

describe('vigil detect in text mode', () => {
  let rec: Recording;
  let data: string;
  let work: string;

  before(
    async () => {
      rec = await playerRecording({ mode: 'text', sessionId: 'viewer-7c4e91b2', seconds: 20 });
      data = copyRecordingStore(rec);
      work = tempDir('vigil-text-cli-');
    },
    { timeout: 300_000 },
  );

  after(() => {
    for (const dir of [data, work]) if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const detectJson = async (input: string, ...extra: string[]) => {
    const res = await runCli(['detect', input, '--json', '--data', data, ...extra]);
    assert.equal(res.code, 0, res.stderr);
    const lines = res.stdout.trim().split('\n');
    assert.equal(lines.length, 1, `exactly one JSON object: ${res.stdout}`);
    return JSON.parse(lines[0]!);
  };

  it(
    'names the session of a 360p restream, with evidence and its access log',
    { timeout: 120_000 },
    async () => {
      const evidence = `${work}/evidence`;
      const clip = attacked(rec.path, attackNamed('360p-300k'));
      const r = await detectJson(clip, '--evidence', evidence);
      assert.equal(r.found, true, JSON.stringify(r));
      assert.equal(r.sessionId, rec.sessionId);
      assert.equal(r.mode, 'text');
      assert.equal(r.tenant, 'default');
      assert.ok(r.footageSeconds <= 15, `footage ${r.footageSeconds}`);
      assert.ok(r.falseMatchProbability < 1e-6 && r.confidence > 0.5, JSON.stringify(r));
      assert.ok(r.evidence.length >= 1);
      for (const e of r.evidence) {
        assert.ok(e.file.startsWith(evidence) && existsSync(e.file), e.file);
        const png = PNG.sync.read(readFileSync(e.file));
        assert.ok(png.width > 40 && png.height > 10);
        assert.ok(e.t <= r.footageSeconds);
      }
      assert.equal(r.access.sessionId, rec.sessionId);
      assert.deepEqual(r.access.ips, ['127.0.0.1']);
    },
  );

  it('finds nobody in colourful content without the mark', { timeout: 120_000 }, async () => {
    const clip = lavfiClip('text-negative-testsrc2', 'testsrc2=size=640x360:rate=25,hue=h=111:s=1.5', 15);
    const r = await detectJson(clip, '--mode', 'text');
    assert.equal(r.found, false, JSON.stringify(r));
    assert.equal(typeof r.reason, 'string');
  });

  it('vigil watch --mode text names the session of a restream it follows', { timeout: 120_000 }, async () => {
    const body = readFileSync(attacked(rec.path, attackNamed('360p-300k')));
    const server = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'video/mp4', 'content-length': body.length });
      res.end(body);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/restream.mp4`;
      const res = await runCli(['watch', url, '--json', '--mode', 'text', '--data', data]);
      assert.equal(res.code, 0, res.stderr);
      const events = res.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l));
      const hit = events.find((e) => e.event === 'identified');
      assert.ok(hit, res.stdout);
      assert.equal(hit.sessionId, rec.sessionId);
      assert.equal(hit.mode, 'text');
      assert.ok(hit.atSeconds <= 20 && hit.falseMatchProbability < 1e-6, JSON.stringify(hit));
      // No --ban and the tenant's policy off: it only reports.
      assert.equal(events.filter((e) => e.event === 'banned').length, 0, res.stdout);
    } finally {
      server.close();
    }
  });
});
