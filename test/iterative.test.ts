// End-to-end tests of the iterative server: a real `zerohttpd iterative` process, real
// sockets, a private redis-server. Static files, traversal, limits, timeouts, guestbook.
import { makeTraversalTree, SECRET } from './helpers/fixtures';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { fdCount, heldConnections, RunningServer, startServer } from './helpers/server';
import { withRedis } from './helpers/redis';
import { freePort } from '../lib/net-probe';
import { formRequest, get, post, rawRequest, RawResponse } from './helpers/http';
import { sleep, waitFor } from './helpers/procs';

/** Every client connection closed on the servers' side (the lingering close waits for the client's EOF). */
const settled = (...servers: RunningServer[]) =>
  waitFor('the servers to close their client connections', 10_000, () =>
    servers.every((x) => heldConnections(x.pid, x.port) === 0),
  );

const ROOT = path.resolve(__dirname, '..', '..');
const PUBLIC = path.join(ROOT, 'public');

/** A temp tree: root/public (a copy of public/ plus odd names and symlinks) and root/secret.txt outside it. */
function makeTempPublic(): { root: string; pub: string } {
  const t = makeTraversalTree('iter');
  fs.writeFileSync(path.join(t.pub, 'a b.txt'), 'file with a space\n');
  fs.writeFileSync(path.join(t.pub, 'café.txt'), 'unicode name\n');
  fs.writeFileSync(path.join(t.pub, '%41.txt'), 'literal percent name\n');
  fs.symlinkSync('index.html', path.join(t.pub, 'inside-link.html')); // stays inside: allowed
  return t;
}

/** Every way of asking for something outside the root. None may return the secret. */
export const TRAVERSALS = [
  '/../secret.txt',
  '/../../../../../../etc/passwd',
  '/sub/../../secret.txt',
  '/%2e%2e/secret.txt',
  '/%2E%2E/secret.txt',
  '/.%2e/secret.txt',
  '/%2e./secret.txt',
  '/..%2fsecret.txt',
  '/%2e%2e%2fsecret.txt',
  '/sub%2f..%2f..%2fsecret.txt',
  '/..%5csecret.txt',
  '/..\\secret.txt',
  '/%252e%252e/secret.txt',
  '/secret.txt%00',
  '/..%00/secret.txt',
  '/%2fetc%2fpasswd',
  '//etc/passwd',
  '/escape.txt',
  '/abs-escape.txt',
  '/up/secret.txt',
  '/up/',
  '/outdir/',
  '/outdir/index.html',
  'http://x/../secret.txt',
  'http://x/%2e%2e/secret.txt',
];

function text(r: RawResponse): string {
  return r.body.toString('utf8');
}

function assertCommonHeaders(r: RawResponse): void {
  assert.match(r.raw.toString('latin1'), /^HTTP\/1\.0 \d{3} /);
  assert.ok(r.headers.server, 'Server header');
  assert.ok(r.headers['content-type'], 'Content-Type header');
  assert.equal(r.headers['content-length'], String(r.body.length), 'Content-Length matches the body');
}

