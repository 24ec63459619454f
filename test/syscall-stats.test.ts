// --syscall-stats and --trace: the counters in the native layer against strace's own count,
// and the trace lines against the counters.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fdNum, parseTrace, startTraced, STRACE } from './helpers/strace';
import { startServer } from './helpers/server';
import { get } from './helpers/http';
import { freePort } from '../lib/net-probe';
import { COUNTED_AS } from '../lib/trace';

// Syscalls that, in the iterative server, only our TypeScript makes (Node's own start-up and
// threads never call them), so strace's totals for them are ours alone.
const OURS_ONLY = [
  'socket',
  'setsockopt',
  'getsockopt',
  'bind',
  'listen',
  'accept4',
  'recvfrom',
  'sendto',
  'sendfile',
  'openat2',
  'connect',
  'getsockname',
  'shutdown',
];

/** Parse the table printed by --syscall-stats: name -> {calls, errors, perReq}. */
export function parseReport(out: string): Map<string, { calls: number; errors: number; perReq: number }> {
  const m = new Map<string, { calls: number; errors: number; perReq: number }>();
  const start = out.indexOf('syscalls made through the addon');
  assert.ok(start >= 0, `no syscall report in: ${out}`);
  for (const line of out.slice(start).split('\n').slice(3)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 4 || !/^\d+$/.test(f[1])) continue;
    m.set(f[0], { calls: Number(f[1]), perReq: Number(f[2]), errors: Number(f[3]) });
  }
  return m;
}

