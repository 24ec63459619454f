// The preforked server end to end: real worker processes, a private Redis, real sockets.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawn } from 'node:child_process';
import { parseListening } from '../lib/banner';
import { withRedis } from './helpers/redis';
import { CLI, RunningServer, fdTargets, heldConnections, processGroupMembers, withServer } from './helpers/server';
import { STRACE, callsOf, parseLine, startTraced } from './helpers/strace';
import { get, load } from './helpers/http';
import { childrenOf, waitFor } from './helpers/procs';

const wchan = (pid: number): string => {
  try {
    return fs.readFileSync(`/proc/${pid}/wchan`, 'utf8');
  } catch {
    return '';
  }
};
const workersOf = (s: RunningServer) =>
  childrenOf(s.pid)
    .filter((p) => p.state !== 'Z')
    .map((p) => p.pid)
    .sort();
const paths = ['/', '/guestbook', '/index.html', '/nope.html'];
const mixed = (i: number) => `GET ${paths[i % paths.length]} HTTP/1.0\r\nHost: x\r\n\r\n`;
const expected = (n: number) => ({ 200: n - Math.floor((n + 0) / 4), 404: Math.floor(n / 4) });

describe('preforked server', function () {
  this.timeout(120_000);
  const redis = withRedis();
  const launch = withServer(redis);

  async function start(args: string[], nodeArgs?: string[]): Promise<RunningServer> {
    const server = await launch(['preforked', ...args], { nodeArgs });
    const workers = Number(args[args.indexOf('--workers') + 1]);
    await waitFor(`${workers} workers`, 20_000, () => workersOf(server).length === workers);
    return server;
  }

  /** Every worker alive and idle in accept() (or, with a lock, waiting for it): none stuck elsewhere. */
  async function allIdle(s: RunningServer, lock: 'none' | 'fcntl' | 'mutex' | 'lifo'): Promise<void> {
    const idle = lock === 'none' ? /^inet_csk_accept$/ : /^(inet_csk_accept|futex.*|.*lock.*|fcntl.*)$/;
    await waitFor('every worker idle', 10_000, () => workersOf(s).every((p) => idle.test(wchan(p))));
  }

  it('8 workers with a tiny heap serve 20,000 requests through many GCs: none stuck, none crashed', async () => {
    // A 1 MB young generation and --gc-global (every GC a full mark-compact, the collection
    // that used to deadlock forked children): measured with --trace-gc, about 3 mark-compacts
    // per 1,000 requests a worker serves, so several in each of the 8 (docs/fork-safety.md).
    const s = await start(['--workers', '8'], ['--max-semi-space-size=1', '--max-old-space-size=48', '--gc-global']);
    assert.match(
      fs.readFileSync(`/proc/${s.pid}/cmdline`, 'utf8'),
      /--max-semi-space-size=1\0/,
      'node flags survive the re-exec',
    );
    const before = workersOf(s);
    const r = redis().client();
    const count0 = Number((await r.get('visitor_count')) ?? 0);
    const n = Number(process.env.ZH_PREFORK_REQUESTS ?? 20_000);
    const res = await load(s.port, n, 20, mixed);
    assert.deepEqual(res.errors, []);
    assert.deepEqual(res.byStatus, expected(n));
    assert.equal(Number(await r.get('visitor_count')) - count0, n / 4);
    assert.deepEqual(workersOf(s), before, 'no worker died and was replaced');
    assert.doesNotMatch(s.stderr(), /worker \d+ (killed|exited)/);
    await allIdle(s, 'none');
  });

  it('a worker killed with SIGKILL is replaced, logged, and service continues', async () => {
    const s = await start(['--workers', '4']);
    const before = workersOf(s);
    process.kill(before[0], 'SIGKILL');
    await waitFor('a replacement worker', 10_000, () => {
      const now = workersOf(s);
      return now.length === 4 && !now.includes(before[0]);
    });
    // The parent logs before it forks the replacement, but its stderr reaches us through our event loop.
    const logged = new RegExp(`worker ${before[0]} killed by signal 9; starting a replacement`);
    await waitFor('the dead worker logged', 10_000, () => logged.test(s.stderr()));
    const res = await load(s.port, 200, 10, mixed);
    assert.deepEqual(res.errors, []);
    assert.deepEqual(res.byStatus, expected(200));
  });

  for (const lock of ['none', 'fcntl', 'mutex', 'lifo'] as const) {
    it(`--accept-lock ${lock} serves correctly, also after the worker in accept() is killed`, async () => {
      const s = await start(['--workers', '4', '--accept-lock', lock]);
      let res = await load(s.port, 400, 10, mixed);
      assert.deepEqual(res.errors, []);
      assert.deepEqual(res.byStatus, expected(400));
      // With a lock only one worker is in accept(): it holds the lock. Kill it there.
      const inAccept = await waitFor('a worker in accept()', 10_000, () =>
        workersOf(s).find((p) => wchan(p) === 'inet_csk_accept'),
      );
      process.kill(inAccept, 'SIGKILL');
      await waitFor(
        'a replacement worker',
        10_000,
        () => workersOf(s).length === 4 && !workersOf(s).includes(inAccept),
      );
      res = await load(s.port, 200, 10, mixed);
      assert.deepEqual(res.errors, []);
      assert.deepEqual(res.byStatus, expected(200));
      if (lock === 'mutex') assert.match(s.stderr(), /owner died holding it; recovered/);
      if (lock === 'lifo') assert.match(s.stderr(), /died holding or awaiting the LIFO accept lock; passed on/);
    });
  }

  // Under `strace -f -e trace=accept4`: how many workers are inside accept4() at once, at most.
  // strace stops each call at entry and exit, so an accept4() that starts before another
  // returned shows as `<unfinished ...>` first; with a lock that never happens.
  async function mostInAccept(lock: string): Promise<number> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zh-lifo-'));
    const args = [
      'preforked',
      '--workers',
      '4',
      '--accept-lock',
      lock,
      '--redis',
      `127.0.0.1:${redis().port}`,
      '--quiet',
    ];
    const srv = await startTraced('accept4', args, dir);
    try {
      await waitFor('4 workers', 20_000, () => childrenOf(srv.pid).length === 4);
      const res = await load(srv.port, 200, 10, mixed);
      assert.deepEqual(res.errors, []);
    } finally {
      await srv.stop();
    }
    let inside = 0;
    let most = 0;
    for (const raw of fs.readFileSync(srv.traceFile, 'utf8').split('\n')) {
      const l = parseLine(raw);
      if (l.kind === 'unfinished' && l.head.startsWith('accept4(')) most = Math.max(most, ++inside);
      else if (l.kind === 'resumed' && l.name === 'accept4') inside--;
      else if (l.kind === 'call' && l.call.name === 'accept4') most = Math.max(most, inside + 1);
    }
    fs.rmSync(dir, { recursive: true, force: true });
    return most;
  }

  it('--accept-lock lifo serializes accept() (strace -f: never two workers in accept4 at once; without a lock, all 4)', async () => {
    assert.equal(await mostInAccept('lifo'), 1);
    assert.equal(await mostInAccept('none'), 4, 'the control: the check sees concurrent accept4() calls');
  });

  it('Ctrl-C: stops and reaps every worker, prints stats including them, exits 0 within 2 s', async () => {
    const s = await start(['--workers', '16', '--accept-lock', 'mutex']);
    const res = await load(s.port, 200, 10, mixed);
    assert.deepEqual(res.errors, []);
    const { code, signal, ms } = await s.stop('SIGINT');
    assert.equal(signal, null);
    assert.equal(code, 0);
    assert.ok(ms < 2000, `exit took ${ms} ms`);
    assert.equal(
      s.stdout().match(/user time = [\d.]+ s, sys time = [\d.]+ s/g)?.length,
      1,
      `stats once: ${s.stdout()}`,
    );
    assert.deepEqual(processGroupMembers(s.pid), []);
  });

  it('Ctrl-C on the whole process group (a terminal) also stops cleanly, stats printed once', async () => {
    const s = await start(['--workers', '8']);
    assert.equal((await get(s.port, '/guestbook')).status, 200);
    const t0 = Date.now();
    process.kill(-s.pid, 'SIGINT');
    const { code, signal } = await s.stop('SIGINT');
    assert.equal(signal, null);
    assert.equal(code, 0);
    assert.ok(Date.now() - t0 < 2000);
    assert.equal(s.stdout().match(/user time/g)?.length, 1, `stats once: ${s.stdout()}`);
    assert.deepEqual(processGroupMembers(s.pid), []);
  });

  it('a parent killed with SIGKILL leaves no orphaned worker behind (PR_SET_PDEATHSIG)', async () => {
    const s = await start(['--workers', '8']);
    assert.equal((await get(s.port, '/')).status, 200);
    const workers = workersOf(s);
    assert.equal(workers.length, 8);
    process.kill(s.pid, 'SIGKILL'); // the parent only: no chance to stop its children itself
    await s.stop('SIGKILL');
    await waitFor('every worker to exit after its parent died', 10_000, () =>
      workers.every((p) => !fs.existsSync(`/proc/${p}`) || fs.readFileSync(`/proc/${p}/stat`, 'utf8').includes(') Z ')),
    );
    assert.deepEqual(processGroupMembers(s.pid), []);
  });

  describe('--dispatch pass (Stevens serv05: the parent accepts and passes each fd)', () => {
    it('under strace: the parent accept4()s and sendmsg()s every connection with SCM_RIGHTS; children only recvmsg(), never accept', async () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zerohttpd-pass-'));
      try {
        const t = await startTraced(
          'accept4,accept,sendmsg,recvmsg,socketpair',
          ['preforked', '--dispatch', 'pass', '--workers', '3', '--quiet', '--redis', `127.0.0.1:${redis().port}`],
          dir,
        );
        assert.match(t.stderr(), /zerohttpd preforked \(\d+ workers, dispatch pass\) listening on/);
        const n = 12;
        const res = await load(t.port, n, 3, mixed);
        assert.deepEqual(res.errors, []);
        assert.deepEqual(res.byStatus, expected(n));
        const { code, calls } = await t.stop();
        assert.equal(code, 0);
        const passes = (c: { name: string; args: string; ret: number | null }) =>
          /SCM_RIGHTS/.test(c.args) && c.ret === 1;
        const parent = callsOf(calls, t.pid);
        const children = calls.filter((c) => c.pid !== t.pid);
        assert.equal(
          parent.filter((c) => c.name === 'socketpair' && c.ret === 0).length,
          3,
          'one socketpair per child',
        );
        // From the first socketpair on: before it, the warm-up accepts its own requests on a private socket.
        const served = parent.slice(parent.findIndex((c) => c.name === 'socketpair'));
        assert.equal(served.filter((c) => c.name === 'accept4' && c.ret! >= 0).length, n, 'the parent accepted all');
        assert.equal(parent.filter((c) => c.name === 'sendmsg' && passes(c)).length, n, 'and passed each one');
        assert.equal(children.filter((c) => c.name === 'recvmsg' && passes(c)).length, n, 'children received each');
        assert.deepEqual(
          children.filter((c) => /^accept/.test(c.name)).map((c) => c.line),
          [],
          'no accept in the children',
        );
        assert.ok(
          new Set(children.filter((c) => c.name === 'recvmsg' && passes(c)).map((c) => c.pid)).size > 1,
          'spread',
        );
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });

    it('serves under load, a killed child is replaced, no fd left behind in the parent, Ctrl-C reaps everything', async () => {
      const s = await start(['--workers', '2', '--dispatch', 'pass']);
      let res = await load(s.port, 100, 10, mixed);
      assert.deepEqual(res.errors, []);
      assert.deepEqual(res.byStatus, expected(100));
      // The parent's fds once all is served: stdio, the listening socket, the app's, one socketpair end per child.
      await waitFor('no client connection held', 10_000, () => heldConnections(s.pid, s.port) === 0);
      const atRest = fdTargets(s.pid).length;
      const before = workersOf(s);
      process.kill(before[1], 'SIGKILL'); // idle: no connection in flight to it
      await waitFor('a replacement', 10_000, () => workersOf(s).length === 2 && !workersOf(s).includes(before[1]));
      res = await load(s.port, 100, 10, mixed);
      assert.deepEqual(res.errors, []);
      assert.deepEqual(res.byStatus, expected(100));
      assert.match(s.stderr(), new RegExp(`worker ${before[1]} killed by signal 9; starting a replacement`));
      await waitFor('no client connection held', 10_000, () => heldConnections(s.pid, s.port) === 0);
      assert.equal(fdTargets(s.pid).length, atRest, `the parent's fds: ${fdTargets(s.pid).join(' ')}`);
      const { code, signal } = await s.stop('SIGINT');
      assert.equal(signal, null);
      assert.equal(code, 0);
      assert.equal(s.stdout().match(/user time/g)?.length, 1);
      assert.deepEqual(processGroupMembers(s.pid), []);
    });

    it('out of fds for socketpairs (RLIMIT_NOFILE): serves with the children it has, says why once, not at every retry', async () => {
      // The parent needs one socketpair end per child: with 40 fds it cannot make 50. It retries
      // socketpair() every 50 ms; strace (main thread only) shows the retries, the log one line.
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zh-pass-nofile-'));
      const trace = path.join(dir, 'strace.out');
      const proc = spawn(
        'prlimit',
        ['--nofile=40:40', STRACE, '-o', trace, '-e', 'trace=socketpair', process.execPath, CLI, 'preforked'].concat([
          '--dispatch',
          'pass',
          '--workers',
          '50',
          '--port',
          '0',
          '--quiet',
          '--redis',
          `127.0.0.1:${redis().port}`,
        ]),
        { stdio: ['ignore', 'pipe', 'pipe'], detached: true },
      );
      let err = '';
      proc.stderr.on('data', (d) => (err += d));
      let out = '';
      proc.stdout.on('data', (d) => (out += d));
      const exited = new Promise<number | null>((resolve) => proc.on('exit', resolve));
      try {
        const { pid, port } = await waitFor('listening', 30_000, () => parseListening(err) ?? false);
        const failed = () => (fs.existsSync(trace) ? fs.readFileSync(trace, 'utf8') : '').match(/= -1 EMFILE/g);
        await waitFor('3 failed socketpair() calls', 20_000, () => (failed()?.length ?? 0) >= 3);
        const res = await load(port, 20, 4, mixed);
        assert.deepEqual(res.errors, []);
        process.kill(pid, 'SIGINT');
        assert.equal(await exited, 0);
        assert.equal(err.match(/socketpair: EMFILE with \d+ of 50 workers; retrying/g)?.length, 1, err);
        assert.equal(out.match(/user time/g)?.length, 1);
      } finally {
        try {
          process.kill(-proc.pid!, 'SIGKILL');
        } catch {
          /* gone */
        }
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });
  });
});
