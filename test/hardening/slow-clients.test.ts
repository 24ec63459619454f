// Clients that send more than the request, trickle it, or read the answer slowly, against every
// registered architecture: the response arrives whole (lingering close, no RST), a trickled
// request gets its 408 after --timeout in total, and a response is cut off after --send-timeout.
// Bounds are generous multiples of the configured timeouts, never tight timings.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { runnableArchitectures } from '../helpers/skip';
import { withRedis } from '../helpers/redis';
import { smallPool, startServer, withServer } from '../helpers/server';
import { parseResponse } from '../helpers/http';
import { waitFor } from '../helpers/procs';
import { C, native, sleepMs } from '../../lib/sys';

const BIG = 16 * 1024 * 1024; // sparse: sendfile() reads zero pages from the page cache
const MID = 300 * 1024;

/**
 * A blocking client with a 4 KB receive buffer (so most of the answer is still queued on the
 * server's side): send the request, wait `lateMs` (the server has queued the whole answer by
 * then), send two more bytes, then read everything. Returns the bytes received and the error
 * that ended the read (0: the server's EOF).
 */
function smallWindowFetch(port: number, request: string, lateMs: number): { bytes: number; err: number } {
  const fd = native.socket(C.AF_INET, C.SOCK_STREAM | C.SOCK_CLOEXEC, 0);
  assert.ok(fd >= 0, native.errname(fd));
  try {
    native.setsockopt(fd, C.SOL_SOCKET, C.SO_RCVBUF, 4096);
    native.setsockopt(fd, C.SOL_SOCKET, C.SO_RCVTIMEO, 20_000);
    assert.equal(native.connect(fd, '127.0.0.1', port), 0);
    const req = Buffer.from(request);
    assert.equal(native.send(fd, req, 0, req.length, C.MSG_NOSIGNAL), req.length);
    sleepMs(lateMs);
    native.send(fd, Buffer.from('\r\n'), 0, 2, C.MSG_NOSIGNAL);
    const buf = Buffer.alloc(64 * 1024);
    let bytes = 0;
    for (;;) {
      const n = native.recv(fd, buf, 0, buf.length);
      if (n <= 0) return { bytes, err: n < 0 ? -n : 0 };
      bytes += n;
    }
  } finally {
    native.close(fd);
  }
}

const REQ = (p: string) => `GET ${p} HTTP/1.0\r\nHost: x\r\n\r\n`;

interface Whole {
  status: number;
  contentLength: number;
  body: number;
  error?: string;
}

/**
 * Send `request` (and `late` once the first response bytes arrive), read until the server closes.
 * `error` is set if the connection was reset (the kernel then discards what it had not delivered).
 */
function fetchWhole(port: number, request: string, late?: string): Promise<Whole> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const s = net.connect(port, '127.0.0.1', () => s.write(request));
    let sentLate = false;
    let error: string | undefined;
    s.on('data', (d) => {
      chunks.push(d);
      if (late && !sentLate) {
        sentLate = true;
        s.write(late);
      }
    });
    s.on('error', (e: NodeJS.ErrnoException) => (error = e.code ?? e.message));
    s.on('close', () => {
      const r = parseResponse(Buffer.concat(chunks));
      resolve({
        status: r.status,
        contentLength: Number(r.headers['content-length'] ?? -1),
        body: r.body.length,
        error,
      });
    });
  });
}