/** Lines printed by --trace: `[pid/tid] name(args) = result`, by the counter each is counted in. */
function traceCounts(stderr: string): Map<string, number> {
  const m = new Map<string, number>();
  for (const line of stderr.split('\n')) {
    const t = /^\[\d+\/\d+\] (\w+)\(/.exec(line);
    if (!t) continue;
    const name = COUNTED_AS[t[1]] ?? t[1];
    m.set(name, (m.get(name) ?? 0) + 1);
  }
  return m;
}

describe('syscall counters and trace', function () {
  this.timeout(90_000);
  let dir: string;
  before(() => {
    if (!fs.existsSync(STRACE)) throw new Error(`${STRACE} is required`);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zerohttpd-sysstats-'));
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('counts for one GET / (iterative, --reader byte) equal strace -f and the --trace lines', async () => {
    const srv = await startTraced(
      OURS_ONLY.join(','),
      [
        'iterative',
        '--reader',
        'byte',
        '--redis',
        `127.0.0.1:${await freePort()}`,
        '--quiet',
        '--syscall-stats',
        '--trace',
      ],
      dir,
    );
    const r = await get(srv.port, '/');
    assert.equal(r.status, 200);
    const { code, calls } = await srv.stop();
    assert.equal(code, 0);
    const report = parseReport(srv.stdout());
    const straced = new Map<string, number>();
    for (const c of calls) {
      // libuv itself probes the stdio sockets (getsockopt SO_TYPE on fds 0-2): not ours.
      if (c.name === 'socket' || !(fdNum(c.argv[0]) <= 2)) straced.set(c.name, (straced.get(c.name) ?? 0) + 1);
    }
    assert.equal(report.get('accept4')!.calls - report.get('accept4')!.errors, 1, 'one connection accepted');
    for (const name of OURS_ONLY) {
      assert.equal(report.get(name)?.calls ?? 0, straced.get(name) ?? 0, `${name}: counters vs strace`);
    }
    // The request itself: one recvfrom per byte of 'GET / HTTP/1.0\r\nHost: x\r\n\r\n' plus a
    // MSG_PEEK after each '\r' (3 of them), one sendfile, and the lingering close's recvfrom.
    const req = 'GET / HTTP/1.0\r\nHost: x\r\n\r\n';
    // The lingering close: one non-blocking recvfrom, and a blocking one only if the client had
    // not acknowledged the whole answer yet (ioctl SIOCOUTQ says).
    const recvs = report.get('recvfrom')!.calls;
    assert.ok(recvs >= req.length + 3 + 1 && recvs <= req.length + 3 + 2, `recvfrom: ${recvs}`);
    assert.equal(report.get('sendfile')!.calls, 1);
    // --trace prints one line per counted call, for every syscall in the table.
    const traced = traceCounts(srv.stderr());
    for (const [name, row] of report)
      if (name !== 'total') assert.equal(traced.get(name) ?? 0, row.calls, `${name}: trace lines vs counters`);
    assert.equal(
      [...traced.values()].reduce((a, b) => a + b, 0),
      report.get('total')!.calls,
    );
  });

  // Children (forking, preforked) add into the parent's table through shared memory, Workers
  // (threaded, prethreaded) share the process's: the parent's report covers the whole server.
  const whole: [string, string[]][] = [
    ['forking', []],
    ['preforked', ['--workers', '4']],
    ['threaded', ['--max-threads', '4']],
    ['prethreaded', ['--threads', '4']],
  ];
  for (const [arch, extra] of whole) {
    it(`${arch}: N requests -> N accepted connections and exactly N x the per-request reads, across ${arch.includes('fork') ? 'children' : 'Workers'}`, async () => {
      const srv = await startServer([
        arch,
        ...extra,
        '--reader',
        'byte',
        '--redis',
        `127.0.0.1:${await freePort()}`,
        '--quiet',
        '--syscall-stats',
      ]);
      const N = 40;
      for (let i = 0; i < N; i += 8) {
        const rs = await Promise.all(Array.from({ length: 8 }, () => get(srv.port, '/')));
        for (const r of rs) assert.equal(r.status, 200);
      }
      const { code } = await srv.stop();
      assert.equal(code, 0);
      const report = parseReport(srv.stdout());
      const acc = report.get('accept4')!;
      assert.equal(acc.calls - acc.errors, N, 'accepted connections');
      assert.match(srv.stdout(), new RegExp(`\\(${N} connections accepted\\)`));
      // One byte per recv + a MSG_PEEK per '\r', and the lingering close's non-blocking recv()
      // (plus, for a client that had not acknowledged the whole answer yet, one blocking recv()).
      const perRequest = 'GET / HTTP/1.0\r\nHost: x\r\n\r\n'.length + 3 + 1;
      const recvs = report.get('recvfrom')!.calls;
      assert.ok(recvs >= N * perRequest && recvs <= N * (perRequest + 1), `recvfrom: ${recvs} for ${N} requests`);
      assert.equal(report.get('sendfile')!.calls, N);
      // A lingering close (shutdown(SHUT_WR) first) after every response. The thread servers' Ctrl-C
      // may add a few: shutdown(SHUT_RDWR) of the listener, or of a client still lingering.
      const shutdowns = report.get('shutdown')!.calls;
      assert.ok(
        shutdowns >= N && shutdowns <= N + 4,
        `shutdown: a lingering close after every response (${shutdowns} for ${N})`,
      );
    });
  }

  it('counts nothing and prints nothing extra when both options are off', async () => {
    const srv = await startServer(['iterative', '--redis', `127.0.0.1:${await freePort()}`, '--quiet']);
    await get(srv.port, '/');
    const { code } = await srv.stop();
    assert.equal(code, 0);
    assert.doesNotMatch(srv.stdout(), /syscalls made/);
    assert.doesNotMatch(srv.stderr(), /^\[\d+\/\d+\]/m);
  });
});

describe('npm run strace-doc (scripts/strace-walkthrough.ts)', function () {
  this.timeout(120_000);
  it('regenerates real excerpts between the markers: accept4 -> one-byte recvfrom -> sendfile -> close, and clone() when forking', async () => {
    const { spawnSync } = await import('node:child_process');
    const { beginMarker, blocks, endMarker, hash } = await import('../scripts/strace-walkthrough');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zerohttpd-stracedoc-'));
    try {
      const out = path.join(dir, 'page.md');
      const prose = (arch: string) => `## ${arch}\n\nprose about ${arch}\n`;
      fs.writeFileSync(
        out,
        ['iterative', 'forking'].map((a) => `${prose(a)}${beginMarker(a)}${endMarker(a, '')}\n`).join('\n'),
      );
      const script = path.resolve(__dirname, '..', 'scripts', 'strace-walkthrough.js');
      const r = spawnSync(process.execPath, [script, '--docs', dir], { encoding: 'utf8', timeout: 100_000 });
      assert.equal(r.status, 0, r.stderr);
      const doc = fs.readFileSync(out, 'utf8');
      assert.ok(doc.startsWith(prose('iterative')) && doc.includes(`\n${prose('forking')}`), 'prose untouched');
      const bs = blocks(doc);
      assert.deepEqual(
        bs.map((b) => [b.arch, b.sealed === hash(b.body)]),
        [
          ['iterative', true],
          ['forking', true],
        ],
      );
      const iterative = parseTrace(bs[0].body);
      const forking = parseTrace(bs[1].body);
      const fd = iterative.find((c) => c.name === 'accept4' && c.ret !== null && c.ret >= 0)!.ret;
      const on = (name: string) => iterative.filter((c) => c.name === name && fdNum(c.argv[0]) === fd);
      assert.ok(
        on('recvfrom').some((c) => c.argv[1] === '"G"' && c.argv[2] === '1' && c.argv[3] === '0'),
        'one-byte recvfrom of "G"',
      );
      assert.ok(
        on('recvfrom').some((c) => c.argv[1] === '"\\n"' && c.argv[2] === '1' && c.argv[3] === 'MSG_PEEK'),
        'MSG_PEEK of "\\n"',
      );
      assert.ok(
        on('sendfile').some((c) => c.argv[2] === '[0] => [' + c.ret + ']' && c.ret! > 0),
        'sendfile from offset 0',
      );
      assert.ok(on('close').length >= 1, `close(${fd})`);
      assert.ok(
        forking.some((c) => /^clone3?$/.test(c.name) && /SIGCHLD/.test(c.args) && c.ret! > 0),
        'clone() of a child',
      );
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
