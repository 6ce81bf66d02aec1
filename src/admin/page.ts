// The divergence page: three static files (src/admin/page/), read once at
// start-up and served from the admin listener. The page itself reads the JSON
// API (/api/routes, /api/divergences), so it needs no server-side rendering.
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { errorResult, type AdminRequest, type AdminResult, type ApiHandler } from './server.js';

const FILES = [
  { path: '/', file: 'index.html', contentType: 'text/html; charset=utf-8' },
  { path: '/page/app.js', file: 'app.js', contentType: 'text/javascript; charset=utf-8' },
  { path: '/page/style.css', file: 'style.css', contentType: 'text/css; charset=utf-8' },
] as const;

/**
 * Where the files are: next to this module when it runs from src/ (tests), and
 * in src/admin/page/ when it runs from dist/admin/ (the package ships both).
 */
export function pageDirCandidates(): string[] {
  return [new URL('./page/', import.meta.url), new URL('../../src/admin/page/', import.meta.url)].map((u) => fileURLToPath(u));
}

function findPageDir(): string | null {
  return pageDirCandidates().find((dir) => existsSync(`${dir}index.html`)) ?? null;
}

/** GET (or HEAD) /, /page/app.js and /page/style.css; null for any other path. */
export function createPageHandler(): ApiHandler {
  const dir = findPageDir();
  const served = new Map<string, AdminResult>();
  for (const f of FILES) {
    served.set(
      f.path,
      dir === null
        ? errorResult(500, `divergence page files not found in ${pageDirCandidates().join(' or ')}`)
        : { status: 200, text: readFileSync(`${dir}${f.file}`, 'utf8'), contentType: f.contentType },
    );
  }
  return (req: AdminRequest): AdminResult | null => {
    const result = served.get(req.path);
    if (result === undefined) return null;
    if (req.method !== 'GET' && req.method !== 'HEAD') return errorResult(405, 'use GET');
    return result;
  };
}
