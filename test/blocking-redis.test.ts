// BlockingRedis, the blocking architectures' Redis client: a reply that is not RESP, and the
// outcome of its non-blocking connect(). In process against raw sockets, then end to end
// against every blocking architecture with a fake Redis that answers garbage.
import * as assert from 'node:assert/strict';
import { BAD_REPLY, BlockingRedis, connectOutcome } from '../lib/redis/blocking';
import { C, native, sendAll } from '../lib/sys';
import { startFakeRedis, FakeRedis, GARBAGE } from './helpers/fake-redis';
import { withRedis } from './helpers/redis';
import { RunningServer, startServer } from './helpers/server';
import { get, rawRequest } from './helpers/http';
import { waitFor } from './helpers/procs';

/** A listening socket on loopback: BlockingRedis.connect() completes against its backlog, no accept() needed first. */
function listener(): { fd: number; port: number } {
  const fd = native.socket(C.AF_INET, C.SOCK_STREAM | C.SOCK_CLOEXEC);
  assert.ok(fd >= 0);
  assert.equal(native.bind(fd, '127.0.0.1', 0), 0);
  assert.equal(native.listen(fd, 4), 0);
  const name = native.getsockname(fd);
  assert.ok(typeof name === 'object');
  return { fd, port: name.port };
}

/** The accepted end, with a receive timeout so that a bug cannot hang the test. */
function acceptPeer(l: number): number {
  const fd = native.accept4(l, C.SOCK_CLOEXEC);
  assert.ok(fd >= 0, native.errname(fd));
  native.setsockopt(fd, C.SOL_SOCKET, C.SO_RCVTIMEO, 5000);
  return fd;
}

describe('BlockingRedis', () => {
  it('a reply that is not RESP: BAD_REPLY (not a throw), the connection is dropped, the next command reconnects', () => {
    const l = listener();
    const redis = new BlockingRedis('127.0.0.1', l.port);
    const peers: number[] = [];
    try {
      assert.equal(redis.connect(), true);
      peers.push(acceptPeer(l.fd));
      assert.equal(sendAll(peers[0], Buffer.from(GARBAGE)), GARBAGE.length); // queued before the command is sent
      assert.equal(redis.command(['PING']), BAD_REPLY);
      assert.equal(redis.connected, false);
      assert.match(redis.lastError, /RESP protocol error/);
      const buf = Buffer.alloc(64);
      assert.equal(buf.toString('latin1', 0, native.recv(peers[0], buf, 0, buf.length)), '*1\r\n$4\r\nPING\r\n');
      assert.equal(native.recv(peers[0], buf, 0, buf.length), 0, 'the client closed the connection');

      assert.equal(redis.connect(), true, 'a new connection');
      peers.push(acceptPeer(l.fd));
      sendAll(peers[1], Buffer.from('+PONG\r\n'));
      assert.equal(redis.command(['PING']), 'PONG');
    } finally {
      redis.close();
      for (const fd of [...peers, l.fd]) native.close(fd);
    }
  });

  it('connectOutcome: a failed getsockopt(SO_ERROR) is a failed connect, not a connected socket', () => {
    assert.equal(
      connectOutcome(1, () => -C.EBADF),
      -C.EBADF,
    );
    assert.ok(connectOutcome(1, () => 0) === 0, 'connected');
    assert.equal(
      connectOutcome(1, () => C.ECONNREFUSED),
      -C.ECONNREFUSED,
    );
    assert.equal(
      connectOutcome(0, () => 0),
      -C.ETIMEDOUT,
    );
    assert.equal(
      connectOutcome(-C.ENOMEM, () => 0),
      -C.ENOMEM,
    );
  });

  it('connect() to a port nobody listens on fails with ECONNREFUSED', () => {
    const l = listener();
    native.close(l.fd); // the port is now closed
    const redis = new BlockingRedis('127.0.0.1', l.port);
    assert.equal(redis.connect(), false);
    assert.equal(redis.connected, false);
    assert.equal(redis.lastError, 'connect: ECONNREFUSED');
  });
});

// Every architecture that uses BlockingRedis, with the options that keep it small.
const BLOCKING: Record<string, string[]> = {
  iterative: [],
  forking: [],
  preforked: ['--workers', '2'],
  threaded: [],
  prethreaded: ['--threads', '2'],
};

describe('a Redis that answers garbage (RESP protocol error), on every blocking architecture', function () {
  this.timeout(60_000);
  const redis = withRedis();
  let fake: FakeRedis;
  let srv: RunningServer | undefined;
  before(async () => {
    fake = await startFakeRedis(redis().port);
  });
  after(() => fake.close());
  afterEach(async () => {
    await srv?.stop('SIGKILL');
  });

  for (const [arch, args] of Object.entries(BLOCKING)) {
    it(`${arch}: 502 Bad Gateway, the Redis connection is dropped, the server keeps serving and reconnects`, async () => {
      fake.mode = 'garbage';
      srv = await startServer([arch, ...args, '--quiet', '--redis', `127.0.0.1:${fake.port}`]);
      const sent = fake.garbageSent,
        closed = fake.garbageClosed;
      const r = await get(srv.port, '/guestbook');
      assert.equal(r.status, 502, r.raw.toString('latin1'));
      assert.match(r.raw.toString('latin1'), /^HTTP\/1\.0 502 Bad Gateway\r\n/);
      assert.match(r.body.toString(), /<title>502 Bad Gateway<\/title>/);
      const h = await rawRequest(srv.port, 'HEAD /guestbook HTTP/1.0\r\nHost: x\r\n\r\n');
      assert.equal(h.status, 502);
      assert.equal(h.body.length, 0, 'no body for HEAD');
      assert.equal(fake.garbageSent, sent + 2);
      await waitFor(
        'the server to close the connections that got garbage',
        10_000,
        () => fake.garbageClosed === closed + 2,
      );

      assert.equal((await get(srv.port, '/')).status, 200, 'still serving');
      fake.mode = 'proxy';
      const ok = await get(srv.port, '/guestbook');
      assert.equal(ok.status, 200, 'reconnected to a Redis that answers RESP');
      assert.equal((await srv.stop('SIGINT')).code, 0);
    });
  }
});
