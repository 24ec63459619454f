// The forking server end to end: real processes, a private Redis, real sockets.
import { strict as assert } from 'node:assert';
import * as child_process from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { FORKSAFE_SO } from '../lib/paths';
import { withRedis } from './helpers/redis';
import { skipBecause } from './helpers/skip';
import { RunningServer, processGroupMembers, startServer, withServer } from './helpers/server';
import { get, load, formRequest } from './helpers/http';
import { childrenOf, waitFor } from './helpers/procs';

describe('forking server', function () {
  this.timeout(120_000);
  const redis = withRedis();
  const start = withServer(redis);
  let server: RunningServer | undefined;

  it('runs fork-safe: the same pid re-executed with --single-threaded, its own node flags, forksafe.so preloaded', async () => {
    server = await start(['forking'], { env: { LD_BIND_NOW: undefined } }); // whatever the runner's environment has
    assert.equal(server.pid, server.proc.pid, 'the CLI replaced itself (execve), it did not spawn a second process');
    const args = fs.readFileSync(`/proc/${server.pid}/cmdline`, 'utf8').split('\0');
    for (const f of [
      '--single-threaded',
      '--no-lazy',
      '--no-sparkplug',
      '--use-largepages=silent',
      '--no-lazy-feedback-allocation',
    ])
      assert.ok(args.includes(f), `${f} in ${args.join(' ')}`);
    assert.match(fs.readFileSync(`/proc/${server.pid}/maps`, 'utf8'), /forksafe\.so/);
    const env = fs.readFileSync(`/proc/${server.pid}/environ`, 'utf8').split('\0');
    assert.ok(env.includes('LD_BIND_NOW=1'), 'symbols bound once, before any fork');
  });

  it("a node flag the user gives wins over the re-exec's own (--lazy over --no-lazy, the young generation's size), and so does an LD_BIND_NOW", async () => {
    server = await start(['forking'], { nodeArgs: ['--lazy', '--max-semi-space-size=2'], env: { LD_BIND_NOW: '' } });
    const env = fs.readFileSync(`/proc/${server.pid}/environ`, 'utf8').split('\0');
    assert.deepEqual(
      env.filter((v) => v.startsWith('LD_BIND_NOW=')),
      ['LD_BIND_NOW='],
      'an empty LD_BIND_NOW (lazy binding) is kept',
    );
    const args = fs.readFileSync(`/proc/${server.pid}/cmdline`, 'utf8').split('\0');
    for (const f of ['--lazy', '--max-semi-space-size=2', '--no-sparkplug', '--single-threaded'])
      assert.ok(args.includes(f), `${f} in ${args.join(' ')}`);
    for (const f of ['--no-lazy', '--max-semi-space-size=1'])
      assert.ok(!args.includes(f), `no ${f} in ${args.join(' ')}`);
    assert.equal((await get(server.port, '/')).status, 200);
  });

  it("forksafe.so packs V8's heap pages (no scattered page tables for fork() to copy); ZH_FORKSAFE_KEEP_HINTS=1 scatters them", () => {
    // ~20 MB of objects: some 80 of V8's 256 kB pages. Scattered at V8's random hints, each needs
    // page tables of its own; packed, they share them.
    const code =
      "const a=[];for(let i=0;i<200000;i++)a.push({i,s:'x'+i});" +
      "console.log(/VmPTE:\\s*(\\d+)/.exec(require('fs').readFileSync('/proc/self/status','utf8'))[1])";
    const pte = (keep: string) => {
      const r = child_process.spawnSync(process.execPath, ['--single-threaded', '-e', code], {
        encoding: 'utf8',
        env: { ...process.env, LD_PRELOAD: FORKSAFE_SO, ZH_FORKSAFE_KEEP_HINTS: keep },
        timeout: 30_000,
      });
      assert.equal(r.status, 0, r.stderr);
      return Number(r.stdout.trim());
    };
    const packed = pte('0');
    const scattered = pte('1');
    assert.ok(packed * 2 < scattered, `page tables: ${packed} kB packed, ${scattered} kB with V8's hints`);
  });

  it('forksafe.so defines both mmap and mmap64 (node calls mmap64; the build renames one to the other)', function () {
    const r = child_process.spawnSync('nm', ['-D', '--defined-only', FORKSAFE_SO], { encoding: 'utf8' });
    if (r.error) skipBecause(this, `nm (binutils) not available: ${r.error.message}`);
    assert.equal(r.status, 0, r.stderr);
    const defined = new Set(r.stdout.split('\n').map((l) => l.trim().split(/\s+/)[2]));
    for (const f of ['mmap', 'mmap64']) assert.ok(defined.has(f), `${f} in ${[...defined].join(' ')}`);
  });

  it('serves 1,000 mixed requests at concurrency 20, reaps every child, counts every guestbook visit', async () => {
    server = await start(['forking']);
    const r = redis().client();
    const before = Number((await r.get('visitor_count')) ?? 0);
    const paths = ['/', '/guestbook', '/index.html', '/guestbook', '/nope.html'];
    let guestbookGets = 0;
    for (let i = 0; i < 1000; i++) if (paths[i % paths.length] === '/guestbook') guestbookGets++;
    const res = await load(server.port, 1000, 20, (i) => `GET ${paths[i % paths.length]} HTTP/1.0\r\nHost: x\r\n\r\n`);
    assert.deepEqual(res.errors, []);
    assert.deepEqual(res.byStatus, { 200: 800, 404: 200 });
    assert.equal(Number(await r.get('visitor_count')) - before, guestbookGets);
    // No zombie and no stuck child remains (the parent reaps at least every 200 ms).
    await waitFor('every child reaped', 5000, () => childrenOf(server!.pid).length === 0);
    const posted = await load(server.port, 1, 1, () =>
      formRequest('/guestbook', { 'guest-name': 'Ann', 'guest-remarks': 'hi' }),
    );
    assert.deepEqual(posted.errors, []);
    assert.equal(await r.lindex('guestbook_remarks', -1), 'hi - Ann');
  });

  it('Ctrl-C: prints stats including children, exits 0 within 2 s, leaves no process behind', async () => {
    const s = await start(['forking']);
    for (let i = 0; i < 20; i++) assert.equal((await get(s.port, '/guestbook')).status, 200);
    const { code, signal, ms } = await s.stop('SIGINT');
    assert.equal(signal, null);
    assert.equal(code, 0);
    assert.ok(ms < 2000, `exit took ${ms} ms`);
    const m = /user time = ([\d.]+) s, sys time = ([\d.]+) s/.exec(s.stdout());
    assert.ok(m, `stats missing: ${s.stdout()}`);
    assert.equal(s.stdout().match(/user time/g)!.length, 1, 'stats printed once');
    assert.deepEqual(processGroupMembers(s.pid), []);
  });

  it('a failed fork() answers 503 and the server lives on (a pids cgroup limit)', async function () {
    // Root ignores RLIMIT_NPROC, and lowering it from outside needs CAP_SYS_RESOURCE, which this
    // machine's root lacks. A pids cgroup is enforced for everyone: move the server into a fresh
    // one, set pids.max to the tasks it already has, and fork() fails with EAGAIN.
    const root = '/sys/fs/cgroup/pids';
    const dir = path.join(root, `zerohttpd-forktest-${process.pid}`);
    try {
      fs.mkdirSync(dir);
    } catch (e) {
      skipBecause(
        this,
        `no writable cgroup-v1 pids hierarchy here (mkdir ${dir}: ${(e as NodeJS.ErrnoException).code})`,
      );
    }
    try {
      server = await startServer(['forking', '--quiet']);
      assert.equal((await get(server.port, '/')).status, 200);
      fs.writeFileSync(path.join(dir, 'cgroup.procs'), String(server.pid));
      fs.writeFileSync(path.join(dir, 'pids.max'), fs.readFileSync(path.join(dir, 'pids.current'), 'utf8').trim());
      const refused = await get(server.port, '/');
      assert.equal(refused.status, 503);
      assert.match(server.stderr(), /fork: EAGAIN; answering 503/);
      fs.writeFileSync(path.join(dir, 'pids.max'), 'max');
      assert.equal((await get(server.port, '/')).status, 200);
      const s = server;
      server = undefined;
      const { code } = await s.stop('SIGINT');
      assert.equal(code, 0);
      assert.match(s.stdout(), /user time = /);
      assert.deepEqual(processGroupMembers(s.pid), []);
    } finally {
      await server?.stop('SIGKILL');
      server = undefined;
      fs.rmdirSync(dir);
    }
  });
});
