// --trace against strace: the same server run under `strace -f` with --trace prints every call
// twice, once decoded by lib/trace.ts and once by strace. Both are parsed (lib/strace-parse.ts,
// so neither's padding matters) and each of our lines must be the very call strace saw: same
// thread, same name, same arguments, same result.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Call, parseLine, startTraced, STRACE } from './helpers/strace';
import { get } from './helpers/http';
import { freePort } from '../lib/net-probe';
import { quote } from '../lib/trace';

/** What strace prints of a pointer it does not decode (a failed call's buffer, EPOLL_CTL_DEL's event), where we show `[buffer]` or `{...}`. */
const ADDRESS = /^0x[0-9a-f]+$/;

/** Our --trace lines: `[pid/tid] call`, parsed like strace's, with the tid as the pid. */
function ourCalls(stderr: string): Call[] {
  const calls: Call[] = [];
  for (const line of stderr.split('\n')) {
    const m = /^\[\d+\/(\d+)\] (.*)$/.exec(line);
    if (!m) continue;
    const t = parseLine(`${m[1]} ${m[2]}`);
    assert.equal(t.kind, 'call', `a --trace line strace's parser cannot read: ${line}`);
    if (t.kind === 'call') calls.push(t.call);
  }
  return calls;
}

/**
 * Every call of ours, matched in order with strace's next call of the same thread, name and
 * first argument (node's own calls in between use other fds; its openat()s, also at AT_FDCWD,
 * return other fds); returns the names matched.
 */
function matchAll(ours: Call[], straced: Call[]): Map<string, number> {
  const next = new Map<number, number>();
  const seen = new Map<string, number>();
  for (const c of ours) {
    let i = next.get(c.pid) ?? 0;
    const same = (s: Call) =>
      s.pid === c.pid && s.name === c.name && s.argv[0] === c.argv[0] && (c.name !== 'openat' || s.result === c.result);
    // The addon retries a call a signal interrupted (SIGCHLD in forking's parent): strace sees the
    // interrupted attempts too, the caller (and --trace) only the last.
    const retried = (s: Call) => c.errno !== 'EINTR' && (s.errno === 'EINTR' || /^\? ERESTART/.test(s.result));
    while (i < straced.length && (!same(straced[i]) || retried(straced[i]))) i++;
    assert.ok(i < straced.length, `strace never saw ${c.line} (thread ${c.pid})`);
    const s = straced[i];
    next.set(c.pid, i + 1);
    assert.equal(c.argv.length, s.argv.length, `argument count: ours ${c.line} / strace ${s.line}`);
    c.argv.forEach((a, k) => {
      if ((a === '[buffer]' || a === '{...}') && ADDRESS.test(s.argv[k])) return;
      // strace 6 prints SO_RCVTIMEO's struct timeval as raw bytes; we decode it.
      if (c.name === 'setsockopt' && k === 3 && a.startsWith('{tv_sec=')) return;
      assert.equal(a, s.argv[k], `argument ${k}: ours ${c.line} / strace ${s.line}`);
    });
    // A signal (the test's SIGINT) interrupting a blocking call: strace may show the kernel's side
    // (`? ERESTARTSYS`) while the caller gets EINTR.
    const interrupted = c.errno === 'EINTR' && /^\? ERESTART/.test(s.result);
    if (!interrupted) assert.equal(c.result, s.result, `result: ours ${c.line} / strace ${s.line}`);
    seen.set(c.name, (seen.get(c.name) ?? 0) + 1);
  }
  return seen;
}

const TRACED =
  'socket,setsockopt,getsockopt,bind,listen,getsockname,connect,poll,accept4,recvfrom,sendto,openat2,newfstatat,sendfile,close,write,shutdown,ioctl,epoll_create1,epoll_ctl,epoll_wait,fcntl,prlimit64,openat,wait4,prctl,getppid,getpid,kill';

describe('--trace reads like strace', function () {
  this.timeout(60_000);
  let dir: string;
  before(() => {
    if (!fs.existsSync(STRACE)) throw new Error(`${STRACE} is required`);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zerohttpd-trace-'));
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('quotes bytes as strace does: C escapes, octal, 32 bytes then ...', () => {
    const b = Buffer.from('G\r\n"\\\t\x00\x001\x7f');
    assert.equal(quote(b, 0, 1), '"G"');
    assert.equal(quote(b, 0, b.length), '"G\\r\\n\\"\\\\\\t\\0\\0001\\177"');
    assert.equal(quote(Buffer.alloc(40, 0x61), 0, 40), `"${'a'.repeat(32)}"...`);
  });

  for (const [arch, extra, must] of [
    [
      'iterative',
      [],
      ['socket', 'bind', 'listen', 'accept4', 'recvfrom', 'sendto', 'openat2', 'newfstatat', 'sendfile'],
    ],
    ['epoll', ['--edge'], ['epoll_create1', 'epoll_ctl', 'epoll_wait', 'accept4', 'recvfrom', 'sendfile']],
    // The parent reaps each child: wait4 with the status it read, or nothing to reap.
    ['forking', [], ['accept4', 'wait4', 'recvfrom', 'sendfile']],
  ] as const) {
    it(`${arch}${extra.length ? ` ${extra.join(' ')}` : ''}: every --trace line is the call strace printed`, async () => {
      const srv = await startTraced(
        TRACED,
        [arch, ...extra, '--redis', `127.0.0.1:${await freePort()}`, '--trace'],
        dir,
        [], // strace's defaults: plain fds, strings cut at 32 bytes, as ours
      );
      assert.equal((await get(srv.port, '/')).status, 200);
      assert.equal((await get(srv.port, '/nope')).status, 404);
      assert.equal((await get(srv.port, '/guestbook')).status, 503); // no Redis on that port
      const { code, calls } = await srv.stop();
      assert.equal(code, 0, srv.stderr());
      // clone()'s child_tidptr is an address only strace knows: fork() is left out of the comparison.
      const ours = ourCalls(srv.stderr()).filter((c) => c.name !== 'clone');
      // The trace's own lines are write()s to fd 2 too (fs.writeSync, not through the addon): not ours to
      // match. (The request log lines on fd 1, through the addon, start with [pid/tid] as well and are.)
      const seen = matchAll(
        ours,
        calls.filter((c) => !(c.name === 'write' && c.argv[0] === '2' && /^"\[\d+\/\d+\] /.test(c.argv[1] ?? ''))),
      );
      for (const name of must) assert.ok(seen.get(name), `no ${name} in the trace: ${[...seen.keys()].join(' ')}`);
      // The article's one-byte read shows the byte: the request's first one is the G of GET.
      assert.ok(
        ours.some((c) => c.name === 'recvfrom' && c.argv[1] === '"G"' && c.argv[2] === '1'),
        'recvfrom(fd, "G", 1, 0, ...)',
      );
    });
  }
});
