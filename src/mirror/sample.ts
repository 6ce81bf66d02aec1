// Sampling: random per request, or sticky by a key so that one user is always
// in or always out and raising the fraction only adds users.
import type { IncomingMessage } from 'node:http';
import type { SampleKey } from '../config/types.js';

/** FNV-1a (32-bit) of a string, mapped to [0, 1). Stable across processes and versions. */
export function stableFraction(value: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < value.length; i++) {
    h ^= value.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  // A final avalanche (murmur3 fmix32) so that near keys ("user-1", "user-2") spread.
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return (h >>> 0) / 0x100000000;
}

function cookieValue(header: string | undefined, name: string): string | undefined {
  if (header === undefined) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq === -1) continue;
    if (part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

function queryValue(url: string | undefined, name: string): string | undefined {
  if (url === undefined) return undefined;
  const q = url.indexOf('?');
  if (q === -1) return undefined;
  const value = new URLSearchParams(url.slice(q + 1)).get(name);
  return value === null ? undefined : value;
}

/** The sticky key's value in a request, or undefined when the request lacks it. */
export function sampleKeyValue(req: IncomingMessage, key: SampleKey): string | undefined {
  switch (key.kind) {
    case 'header': {
      const v = req.headers[key.name];
      const s = Array.isArray(v) ? v[0] : v;
      return s === undefined || s === '' ? undefined : s;
    }
    case 'cookie':
      return cookieValue(req.headers.cookie, key.name);
    case 'query':
      return queryValue(req.url, key.name);
  }
}

/**
 * Whether to mirror: a request with the sticky key is in when its hash is below
 * the fraction; one without it (or with no key configured) falls back to random.
 */
export function sampled(req: IncomingMessage, sample: number, key: SampleKey | null, random: () => number = Math.random): boolean {
  if (sample >= 1) return true;
  if (sample <= 0) return false;
  if (key !== null) {
    const value = sampleKeyValue(req, key);
    if (value !== undefined) return stableFraction(value) < sample;
  }
  return random() < sample;
}