describe('slow and sloppy clients, every architecture', function () {
  this.timeout(120_000);
  const redis = withRedis();
  const launch = withServer(redis);
  let dir: string;
  let pub: string;

  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zh-slow-'));
    pub = path.join(dir, 'public');
    fs.mkdirSync(pub);
    fs.writeFileSync(path.join(pub, 'index.html'), '<p>hello</p>\n');
    fs.writeFileSync(path.join(pub, 'mid.bin'), Buffer.alloc(MID, 'm'));
    const fd = fs.openSync(path.join(pub, 'big.bin'), 'w');
    fs.ftruncateSync(fd, BIG);
    fs.closeSync(fd);
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  for (const arch of runnableArchitectures()) {
    describe(arch, function () {
      const readers =
        arch === 'node'
          ? [[]]
          : [
              ['--reader', 'byte'],
              ['--reader', 'buffered'],
            ];

      for (const reader of readers) {
        const label = reader.length ? ` (${reader[1]} reader)` : '';
        it(`a response is never cut short by a reset: stray CRLF, pipelined and late bytes are drained${label}`, async () => {
          const s = await launch([...smallPool(arch), ...reader, '--public', pub, '--timeout', '5']);
          const cases: [string, string, string?][] = [
            ['stray CRLF after the request', REQ('/big.bin') + '\r\n'],
            ['a pipelined second request', REQ('/big.bin') + REQ('/index.html')],
            ['bytes arriving while the response is sent', REQ('/big.bin'), 'late bytes\r\n'],
          ];
          for (const [what, request, late] of cases) {
            const r = await fetchWhole(s.port, request, late);
            assert.equal(r.status, 200, what);
            assert.equal(r.contentLength, BIG, what);
            assert.equal(r.body, BIG, `${what}: ${r.body} of ${BIG} bytes arrived${r.error ? ` (${r.error})` : ''}`);
            assert.equal(r.error, undefined, what);
          }
        });
      }

      it('bytes arriving after the whole answer was queued do not reset it (a small receive window)', async () => {
        const s = await launch([...smallPool(arch), '--public', pub, '--timeout', '5']);
        const r = smallWindowFetch(s.port, REQ('/mid.bin'), 300);
        assert.equal(r.err, 0, `the read ended with ${native.errname(-r.err)} after ${r.bytes} bytes`);
        assert.ok(r.bytes > MID, `${r.bytes} bytes for a ${MID}-byte file`);
      });

      it('a trickled request gets 408 after --timeout in total, however steadily it trickles', async () => {
        const s = await launch([...smallPool(arch), '--public', pub, '--timeout', '1']);
        // One byte every 100 ms, never finishing the headers: each byte is "progress", so only a
        // bound on the whole read ends it. 30 s of trickling is the test's patience (the bound is 1 s).
        const answer = await new Promise<{ raw: Buffer; ms: number }>((resolve) => {
          const t0 = Date.now();
          const got: Buffer[] = [];
          const sock = net.connect(s.port, '127.0.0.1');
          const head = Buffer.from('GET / HTTP/1.0\r\nX-Trickle: ');
          let i = 0;
          const timer = setInterval(() => {
            if (Date.now() - t0 > 30_000) return sock.destroy();
            sock.write(i < head.length ? head.subarray(i, i + 1) : 'a');
            i++;
          }, 100);
          sock.on('data', (d) => got.push(d));
          sock.on('error', () => {});
          sock.on('close', () => {
            clearInterval(timer);
            resolve({ raw: Buffer.concat(got), ms: Date.now() - t0 });
          });
        });
        const r = parseResponse(answer.raw);
        assert.equal(r.status, 408, `after ${answer.ms} ms: ${answer.raw.toString('latin1', 0, 80) || 'no answer'}`);
        assert.ok(answer.ms < 25_000, `408 after ${answer.ms} ms`);
      });

      it('a client that stops reading is dropped after --timeout', async () => {
        const s = await startServer([
          ...smallPool(arch),
          '--public',
          pub,
          '--timeout',
          '1',
          '--redis',
          `127.0.0.1:${redis().port}`,
        ]);
        try {
          const sock = net.connect(s.port, '127.0.0.1', () => sock.write(REQ('/big.bin')));
          sock.on('error', () => {});
          sock.pause(); // read nothing: the server's send buffer and our receive buffer fill up
          const line = await waitFor('the request logged as cut short', 30_000, () =>
            s
              .stdout()
              .split('\n')
              .find((l) => l.startsWith('200 GET /big.bin ')),
          );
          assert.ok(Number(/ (\d+) bytes/.exec(line)![1]) < BIG, line);
          sock.destroy();
        } finally {
          await s.stop('SIGKILL');
        }
      });

      {
        it('a client reading very slowly is cut off after --send-timeout', async () => {
          const s = await startServer([
            ...smallPool(arch),
            '--public',
            pub,
            '--timeout',
            '5',
            '--send-timeout',
            '2',
            '--redis',
            `127.0.0.1:${redis().port}`,
          ]);
          try {
            // 16 KB every 100 ms (~160 KB/s): always progress within --timeout, never done (48 MB).
            const sock = net.connect(s.port, '127.0.0.1', () => sock.write(REQ('/big.bin')));
            sock.on('error', () => {});
            sock.pause();
            const reader = setInterval(() => sock.read(16 * 1024), 100);
            try {
              const line = await waitFor('the response logged as cut off', 60_000, () =>
                s
                  .stdout()
                  .split('\n')
                  .find((l) => l.startsWith('200 GET /big.bin ')),
              );
              assert.ok(Number(/ (\d+) bytes/.exec(line)![1]) < BIG, line);
            } finally {
              clearInterval(reader);
              sock.destroy();
            }
          } finally {
            await s.stop('SIGKILL');
          }
        });
      }
    });
  }
});
