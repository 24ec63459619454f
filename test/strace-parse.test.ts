// The strace reader (lib/strace-parse.ts) and the checks the strace tests make with it, on
// recorded lines and on lines printed the way strace prints them for other pid, fd and inode
// widths: on a fresh machine (issue 12) `listen(3<socket:[12345678]>, 37) = 0` came with one
// space before `=`, here with three, and a check that expected one failed.
import * as assert from 'node:assert/strict';
import {
  callsOf,
  fdNum,
  isOneByteRecv,
  isOpen,
  isPeek,
  listenedWith,
  openedFile,
  openTarget,
  parseLine,
  parseTrace,
  splitArgs,
} from './helpers/strace';
import { excerpt } from '../scripts/strace-walkthrough';

/** A line as `strace -f -o FILE` prints it: pid left-justified in 5 columns, ` = ` padded to column 40. */
function straced(pid: number, call: string, result: string): string {
  return `${`${pid}`.padEnd(5)} ${call}`.padEnd(39) + ` = ${result}`;
}

// Recorded here (strace 6.1, `-f -y`, prethreaded with two threads, three concurrent curls; the
// SIGCHLD and exit_group lines from other traces of the same run).
const RECORDED = `19221 listen(18<socket:[1210852]>, 10)  = 0
19228 accept4(18<socket:[1210852]>, NULL, NULL, SOCK_CLOEXEC <unfinished ...>
19229 close(29</home/user/zerohttpd/dist/lib/listen.js>) = 0
19228 <... accept4 resumed>)            = 28<socket:[1210887]>
19228 recvfrom(28<socket:[1210887]>,  <unfinished ...>
19228 <... recvfrom resumed>"a", 1, 0, NULL, NULL) = 1
19229 accept4(18<socket:[1210852]>, NULL, NULL, SOCK_CLOEXEC <unfinished ...>
19228 openat2(27</home/user/zerohttpd/public>, "index.html", {flags=O_RDONLY|O_NOCTTY|O_NONBLOCK|O_CLOEXEC, resolve=RESOLVE_NO_MAGICLINKS|RESOLVE_BENEATH}, 24) = 31</home/user/zerohttpd/public/index.html>
19229 <... accept4 resumed>)            = 30<socket:[1228263]>
19229 recvfrom(30<socket:[1228263]>,  <unfinished ...>
19228 recvfrom(28<socket:[1228514]>,  <unfinished ...>
19229 <... recvfrom resumed>"A", 1, 0, NULL, NULL) = 1
19228 <... recvfrom resumed>"G", 1, 0, NULL, NULL) = 1
19221 futex(0x7f0bafa1d990, FUTEX_WAIT_BITSET|FUTEX_CLOCK_REALTIME, 19222, NULL, FUTEX_BITSET_MATCH_ANY <unfinished ...>
19225 +++ exited with 0 +++
19222 close(12<pipe:[1210844]> <unfinished ...>
19223 +++ exited with 0 +++
19222 <... close resumed>)              = 0
19221 --- SIGCHLD {si_signo=SIGCHLD, si_code=CLD_EXITED, si_pid=7104, si_uid=0, si_status=0, si_utime=0, si_stime=0} ---
19221 <... futex resumed>)              = 0
19227 <... futex resumed>)              = ?
19227 +++ exited with 0 +++
19221 exit_group(0)                     = ?
19221 +++ exited with 0 +++`;

