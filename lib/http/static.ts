// Pure mapping of a request path to a file path relative to the public root.
import { contentType as mimeContentType } from 'mime-types';

export type Sanitized = { ok: true; rel: string; dirIndex: boolean } | { ok: false; status: 400 | 403 | 404 };

const NAME_MAX = 255;
const HEX = /^[0-9a-fA-F]{2}$/;

// Decode one segment's percent-encoding exactly once; 400 for bad hex or invalid UTF-8.
function decodeSegment(seg: string): string | 400 {
  if (!seg.includes('%')) return seg;
  const bytes: number[] = [];
  for (let i = 0; i < seg.length; i++) {
    const c = seg.charCodeAt(i);
    if (c !== 0x25) {
      bytes.push(c);
      continue;
    }
    const hex = seg.slice(i + 1, i + 3);
    if (!HEX.test(hex)) return 400;
    bytes.push(parseInt(hex, 16));
    i += 2;
  }
  // The bytes as UTF-8, invalid sequences refused: decodeURIComponent() is that decoder (a URIError
  // for a malformed, overlong or surrogate sequence), and unlike TextDecoder it is part of
  // JavaScript itself, so the same code runs in a bare V8 isolate (lib/servers/thread-isolate.ts).
  try {
    return decodeURIComponent(bytes.map((b) => `%${(b & 0xff).toString(16).padStart(2, '0')}`).join(''));
  } catch {
    return 400;
  }
}

export function sanitizePath(rawPath: string): Sanitized {
  if (rawPath[0] !== '/') return { ok: false, status: 400 };
  for (let i = 0; i < rawPath.length; i++) {
    const c = rawPath.charCodeAt(i);
    if (c < 0x20 || c >= 0x7f) return { ok: false, status: 400 };
    if (c === 0x5c) return { ok: false, status: 403 }; // backslash
  }
  const out: string[] = [];
  for (const raw of rawPath.split('/')) {
    if (raw === '') continue; // collapse '//' (and the leading/trailing '/')
    const seg = decodeSegment(raw);
    // eslint-disable-next-line no-control-regex -- control characters are exactly what this refuses
    if (seg === 400 || /[\x00-\x1f\x7f]/.test(seg)) return { ok: false, status: 400 };
    if (seg === '..') return { ok: false, status: 403 };
    if (seg.includes('/') || seg.includes('\\')) return { ok: false, status: 404 }; // was %2f / %5c
    if (seg[0] === '.' || Buffer.byteLength(seg) > NAME_MAX) return { ok: false, status: 404 }; // '.', hidden files
    out.push(seg);
  }
  const dirIndex = rawPath.endsWith('/');
  if (dirIndex) out.push('index.html');
  return { ok: true, rel: out.join('/'), dirIndex };
}

export function contentType(rel: string): string {
  return mimeContentType(rel.slice(rel.lastIndexOf('/') + 1)) || 'application/octet-stream';
}

/**
 * Where a directory asked for without its slash is redirected: the same path with one leading
 * slash ('//about' must not become the protocol-relative, other-host '//about/') and a trailing
 * one, then the query string if there is one (`query` without its '?').
 */
export function directoryRedirect(rawPath: string, query = ''): string {
  return '/' + rawPath.replace(/^\/+/, '') + '/' + (query ? '?' + query : '');
}

/** A failed open of a public file: missing -> 404; out of fds or memory -> 503 (it is us, and it passes); else 403. */
export function openErrorStatus(code: string): 404 | 403 | 503 {
  if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'ENAMETOOLONG') return 404;
  if (code === 'EMFILE' || code === 'ENFILE' || code === 'ENOMEM') return 503;
  return 403;
}