describe('iterative server (end to end)', function () {
  this.timeout(60_000);
  const redis = withRedis();
  let tmp: { root: string; pub: string };

  before(() => {
    tmp = makeTempPublic();
  });
  after(() => {
    fs.rmSync(tmp.root, { recursive: true, force: true });
  });

  for (const reader of ['byte', 'buffered'] as const) {
    describe(`static files (--reader ${reader})`, () => {
      let srv: RunningServer;
      let tsrv: RunningServer;
      let fds0: number[];
      before(async () => {
        const r = redis();
        srv = await startServer(['iterative', '--reader', reader, '--redis', `127.0.0.1:${r.port}`, '--quiet']);
        tsrv = await startServer([
          'iterative',
          '--reader',
          reader,
          '--public',
          tmp.pub,
          '--redis',
          `127.0.0.1:${r.port}`,
          '--quiet',
        ]);
        assert.equal((await get(srv.port, '/')).status, 200);
        assert.equal((await get(tsrv.port, '/')).status, 200);
        await settled(srv, tsrv);
        fds0 = [fdCount(srv.pid), fdCount(tsrv.pid)];
      });
      after(async () => {
        const a = await srv?.stop();
        const b = await tsrv?.stop();
        assert.equal(a?.code, 0);
        assert.equal(b?.code, 0);
      });

      it('GET / serves public/index.html', async () => {
        const r = await get(srv.port, '/');
        assert.equal(r.status, 200);
        assertCommonHeaders(r);
        assert.match(r.headers['content-type'], /^text\/html/);
        assert.deepEqual(r.body, fs.readFileSync(path.join(PUBLIC, 'index.html')));
        assert.match(r.raw.toString('latin1'), /^HTTP\/1\.0 200 OK\r\n/);
      });

      it('GET /index.html serves the same file', async () => {
        const r = await get(srv.port, '/index.html');
        assert.equal(r.status, 200);
        assertCommonHeaders(r);
        assert.deepEqual(r.body, fs.readFileSync(path.join(PUBLIC, 'index.html')));
      });

      it('GET /logo.png is byte-identical to public/logo.png', async () => {
        const r = await get(srv.port, '/logo.png');
        assert.equal(r.status, 200);
        assertCommonHeaders(r);
        assert.equal(r.headers['content-type'], 'image/png');
        assert.ok(r.body.equals(fs.readFileSync(path.join(PUBLIC, 'logo.png'))), 'logo bytes differ');
      });

      it('GET /style.css has a CSS content type', async () => {
        const r = await get(srv.port, '/style.css');
        assert.equal(r.status, 200);
        assert.match(r.headers['content-type'], /^text\/css/);
        assert.deepEqual(r.body, fs.readFileSync(path.join(PUBLIC, 'style.css')));
      });

      it('a missing file is 404', async () => {
        const r = await get(srv.port, '/no-such-file.html');
        assert.equal(r.status, 404);
        assertCommonHeaders(r);
      });

      it('a directory without its slash is 301 to the slashed path; with it, its index.html', async () => {
        const r = await get(srv.port, '/about');
        assert.equal(r.status, 301);
        assert.equal(r.headers.location, '/about/');
        assertCommonHeaders(r);
        const q = await get(srv.port, '/about?x=1');
        assert.equal(q.status, 301);
        assert.equal(q.headers.location, '/about/?x=1', 'the query string stays');
        const d = await get(srv.port, '/about/');
        assert.equal(d.status, 200);
        assert.deepEqual(d.body, fs.readFileSync(path.join(PUBLIC, 'about', 'index.html')));
      });

      it('a redirect never points to another host (//dir)', async () => {
        const r = await get(srv.port, '//about');
        if (r.status === 301)
          assert.ok(!r.headers.location.startsWith('//'), `Location ${r.headers.location} is protocol-relative`);
        else assert.ok([403, 404].includes(r.status), `status ${r.status}`);
      });

      it('other methods are 501 with Allow', async () => {
        for (const m of ['DELETE', 'PUT', 'OPTIONS', 'PATCH', 'BREW']) {
          const r = await rawRequest(srv.port, `${m} / HTTP/1.0\r\nHost: x\r\n\r\n`);
          assert.equal(r.status, 501, m);
          assert.equal(r.headers.allow, 'GET, HEAD, POST', m);
          assertCommonHeaders(r);
        }
      });

      it('a malformed request line is 400', async () => {
        for (const line of [
          'GARBAGE',
          'GET /',
          'GET / HTTP/1.0 extra',
          'GET  / HTTP/1.0',
          'GET / FTP/1.0',
          ' GET / HTTP/1.0',
        ]) {
          const r = await rawRequest(srv.port, `${line}\r\nHost: x\r\n\r\n`);
          assert.equal(r.status, 400, JSON.stringify(line));
        }
      });

      it('ignores the query string', async () => {
        const r = await get(srv.port, '/index.html?a=1&b=../../etc/passwd');
        assert.equal(r.status, 200);
        assert.deepEqual(r.body, fs.readFileSync(path.join(PUBLIC, 'index.html')));
        const s = await get(srv.port, '/?x');
        assert.equal(s.status, 200);
      });

      it('accepts HTTP/1.1 and bare-LF requests and answers HTTP/1.0, closing the connection', async () => {
        const r = await rawRequest(srv.port, 'GET /index.html HTTP/1.1\nHost: x\n\n');
        assert.equal(r.status, 200);
        assert.match(r.raw.toString('latin1'), /^HTTP\/1\.0 200/);
      });

      it('percent-decodes the path exactly once', async () => {
        const a = await get(tsrv.port, '/a%20b.txt');
        assert.equal(a.status, 200);
        assert.equal(text(a), 'file with a space\n');
        const c = await get(tsrv.port, '/caf%C3%A9.txt');
        assert.equal(c.status, 200);
        assert.equal(text(c), 'unicode name\n');
        const lit = await get(tsrv.port, '/%2541.txt'); // decodes to '%41.txt', not 'A.txt'
        assert.equal(lit.status, 200);
        assert.equal(text(lit), 'literal percent name\n');
        const enc = await get(tsrv.port, '/%69ndex.html'); // 'index.html'
        assert.equal(enc.status, 200);
      });

      it('serves a symlink that stays inside the root, and sub/ index pages', async () => {
        const r = await get(tsrv.port, '/inside-link.html');
        assert.equal(r.status, 200);
        assert.deepEqual(r.body, fs.readFileSync(path.join(PUBLIC, 'index.html')));
        const s = await get(tsrv.port, '/sub/');
        assert.equal(s.status, 200);
        assert.equal(text(s), '<p>sub index</p>\n');
      });

      it('refuses every traversal form with 400/403/404 and never returns what is outside', async () => {
        for (const p of TRAVERSALS) {
          const r = await get(tsrv.port, p);
          assert.ok([400, 403, 404].includes(r.status), `${p} -> ${r.status}`);
          assert.ok(!r.raw.toString('latin1').includes(SECRET), `${p} leaked the secret`);
          assert.ok(!r.raw.toString('latin1').includes('root:x:0:0'), `${p} leaked /etc/passwd`);
        }
        // The '..' forms specifically are 403 or 404, not served.
        for (const p of ['/../secret.txt', '/%2e%2e/secret.txt', '/escape.txt', '/up/secret.txt']) {
          assert.ok([403, 404].includes((await get(tsrv.port, p)).status), p);
        }
      });

      it('regular files only: FIFOs are not served and do not block the server', async () => {
        const fifo = path.join(tmp.pub, `fifo-${reader}`);
        require('node:child_process').execFileSync('mkfifo', [fifo]);
        try {
          const r = await get(tsrv.port, `/fifo-${reader}`, { timeoutMs: 10_000 });
          assert.equal(r.status, 404);
          assert.equal((await get(tsrv.port, '/a%20b.txt')).status, 200);
        } finally {
          fs.rmSync(fifo, { force: true });
        }
      });

      it('request line over 8 KiB is 414', async () => {
        const r = await rawRequest(srv.port, `GET /${'a'.repeat(9000)} HTTP/1.0\r\nHost: x\r\n\r\n`);
        assert.equal(r.status, 414);
        // Exactly at the limit it is fine (404: no such file, but parsed).
        const target = '/' + 'b'.repeat(8192 - 'GET  HTTP/1.0'.length - 1);
        const ok = await rawRequest(srv.port, `GET ${target} HTTP/1.0\r\nHost: x\r\n\r\n`);
        assert.ok([403, 404].includes(ok.status), `at the limit: ${ok.status}`);
      });

      it('headers over 16 KiB or over 100 lines are 431', async () => {
        const big = Array.from({ length: 20 }, (_, i) => `X-Big-${i}: ${'v'.repeat(1000)}\r\n`).join('');
        assert.equal((await rawRequest(srv.port, `GET / HTTP/1.0\r\n${big}\r\n`)).status, 431);
        const many = Array.from({ length: 101 }, (_, i) => `X-H${i}: v\r\n`).join('');
        assert.equal((await rawRequest(srv.port, `GET / HTTP/1.0\r\n${many}\r\n`)).status, 431);
        const hundred = Array.from({ length: 100 }, (_, i) => `X-H${i}: v\r\n`).join('');
        assert.equal((await rawRequest(srv.port, `GET / HTTP/1.0\r\n${hundred}\r\n`)).status, 200);
      });

      it('a body over 16 KiB is 413', async () => {
        const body = 'guest-name=a&guest-remarks=' + 'x'.repeat(17_000);
        const r = await rawRequest(
          srv.port,
          `POST /guestbook HTTP/1.0\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
        );
        assert.equal(r.status, 413);
      });

      it('POST without a valid Content-Length is 411 or 400', async () => {
        assert.equal(
          (await rawRequest(srv.port, 'POST /guestbook HTTP/1.0\r\nHost: x\r\n\r\nguest-name=a')).status,
          411,
        );
        for (const cl of ['abc', '-1', '1.5', '']) {
          const r = await rawRequest(srv.port, `POST /guestbook HTTP/1.0\r\nContent-Length: ${cl}\r\n\r\nguest-name=a`);
          assert.equal(r.status, 400, `Content-Length: ${JSON.stringify(cl)}`);
        }
      });

      it('the server still serves normally after all of the above, and leaked no fd', async () => {
        const r = await get(srv.port, '/');
        assert.equal(r.status, 200);
        assert.equal((await get(tsrv.port, '/')).status, 200);
        assert.equal(srv.proc.exitCode, null);
        assert.equal(tsrv.proc.exitCode, null);
        await settled(srv, tsrv);
        assert.deepEqual([fdCount(srv.pid), fdCount(tsrv.pid)], fds0, 'open fds after every kind of request');
      });
    });
  }

  it('--reader byte and --reader buffered give byte-identical responses', async () => {
    const args = ['--public', tmp.pub, '--redis', `127.0.0.1:${redis().port}`, '--quiet'];
    const byte = await startServer(['iterative', '--reader', 'byte', ...args]);
    const buffered = await startServer(['iterative', '--reader', 'buffered', ...args]);
    try {
      const requests = [
        '/',
        '/index.html',
        '/logo.png',
        '/about',
        '/about/',
        '/nope',
        '/a%20b.txt',
        '/index.html?q=1',
        ...TRAVERSALS,
      ]
        .map((p) => `GET ${p} HTTP/1.0\r\nHost: x\r\n\r\n`)
        .concat([
          'HEAD /logo.png HTTP/1.0\r\n\r\n',
          'DELETE / HTTP/1.0\r\n\r\n',
          'GARBAGE\r\n\r\n',
          `GET /${'a'.repeat(9000)} HTTP/1.0\r\n\r\n`,
          'POST /guestbook HTTP/1.0\r\n\r\n',
          'POST /guestbook HTTP/1.0\r\nContent-Length: 99999\r\n\r\n',
        ]);
      for (const req of requests) {
        const a = await rawRequest(byte.port, req);
        const b = await rawRequest(buffered.port, req);
        assert.ok(a.status > 0, req.slice(0, 60));
        assert.ok(a.raw.equals(b.raw), `responses differ for ${JSON.stringify(req.slice(0, 60))}`);
      }
    } finally {
      assert.equal((await byte.stop()).code, 0);
      assert.equal((await buffered.stop()).code, 0);
    }
  });

  describe('slow and vanishing clients (--timeout 1)', () => {
    let srv: RunningServer;
    before(async () => {
      srv = await startServer(['iterative', '--timeout', '1', '--redis', `127.0.0.1:${redis().port}`, '--quiet']);
    });
    after(async () => {
      assert.equal((await srv?.stop())?.code, 0);
    });

    it('a client that sends nothing gets 408 and does not stop the next client from being served', async () => {
      const idle = rawRequest(srv.port, [], { timeoutMs: 20_000 }); // connects, sends nothing
      await sleep(100);
      const t0 = Date.now();
      const next = await get(srv.port, '/', { timeoutMs: 20_000 });
      assert.equal(next.status, 200);
      assert.ok(Date.now() - t0 < 15_000);
      const idled = await idle;
      assert.equal(idled.status, 408);
    });

    it('a client that stops mid-headers is answered 408', async () => {
      const r = await rawRequest(srv.port, 'GET / HTTP/1.0\r\nHost: x\r\nX-Partial: ', { timeoutMs: 20_000 });
      assert.equal(r.status, 408);
    });

    it('a client that stops mid-body is answered 408 and nothing is stored', async () => {
      const before = await redis().client().llen('guestbook_remarks');
      const r = await rawRequest(srv.port, 'POST /guestbook HTTP/1.0\r\nContent-Length: 40\r\n\r\nguest-name=x&guest', {
        timeoutMs: 20_000,
      });
      assert.equal(r.status, 408);
      assert.equal(await redis().client().llen('guestbook_remarks'), before);
    });

    it('a client that closes mid-headers gets no answer and does not hang the server (--timeout 60)', async () => {
      // A long timeout: had the server waited for it, the next request would take ~60 s.
      const slow = await startServer([
        'iterative',
        '--timeout',
        '60',
        '--redis',
        `127.0.0.1:${redis().port}`,
        '--quiet',
      ]);
      try {
        await closeMidHeaders(slow);
      } finally {
        assert.equal((await slow.stop()).code, 0);
      }
    });

    async function closeMidHeaders(srv: RunningServer): Promise<void> {
      for (const half of [true, false]) {
        const got = await new Promise<Buffer>((resolve, reject) => {
          const s = net.connect(srv.port, '127.0.0.1');
          const data: Buffer[] = [];
          s.on('data', (d) => data.push(d));
          s.on('error', () => resolve(Buffer.concat(data)));
          s.on('close', () => resolve(Buffer.concat(data)));
          s.on('connect', () => {
            s.write('GET /index.html HTTP/1.0\r\nHost: x\r\nX-A: b');
            if (half)
              s.end(); // early EOF: the server sees recv() == 0
            else setTimeout(() => s.destroy(), 50);
          });
          setTimeout(() => reject(new Error('server kept the half-closed connection open')), 10_000);
        });
        assert.equal(got.length, 0, 'early EOF ends the request quietly');
        const t0 = Date.now();
        const r = await get(srv.port, '/index.html');
        assert.equal(r.status, 200);
        assert.ok(Date.now() - t0 < 30_000, 'next client served without waiting for the timeout');
      }
    }

    it('a client that connects and closes at once does not hang the server', async () => {
      await new Promise<void>((resolve) => {
        const s = net.connect(srv.port, '127.0.0.1', () => s.destroy());
        s.on('close', () => resolve());
        s.on('error', () => {});
      });
      assert.equal((await get(srv.port, '/')).status, 200);
    });
  });

  describe('guestbook', () => {
    let srv: RunningServer;
    before(async () => {
      srv = await startServer(['iterative', '--redis', `127.0.0.1:${redis().port}`, '--quiet']);
    });
    beforeEach(async () => {
      await redis().flush();
    });
    after(async () => {
      assert.equal((await srv?.stop())?.code, 0);
    });

    it('GET renders the page, the remarks and the visitor count with separators', async () => {
      await redis().client().rpush('guestbook_remarks', 'First remark - Ann', 'Second & last - Bob');
      await redis().client().set('visitor_count', '1233999');
      const r = await get(srv.port, '/guestbook');
      assert.equal(r.status, 200);
      assertCommonHeaders(r);
      assert.match(r.headers['content-type'], /^text\/html/);
      const html = text(r);
      assert.match(html, /<form[^>]*action="\/guestbook"/);
      assert.ok(html.includes('<li>First remark - Ann</li>'));
      assert.ok(html.includes('<li>Second &amp; last - Bob</li>'));
      assert.ok(html.includes('1,234,000'), 'visitor count 1,234,000');
      assert.equal(await redis().client().get('visitor_count'), '1234000');
    });

    it('HEAD /guestbook sends no body (and no Content-Length: the page is not rendered)', async () => {
      const r = await rawRequest(srv.port, 'HEAD /guestbook HTTP/1.0\r\n\r\n');
      assert.equal(r.status, 200);
      assert.equal(r.body.length, 0);
      assert.equal(r.headers['content-length'], undefined);
    });

    it('N GETs raise visitor_count by exactly N', async () => {
      await redis().client().set('visitor_count', '41');
      const N = 7;
      for (let i = 0; i < N; i++) {
        const r = await get(srv.port, '/guestbook');
        assert.equal(r.status, 200);
        assert.ok(text(r).includes(`visitor number ${42 + i}`), `page ${i} shows ${42 + i}`);
      }
      assert.equal(await redis().client().get('visitor_count'), String(41 + N));
    });

    it('POST stores exactly the submitted text and thanks the visitor', async () => {
      const name = "Zoë O'Brien+Co";
      const remarks = 'Fast server! 100% & more = "great"\nsecond line; ünïcödé ✓';
      const r = await post(srv.port, '/guestbook', { 'guest-name': name, 'guest-remarks': remarks });
      assert.equal(r.status, 200);
      assert.match(text(r), /thank/i);
      assert.deepEqual(await redis().client().lrange('guestbook_remarks', 0, -1), [`${remarks} - ${name}`]);
      const g = await get(srv.port, '/guestbook');
      assert.ok(text(g).includes('Fast server! 100% &amp; more = &quot;great&quot;'));
    });

    it('a <script> in a remark comes back escaped', async () => {
      const evil = '<script>alert("x")</script>';
      const r = await post(srv.port, '/guestbook', { 'guest-name': '<b>Mallory</b>', 'guest-remarks': evil });
      assert.equal(r.status, 200);
      assert.ok(!text(r).includes('<script>'), 'thank-you page escapes');
      assert.deepEqual(await redis().client().lrange('guestbook_remarks', 0, -1), [`${evil} - <b>Mallory</b>`]);
      const g = text(await get(srv.port, '/guestbook'));
      assert.ok(!g.includes('<script>'));
      assert.ok(!g.includes('<b>Mallory'));
      assert.ok(g.includes('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; - &lt;b&gt;Mallory&lt;/b&gt;'));
    });

    it('empty or over-long fields give 400 and store nothing', async () => {
      const cases: Record<string, string>[] = [
        { 'guest-name': '', 'guest-remarks': 'hello' },
        { 'guest-name': 'Ann', 'guest-remarks': '' },
        { 'guest-name': '   ', 'guest-remarks': '  ' },
        { 'guest-remarks': 'no name field' },
        {},
        { 'guest-name': 'n'.repeat(101), 'guest-remarks': 'hi' },
        { 'guest-name': 'Ann', 'guest-remarks': 'r'.repeat(1001) },
      ];
      for (const form of cases) {
        const r = await post(srv.port, '/guestbook', form);
        assert.equal(r.status, 400, JSON.stringify(form).slice(0, 80));
        assert.match(r.headers['content-type'], /^text\/html/);
      }
      const empty = await rawRequest(srv.port, 'POST /guestbook HTTP/1.0\r\nContent-Length: 0\r\n\r\n');
      assert.equal(empty.status, 400);
      assert.equal(await redis().client().exists('guestbook_remarks'), 0);
    });

    it('a POST body split across several segments is read whole (exactly Content-Length bytes)', async () => {
      const full = formRequest('/guestbook', { 'guest-name': 'Segmented Sam', 'guest-remarks': 'arrived in pieces' });
      const headEnd = full.indexOf('\r\n\r\n') + 4;
      const chunks = [
        full.subarray(0, 10),
        full.subarray(10, headEnd - 1),
        full.subarray(headEnd - 1, headEnd + 5),
        full.subarray(headEnd + 5, headEnd + 20),
        full.subarray(headEnd + 20),
      ];
      const r = await rawRequest(srv.port, chunks, { chunkDelayMs: 60 });
      assert.equal(r.status, 200);
      assert.deepEqual(await redis().client().lrange('guestbook_remarks', 0, -1), [
        'arrived in pieces - Segmented Sam',
      ]);
    });

    it('bytes after Content-Length are not part of the remark', async () => {
      const body = 'guest-name=Ann&guest-remarks=short';
      const r = await rawRequest(
        srv.port,
        `POST /guestbook HTTP/1.0\r\nContent-Length: ${body.length}\r\n\r\n${body}TRAILING-JUNK`,
      );
      assert.equal(r.status, 200);
      assert.deepEqual(await redis().client().lrange('guestbook_remarks', 0, -1), ['short - Ann']);
    });

    it('POST to a static path is refused and stores nothing', async () => {
      const r = await post(srv.port, '/index.html', { 'guest-name': 'a', 'guest-remarks': 'b' });
      assert.ok([405, 501].includes(r.status), String(r.status));
      assert.equal(await redis().client().exists('guestbook_remarks'), 0);
    });

    it('Redis stopped: /guestbook is 503 and static still works; Redis back: the guestbook works again', async () => {
      assert.equal((await get(srv.port, '/guestbook')).status, 200); // the server holds a connection now
      await redis().stop();
      try {
        const g = await get(srv.port, '/guestbook');
        assert.equal(g.status, 503);
        assert.match(g.headers['content-type'], /^text\/html/);
        const p = await post(srv.port, '/guestbook', { 'guest-name': 'a', 'guest-remarks': 'b' });
        assert.equal(p.status, 503);
        assert.equal((await get(srv.port, '/')).status, 200);
        assert.equal((await get(srv.port, '/logo.png')).status, 200);
        assert.equal((await get(srv.port, '/guestbook')).status, 503);
      } finally {
        await redis().start();
      }
      const back = await get(srv.port, '/guestbook');
      assert.equal(back.status, 200);
      const p = await post(srv.port, '/guestbook', { 'guest-name': 'Back', 'guest-remarks': 'again' });
      assert.equal(p.status, 200);
      assert.deepEqual(await redis().client().lrange('guestbook_remarks', 0, -1), ['again - Back']);
    });

    it('Redis restarted between two requests: the very next request works', async () => {
      assert.equal((await get(srv.port, '/guestbook')).status, 200); // connection established
      await redis().stop();
      await redis().start();
      const r = await get(srv.port, '/guestbook');
      assert.equal(r.status, 200, 'the first request after Redis is back must not see the stale connection');
      const p = await post(srv.port, '/guestbook', { 'guest-name': 'Once', 'guest-remarks': 'only once' });
      assert.equal(p.status, 200);
      assert.deepEqual(await redis().client().lrange('guestbook_remarks', 0, -1), ['only once - Once']);
    });

    it('a server started while Redis is down serves static files and answers 503 for /guestbook', async () => {
      const port = await freePort(); // nothing listens here yet
      const down = await startServer(['iterative', '--redis', `127.0.0.1:${port}`, '--quiet']);
      try {
        // The warning comes right after "listening on" (the first connect attempt).
        for (let i = 0; i < 100 && !/unreachable/.test(down.stderr()); i++) await sleep(50);
        assert.match(down.stderr(), /redis 127\.0\.0\.1:\d+ unreachable/);
        assert.equal((await get(down.port, '/')).status, 200);
        assert.equal((await get(down.port, '/logo.png')).status, 200);
        assert.equal((await get(down.port, '/guestbook')).status, 503);
      } finally {
        assert.equal((await down.stop()).code, 0);
      }
    });
  });
});
