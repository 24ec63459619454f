// The iterative server under strace: the TypeScript loop (the main thread, pid == tid), not
// libuv, accepts, reads one byte per recv(), sendfile()s and closes; and traversal attempts
// never open anything outside the public root.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { STRACE, startTraced, callsOf, fdNum } from './helpers/strace';
import { get } from './helpers/http';
import { freePort } from './helpers/redis';

const ROOT = path.resolve(__dirname, '..', '..');

describe('iterative server under strace', function () {
  this.timeout(90_000);
  let dir: string;
  before(function () {
    if (!fs.existsSync(STRACE)) throw new Error(`${STRACE} is required for this test`);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zerohttpd-strace-'));
  });
  after(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  for (const reader of ['byte', 'buffered'] as const) {
    it(`GET / is accepted, read, sendfile()d and closed by the main thread (--reader ${reader})`, async () => {
      const sub = fs.mkdtempSync(path.join(dir, `${reader}-`));
      const srv = await startTraced('accept4,recvfrom,sendfile,close',
        ['iterative', '--reader', reader, '--redis', `127.0.0.1:${await freePort()}`, '--quiet'], sub);
      let stopped = false;
      try {
        const r = await get(srv.port, '/', { timeoutMs: 30_000 });
        assert.equal(r.status, 200);
        const size = fs.statSync(path.join(ROOT, 'public', 'index.html')).size;
        assert.equal(r.body.length, size);
        const { code, lines } = await srv.stop();
        stopped = true;
        assert.equal(code, 0, 'server (and strace) exit 0 on SIGINT');
        const main = callsOf(lines, srv.pid);
        const accepted = main.filter((c) => c.name === 'accept4' && /^\d+/.test(c.result) && !c.result.startsWith('-'));
        assert.equal(accepted.length, 1, `one accept4 in the main thread:\n${main.map((c) => c.line).join('\n')}`);
        const a = main.indexOf(accepted[0]);
        const n = fdNum(accepted[0].result);
        const after = main.slice(a + 1);
        const recvs = after.filter((c) => c.name === 'recvfrom' && fdNum(c.args) === n);
        assert.ok(recvs.length > 0, 'recvfrom on the client fd');
        if (reader === 'byte') {
          const oneByte = recvs.filter((c) => /, 1, 0, NULL, NULL$/.test(c.args) && c.result === '1');
          const request = `GET / HTTP/1.0\r\nHost: x\r\n\r\n`;
          // One recv() per byte, plus one MSG_PEEK after each '\r'.
          assert.equal(oneByte.length, request.length, `one-byte recvfrom calls:\n${recvs.map((c) => c.line).join('\n')}`);
          assert.ok(recvs.some((c) => /MSG_PEEK/.test(c.args)), 'MSG_PEEK look-ahead after CR');
          assert.ok(recvs.every((c) => /, 1, (0|MSG_PEEK), NULL, NULL$/.test(c.args)), 'every read of the head is 1 byte');
        } else {
          assert.ok(recvs.every((c) => !/, 1, 0, NULL, NULL$/.test(c.args)), 'buffered reader makes large reads');
        }
        const sf = after.filter((c) => c.name === 'sendfile' && fdNum(c.args) === n);
        assert.ok(sf.length >= 1, `sendfile on fd ${n}`);
        assert.match(sf[0].args, /index\.html>/, 'sendfile from public/index.html');
        assert.equal(sf.reduce((s, c) => s + Number(c.result), 0), size, 'sendfile sent the whole file');
        const closes = after.filter((c) => c.name === 'close' && fdNum(c.args) === n);
        assert.ok(closes.length >= 1, `close(${n}) in the main thread`);
        const firstRecv = main.indexOf(recvs[0]), firstSf = main.indexOf(sf[0]), closeIdx = main.indexOf(closes[0]);
        assert.ok(a < firstRecv && firstRecv < firstSf && firstSf < closeIdx, 'accept4 < recvfrom < sendfile < close');
        // No other thread touched the client socket between accept and close.
        const others = lines.filter((l) => {
          const m = /^(\d+)\s+(recvfrom|sendfile)\((\d+)/.exec(l);
          return m && Number(m[1]) !== srv.pid && Number(m[3]) === n;
        });
        assert.deepEqual(others, []);
      } finally {
        if (!stopped) await srv.stop();
      }
    });
  }

  it('traversal attempts never open anything outside the public root', async () => {
    const root = fs.mkdtempSync(path.join(dir, 'tree-'));
    const pub = path.join(root, 'public');
    fs.mkdirSync(pub);
    fs.writeFileSync(path.join(pub, 'index.html'), 'inside\n');
    fs.mkdirSync(path.join(pub, 'sub'));
    fs.writeFileSync(path.join(root, 'secret.txt'), 'SECRET\n');
    fs.symlinkSync('../secret.txt', path.join(pub, 'escape.txt'));
    fs.symlinkSync(path.join(root, 'secret.txt'), path.join(pub, 'abs-escape.txt'));
    fs.symlinkSync('..', path.join(pub, 'up'));
    const realPub = fs.realpathSync(pub);
    const srv = await startTraced('openat,openat2,open',
      ['iterative', '--public', pub, '--redis', `127.0.0.1:${await freePort()}`, '--quiet'], root);
    let stopped = false;
    try {
      const paths = [
        '/../secret.txt', '/sub/../../secret.txt', '/%2e%2e/secret.txt', '/%2E%2E/secret.txt', '/.%2e/secret.txt',
        '/..%2fsecret.txt', '/%2e%2e%2fsecret.txt', '/sub%2f..%2f..%2fsecret.txt', '/..%5csecret.txt', '/..\\secret.txt',
        '/secret.txt%00', '/..%00/secret.txt', '/%2fetc%2fpasswd', '/escape.txt', '/abs-escape.txt', '/up/secret.txt', '/up/',
      ];
      for (const p of paths) {
        const r = await get(srv.port, p, { timeoutMs: 30_000 });
        assert.ok([400, 403, 404].includes(r.status), `${p} -> ${r.status}`);
        assert.ok(!r.body.toString().includes('SECRET'), `${p} leaked`);
      }
      assert.equal((await get(srv.port, '/index.html', { timeoutMs: 30_000 })).status, 200); // control: opens are traced
      const { code, lines } = await srv.stop();
      stopped = true;
      assert.equal(code, 0);
      const opens = lines.filter((l) => /^\d+\s+(open|openat|openat2)\(/.test(l));
      const o2 = opens.filter((l) => /openat2\(/.test(l));
      assert.ok(o2.some((l) => /"index\.html"/.test(l) && /= \d+</.test(l)), `the control request was traced:\n${o2.join('\n')}`);
      for (const l of o2) {
        // openat2(<the public root fd>, "<relative path>", {... resolve=RESOLVE_BENEATH...})
        assert.ok(l.includes(`<${realPub}>`), `openat2 not relative to the public root: ${l}`);
        assert.match(l, /RESOLVE_BENEATH/, l);
        const rel = /openat2\([^,]+, "([^"]*)"/.exec(l)![1];
        assert.ok(!rel.startsWith('/') && !rel.split('/').includes('..'), `openat2 of ${rel}`);
        // The escaping symlinks are refused by the kernel, nothing opened.
        if (/"(escape\.txt|abs-escape\.txt|up\/secret\.txt|up\/index\.html)"/.test(l)) assert.match(l, /= -1 (EXDEV|ELOOP)/, l);
      }
      // Nothing ever opened the outside file, by any path.
      const outside = opens.filter((l) => /secret\.txt/.test(l) && !/openat2\(/.test(l));
      assert.deepEqual(outside, []);
      const success = opens.filter((l) => /secret/.test(l) && /\) = \d+/.test(l));
      assert.deepEqual(success, [], 'no successful open mentioning the secret');
      assert.ok(!opens.some((l) => l.includes(path.join(root, 'secret.txt')) || l.includes('/etc/passwd')), 'no open of an outside path');
    } finally {
      if (!stopped) await srv.stop();
    }
  });
});

describe('--backlog under strace', function () {
  this.timeout(90_000);
  let dir: string;
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zerohttpd-backlog-'));
  });
  after(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  // node:http listens again on the fd it is given, with 511 unless the backlog is passed its
  // way: the node yardstick once did that and outlasted the others at c >= 8,000 for it.
  for (const arch of ['epoll', 'node']) {
    it(`${arch}: every listen() has the --backlog given`, async () => {
      const srv = await startTraced('listen', [arch, '--backlog', '37', '--redis', `127.0.0.1:${await freePort()}`, '--quiet'], fs.mkdtempSync(path.join(dir, `${arch}-`)));
      assert.equal((await get(srv.port, '/', { timeoutMs: 30_000 })).status, 200);
      const { code, lines } = await srv.stop();
      assert.equal(code, 0);
      const listens = lines.filter((l) => /^\d+\s+listen\(/.test(l));
      assert.ok(listens.length >= 1, 'listen() was traced');
      for (const l of listens) assert.match(l, /listen\(\d+<[^>]*>, 37\) = 0/, l);
    });
  }
});
