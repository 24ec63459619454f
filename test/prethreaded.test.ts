// The prethreaded server (a pool of Workers accept()ing on the shared listening fd) and its
// accept mutex, over real sockets with a private Redis.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { RunningServer, fdTargets, heldConnections, startServer, withServer } from './helpers/server';
import { callsOf, startTraced } from './helpers/strace';
import { startFakeRedis } from './helpers/fake-redis';
import { withRedis } from './helpers/redis';
import { get, load } from './helpers/http';
import { SharedMutex } from '../lib/shared-mutex';
import { FdQueue } from '../lib/fd-queue';
import { sleep, threadsWaitingFor, waitFor } from './helpers/procs';

const threadsInAccept = (pid: number) => threadsWaitingFor(pid, 'accept');

describe('accept mutex (SharedMutex)', () => {
  it('never admits two Workers at once', async function () {
    const mutex = new SharedMutex();
    const shared = new SharedArrayBuffer(12); // [counter, inside, violations]
    const ITER = 20_000,
      WORKERS = 4;
    const body = `
      const { workerData: d } = require('node:worker_threads');
      const { SharedMutex } = require(${JSON.stringify(path.join(__dirname, '..', 'lib', 'shared-mutex.js'))});
      const m = new SharedMutex(d.mutex);
      const s = new Int32Array(d.shared);
      for (let i = 0; i < d.iter; i++) {
        m.lock(d.id);
        if (s[1] !== 0) Atomics.add(s, 2, 1);
        s[1] = 1;
        const c = s[0];              // a non-atomic read-modify-write: lost updates without the lock
        for (let k = 0; k < 20; k++) s[1] = 1;
        s[0] = c + 1;
        s[1] = 0;
        m.unlock(d.id);
      }`;
    const ws = Array.from(
      { length: WORKERS },
      (_, i) => new Worker(body, { eval: true, workerData: { mutex: mutex.buffer, shared, iter: ITER, id: i + 1 } }),
    );
    const codes = await Promise.all(ws.map((w) => new Promise((r) => w.once('exit', r))));
    const s = new Int32Array(shared);
    assert.deepEqual(codes, [0, 0, 0, 0]);
    assert.equal(s[2], 0, 'two Workers were inside the critical section at once');
    assert.equal(s[0], ITER * WORKERS, 'lost updates');
    assert.equal(mutex.word[0], 0, 'left locked');
  });

  it('close() wakes a Worker waiting in lock(), which returns false', async () => {
    const mutex = new SharedMutex();
    assert.equal(mutex.lock(1), true);
    const w = new Worker(
      `const { workerData: d, parentPort } = require('node:worker_threads');
       const { SharedMutex } = require(${JSON.stringify(path.join(__dirname, '..', 'lib', 'shared-mutex.js'))});
       parentPort.postMessage(new SharedMutex(d).lock(2));`,
      { eval: true, workerData: mutex.buffer },
    );
    const got = new Promise((r) => w.once('message', r));
    await sleep(200); // let it block (if it has not yet, lock() sees the closed word at once)
    mutex.close();
    assert.equal(await got, false);
    await new Promise((r) => w.once('exit', r));
    mutex.unlock(1); // a no-op after close
    assert.equal(mutex.closed, true);
  });
});

describe('fd queue (FdQueue, prethreaded --dispatch main)', () => {
  it('4 Workers take 2,000 fd numbers from one producer: each exactly once; close() wakes the idle ones with -1', async function () {
    this.timeout(30_000);
    const N = 2_000;
    const q = new FdQueue(4);
    const seen = new SharedArrayBuffer(N * 4);
    const body = `
      const { workerData: d } = require('node:worker_threads');
      const { FdQueue } = require(${JSON.stringify(path.join(__dirname, '..', 'lib', 'fd-queue.js'))});
      const q = new FdQueue(d.q);
      const seen = new Int32Array(d.seen);
      for (let fd; (fd = q.take()) >= 0; ) Atomics.add(seen, fd, 1);`;
    const ws = Array.from({ length: 4 }, () => new Worker(body, { eval: true, workerData: { q: q.buffer, seen } }));
    const exited = Promise.all(ws.map((w) => new Promise((r) => w.once('exit', r))));
    for (let i = 0; i < N;) {
      if (q.wantsClient()) q.put(i++);
      else await q.idleChanged(1000);
    }
    while (q.queued() > 0 || q.idle() < 4) await q.idleChanged(1000); // all taken, all idle again
    assert.deepEqual(q.close(), []);
    assert.deepEqual(await exited, [0, 0, 0, 0]);
    const counts = new Int32Array(seen);
    assert.equal(counts.filter((c) => c === 1).length, N, 'every fd taken exactly once');
    const one = new FdQueue(1);
    assert.equal(one.wantsClient(), false, 'no Worker idle: accept nothing');
    one.put(3);
    assert.throws(() => one.put(4), /full/);
    assert.deepEqual(one.close(), [3], 'close() hands back what no Worker took');
  });
});