describe('strace output parser (lib/strace-parse)', () => {
  it('reads listen(fd, backlog) = 0 whatever the padding: 5- to 10-digit inodes, 1- to 7-digit pids, 1- to 4-digit fds', () => {
    for (const pid of [7, 4242, 98765, 1234567]) {
      for (let digits = 5; digits <= 10; digits++) {
        for (const fd of [3, 17, 1023]) {
          const inode = '1234567890'.slice(0, digits);
          const line = straced(pid, `listen(${fd}<socket:[${inode}]>, 37)`, '0');
          const calls = parseTrace([line]);
          assert.equal(calls.length, 1, line);
          const [c] = calls;
          assert.deepEqual(
            [c.pid, c.name, c.argv, c.result, c.ret, c.errno],
            [pid, 'listen', [`${fd}<socket:[${inode}]>`, '37'], '0', 0, null],
            line,
          );
          assert.ok(listenedWith(c, 37), line);
          assert.ok(!listenedWith(c, 10), `the backlog is compared: ${line}`);
          assert.equal(fdNum(c.argv[0]), fd);
        }
      }
    }
    // The fixtures really vary: narrow lines are padded, wide ones are not. The check the
    // backlog test made before issue 12 expected exactly one space.
    const before = /listen\(\d+<[^>]*>, 37\) = 0/;
    assert.doesNotMatch(straced(4242, 'listen(3<socket:[12345]>, 37)', '0'), before);
    assert.match(straced(1234567, 'listen(1023<socket:[1234567890]>, 37)', '0'), before);
    const wide = parseTrace(['12345 listen(3<TCP:[1234567890]>, 10)        = 0'])[0];
    assert.ok(listenedWith(wide, 10), wide.line);
  });

  it('reads failed calls, results strace annotates, -T timings, [pid N] and no pid prefix', () => {
    const eagain = parseLine(
      straced(
        31,
        'accept4(17<socket:[99999]>, NULL, NULL, SOCK_CLOEXEC|SOCK_NONBLOCK)',
        '-1 EAGAIN (Resource temporarily unavailable)',
      ),
    );
    assert.equal(eagain.kind, 'call');
    if (eagain.kind !== 'call') return;
    assert.deepEqual([eagain.call.ret, eagain.call.errno], [-1, 'EAGAIN']);
    const listen = parseTrace([
      '[pid 1234567] listen(3<socket:[123456]>, 37) = -1 EADDRINUSE (Address already in use)',
    ])[0];
    assert.deepEqual([listen.pid, listen.ret, listen.errno], [1234567, -1, 'EADDRINUSE']);
    assert.ok(!listenedWith(listen, 37), 'a failed listen() is not a listen with that backlog');
    const bare = parseTrace(['close(3</dev/null>)                     = 0 <0.000012>'])[0];
    assert.deepEqual([bare.pid, bare.name, bare.result, bare.ret], [0, 'close', '0', 0]);
    const poll = parseTrace([straced(8, 'poll([{fd=3, events=POLLIN}], 1, -1)', '1 ([{fd=3, revents=POLLIN}])')])[0];
    assert.deepEqual([poll.ret, poll.argv], [1, ['[{fd=3, events=POLLIN}]', '1', '-1']]);
    const gone = parseTrace(['1234  <... epoll_wait resumed> <unfinished ...>) = ? <unavailable>'])[0];
    assert.deepEqual([gone.name, gone.ret, gone.errno], ['epoll_wait', null, null]);
    const restarted = parseTrace([
      '99 accept4(3<socket:[1]>, NULL, NULL, SOCK_CLOEXEC) = ? ERESTARTSYS (To be restarted if SA_RESTART is set)',
    ])[0];
    assert.deepEqual([restarted.ret, restarted.errno], [null, 'ERESTARTSYS']);
    assert.equal(parseLine('1234  +++ killed by SIGKILL +++').kind, 'exit');
    assert.equal(
      parseLine('[pid  1234] --- SIGPIPE {si_signo=SIGPIPE, si_code=SI_USER, si_pid=1, si_uid=0} ---').kind,
      'signal',
    );
    assert.equal(parseLine('strace: Process 1234 attached').kind, 'other');
  });

  it('joins <unfinished ...> and <... resumed> per pid, in the order the calls returned', () => {
    const calls = parseTrace(RECORDED);
    assert.ok(
      calls.every((c) => !/unfinished|resumed|\+\+\+|---/.test(c.line)),
      calls.map((c) => c.line).join('\n'),
    );
    const t28 = callsOf(calls, 19228);
    assert.deepEqual(
      t28.map((c) => c.name),
      ['accept4', 'recvfrom', 'openat2', 'recvfrom'],
    );
    assert.deepEqual([t28[0].ret, t28[0].argv], [28, ['18<socket:[1210852]>', 'NULL', 'NULL', 'SOCK_CLOEXEC']]);
    assert.deepEqual(t28[1].argv, ['28<socket:[1210887]>', '"a"', '1', '0', 'NULL', 'NULL']);
    assert.equal(t28[1].line, '19228 recvfrom(28<socket:[1210887]>, "a", 1, 0, NULL, NULL) = 1');
    assert.ok(isOneByteRecv(t28[1]) && isOneByteRecv(t28[3]));
    const t29 = callsOf(calls, 19229);
    assert.deepEqual(
      t29.map((c) => [c.name, c.ret]),
      [
        ['close', 0],
        ['accept4', 30],
        ['recvfrom', 1],
      ],
    );
    assert.equal(t29[2].argv[1], '"A"');
    // futex: unfinished, another pid's exit, a signal, then resumed; a thread ended in futex().
    assert.deepEqual(
      callsOf(calls, 19221).map((c) => [c.name, c.ret]),
      [
        ['listen', 0],
        ['futex', 0],
        ['exit_group', null],
      ],
    );
    assert.deepEqual(
      callsOf(calls, 19227).map((c) => [c.name, c.ret]),
      [['futex', null]],
    );
    assert.deepEqual(
      callsOf(calls, 19222).map((c) => [c.name, c.ret, c.argv[0]]),
      [['close', 0, '12<pipe:[1210844]>']],
    );
  });

  it('keeps a call whose process exited before it returned, and the pid widths of 7-digit pids apart', () => {
    const calls = parseTrace([
      '1000001 read(5<pipe:[12345]>,  <unfinished ...>',
      '1000002 read(5<pipe:[12345]>,  <unfinished ...>',
      '1000001 <... read resumed>"x", 1)      = 1',
      '1000002 +++ killed by SIGKILL +++',
      '100000 recvfrom(4<socket:[123456]>, "y", 1, 0) = 1',
    ]);
    assert.deepEqual(
      calls.map((c) => [c.pid, c.name, c.ret]),
      [
        [1000001, 'read', 1],
        [1000002, 'read', null],
        [100000, 'recvfrom', 1],
      ],
    );
    // Some strace versions and libcs print recv() as recvfrom(fd, buf, len, flags) without the two NULLs.
    assert.ok(isOneByteRecv(calls[2]));
  });

  it('is not fooled by ") = ", commas, "---" or "+++" inside the data', () => {
    const calls = parseTrace([
      straced(5, 'recvfrom(4<socket:[77777]>, "x) = 5, y", 9, 0, NULL, NULL)', '9'),
      straced(5, 'recvfrom(4<socket:[77777]>, "--- a ---", 9, MSG_PEEK, NULL, NULL)', '9'),
      straced(5, 'sendto(4<socket:[77777]>, "+++ b +++\\"", 10, MSG_NOSIGNAL, NULL, 0)', '10'),
      straced(5, 'sendfile(4<socket:[77777]>, 6</srv/a,b.txt>, [0] => [28], 28)', '28'),
    ]);
    assert.deepEqual(
      calls.map((c) => [c.name, c.ret, c.argv.length]),
      [
        ['recvfrom', 9, 6],
        ['recvfrom', 9, 6],
        ['sendto', 10, 6],
        ['sendfile', 28, 4],
      ],
    );
    assert.equal(calls[0].argv[1], '"x) = 5, y"');
    assert.ok(isPeek(calls[1]) && !isOneByteRecv(calls[1]));
    assert.deepEqual(calls[3].argv, ['4<socket:[77777]>', '6</srv/a,b.txt>', '[0] => [28]', '28']);
    assert.deepEqual(splitArgs('{sa_family=AF_INET, sin_port=htons(80), sin_addr=inet_addr("1.2.3.4")}, [16]'), [
      '{sa_family=AF_INET, sin_port=htons(80), sin_addr=inet_addr("1.2.3.4")}',
      '[16]',
    ]);
    assert.deepEqual(splitArgs(''), []);
  });

  it('finds what an open*() opened, padded or not, and when another thread split it in two lines', () => {
    const calls = parseTrace([
      straced(1234567, 'openat(AT_FDCWD</>, "/etc/passwd", O_RDONLY|O_CLOEXEC)', '21</etc/passwd>'),
      '4242  openat2(27</srv/public>, "a.txt", {flags=O_RDONLY, resolve=RESOLVE_BENEATH}, 24 <unfinished ...>',
      straced(4243, 'close(9<socket:[1234567890]>)', '0'),
      '4242  <... openat2 resumed>)            = 31</srv/public/a.txt>',
      straced(
        4242,
        'openat2(27</srv/public>, "escape.txt", {flags=O_RDONLY, resolve=RESOLVE_BENEATH}, 24)',
        '-1 EXDEV (Invalid cross-device link)',
      ),
      straced(4242, 'open("/srv/x", O_RDONLY)', '5</srv/x>'),
    ]);
    const opens = calls.filter(isOpen);
    assert.deepEqual(opens.map(openedFile), ['/etc/passwd', '/srv/public/a.txt', undefined, '/srv/x']);
    assert.deepEqual(opens.map(openTarget), ['/etc/passwd', 'a.txt', 'escape.txt', '/srv/x']);
    assert.equal(opens[2].errno, 'EXDEV');
    // Read line by line (the hardening suite before issue 12), its result was on a line without `openat2(`.
    assert.equal(
      opens[1].line,
      '4242  openat2(27</srv/public>, "a.txt", {flags=O_RDONLY, resolve=RESOLVE_BENEATH}, 24) = 31</srv/public/a.txt>',
    );
  });

  it('cuts the walkthrough excerpt from accept4() to close() with padded, split and signal lines', () => {
    const raw = [
      '500   accept4(17, NULL, NULL, SOCK_CLOEXEC <unfinished ...>',
      '501   futex(0x1, FUTEX_WAKE_PRIVATE, 1)   = 0',
      '500   <... accept4 resumed>)            = 9',
      ...Array.from('GET / HTTP/1.0\r\n', (ch) =>
        straced(500, `recvfrom(9, ${JSON.stringify(ch)}, 1, 0, NULL, NULL)`, '1'),
      ),
      straced(500, 'recvfrom(9, "---", 3, 0, NULL, NULL)', '3'),
      '500   --- SIGCHLD {si_signo=SIGCHLD, si_code=CLD_EXITED, si_pid=1, si_uid=0, si_status=0, si_utime=0, si_stime=0} ---',
      straced(500, 'sendfile(9, 10, [0] => [28], 28)', '28'),
      straced(500, 'close(9)', '0'),
      straced(500, 'accept4(17, NULL, NULL, SOCK_CLOEXEC)', '9'),
    ].join('\n');
    const out = excerpt(raw).split('\n');
    // From the accept4() that returned the fd (as strace printed it, unfinished then resumed).
    assert.equal(out[0], '500   accept4(17, NULL, NULL, SOCK_CLOEXEC <unfinished ...>');
    assert.equal(out[1], '500   <... accept4 resumed>) = 9');
    assert.match(out.join('\n'), /more one-byte recvfrom\(\) calls/);
    assert.ok(
      out.some((l) => l.includes('"---"')),
      'a read of "---" is data, not a signal line',
    );
    assert.ok(
      out.some((l) => /SIGCHLD/.test(l)),
      "the serving process's signals are kept",
    );
    assert.ok(!out.some((l) => /futex/.test(l)), `other threads' calls are not:\n${out.join('\n')}`);
    assert.match(out[out.length - 1], /^500 +close\(9\) +=/);
  });
});
