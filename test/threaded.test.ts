// The threaded server: a Worker per connection, bounded by --max-threads.
import * as assert from 'node:assert/strict';
import * as net from 'node:net';
import { RunningServer, withServer } from './helpers/server';
import { withRedis } from './helpers/redis';
import { get, load } from './helpers/http';
import { sleep, threadsWaitingFor, waitFor } from './helpers/procs';

describe('threaded server', function () {
  this.timeout(120_000);
  const redis = withRedis();
  const start = withServer(redis);
  let srv: RunningServer | undefined;
  // 200: each request starts a Worker (~25 ms); the server's own peak counter sees every one.
  it('serves 200 mixed requests at concurrency 10 with --max-threads 4, never more than 4 Workers alive', async () => {
    await redis().flush();
    srv = await start(['threaded', '--max-threads', '4']);
    const N = 200;
    const r = await load(srv.port, N, 10, (i) => `GET ${i % 5 === 0 ? '/guestbook' : '/'} HTTP/1.0\r\nHost: x\r\n\r\n`);
    assert.deepEqual(r.errors, []);
    assert.deepEqual(r.byStatus, { 200: N });
    assert.equal(await redis().client().get('visitor_count'), String(N / 5));
    const stop = await srv.stop('SIGINT');
    assert.equal(stop.code, 0);
    const m = /peak workers = (\d+), workers started = (\d+)/.exec(srv.stdout());
    assert.ok(m, srv.stdout());
    assert.ok(Number(m[1]) >= 1 && Number(m[1]) <= 4, `peak ${m[1]}`);
    assert.equal(Number(m[2]), N);
    assert.match(srv.stdout(), /user time = [\d.]+ s, sys time = [\d.]+ s/);
  });

  it('at the limit, waits instead of accepting, and Ctrl-C still stops it within 2 s', async () => {
    srv = await start(['threaded', '--max-threads', '1']);
    // one client that sends half a request holds the only Worker in recv()
    const sock = net.connect(srv.port, '127.0.0.1');
    sock.on('error', () => {});
    sock.resume(); // read (and drop) the response so that 'close' comes
    const closed = new Promise((r) => sock.once('close', r));
    await new Promise((r) => sock.once('connect', r));
    sock.write('GET / HT');
    await waitFor('the Worker to block in recv()', 20_000, () => threadsWaitingFor(srv!.pid, 'wait_woken') === 1);
    // a second request is not answered while the first Worker lives ...
    let secondDone = false;
    const second = get(srv.port, '/', { timeoutMs: 20_000 }).finally(() => (secondDone = true));
    await sleep(500);
    assert.equal(secondDone, false, 'a second Worker was started past --max-threads 1');
    // ... and is once the first client finishes its request
    sock.write('TP/1.0\r\n\r\n');
    assert.equal((await second).status, 200);
    await closed;
    // now hold it again and stop: the main thread waits in the event loop, the Worker in recv()
    const sock2 = net.connect(srv.port, '127.0.0.1');
    sock2.on('error', () => {});
    await new Promise((r) => sock2.once('connect', r));
    sock2.write('GET / HT');
    await waitFor('the Worker to block in recv()', 20_000, () => threadsWaitingFor(srv!.pid, 'wait_woken') === 1);
    const third = get(srv.port, '/', { timeoutMs: 20_000 }).catch((e) => e);
    await sleep(100);
    const r = await srv.stop('SIGINT');
    assert.equal(r.code, 0);
    assert.ok(r.ms < 2000, `took ${r.ms} ms`);
    assert.match(srv.stdout(), /peak workers = 1,/);
    sock2.destroy();
    await third;
  });

  it('Ctrl-C while idle in accept(): stats, exit 0, within 2 s', async () => {
    srv = await start(['threaded']);
    assert.equal((await get(srv.port, '/guestbook')).status, 200);
    const r = await srv.stop('SIGINT');
    assert.equal(r.code, 0);
    assert.ok(r.ms < 2000, `took ${r.ms} ms`);
    assert.match(srv.stdout(), /peak workers = 1, workers started = 1 \(max-threads 256\)/);
    assert.match(srv.stdout(), /user time = [\d.]+ s, sys time = [\d.]+ s/);
  });
});