describe('prethreaded server', function () {
  this.timeout(120_000);
  const redis = withRedis();
  const start = withServer(redis);
  let srv: RunningServer | undefined;
  it('serves 10,000 mixed requests at concurrency 50 with 8 threads; the guestbook count is exact', async () => {
    await redis().flush();
    srv = await start(['prethreaded', '--threads', '8']);
    const N = 10_000;
    const isGuestbook = (i: number) => i % 4 === 0;
    const t0 = Date.now();
    const r = await load(
      srv.port,
      N,
      50,
      (i) => `GET ${isGuestbook(i) ? '/guestbook' : '/'} HTTP/1.0\r\nHost: x\r\n\r\n`,
    );
    const ms = Date.now() - t0;
    assert.deepEqual(r.errors, []);
    assert.deepEqual(r.byStatus, { 200: N });
    assert.equal(await redis().client().get('visitor_count'), String(N / 4));
    const stop = await srv.stop();
    assert.equal(stop.code, 0);
    assert.match(srv.stdout(), /user time = [\d.]+ s, sys time = [\d.]+ s/);
    console.log(`      (10,000 requests in ${ms} ms, ${Math.round(N / (ms / 1000))} req/s with the test's client)`);
  });

  for (const lock of ['none', 'mutex']) {
    it(`Ctrl-C with every Worker blocked (--accept-lock ${lock}): stats, exit 0, within 2 s`, async () => {
      srv = await start(['prethreaded', '--threads', '8', '--accept-lock', lock]);
      // none: all 8 block in accept(); mutex: one in accept(), seven in futex on the lock
      await waitFor(
        'the pool to block in accept()',
        30_000,
        () => threadsInAccept(srv!.pid) === (lock === 'none' ? 8 : 1),
      );
      assert.equal((await get(srv.port, '/')).status, 200);
      await waitFor('the pool to block again', 30_000, () => threadsInAccept(srv!.pid) === (lock === 'none' ? 8 : 1));
      const r = await srv.stop('SIGINT');
      assert.equal(r.code, 0);
      assert.ok(r.ms < 2000, `took ${r.ms} ms`);
      assert.match(srv.stdout(), /user time = [\d.]+ s, sys time = [\d.]+ s/);
    });
  }

  it('Ctrl-C while a Worker is blocked reading a client that sends nothing: exit 0 within 2 s', async () => {
    srv = await start(['prethreaded', '--threads', '2']);
    await waitFor('the pool to start', 30_000, () => threadsInAccept(srv!.pid) === 1);
    const sock = net.connect(srv.port, '127.0.0.1');
    sock.on('error', () => {});
    sock.resume();
    const closed = new Promise((r) => sock.once('close', r));
    await new Promise((r) => sock.once('connect', r));
    sock.write('GET / HT'); // and nothing more: the Worker sits in recv() (timeout 10 s)
    await waitFor('a Worker to block in recv()', 30_000, () => threadsWaitingFor(srv!.pid, 'wait_woken') === 1);
    const r = await srv.stop('SIGINT');
    assert.equal(r.code, 0);
    assert.ok(r.ms < 2000, `took ${r.ms} ms`);
    await closed;
  });

  it('Ctrl-C while a Worker waits on a Redis that never answers: terminate() once, no MaxListenersExceededWarning, exit 0', async () => {
    const fake = await startFakeRedis();
    fake.mode = 'silent';
    const s = await startServer(['prethreaded', '--threads', '2', '--quiet', '--redis', `127.0.0.1:${fake.port}`]);
    try {
      const answered = get(s.port, '/guestbook').catch(() => undefined);
      await waitFor('a Worker to send its command to the fake Redis', 30_000, () => fake.ignored > 0);
      const stopped = s.stop('SIGINT', 30_000);
      // The Worker sits in recv() on Redis, which neither the stop flag nor shutting the client
      // down interrupts: keep it there well past the 1 s grace period, then let it go (EOF).
      await sleep(3000);
      await fake.close();
      const r = await stopped;
      await answered;
      assert.equal(r.code, 0, s.stderr());
      assert.doesNotMatch(s.stderr(), /MaxListenersExceededWarning/);
    } finally {
      await s.stop('SIGKILL');
      await fake.close();
    }
  });

  it('replaces a Worker that throws, and service continues (ZEROHTTPD_TEST_THROW_AFTER)', async () => {
    srv = await start(['prethreaded', '--threads', '2'], { env: { ZEROHTTPD_TEST_THROW_AFTER: '1' } });
    for (let i = 0; i < 8; i++)
      assert.equal((await get(srv.port, i % 2 ? '/guestbook' : '/')).status, 200, `request ${i}`);
    assert.ok((srv.stderr().match(/exited \(code 1\); starting a new one\n/g) ?? []).length >= 6, srv.stderr());
    const r = await srv.stop('SIGINT');
    assert.equal(r.code, 0);
  });

  describe('--dispatch main (Stevens serv08: the main thread accepts, an idle Worker serves)', () => {
    it("under strace: every accept4() is the main thread's, none a Worker's; Ctrl-C exits 0", async () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zerohttpd-main-'));
      try {
        const t = await startTraced(
          'accept4,accept',
          ['prethreaded', '--dispatch', 'main', '--threads', '3', '--quiet', '--redis', `127.0.0.1:${redis().port}`],
          dir,
        );
        assert.match(t.stderr(), /zerohttpd prethreaded \(\d+ threads, dispatch main\) listening on/);
        const n = 12;
        const r = await load(t.port, n, 3, (i) => `GET ${i % 2 ? '/guestbook' : '/'} HTTP/1.0\r\nHost: x\r\n\r\n`);
        assert.deepEqual(r.errors, []);
        assert.deepEqual(r.byStatus, { 200: n });
        const { code, calls } = await t.stop();
        assert.equal(code, 0);
        const accepted = calls.filter((c) => /^accept/.test(c.name) && c.ret !== null && c.ret >= 0);
        assert.equal(callsOf(accepted, t.pid).length, n, 'the main thread (tid = pid) accepted every connection');
        assert.deepEqual(
          accepted.filter((c) => c.pid !== t.pid).map((c) => c.line),
          [],
          'no Worker accepts',
        );
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });

    it('serves 400 mixed requests at concurrency 20 with 2 threads; exact guestbook count; no fd left behind; Ctrl-C within 2 s', async () => {
      await redis().flush();
      srv = await start(['prethreaded', '--dispatch', 'main', '--threads', '2']);
      const N = 400;
      const isGuestbook = (i: number) => i % 4 === 0;
      const req = (i: number) => `GET ${isGuestbook(i) ? '/guestbook' : '/'} HTTP/1.0\r\nHost: x\r\n\r\n`;
      let r = await load(srv.port, 40, 10, req);
      assert.deepEqual(r.errors, []);
      await waitFor('no client connection held', 10_000, () => heldConnections(srv!.pid, srv!.port) === 0);
      const atRest = fdTargets(srv.pid).length;
      r = await load(srv.port, N, 20, req);
      assert.deepEqual(r.errors, []);
      assert.deepEqual(r.byStatus, { 200: N });
      assert.equal(await redis().client().get('visitor_count'), String((N + 40) / 4));
      await waitFor('no client connection held', 10_000, () => heldConnections(srv!.pid, srv!.port) === 0);
      assert.equal(fdTargets(srv.pid).length, atRest, `fds: ${fdTargets(srv.pid).join(' ')}`);
      const stop = await srv.stop('SIGINT');
      assert.equal(stop.code, 0);
      assert.ok(stop.ms < 2000, `took ${stop.ms} ms`);
      assert.match(srv.stdout(), /user time = [\d.]+ s, sys time = [\d.]+ s/);
    });

    it('replaces a Worker that throws, and service continues (ZEROHTTPD_TEST_THROW_AFTER)', async () => {
      srv = await start(['prethreaded', '--dispatch', 'main', '--threads', '2'], {
        env: { ZEROHTTPD_TEST_THROW_AFTER: '1' },
      });
      for (let i = 0; i < 8; i++)
        assert.equal((await get(srv.port, i % 2 ? '/guestbook' : '/')).status, 200, `request ${i}`);
      assert.ok((srv.stderr().match(/exited \(code 1\); starting a new one\n/g) ?? []).length >= 6, srv.stderr());
      const r = await srv.stop('SIGINT');
      assert.equal(r.code, 0);
    });
  });
});
