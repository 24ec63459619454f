// The static-file rules: sanitizePath(), contentType() and directoryRedirect() as pure functions,
// then end to end (redirects, index pages, MIME types, HEAD, error pages) against EVERY
// registered architecture, node:http included, so that a difference between them shows.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import fc from 'fast-check';
import { contentType, directoryRedirect, sanitizePath } from '../lib/http/static';
import { errorResponse } from '../lib/http/response';
import { runnableArchitectures } from './helpers/skip';
import { get, rawRequest, RawResponse } from './helpers/http';
import { withRedis } from './helpers/redis';
import { RunningServer, smallPool, startServer } from './helpers/server';

const ok = (rel: string, dirIndex = false) => ({ ok: true, rel, dirIndex });
const no = (status: 400 | 403 | 404) => ({ ok: false, status });

describe('sanitizePath', () => {
  const table: [string, ReturnType<typeof ok> | ReturnType<typeof no>][] = [
    // ordinary paths
    ['/', ok('index.html', true)],
    ['/index.html', ok('index.html')],
    ['/logo.png', ok('logo.png')],
    ['/about', ok('about')],
    ['/about/', ok('about/index.html', true)],
    ['/docs/a/b.txt', ok('docs/a/b.txt')],
    ['/hello%20world.txt', ok('hello world.txt')],
    ['/caf%C3%A9.html', ok('café.html')],
    ["/a-b_c~d!$&'()*+,;=:@.txt", ok("a-b_c~d!$&'()*+,;=:@.txt")],
    ['/%41%62c', ok('Abc')],
    ['/a..b', ok('a..b')],
    ['/a.', ok('a.')],
    // double encoding decodes once: a literal '%2e' or '%2e%2e' file name, not traversal
    ['/%252e', ok('%2e')],
    ['/%252e%252e/etc/passwd', ok('%2e%2e/etc/passwd')],
    ['/%252f', ok('%2f')],
    // empty segments collapse
    ['//', ok('index.html', true)],
    ['//etc/passwd', ok('etc/passwd')],
    ['/a//b', ok('a/b')],
    ['/a///', ok('a/index.html', true)],
    // traversal
    ['/..', no(403)],
    ['/../', no(403)],
    ['/../etc/passwd', no(403)],
    ['/a/../../etc/passwd', no(403)],
    ['/a/..', no(403)],
    ['/a/../b', no(403)],
    ['/%2e%2e/etc/passwd', no(403)],
    ['/%2E%2E/etc/passwd', no(403)],
    ['/%2e./etc/passwd', no(403)],
    ['/.%2e/etc/passwd', no(403)],
    ['/%2E./x', no(403)],
    ['/.%2E', no(403)],
    // '.' segments and hidden files
    ['/.', no(404)],
    ['/./index.html', no(404)],
    ['/a/./b', no(404)],
    ['/%2e', no(404)],
    ['/%2e/index.html', no(404)],
    ['/.git/config', no(404)],
    ['/.env', no(404)],
    ['/a/.htpasswd', no(404)],
    ['/%2ehtaccess', no(404)],
    ['/...', no(404)],
    // encoded slash / backslash
    ['/%2f', no(404)],
    ['/%2Fetc%2Fpasswd', no(404)],
    ['/..%2f..%2fetc/passwd', no(404)],
    ['/%2e%2e%2fetc', no(404)],
    ['/a%5cb', no(404)],
    ['/..%5c..%5cwindows', no(404)],
    ['/%5C', no(404)],
    // literal backslash
    ['/a\\b', no(403)],
    ['/..\\..\\etc\\passwd', no(403)],
    ['/\\', no(403)],
    // NUL and control characters
    ['/index.html%00', no(400)],
    ['/index.html%00.png', no(400)],
    ['/a%0d%0aSet-Cookie:x', no(400)],
    ['/a%09b', no(400)],
    ['/a%7f', no(400)],
    ['/a\x00b', no(400)],
    ['/a\tb', no(400)],
    ['/a\x7fb', no(400)],
    ['/caf\xe9', no(400)],
    // invalid percent-encoding
    ['/%', no(400)],
    ['/%2', no(400)],
    ['/%zz', no(400)],
    ['/%g0', no(400)],
    ['/a%2', no(400)],
    ['/%%32%65', no(400)],
    ['/%C3', no(400)],
    ['/%C3%28', no(400)],
    ['/%FF', no(400)],
    ['/%ED%A0%80', no(400)], // UTF-16 surrogate
    ['/%C0%AE%C0%AE/etc/passwd', no(400)], // overlong '.'
    ['/%E0%80%AF', no(400)], // overlong '/'
    // not starting with '/'
    ['', no(400)],
    ['index.html', no(400)],
    ['../etc/passwd', no(400)],
    ['http://x/', no(400)],
    ['*', no(400)],
    // too long a name for the filesystem
    ['/' + 'a'.repeat(255), ok('a'.repeat(255))],
    ['/' + 'a'.repeat(256), no(404)],
  ];
  for (const [input, expected] of table) {
    it(`${JSON.stringify(input).slice(0, 60)} -> ${expected.ok ? (expected as { rel: string }).rel.slice(0, 40) : (expected as { status: number }).status}`, () => {
      assert.deepEqual(sanitizePath(input), expected);
    });
  }

  it('never produces a rel that escapes the root or names a hidden file (property)', () => {
    const piece = fc.constantFrom(
      '/',
      '.',
      '..',
      '%2e',
      '%2E',
      '%2f',
      '%5c',
      '\\',
      '%25',
      'a',
      'b.html',
      '%00',
      '%',
      '%c3%a9',
      '~',
      ' ',
    );
    fc.assert(
      fc.property(
        fc.array(piece, { maxLength: 12 }).map((a) => '/' + a.join('')),
        (raw) => {
          const r = sanitizePath(raw);
          if (!r.ok) return;
          assert.ok(!r.rel.startsWith('/'), raw);
          for (const seg of r.rel.split('/')) {
            assert.notEqual(seg, '', raw);
            assert.ok(!seg.startsWith('.'), raw);
            assert.ok(!/[\\\0]/.test(seg), raw);
          }
        },
      ),
      { numRuns: 2000 },
    );
  });
});

