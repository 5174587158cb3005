import { createReadStream, existsSync, readdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { notFound } from '../domain/errors.js';

/**
 * The built dashboard (`npm run build:web` → `dist/web`). Resolved from this module, so it is
 * the same folder whether the server runs from `src/` (tests) or `dist/` (`npm start`).
 */
export const DASHBOARD_DIR = fileURLToPath(new URL('../../dist/web/', import.meta.url));

/** The pages of the single-page app: each answers index.html, and the app routes in the browser. */
export const DASHBOARD_PAGES = [
  '/',
  '/workflows',
  '/workflows/:id',
  '/runs',
  '/runs/:id',
  '/summary',
  '/marketplace',
  '/instances',
] as const;

/** The bundler's content-hashed scripts and styles: `/assets/<file>`. */
export const DASHBOARD_ASSETS_ROUTE = '/assets/:file';

const CONTENT_TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.woff2': 'font/woff2',
};

/** Whether `dist/web` holds a build; without one the pages answer a plain 503 saying how to build it. */
export function dashboardBuilt(dir = DASHBOARD_DIR): boolean {
  return existsSync(join(dir, 'index.html'));
}

/**
 * What the dashboard's pages allow a browser to load: only this origin's own scripts, styles
 * and API (the build has no inline script or style, and the app sets no `style` attribute),
 * images from here or `data:` (the favicon), nothing framing it, no plugins, no `<base>` that
 * could redirect its scripts. The API key it holds in sessionStorage then cannot be read by
 * injected script, nor leaked to another origin.
 */
export const DASHBOARD_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "font-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

/** The headers of every dashboard page; `X-Frame-Options` for browsers older than `frame-ancestors`. */
const PAGE_HEADERS = {
  'content-security-policy': DASHBOARD_CSP,
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'x-content-type-options': 'nosniff',
};

const NOT_BUILT =
  'The Stepwise dashboard is not built. Run `npm run build` (or `npm run build:web`) and restart; ' +
  'the REST API is served as usual (see /docs).\n';

/**
 * The web dashboard at `/`: its pages (all index.html) and its assets. Only these paths are
 * served, so an unknown API path keeps its JSON 404. Assets are the files the build wrote,
 * listed once at start: a request names one of them or gets a 404, never another file.
 */
export function registerDashboard(app: FastifyInstance, dir = DASHBOARD_DIR): void {
  const built = dashboardBuilt(dir);
  const assetsDir = join(dir, 'assets');
  const assets = new Set(built && existsSync(assetsDir) ? readdirSync(assetsDir) : []);

  const page = async (_request: unknown, reply: FastifyReply) => {
    reply.headers(PAGE_HEADERS);
    if (!built) return reply.code(503).type('text/plain; charset=utf-8').send(NOT_BUILT);
    const html = await readFile(join(dir, 'index.html'), 'utf8');
    return reply.type('text/html; charset=utf-8').header('cache-control', 'no-cache').send(html);
  };
  for (const path of DASHBOARD_PAGES) app.get(path, { schema: { hide: true } }, page);

  app.get<{ Params: { file: string } }>(
    DASHBOARD_ASSETS_ROUTE,
    { schema: { hide: true } },
    async (request, reply) => {
      const { file } = request.params;
      const type = CONTENT_TYPES[extname(file)];
      if (!assets.has(file) || !type) throw notFound('asset', `/assets/${file}`);
      return (
        reply
          .type(type)
          // File names carry a content hash: a changed file is a new name.
          .header('cache-control', 'public, max-age=31536000, immutable')
          .header('x-content-type-options', 'nosniff')
          .send(createReadStream(join(assetsDir, file)))
      );
    },
  );
}
