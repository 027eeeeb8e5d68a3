import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { VigilStore } from '@vigil/store';
import type { FastifyInstance } from 'fastify';
import { SignJWT } from 'jose';
import { DEMO_PAGE } from './page.ts';
import { DEMO_RESOURCE, prepareSample, type SampleState } from './sample.ts';

export { DEMO_RESOURCE } from './sample.ts';

export interface DemoOptions {
  store: VigilStore;
  /** Folder the sample is packaged into (`<dataDir>/demo/sample`). */
  dataDir: string;
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
 * `/demo`: a page playing a protected sample with the player plugin, its token minted here the way the
 * sample integration mints one (bound to the caller's address, for the demo resource only). The sample
 * is packaged on first start, in the background: `prepare(licenseUrlBase)` once the server listens.
 */
export function createDemo(opts: DemoOptions) {
  const tenantId = opts.tenantId ?? 'default';
  const bundleError = ensurePlayerBundle();
  let state: SampleState = bundleError ? { status: 'failed', message: bundleError } : { status: 'missing' };

  async function routes(app: FastifyInstance): Promise<void> {
    app.get('/demo', { schema: { hide: true } }, async (_request, reply) =>
      reply.type('text/html').send(DEMO_PAGE),
    );

    app.get(
      '/demo/session',
      {
        schema: {
          tags: ['demo'],
          summary: 'A viewer token for the demo sample, bound to the caller (what a tenant backend would do)',
        },
      },
      async (request, reply) => {
        if (state.status !== 'ready') {
          const failed = state.status === 'failed';
          return reply.code(failed ? 500 : 503).send({
            statusCode: failed ? 500 : 503,
            code: failed ? 'demo_failed' : 'demo_preparing',
            message: state.message ?? 'the demo sample is not ready',
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
        return { sessionId, token, manifest: '/demo/sample/master.m3u8', dash: '/demo/sample/manifest.mpd' };
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
    mkdirSync(join(opts.dataDir, 'demo', 'sample'), { recursive: true });
    await app.register(fastifyStatic, {
      root: join(opts.dataDir, 'demo', 'sample'),
      prefix: '/demo/sample/',
      decorateReply: false,
      // Keys never live in the package; manifests change when the sample is remade.
      setHeaders: (res, path) =>
        res.setHeader('cache-control', /\.(mpd|m3u8)$/.test(path) ? 'no-cache' : 'public, max-age=3600'),
    });
  }

  return {
    /** The Fastify plugin with the /demo routes. */
    routes,
    /** Packages the sample if needed; call once the server's URL is known. */
    async prepare(licenseUrlBase: string, log: (line: string) => void = () => {}) {
      if (bundleError) {
        log(`  demo: ${bundleError}`);
        return;
      }
      await prepareSample({
        store: opts.store,
        tenantId,
        dataDir: opts.dataDir,
        licenseUrlBase,
        onState: (next) => {
          state = next;
          if (next.status === 'ready') log('  demo: ready at /demo');
          else if (next.status === 'failed') log(`  demo: ${next.message}`);
          else if (next.message) log(`  demo: ${next.message}`);
        },
      });
    },
  };
}
