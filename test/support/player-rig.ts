/**
 * One Vigil, one headless Chromium and one packaged test clip, for the player's browser tests and the
 * player benchmark: the server starts while the browser launches, the clip is packaged (CENC DASH with
 * keys in the server's store, and optionally the same clip clear) and served from 127.0.0.1.
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { type PackageSummary, packageMedia, storeKeySource } from '../../packages/packager/src/index.ts';
import {
  ensurePlayerBundle,
  launchBrowser,
  openPlayerPage,
  type PlayerPage,
  type StaticServer,
  startStaticServer,
  startVideojs,
  testClip,
  type VideojsStart,
} from './browser.ts';
import { call, type StartOptions, startVigil, type TestServer, tempDir, viewerToken } from './vigil.ts';

export interface PlayerRigOptions {
  /** Prefix of the temporary folder. */
  prefix: string;
  resourceId: string;
  clipSeconds: number;
  segmentDuration: number;
  /** Segments per key period of the CENC package. */
  keyPeriod: number;
  /** Also package the clip clear (scheme none), under `clear/`. */
  clear?: boolean;
  /** How to start the server (e.g. with live channels). */
  vigil?: StartOptions;
}

export interface PlayerRig {
  server: TestServer;
  statics: StaticServer;
  browser: Browser;
  /** The CENC package (`cenc/manifest.mpd` under `statics.mediaUrl`). */
  cenc: PackageSummary;
  /** The clear package (`clear/manifest.mpd`), when asked for. */
  clear?: PackageSummary;
  /** PUT /v1/watermark with the tenant's API key (a partial update). */
  setWatermark(patch: Record<string, unknown>): Promise<void>;
  /** A viewer token of the rig's resource for `sessionId`, bound to 127.0.0.1. */
  token(sessionId: string): Promise<string>;
  /**
   * A new page (own context) playing `manifest` (relative to the served folder) with video.js and the
   * plugin, for the viewer session `sessionId`.
   */
  play(manifest: string, sessionId: string, start?: Partial<VideojsStart>): Promise<PlayerPage>;
  close(): Promise<void>;
}

/** Starts the rig; on failure everything started so far is stopped again. */
export async function startPlayerRig(opts: PlayerRigOptions): Promise<PlayerRig> {
  const root = tempDir(opts.prefix);
  let server: TestServer | undefined;
  let statics: StaticServer | undefined;
  const launching = launchBrowser();
  launching.catch(() => {});
  const close = async () => {
    await (await launching.catch(() => undefined))?.close();
    await statics?.close();
    await server?.close();
    rmSync(root, { recursive: true, force: true });
  };
  try {
    server = await startVigil(opts.vigil);
    ensurePlayerBundle();
    const input = await testClip(opts.clipSeconds);
    const common = {
      input,
      resourceId: opts.resourceId,
      segmentDuration: opts.segmentDuration,
      ladder: [{ height: 360, bitrate: 800_000 }],
      preset: 'ultrafast',
    };
    const cenc = await packageMedia({
      ...common,
      out: join(root, 'cenc'),
      scheme: 'cenc',
      keyPeriod: opts.keyPeriod,
      keys: storeKeySource({ store: server.store, tenantId: 'default' }),
      licenseUrlBase: server.url,
    });
    const clear = opts.clear
      ? await packageMedia({ ...common, out: join(root, 'clear'), scheme: 'none' })
      : undefined;
    statics = await startStaticServer(root);
    const browser = await launching;
    const srv = server;
    const sts = statics;
    const token = (sessionId: string) =>
      viewerToken(srv.secret, { resourceId: opts.resourceId, sessionId, ip: '127.0.0.1' });
    return {
      server: srv,
      statics: sts,
      browser,
      cenc,
      clear,
      async setWatermark(patch) {
        const res = await call(`${srv.url}/v1/watermark`, { method: 'PUT', token: srv.apiKey, body: patch });
        assert.equal(res.status, 200, JSON.stringify(res.body));
      },
      token,
      async play(manifest, sessionId, start = {}) {
        const player = await openPlayerPage(browser, sts, 'videojs', srv.url);
        try {
          await startVideojs(player.page, {
            manifestUrl: `${sts.mediaUrl}/${manifest}`,
            token: await token(sessionId),
            server: srv.url,
            ...start,
          });
        } catch (err) {
          await player.close();
          throw err;
        }
        return player;
      },
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}
