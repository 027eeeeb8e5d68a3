import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { extname, join, resolve, sep } from 'node:path';
import { TENANT_ID_PATTERN } from '@vigil/control';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ConsoleSessions } from '../auth/console-session.ts';
import { errorSchema } from './schemas.ts';

export interface ConsoleRoutesOptions {
  sessions: ConsoleSessions;
}

const sessionSchema = {
  type: 'object',
  properties: {
    operator: {
      type: 'object',
      properties: { name: { type: 'string' }, role: { type: 'string' }, tenantId: { type: 'string' } },
    },
    csrfToken: {
      type: 'string',
      description: 'Send as X-CSRF-Token on every state-changing call made with the session cookie',
    },
    expiresAt: { type: 'string', format: 'date-time', description: 'Absolute end of the session' },
    idleExpiresAt: { type: 'string', format: 'date-time', description: 'End of the session if unused' },
  },
};
const cookieSecurity = [{ consoleSession: [] }];

/**
 * The console: sign-in, the session and sign-out under `/v1/console/session` (console-session.ts), and
 * the built single-page app under `/admin` (packages/console/dist).
 */
export async function consoleRoutes(app: FastifyInstance, opts: ConsoleRoutesOptions): Promise<void> {
  const { sessions } = opts;

  app.post(
    '/v1/console/session',
    {
      schema: {
        tags: ['console'],
        summary:
          'Sign in to the console: sets the vigil_console cookie (HttpOnly, SameSite=Strict). 401 signin_failed, 429 signin_throttled',
        body: {
          type: 'object',
          required: ['username', 'password'],
          additionalProperties: false,
          properties: {
            username: { type: 'string', minLength: 1, maxLength: 128 },
            password: { type: 'string', minLength: 1, maxLength: 1024 },
            tenant: { type: 'string', pattern: TENANT_ID_PATTERN, default: 'default' },
          },
        },
        response: {
          200: sessionSchema,
          401: errorSchema,
          429: {
            ...errorSchema,
            properties: { ...errorSchema.properties, retryAfterSeconds: { type: 'integer' } },
          },
        },
      },
    },
    (request, reply) => sessions.signIn(request, reply),
  );

  app.get(
    '/v1/console/session',
    {
      schema: {
        tags: ['console'],
        summary: 'The signed-in operator and the CSRF token (401 console_session_missing / _expired)',
        security: cookieSecurity,
        response: { 200: sessionSchema, 401: errorSchema },
      },
    },
    (request, reply) => sessions.show(request, reply),
  );

  app.delete(
    '/v1/console/session',
    {
      schema: {
        tags: ['console'],
        summary: 'Sign out: ends the session and clears the cookie (X-CSRF-Token required while signed in)',
        security: cookieSecurity,
      },
    },
    (request, reply) => sessions.signOut(request, reply),
  );

  const serve = (request: FastifyRequest, reply: FastifyReply) =>
    serveConsole(sessions.settings.distDir, request, reply);
  app.get('/admin', { schema: { hide: true } }, serve);
  app.get('/admin/*', { schema: { hide: true } }, serve);
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.webmanifest': 'application/manifest+json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
  '.ico': 'image/x-icon',
  '.woff': 'font/woff',
  '.woff2': 'font/woff2',
  '.ttf': 'font/ttf',
  '.txt': 'text/plain; charset=utf-8',
  '.wasm': 'application/wasm',
};

/**
 * Same origin only: scripts, styles, fonts and API calls from this server; images, media and workers
 * also from blob:/data: (frame previews, the player's media source), fonts also from data: (the player's
 * icon font); never framed (clickjacking), no plugins, no foreign forms.
 */
export const CONSOLE_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data: blob:",
  "media-src 'self' blob:",
  "font-src 'self' data:",
  "connect-src 'self'",
  "worker-src 'self' blob:",
  "object-src 'none'",
  "base-uri 'self'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

function securityHeaders(reply: FastifyReply): void {
  reply
    .header('content-security-policy', CONSOLE_CSP)
    .header('x-frame-options', 'DENY')
    .header('x-content-type-options', 'nosniff')
    .header('referrer-policy', 'same-origin')
    .header('cross-origin-opener-policy', 'same-origin');
}

const NOT_BUILT = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Vigil console not built</title></head>
<body style="font-family: system-ui, sans-serif; max-width: 40rem; margin: 3rem auto; line-height: 1.5">
<h1>The Vigil console is not built</h1>
<p>This server has no built console to serve. Run <code>npm install</code> in the Vigil folder
(it builds <code>packages/console</code> into <code>packages/console/dist</code>), then reload this page.</p>
<p>The control API works without it: see <a href="/docs">/docs</a>.</p>
</body></html>
`;

/** A regular file inside `root` at the URL path `rel`, or undefined (traversal, dotfiles, folders). */
async function fileIn(root: string, rel: string): Promise<{ path: string; size: number } | undefined> {
  if (rel === '' || rel.includes('\0') || rel.includes('\\')) return undefined;
  if (rel.split('/').some((segment) => segment.startsWith('.'))) return undefined;
  const path = resolve(root, `.${sep}${rel}`);
  if (!path.startsWith(root + sep)) return undefined;
  try {
    const s = await stat(path);
    return s.isFile() ? { path, size: s.size } : undefined;
  } catch {
    return undefined;
  }
}

async function serveConsole(distDir: string, request: FastifyRequest, reply: FastifyReply) {
  securityHeaders(reply);
  const root = resolve(distDir);
  const indexPath = join(root, 'index.html');
  let index: Buffer;
  try {
    index = await readFile(indexPath);
  } catch {
    return reply
      .code(503)
      .type('text/html; charset=utf-8')
      .header('cache-control', 'no-store')
      .send(NOT_BUILT);
  }
  const rawPath = request.url.split('?')[0]!;
  let rel: string;
  try {
    rel = decodeURIComponent(rawPath.replace(/^\/admin\/?/, ''));
  } catch {
    return reply.code(400).send({ statusCode: 400, code: 'invalid_path', message: 'malformed path' });
  }
  if (rel.length > 1024)
    return reply.code(414).send({ statusCode: 414, code: 'path_too_long', message: 'path too long' });
  const file = rel === 'index.html' ? undefined : await fileIn(root, rel);
  if (file) {
    // Vite's hashed file names change with their content: cached for a year. Others: revalidated.
    const hashed = rel.startsWith('assets/');
    reply
      .type(TYPES[extname(file.path).toLowerCase()] ?? 'application/octet-stream')
      .header('content-length', String(file.size))
      .header('cache-control', hashed ? 'public, max-age=31536000, immutable' : 'public, max-age=300');
    return reply.send(createReadStream(file.path));
  }
  // A missing file with an extension (a stale asset) is a 404, not the app: a script must never get HTML.
  const ext = extname(rel.split('/').pop() ?? '').toLowerCase();
  if (rel.startsWith('assets/') || (ext !== '.html' && TYPES[ext] !== undefined))
    return reply.code(404).send({ statusCode: 404, code: 'not_found', message: `no file /admin/${rel}` });
  // Every other path is one of the app's own routes: the app, which routes it in the browser.
  return reply.type('text/html; charset=utf-8').header('cache-control', 'no-cache').send(index);
}
