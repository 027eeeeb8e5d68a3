/**
 * Leak tracing end to end (issue 4): in colour mode, the shared decoder (@vigil/watermark-codec) recovers
 * the session from screenshots of the playing page. The plugin plays the packager's CENC DASH for a
 * viewer session; the test captures the colour box again and again with page screenshots (a canvas would
 * read EME-decrypted video as black), averages each capture, decodes the samples and maps the tag back to
 * the session with GET /v1/sessions/by-tag. The colour sequence runs on wall time, not on playback, so a
 * stalling video on a loaded machine does not matter.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type ColourSample, cycleLength, type DecodeResult, decodeSamples } from '@vigil/watermark-codec';
import type { Page } from 'playwright-core';
import { PNG } from 'pngjs';
import { type PlayerPage, waitForMediaTime } from '../../../test/support/browser.ts';
import { type PlayerRig, startPlayerRig } from '../../../test/support/player-rig.ts';
import { call } from '../../../test/support/vigil.ts';
import type { Rect, VigilDebug } from '../src/index.ts';

const SESSION_ID = 'pirate-42';
/** The symbol duration; screenshots here take well under a quarter of it (see the log line). */
const SYMBOL_SECONDS = 0.5;
const BOX = { x: 2, y: 2, width: 6, height: 8 };
const CYCLE_MS = cycleLength() * SYMBOL_SECONDS * 1000;
/** Capture at least one cycle and a bit before the first decode attempt... */
const FIRST_DECODE_MS = CYCLE_MS + 4 * SYMBOL_SECONDS * 1000;
/** ...and give up after three cycles. */
const CAPTURE_LIMIT_MS = 3 * CYCLE_MS;
/** Playback ran at 0.1–0.25× real time on this machine under load; the start alone can take long. */
const START_TIMEOUT_MS = 90_000;
const CASE_TIMEOUT_MS = START_TIMEOUT_MS + CAPTURE_LIMIT_MS + 30_000;

// biome-ignore lint/suspicious/noExplicitAny: the page's video.js player is untyped here.
type Untyped = any;

const debugOf = (page: Page): Promise<VigilDebug> =>
  page.evaluate(() => (window as Untyped).player.vigil.debug());

/** The inner part of `r` (a quarter of each side off), in whole CSS px. */
function inset(r: Rect): Rect {
  const x = Math.ceil(r.x + r.width / 4);
  const y = Math.ceil(r.y + r.height / 4);
  return {
    x,
    y,
    width: Math.max(1, Math.floor(r.x + (3 * r.width) / 4) - x),
    height: Math.max(1, Math.floor(r.y + (3 * r.height) / 4) - y),
  };
}

/** The mean colour of a PNG. */
function meanRgb(png: PNG): [number, number, number] {
  let r = 0;
  let g = 0;
  let b = 0;
  for (let i = 0; i < png.data.length; i += 4) {
    r += png.data[i]!;
    g += png.data[i + 1]!;
    b += png.data[i + 2]!;
  }
  const n = png.width * png.height;
  return [r / n, g / n, b / n];
}

const quantile = (values: number[], q: number) => {
  const s = values.slice().sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? Number.NaN;
};

describe('colour watermark: leak tracing from screenshots of the playing page', () => {
  let rig: PlayerRig;

  before(
    async () => {
      rig = await startPlayerRig({
        prefix: 'vigil-color-trace-',
        resourceId: 'color-trace-clip',
        clipSeconds: 20,
        segmentDuration: 2,
        keyPeriod: 5,
      });
      // Set before the page opens: the first license answer already carries colour mode.
      await rig.setWatermark({ enabled: true, mode: 'color', symbolSeconds: SYMBOL_SECONDS, box: BOX });
    },
    { timeout: 600_000 },
  );

  after(async () => {
    await rig?.close();
  });

  it(
    'the decoder recovers the session from frames captured of the playing page',
    { timeout: CASE_TIMEOUT_MS },
    async () => {
      let player: PlayerPage | undefined;
      try {
        player = await rig.play('cenc/manifest.mpd', SESSION_ID);
        const { page } = player;
        await waitForMediaTime(player, 0.1, START_TIMEOUT_MS);
        const debug = await debugOf(page);
        assert.equal(debug.mode, 'color');
        assert.equal(debug.directive.sessionId, SESSION_ID);
        assert.equal(debug.directive.symbolSeconds, SYMBOL_SECONDS);
        const colorTag = debug.directive.colorTag;
        assert.equal(typeof colorTag, 'number', 'the server sends the colour tag');
        assert.ok(debug.rect, 'the box is attached');
        const clip = inset(debug.rect);

        // Capture as fast as screenshots go, each stamped midway between the call and its answer.
        const samples: ColourSample[] = [];
        const durations: number[] = [];
        const began = Date.now();
        let decoded: DecodeResult | null = null;
        let attempts = 0;
        let nextDecode = began + FIRST_DECODE_MS;
        while (Date.now() - began < CAPTURE_LIMIT_MS) {
          const t0 = Date.now();
          const shot = await page.screenshot({ clip });
          const t1 = Date.now();
          durations.push(t1 - t0);
          samples.push({ t: (t0 + t1) / 2, rgb: meanRgb(PNG.sync.read(shot)) });
          if (t1 >= nextDecode) {
            nextDecode = t1 + 1000;
            attempts++;
            decoded = decodeSamples(samples, { symbolSeconds: SYMBOL_SECONDS });
            if (decoded) break;
          }
        }
        const capturedMs = samples.at(-1)!.t - samples[0]!.t;
        const perSymbol = (samples.length - 1) / (capturedMs / (SYMBOL_SECONDS * 1000));
        const state = await page.evaluate(() => (window as Untyped).player.currentTime() as number);
        console.log(
          `# ${samples.length} screenshots in ${(capturedMs / 1000).toFixed(1)} s ` +
            `(${perSymbol.toFixed(1)} a symbol; each ${quantile(durations, 0.5)} ms median, ` +
            `${quantile(durations, 0.9)} ms p90), ${attempts} decode attempts, media at ${state.toFixed(1)} s`,
        );
        assert.ok(
          decoded,
          `no tag decoded from ${samples.length} samples over ${capturedMs} ms ` +
            `(${perSymbol.toFixed(2)} a symbol${perSymbol < 2 ? ': too few, raise symbolSeconds' : ''})`,
        );
        console.log(
          `# decoded tag ${decoded.tag} (${decoded.symbolErrors} symbol errors, ${decoded.erasures} erasures, ` +
            `symbol ${decoded.symbolMs.toFixed(0)} ms, ${decoded.cycles.toFixed(2)} cycles, ` +
            `false match p ${decoded.falseMatchProbability.toExponential(1)})`,
        );
        assert.equal(decoded.tag, colorTag, 'the decoded tag is the one the server gave the session');
        // The box stayed where it was captured.
        assert.deepEqual((await debugOf(page)).rect, debug.rect);

        const res = await call(`${rig.server.url}/v1/sessions/by-tag/${decoded.tag}`, {
          token: rig.server.apiKey,
        });
        assert.equal(res.status, 200, JSON.stringify(res.body));
        assert.deepEqual(
          res.body.sessions.map((s: { sessionId: string }) => s.sessionId),
          [SESSION_ID],
        );
        await player.close();
      } catch (err) {
        if (!player) throw err;
        const diagnostics = await player.diagnostics();
        const debug = await debugOf(player.page).catch((e: Error) => e.message);
        await player.close();
        throw new Error(`${(err as Error).message}\nvigil: ${JSON.stringify(debug)}\n${diagnostics}`, {
          cause: err,
        });
      }
    },
  );
});
