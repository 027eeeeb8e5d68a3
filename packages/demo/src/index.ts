import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import { channelKeyOwner, defineChannel, type LiveManager, ResourceContentError } from '@vigil/live';
import type { VigilStore } from '@vigil/store';
import type { FastifyInstance } from 'fastify';
import { SignJWT } from 'jose';
import { DEMO_PAGE } from './page.ts';

/** The demo channel and the resource its viewer tokens name. */
export const DEMO_CHANNEL = 'demo';
export const DEMO_RESOURCE = 'vigil-demo';
/** Short enough that a ban visibly stops playback soon after it is made. */
export const DEMO_KEY_PERIOD_SECONDS = 20;

export interface DemoOptions {
  store: VigilStore;
  /** The instance's live channels: the demo channel runs there. */
  live?: LiveManager | undefined;
  tenantId?: string;
  /** Lifetime of the demo's viewer tokens. */
  tokenTtlSeconds?: number;
}

const PLAYER_ROOT = dirname(fileURLToPath(import.meta.resolve('@vigil/player/package.json')));
const PLAYER_DIST = join(PLAYER_ROOT, 'dist');
const VIDEOJS_DIST = dirname(fileURLToPath(import.meta.resolve('video.js')));

/** Builds the player's `<script>` bundle if this checkout has none yet; says why when it can't. */
function ensurePlayerBundle(): string | undefined {
  if (existsSync(join(PLAYER_DIST, 'vigil-player.js'))) return undefined;
  const build = spawnSync(process.execPath, [join(PLAYER_ROOT, 'scripts', 'build.mjs')], { stdio: 'ignore' });
  return build.status === 0
    ? undefined
    : 'the player bundle could not be built (npm run build -w @vigil/player)';
}

/**
 * `/demo`: a page playing the protected live demo channel (test pattern, clock and tone; keys rotating
 * every 20 s) with the player plugin, its viewer token minted here the way a tenant backend mints one
 * (bound to the caller's address, for the demo resource only). `prepare()` defines the channel once the
 * server listens; the instance's LiveManager runs it.
 */
export function createDemo(opts: DemoOptions) {
  const tenantId = opts.tenantId ?? 'default';
  const bundleError = ensurePlayerBundle();
  const unavailable =
    bundleError ??
    (opts.live ? undefined : 'live channels are off on this instance (VIGIL_LIVE=0): the demo needs one');

  async function routes(app: FastifyInstance): Promise<void> {
    app.get('/demo', { schema: { hide: true } }, async (_request, reply) =>
      reply.type('text/html').send(DEMO_PAGE),
    );

    app.get(
      '/demo/session',
      {
        schema: {
          tags: ['demo'],
          summary:
            'A viewer token for the demo channel, bound to the caller (what a tenant backend would do)',
        },
      },
      async (request, reply) => {
        if (unavailable) {
          return reply.code(500).send({ statusCode: 500, code: 'demo_unavailable', message: unavailable });
        }
        const status = opts.live?.status(tenantId, DEMO_CHANNEL);
        if (!status || status.segmentsPublished < 2) {
          return reply.code(503).send({
            statusCode: 503,
            code: 'demo_preparing',
            message: status?.lastError
              ? `the demo channel is starting (${status.lastError})`
              : 'the demo channel is starting',
          });
        }
        const tenant = await opts.store.getTenant(tenantId);
        if (!tenant) throw new Error(`no tenant ${tenantId}`);
        const sessionId = `demo-${randomBytes(3).toString('hex')}`;
        const token = await new SignJWT({ sessionId, resourceId: DEMO_RESOURCE, ip: request.ip })
          .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
          .setIssuedAt()
          .setExpirationTime(`${opts.tokenTtlSeconds ?? 4 * 3600}s`)
          .sign(tenant.secret);
        const base = `/origin/${tenantId}/${DEMO_RESOURCE}`;
        return {
          sessionId,
          token,
          dash: `${base}/manifest.mpd`,
          hls: `${base}/master.m3u8`,
          keyPeriodSeconds: DEMO_KEY_PERIOD_SECONDS,
        };
      },
    );

    await app.register(async (assets) => {
      await assets.register(fastifyStatic, {
        root: PLAYER_DIST,
        prefix: '/demo/assets/',
        decorateReply: false,
      });
      await assets.register(fastifyStatic, {
        root: VIDEOJS_DIST,
        prefix: '/demo/assets/videojs/',
        decorateReply: false,
        allowedPath: (path) => /^\/(video\.min\.js|video-js\.min\.css|font\/.*)$/.test(path),
      });
    });
  }

  return {
    /** The Fastify plugin with the /demo routes. */
    routes,
    /** Defines (or restarts) the demo channel; call once the server listens. */
    async prepare(log: (line: string) => void = () => {}) {
      if (unavailable) {
        log(`  demo: ${unavailable}`);
        return;
      }
      try {
        await defineDemo();
      } catch (err) {
        // Its resource holds content the demo did not make: the demo leaves it alone and stays off.
        if (!(err instanceof ResourceContentError)) throw err;
        log(`  demo: off, ${err.message}`);
        return;
      }
      await opts.live?.reconcile();
      log(
        `  demo: live channel "${DEMO_CHANNEL}" (test pattern, a new key every ${DEMO_KEY_PERIOD_SECONDS} s)`,
      );
    },
  };

  function defineDemo() {
    return defineChannel(opts.store, tenantId, DEMO_CHANNEL, {
      resourceId: DEMO_RESOURCE,
      settings: {
        input: { kind: 'test-pattern' },
        ladder: [
          { height: 360, bitrate: 800_000 },
          { height: 180, bitrate: 250_000 },
        ],
        keyPeriodSeconds: DEMO_KEY_PERIOD_SECONDS,
        windowSeconds: 60,
      },
      desired: 'running',
      originRoot: opts.live?.originRoot,
    });
  }
}

/**
 * The demo turned off on an instance that runs live channels: a demo channel stored by an earlier start
 * (desired `running`) must not keep running. Sets it to stopped and withdraws its keys, so the key server
 * answers no more licenses for it; returns whether there was one to stop. Only the demo's own channel (its
 * id and resource) is touched.
 */
export async function disableDemo(store: VigilStore, tenantId = 'default'): Promise<boolean> {
  const channel = await store.getLiveChannel(tenantId, DEMO_CHANNEL);
  if (!channel || channel.resourceId !== DEMO_RESOURCE || channel.desired !== 'running') return false;
  await store.setLiveChannelDesired(tenantId, DEMO_CHANNEL, 'stopped');
  await store.deleteOwnedKeys(tenantId, channelKeyOwner(DEMO_CHANNEL));
  return true;
}