describe('contentType', () => {
  const table: [string, string][] = [
    ['index.html', 'text/html; charset=utf-8'],
    ['about/index.html', 'text/html; charset=utf-8'],
    ['INDEX.HTML', 'text/html; charset=utf-8'],
    ['logo.png', 'image/png'],
    ['img/photo.jpg', 'image/jpeg'],
    ['anim.gif', 'image/gif'],
    ['style.css', 'text/css; charset=utf-8'],
    ['app.js', 'application/javascript; charset=utf-8'],
    ['data.json', 'application/json; charset=utf-8'],
    ['notes.txt', 'text/plain; charset=utf-8'],
    ['icon.svg', 'image/svg+xml'],
    ['favicon.ico', 'image/vnd.microsoft.icon'],
    ['README', 'application/octet-stream'],
    ['a.dir/README', 'application/octet-stream'],
    ['archive.unknownext', 'application/octet-stream'],
    ['%2e', 'application/octet-stream'],
    ['', 'application/octet-stream'],
  ];
  for (const [rel, type] of table) it(`${rel || "''"} -> ${type}`, () => assert.equal(contentType(rel), type));
});

describe('directoryRedirect', () => {
  const table: [string, string, string][] = [
    ['/about', '', '/about/'],
    ['/a/b', '', '/a/b/'],
    ['//about', '', '/about/'], // never protocol-relative (another host)
    ['///evil.example/x', '', '/evil.example/x/'],
    ['/about', 'x=1', '/about/?x=1'],
    ['//about', 'a=1&b=2', '/about/?a=1&b=2'],
  ];
  for (const [p, q, location] of table)
    it(`${p}${q ? '?' + q : ''} -> ${location}`, () => assert.equal(directoryRedirect(p, q), location));
});

