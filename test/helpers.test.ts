// Tests for the test helpers themselves.
import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as net from 'node:net';
import { get, load, post, rawRequest } from './helpers/http';
import { startRedis, withRedis } from './helpers/redis';

/** A tiny HTTP/1.0-ish server: reads the head (and Content-Length body), echoes it, closes. */
function echoServer(
  handler?: (sock: net.Socket, request: Buffer) => void,
): Promise<{ port: number; close(): Promise<void> }> {
  const server = net.createServer((sock) => {
    let buf = Buffer.alloc(0);
    sock.on('error', () => {});
    sock.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      const headEnd = buf.indexOf('\r\n\r\n');
      if (headEnd === -1) return;
      const len = Number(/content-length: *(\d+)/i.exec(buf.toString('latin1', 0, headEnd))?.[1] ?? 0);
      if (buf.length < headEnd + 4 + len) return;
      if (handler) return handler(sock, buf);
      sock.end(`HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nX-Dup: a\r\nX-Dup: b\r\n\r\n${buf.toString('latin1')}`);
    });
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve({
        port: (server.address() as net.AddressInfo).port,
        close: () => new Promise((r) => server.close(() => r())),
      }),
    ),
  );
}

function redisServerPids(port: number): string[] {
  try {
    return execFileSync('pgrep', ['-f', `redis-server.*:${port}`])
      .toString()
      .trim()
      .split('\n')
      .filter(Boolean);
  } catch {
    return []; // pgrep exits 1 when nothing matches
  }
}

describe('test helpers', () => {
  describe('http', () => {
    it('sends exact bytes and parses status, lower-cased headers and body', async () => {
      const srv = await echoServer();
      try {
        const r = await get(srv.port, '/a%20b?x=1');
        assert.equal(r.status, 200);
        assert.equal(r.headers['content-type'], 'text/plain');
        assert.equal(r.headers['x-dup'], 'a, b');
        assert.equal(r.body.toString(), 'GET /a%20b?x=1 HTTP/1.0\r\nHost: x\r\n\r\n');
        assert.ok(r.raw.toString().startsWith('HTTP/1.0 200 OK\r\n'));
      } finally {
        await srv.close();
      }
    });

    it('posts an urlencoded form with Content-Length', async () => {
      const srv = await echoServer();
      try {
        const r = await post(srv.port, '/guestbook', { 'guest-name': 'Ann & Bob', 'guest-remarks': 'hi there' });
        const echoed = r.body.toString();
        assert.match(echoed, /^POST \/guestbook HTTP\/1.0\r\n/);
        assert.match(echoed, /Content-Length: 45\r\n/);
        assert.ok(echoed.endsWith('\r\n\r\nguest-name=Ann+%26+Bob&guest-remarks=hi+there'));
      } finally {
        await srv.close();
      }
    });

    it('writes chunk arrays with pauses in between', async () => {
      const arrivals: number[] = [];
      const server = net.createServer((sock) => {
        let req = '';
        sock.on('data', (d) => {
          arrivals.push(Date.now());
          req += d.toString();
          if (req.endsWith('\r\n\r\n')) sock.end('HTTP/1.0 204 No Content\r\n\r\n');
        });
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      try {
        const port = (server.address() as net.AddressInfo).port;
        const r = await rawRequest(port, ['GE', 'T / HTTP/1.0\r\n', Buffer.from('\r\n')], { chunkDelayMs: 50 });
        assert.equal(r.status, 204);
        assert.equal(arrivals.length, 3);
        assert.ok(arrivals[2] - arrivals[0] >= 80);
      } finally {
        await new Promise((r) => server.close(r));
      }
    });

    it('reports status 0 when the server closes without a response', async () => {
      const srv = await echoServer((sock) => sock.end());
      try {
        const r = await get(srv.port, '/');
        assert.equal(r.status, 0);
        assert.equal(r.raw.length, 0);
      } finally {
        await srv.close();
      }
    });

    it('times out with a clear error', async () => {
      const srv = await echoServer(() => {}); // never answers
      try {
        await assert.rejects(get(srv.port, '/', { timeoutMs: 200 }), /timed out after 200 ms/);
      } finally {
        await srv.close();
      }
    });

    it('rejects when the connection is refused', async () => {
      const srv = await echoServer();
      await srv.close();
      await assert.rejects(get(srv.port, '/'), /failed/);
    });

    it('load runs n requests with bounded concurrency', async () => {
      let inFlight = 0,
        maxInFlight = 0;
      const srv = await echoServer((sock, req) => {
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
        const bad = req.includes('/bad');
        setTimeout(() => {
          inFlight--;
          if (bad) sock.destroy();
          else sock.end('HTTP/1.0 200 OK\r\n\r\nok');
        }, 5);
      });
      try {
        const r = await load(srv.port, 50, 8, (i) => `GET /${i % 10 === 0 ? 'bad' : 'ok'} HTTP/1.0\r\n\r\n`);
        assert.deepEqual(r.byStatus, { 0: 5, 200: 45 });
        assert.deepEqual(r.errors, []);
        assert.ok(maxInFlight <= 8 && maxInFlight >= 2, `max in flight ${maxInFlight}`);
      } finally {
        await srv.close();
      }
    });
  });

  describe('redis', () => {
    const redis = withRedis();

    it('runs a private server on a non-default port', async () => {
      const r = redis();
      assert.notEqual(r.port, 6379);
      assert.equal(r.host, '127.0.0.1');
      assert.equal(await r.client().ping(), 'PONG');
      await r.client().rpush('guestbook_remarks', 'hello - test');
      assert.deepEqual(await r.client().lrange('guestbook_remarks', 0, -1), ['hello - test']);
    });

    it('flushes', async () => {
      const r = redis();
      await r.client().set('visitor_count', '5');
      await r.flush();
      assert.equal(await r.client().get('visitor_count'), null);
    });

    it('stops and restarts on the same port', async function () {
      this.timeout(20_000);
      const r = redis();
      const port = r.port;
      await r.stop();
      await assert.rejects(get(port, '/', { timeoutMs: 1000 }), /failed/); // connection refused
      await r.start();
      assert.equal(r.port, port);
      assert.equal(await r.client().ping(), 'PONG');
    });

    it('leaves no process behind after stop', async () => {
      const other = await startRedis();
      assert.equal(redisServerPids(other.port).length, 1);
      await other.stop();
      assert.deepEqual(redisServerPids(other.port), []);
    });
  });
});