const PUBLIC = path.resolve(__dirname, '..', '..', 'public');
/** The body of the error page every architecture sends for `status`. */
const page = (status: number, message?: string) => {
  const whole = errorResponse(status, { message });
  return whole.subarray(whole.indexOf('\r\n\r\n') + 4);
};

function assertFile(r: RawResponse, file: string, type: string): void {
  assert.equal(r.status, 200, file);
  assert.equal(r.headers['content-type'], type, file);
  assert.equal(r.headers['content-length'], String(r.body.length), file);
  assert.ok(r.body.equals(fs.readFileSync(path.join(PUBLIC, file))), `${file}: body differs from public/${file}`);
}

function assertPage(r: RawResponse, status: number, message?: string): void {
  assert.equal(r.status, status);
  assert.equal(r.headers['content-type'], 'text/html; charset=utf-8');
  assert.equal(r.body.toString(), page(status, message).toString());
}

describe('static files on every architecture (end to end)', function () {
  this.timeout(60_000);
  const redis = withRedis();
  for (const arch of runnableArchitectures()) {
    describe(arch, () => {
      let srv: RunningServer;
      before(async () => {
        srv = await startServer([...smallPool(arch), '--redis', `127.0.0.1:${redis().port}`, '--quiet']);
      });
      after(async () => {
        assert.equal((await srv?.stop())?.code, 0);
      });

      it('serves public/ with its MIME types; / and a directory with its slash serve index.html', async () => {
        assertFile(await get(srv.port, '/'), 'index.html', 'text/html; charset=utf-8');
        assertFile(await get(srv.port, '/index.html'), 'index.html', 'text/html; charset=utf-8');
        assertFile(await get(srv.port, '/logo.png'), 'logo.png', 'image/png');
        assertFile(await get(srv.port, '/style.css'), 'style.css', 'text/css; charset=utf-8');
        assertFile(await get(srv.port, '/about/'), 'about/index.html', 'text/html; charset=utf-8');
      });

      it('a directory without its slash is 301 to one path on this host, never //host', async () => {
        for (const [target, location] of [
          ['/about', '/about/'],
          ['//about', '/about/'],
          ['///about', '/about/'],
          ['/about?x=1', '/about/?x=1'],
          ['//about?a=1&b=%2F', '/about/?a=1&b=%2F'],
        ]) {
          // the query string stays
          const r = await get(srv.port, target);
          assertPage(r, 301, `Moved to ${location}`);
          assert.equal(r.headers.location, location, target);
        }
      });

      it('HEAD sends the headers of GET and no body', async () => {
        const g = await get(srv.port, '/logo.png');
        const h = await rawRequest(srv.port, 'HEAD /logo.png HTTP/1.0\r\n\r\n');
        assert.equal(h.status, 200);
        assert.equal(h.body.length, 0);
        assert.equal(h.headers['content-length'], g.headers['content-length']);
        assert.equal(h.headers['content-type'], g.headers['content-type']);
        const m = await rawRequest(srv.port, 'HEAD /missing HTTP/1.0\r\n\r\n');
        assert.equal(m.status, 404);
        assert.equal(m.body.length, 0);
      });

      it('errors: the same status and page as every other architecture', async () => {
        assertPage(await get(srv.port, '/no-such-file.html'), 404);
        assertPage(await get(srv.port, '/../secret.txt'), 403);
        assertPage(await get(srv.port, '/%2e%2e/secret.txt'), 403);
        assertPage(await get(srv.port, '/.env'), 404);
        assertPage(await get(srv.port, '/%zz'), 400);
        const del = await rawRequest(srv.port, 'DELETE / HTTP/1.0\r\n\r\n');
        assertPage(del, 501, 'DELETE is not supported');
        assert.equal(del.headers.allow, 'GET, HEAD, POST');
        const post = await rawRequest(srv.port, 'POST /index.html HTTP/1.0\r\nContent-Length: 0\r\n\r\n');
        assertPage(post, 405);
        assert.equal(post.headers.allow, 'GET, HEAD');
      });
    });
  }
});
