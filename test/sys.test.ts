// The native layer against real things: loopback sockets, files, child processes, Workers.
import { strict as assert } from 'node:assert';
import * as child_process from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { native, C, SyscallError, check, errname, isError, setNonBlocking, sendAll, rusage } from '../lib/sys';

const FIXTURES = path.join(__dirname, 'fixtures');
/** The binding with its argument types erased, to call it with wrong ones. */
type LooseBinding = Record<string, (...args: unknown[]) => unknown>;

// ---- fd bookkeeping: every fd a test opens is closed afterwards ----
const open = new Set<number>();
function track(fd: number, what = 'fd'): number {
  assert.ok(fd >= 0, `${what}: ${fd < 0 ? errname(fd) : fd}`);
  open.add(fd);
  return fd;
}
function closeFd(fd: number): void {
  if (open.delete(fd)) assert.equal(native.close(fd), 0);
}
function closeAll(): void {
  for (const fd of open) native.close(fd);
  open.clear();
}
function fdCount(): number {
  return fs.readdirSync('/proc/self/fd').length;
}

type Family = 'IPv4' | 'IPv6';
const LOOP: Record<Family, { af: number; addr: string }> = {
  IPv4: { af: C.AF_INET, addr: '127.0.0.1' },
  IPv6: { af: C.AF_INET6, addr: '::1' },
};

function tcpSocket(af = C.AF_INET, extra = 0): number {
  return track(native.socket(af, C.SOCK_STREAM | C.SOCK_CLOEXEC | extra), 'socket');
}

/** A listening socket on an ephemeral loopback port. */
function listener(
  fam: Family = 'IPv4',
  opts: { reuse?: boolean; nonblock?: boolean } = {},
): { fd: number; port: number } {
  const { af, addr } = LOOP[fam];
  const fd = tcpSocket(af, opts.nonblock ? C.SOCK_NONBLOCK : 0);
  if (opts.reuse) assert.equal(native.setsockopt(fd, C.SOL_SOCKET, C.SO_REUSEADDR, 1), 0);
  assert.equal(native.bind(fd, addr, 0), 0);
  assert.equal(native.listen(fd, 16), 0);
  const name = native.getsockname(fd);
  assert.ok(typeof name === 'object');
  return { fd, port: name.port };
}

/** A connected pair over loopback: [client, server side]. */
function pair(fam: Family = 'IPv4', acceptFlags = 0): { client: number; server: number; port: number } {
  const l = listener(fam);
  const client = tcpSocket(LOOP[fam].af);
  assert.equal(native.connect(client, LOOP[fam].addr, l.port), 0);
  const server = track(native.accept4(l.fd, C.SOCK_CLOEXEC | acceptFlags), 'accept4');
  closeFd(l.fd);
  return { client, server, port: l.port };
}

function pollOne(fd: number, events: number, timeoutMs: number): number {
  const pfd = Buffer.alloc(C.POLLFD_SIZE);
  pfd.writeInt32LE(fd, C.POLLFD_FD_OFFSET);
  pfd.writeInt16LE(events, C.POLLFD_EVENTS_OFFSET);
  const r = native.poll(pfd, 1, timeoutMs);
  assert.ok(r >= 0, `poll: ${errname(r)}`);
  return r === 0 ? 0 : pfd.readInt16LE(C.POLLFD_REVENTS_OFFSET);
}

/** Runs a child, resolving with its exit code/signal and stdout. */
function runChild(
  cmd: string,
  args: string[],
  onStdoutLine?: (line: string, child: child_process.ChildProcess) => void,
): {
  child: child_process.ChildProcess;
  done: Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string }>;
} {
  const child = child_process.spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  let pending = '';
  child.stdout.on('data', (d: Buffer) => {
    stdout += d.toString();
    pending += d.toString();
    let i;
    while ((i = pending.indexOf('\n')) >= 0) {
      const line = pending.slice(0, i);
      pending = pending.slice(i + 1);
      onStdoutLine?.(line, child);
    }
  });
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string }>(
    (resolve, reject) => {
      child.on('error', reject);
      child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
    },
  );
  return { child, done };
}

const children = new Set<child_process.ChildProcess>();

/**
 * Runs the blocking `wait` while a child process sends us SIGUSR2 every 50 ms (for at most
 * 10 s). A handler is installed, so each signal that lands in the wait interrupts it with
 * EINTR. Returns the wait's result, how long it took and how many signals came meanwhile.
 */
async function underSignals(wait: () => number): Promise<{ r: number; ms: number; signals: number }> {
  let signals = 0;
  const onSignal = () => signals++;
  process.on('SIGUSR2', onSignal);
  const sender = child_process.spawn(
    process.execPath,
    [
      '-e',
      `let n = 0; const t = setInterval(() => { process.kill(${process.pid}, 'SIGUSR2'); if (++n === 200) clearInterval(t); }, 50);`,
    ],
    { stdio: 'ignore' },
  );
  children.add(sender);
  const gone = new Promise((resolve) => sender.once('exit', resolve));
  try {
    for (let t = Date.now(); signals === 0; await new Promise((res) => setTimeout(res, 10))) {
      assert.ok(Date.now() - t < 20_000, 'no SIGUSR2 from the sender');
    }
    const before = signals,
      t0 = Date.now();
    const r = wait();
    const ms = Date.now() - t0;
    await new Promise((res) => setTimeout(res, 200)); // the handler runs (and counts) only now
    return { r, ms, signals: signals - before };
  } finally {
    sender.kill('SIGKILL');
    await gone; // no SIGUSR2 may arrive once the handler is gone (the default action kills)
    process.off('SIGUSR2', onSignal);
  }
}

describe('native layer (lib/sys.ts + addon)', function () {
  this.timeout(30000);

  afterEach(() => {
    closeAll();
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    children.clear();
  });

  describe('TCP round trip over loopback', () => {
    for (const fam of ['IPv4', 'IPv6'] as Family[]) {
      it(`${fam}: socket/bind/listen/connect/accept4/send/recv`, () => {
        const { addr } = LOOP[fam];
        const l = listener(fam);
        const client = tcpSocket(LOOP[fam].af);
        assert.equal(native.connect(client, addr, l.port), 0);
        const peer = native.accept4(l.fd, C.SOCK_CLOEXEC, true);
        assert.ok(typeof peer === 'object', `accept4: ${JSON.stringify(peer)}`);
        track(peer.fd);
        assert.equal(peer.family, fam);
        assert.equal(peer.address, addr);
        const cname = native.getsockname(client);
        assert.ok(typeof cname === 'object');
        assert.equal(peer.port, cname.port);
        const pname = native.getpeername(client);
        assert.ok(typeof pname === 'object');
        assert.equal(pname.port, l.port);
        assert.equal(pname.address, addr);

        const msg = Buffer.from(`hello over ${fam}`);
        assert.equal(sendAll(client, msg), msg.length);
        const got = Buffer.alloc(64);
        let n = 0;
        while (n < msg.length) {
          const r = native.recv(peer.fd, got, n, got.length - n);
          assert.ok(r > 0, `recv: ${r}`);
          n += r;
        }
        assert.deepEqual(got.subarray(0, n), msg);

        // and back, into the middle of a buffer (offset/length window)
        const reply = Buffer.from('pong');
        assert.equal(native.send(peer.fd, reply, 0, reply.length, C.MSG_NOSIGNAL), 4);
        const win = Buffer.alloc(10, 0x2e);
        assert.equal(native.recv(client, win, 3, 4, C.MSG_WAITALL), 4);
        assert.equal(win.toString(), '...pong...');

        // orderly shutdown: EOF on the other side
        assert.equal(native.shutdown(client, C.SHUT_WR), 0);
        assert.equal(native.recv(peer.fd, got, 0, got.length), 0);
      });
    }
  });

  describe('socketpair + sendmsg/recvmsg with SCM_RIGHTS (descriptor passing)', () => {
    function unixPair(): [number, number] {
      const sv = new Int32Array(2);
      assert.equal(native.socketpair(C.AF_UNIX, C.SOCK_STREAM | C.SOCK_CLOEXEC, 0, sv), 0);
      track(sv[0], 'socketpair[0]');
      track(sv[1], 'socketpair[1]');
      assert.equal(native.fcntl(sv[0], C.F_GETFD) & C.FD_CLOEXEC, C.FD_CLOEXEC, 'SOCK_CLOEXEC');
      return [sv[0], sv[1]];
    }

    it('a TCP connection passed over a socketpair arrives as a new close-on-exec fd that serves the same client', () => {
      const [a, b] = unixPair();
      const { client, server } = pair();
      const one = Buffer.from('x');
      assert.equal(native.sendmsg(a, one, 0, 1, server, C.MSG_NOSIGNAL), 1);
      closeFd(server); // the sender's copy: the connection lives on in the message
      const buf = Buffer.alloc(4);
      const got = new Int32Array(2);
      assert.equal(native.recvmsg(b, buf, 0, 4, got), 1);
      assert.equal(buf.toString('latin1', 0, 1), 'x');
      const fd = track(got[0], 'received fd');
      assert.equal(got[1] & C.MSG_CTRUNC, 0);
      assert.equal(native.fcntl(fd, C.F_GETFD) & C.FD_CLOEXEC, C.FD_CLOEXEC, 'MSG_CMSG_CLOEXEC');
      const hello = Buffer.from('hello');
      assert.equal(sendAll(client, hello), 5);
      const five = Buffer.alloc(5);
      assert.equal(native.recv(fd, five, 0, 5, C.MSG_WAITALL), 5);
      assert.equal(five.toString(), 'hello');
      closeFd(fd);
      assert.equal(native.recv(client, buf, 0, 4), 0, 'the last copy closed: EOF at the client');
    });

    it('without a fd: plain bytes, fdOut[0] = -1; the peer closed: 0; errors as -errno', () => {
      const [a, b] = unixPair();
      const two = Buffer.from('ab');
      assert.equal(native.sendmsg(a, two, 0, 2), 2);
      assert.equal(native.sendmsg(a, two, 0, 1, -1), 1);
      const buf = Buffer.alloc(8);
      const got = new Int32Array([7]);
      assert.equal(native.recvmsg(b, buf, 0, 8, got), 3);
      assert.equal(buf.toString('latin1', 0, 3), 'aba');
      assert.equal(got[0], -1);
      assert.equal(native.recvmsg(b, buf, 0, 8, got, C.MSG_DONTWAIT), -C.EAGAIN);
      closeFd(a);
      assert.equal(native.recvmsg(b, buf, 0, 8, got), 0);
      assert.equal(native.sendmsg(b, two, 0, 1, -1, C.MSG_NOSIGNAL), -C.EPIPE);
      assert.equal(native.sendmsg(-1, two, 0, 1), -C.EBADF);
      assert.equal(native.recvmsg(-1, buf, 0, 1, got), -C.EBADF);
      assert.equal(native.sendmsg(b, two, 0, 1, 99999, C.MSG_NOSIGNAL), -C.EBADF, 'passing a fd that is not open');
      assert.equal(native.socketpair(C.AF_INET, C.SOCK_STREAM, 0, new Int32Array(2)), -C.EOPNOTSUPP);
    });

    it('bad arguments are TypeError/RangeError', () => {
      const [a] = unixPair();
      const n = native as unknown as LooseBinding;
      const buf = Buffer.alloc(1);
      assert.throws(() => n.socketpair(C.AF_UNIX, C.SOCK_STREAM, 0), TypeError);
      assert.throws(() => n.socketpair(C.AF_UNIX, C.SOCK_STREAM, 0, new Int32Array(1)), RangeError);
      assert.throws(() => n.sendmsg(a, buf, 0, 2, -1), RangeError);
      assert.throws(() => n.sendmsg(a, buf, 0, 1, 'fd'), TypeError);
      assert.throws(() => n.recvmsg(a, buf, 0, 1), TypeError);
      assert.throws(() => n.recvmsg(a, buf, 0, 1, new Int8Array(2)), RangeError);
    });
  });

  describe('ioctl SIOCINQ/SIOCOUTQ (the lingering close asks whether the peer has everything)', () => {
    it('SIOCINQ counts the bytes waiting to be read; SIOCOUTQ counts our FIN until it is acknowledged', () => {
      const { client, server } = pair();
      const data = Buffer.from('hello');
      assert.equal(native.send(client, data, 0, data.length, C.MSG_NOSIGNAL), 5);
      assert.ok(pollOne(server, C.POLLIN, 5000) & C.POLLIN);
      assert.equal(native.ioctl(server, C.SIOCINQ), 5);
      // Loopback acknowledges at once: nothing unacknowledged after the bytes arrived.
      assert.equal(native.ioctl(client, C.SIOCOUTQ), 0);
      assert.equal(native.ioctl(-1, C.SIOCOUTQ), -C.EBADF);
      assert.throws(() => native.ioctl(server, 1.5), TypeError);
      // a request that would write more than the one int it is given (struct winsize) is refused
      assert.throws(() => native.ioctl(server, 0x5413 /* TIOCGWINSZ */), RangeError);
      closeFd(client);
      closeFd(server);
    });
  });

  describe('bind and TIME_WAIT', () => {
    it('binding a port in TIME_WAIT fails with EADDRINUSE without SO_REUSEADDR, succeeds with it', () => {
      // The TIME_WAIT socket inherits the listener's SO_REUSEADDR; Linux only lets a new
      // socket share the port when both sides have it (as any restarted server would).
      const l = listener('IPv4', { reuse: true });
      const client = tcpSocket();
      assert.equal(native.connect(client, '127.0.0.1', l.port), 0);
      const conn = track(native.accept4(l.fd, C.SOCK_CLOEXEC));
      closeFd(conn); // the server closes first: its side will go to TIME_WAIT
      closeFd(l.fd);
      const b = Buffer.alloc(16);
      assert.equal(native.recv(client, b, 0, b.length), 0); // the client sees EOF...
      closeFd(client); // ...and closes: server side FIN_WAIT_2 -> TIME_WAIT

      // the client's FIN is processed asynchronously: wait (bounded) for TIME_WAIT (06)
      const hexPort = l.port.toString(16).toUpperCase().padStart(4, '0');
      const timeWait = new RegExp(`0100007F:${hexPort} \\S+ 06 `);
      const nap = new Int32Array(new SharedArrayBuffer(4));
      const until = Date.now() + 5000;
      while (!timeWait.test(fs.readFileSync('/proc/net/tcp', 'utf8'))) {
        assert.ok(Date.now() < until, 'server side never reached TIME_WAIT');
        Atomics.wait(nap, 0, 0, 5);
      }

      const again = tcpSocket();
      const r = native.bind(again, '127.0.0.1', l.port);
      assert.equal(r, -C.EADDRINUSE, `bind without SO_REUSEADDR: ${errname(r)}`);
      assert.throws(() => check('bind', r), { code: 'EADDRINUSE', syscall: 'bind' });
      closeFd(again);

      const reuse = tcpSocket();
      assert.equal(native.setsockopt(reuse, C.SOL_SOCKET, C.SO_REUSEADDR, 1), 0);
      assert.equal(native.bind(reuse, '127.0.0.1', l.port), 0);
      assert.equal(native.listen(reuse, 4), 0);
    });
  });

  describe('errors as -errno and SyscallError', () => {
    it('non-blocking accept4 and recv return -EAGAIN', () => {
      const l = listener('IPv4', { nonblock: true });
      const r = native.accept4(l.fd, C.SOCK_CLOEXEC);
      assert.equal(r, -C.EAGAIN);
      assert.equal(errname(r), 'EAGAIN');
      assert.ok(isError(r, 'EAGAIN'));

      const err = new SyscallError('accept', r);
      assert.ok(err instanceof Error);
      assert.equal(err.code, 'EAGAIN');
      assert.equal(err.errno, -11);
      assert.equal(err.errno, -C.EAGAIN);
      assert.equal(err.syscall, 'accept');
      assert.equal(err.message, 'accept: EAGAIN (resource temporarily unavailable)');
      assert.throws(
        () => check('accept', r),
        (e: unknown) => e instanceof SyscallError && e.code === 'EAGAIN',
      );
      assert.equal(check('accept', 5), 5);

      // shaped like Node's own fs errors
      try {
        fs.readFileSync('/nonexistent/zerohttpd');
        assert.fail('should throw');
      } catch (e) {
        const fsErr = e as NodeJS.ErrnoException;
        const ours = new SyscallError('open', -C.ENOENT);
        assert.equal(ours.code, fsErr.code);
        assert.equal(ours.errno, fsErr.errno);
        assert.equal(typeof ours.syscall, typeof fsErr.syscall);
      }

      const { client, server } = pair();
      assert.equal(setNonBlocking(server), 0);
      assert.ok(native.fcntl(server, C.F_GETFL) & C.O_NONBLOCK);
      const buf = Buffer.alloc(8);
      assert.equal(native.recv(server, buf, 0, 8), -C.EAGAIN);
      assert.equal(native.recv(client, buf, 0, 8, C.MSG_DONTWAIT), -C.EAGAIN);
    });

    it('a closed fd gives -EBADF', () => {
      const fd = tcpSocket();
      closeFd(fd);
      const buf = Buffer.alloc(4);
      assert.equal(native.recv(fd, buf, 0, 4), -C.EBADF);
      assert.equal(native.fcntl(fd, C.F_GETFL), -C.EBADF);
      assert.equal(native.close(-1), -C.EBADF);
      const e = new SyscallError('recv', -C.EBADF);
      assert.equal(e.message, 'recv: EBADF (bad file descriptor)');
    });
  });

  describe('getsockopt/setsockopt', () => {
    it('SO_REUSEADDR, SO_RCVTIMEO (ms), TCP_NODELAY round trip', () => {
      const fd = tcpSocket();
      assert.equal(native.getsockopt(fd, C.SOL_SOCKET, C.SO_REUSEADDR), 0);
      assert.equal(native.setsockopt(fd, C.SOL_SOCKET, C.SO_REUSEADDR, 1), 0);
      assert.equal(native.getsockopt(fd, C.SOL_SOCKET, C.SO_REUSEADDR), 1);

      assert.equal(native.getsockopt(fd, C.SOL_SOCKET, C.SO_RCVTIMEO), 0);
      assert.equal(native.setsockopt(fd, C.SOL_SOCKET, C.SO_RCVTIMEO, 1500), 0);
      assert.equal(native.getsockopt(fd, C.SOL_SOCKET, C.SO_RCVTIMEO), 1500);
      assert.equal(native.setsockopt(fd, C.SOL_SOCKET, C.SO_SNDTIMEO, 2000), 0); // kernel keeps jiffies: pick a value exact for any HZ
      assert.equal(native.getsockopt(fd, C.SOL_SOCKET, C.SO_SNDTIMEO), 2000);
      assert.throws(() => native.setsockopt(fd, C.SOL_SOCKET, C.SO_RCVTIMEO, -1), RangeError);

      assert.equal(native.getsockopt(fd, C.IPPROTO_TCP, C.TCP_NODELAY), 0);
      assert.equal(native.setsockopt(fd, C.IPPROTO_TCP, C.TCP_NODELAY, 1), 0);
      assert.equal(native.getsockopt(fd, C.IPPROTO_TCP, C.TCP_NODELAY), 1);
      assert.equal(native.getsockopt(fd, C.SOL_SOCKET, C.SO_TYPE), C.SOCK_STREAM);
      assert.equal(native.getsockopt(-1, C.SOL_SOCKET, C.SO_TYPE), -C.EBADF);
    });

    it('SO_RCVTIMEO makes a blocking recv give up with -EAGAIN', () => {
      const { server } = pair();
      assert.equal(native.setsockopt(server, C.SOL_SOCKET, C.SO_RCVTIMEO, 50), 0);
      const t0 = Date.now();
      assert.equal(native.recv(server, Buffer.alloc(4), 0, 4), -C.EAGAIN);
      assert.ok(Date.now() - t0 < 5000);
    });

    it('SO_ERROR is ECONNREFUSED after a refused non-blocking connect', () => {
      // a port nobody listens on: bound (so no one else takes it) but not listening
      const holder = tcpSocket();
      assert.equal(native.bind(holder, '127.0.0.1', 0), 0);
      const name = native.getsockname(holder);
      assert.ok(typeof name === 'object');

      const fd = tcpSocket(C.AF_INET, C.SOCK_NONBLOCK);
      const r = native.connect(fd, '127.0.0.1', name.port);
      assert.equal(r, -C.EINPROGRESS, `connect: ${errname(r)}`);
      const rev = pollOne(fd, C.POLLOUT, 5000);
      assert.ok(rev & (C.POLLOUT | C.POLLERR), `revents ${rev}`);
      assert.equal(native.getsockopt(fd, C.SOL_SOCKET, C.SO_ERROR), C.ECONNREFUSED);
      assert.equal(native.getsockopt(fd, C.SOL_SOCKET, C.SO_ERROR), 0, 'SO_ERROR is cleared by reading it');
    });
  });

  describe('poll and epoll over shared buffers', () => {
    it('poll reports readiness of real sockets in a Buffer laid out as struct pollfd[]', () => {
      const l = listener();
      const { client, server } = pair();
      const ab = new ArrayBuffer(3 * C.POLLFD_SIZE);
      const pfds = Buffer.from(ab);
      const set = (i: number, fd: number, ev: number) => {
        pfds.writeInt32LE(fd, i * C.POLLFD_SIZE + C.POLLFD_FD_OFFSET);
        pfds.writeInt16LE(ev, i * C.POLLFD_SIZE + C.POLLFD_EVENTS_OFFSET);
        pfds.writeInt16LE(0, i * C.POLLFD_SIZE + C.POLLFD_REVENTS_OFFSET);
      };
      const rev = (i: number) => pfds.readInt16LE(i * C.POLLFD_SIZE + C.POLLFD_REVENTS_OFFSET);
      set(0, l.fd, C.POLLIN);
      set(1, server, C.POLLIN);
      set(2, client, C.POLLOUT);
      // nothing to read, client writable
      assert.equal(native.poll(pfds, 3, 0), 1);
      assert.equal(rev(0), 0);
      assert.equal(rev(1), 0);
      assert.ok(rev(2) & C.POLLOUT);

      const c2 = tcpSocket();
      assert.equal(native.connect(c2, '127.0.0.1', l.port), 0);
      assert.equal(sendAll(client, Buffer.from('x')), 1);
      set(0, l.fd, C.POLLIN);
      set(1, server, C.POLLIN);
      set(2, client, C.POLLIN);
      assert.equal(native.poll(pfds, 3, 5000), 2);
      assert.ok(rev(0) & C.POLLIN, 'listener readable: a pending connection');
      assert.ok(rev(1) & C.POLLIN, 'server side readable');
      assert.equal(rev(2), 0);
      // the same memory seen through an Int16Array over the ArrayBuffer
      const i16 = new Int16Array(ab);
      assert.ok(i16[(C.POLLFD_SIZE + C.POLLFD_REVENTS_OFFSET) / 2] & C.POLLIN);
      // poll also accepts a typed array over the same memory
      assert.equal(native.poll(new Int32Array(ab), 2, 0), 2);
      // a closed fd reports POLLNVAL
      set(0, 1 << 20, C.POLLIN);
      assert.equal(native.poll(pfds, 1, 0), 1);
      assert.ok(rev(0) & C.POLLNVAL);
    });

    it('epoll_wait fills an Int32Array/Buffer laid out as struct epoll_event[]; data defaults to the fd', () => {
      const ep = track(native.epoll_create1(C.EPOLL_CLOEXEC), 'epoll_create1');
      const l = listener();
      const client = tcpSocket();
      assert.equal(native.epoll_ctl(ep, C.EPOLL_CTL_ADD, l.fd, C.EPOLLIN), 0);
      assert.equal(native.epoll_ctl(ep, C.EPOLL_CTL_ADD, l.fd, C.EPOLLIN), -C.EEXIST);

      const max = 4;
      const ab = new ArrayBuffer(max * C.EPOLL_EVENT_SIZE);
      const i32 = new Int32Array(ab);
      const view = Buffer.from(ab);
      const evAt = (i: number) => ({
        events: view.readUInt32LE(i * C.EPOLL_EVENT_SIZE + C.EPOLL_EVENT_EVENTS_OFFSET),
        data: view.readInt32LE(i * C.EPOLL_EVENT_SIZE + C.EPOLL_EVENT_DATA_OFFSET),
      });
      assert.equal(native.epoll_wait(ep, i32, max, 0), 0);

      assert.equal(native.connect(client, '127.0.0.1', l.port), 0);
      assert.equal(native.epoll_wait(ep, i32, max, 5000), 1);
      assert.ok(evAt(0).events & C.EPOLLIN);
      assert.equal(evAt(0).data, l.fd, 'data defaults to the fd');

      const conn = track(native.accept4(l.fd, C.SOCK_CLOEXEC | C.SOCK_NONBLOCK));
      assert.equal(native.epoll_ctl(ep, C.EPOLL_CTL_ADD, conn, C.EPOLLIN | C.EPOLLRDHUP, 424242), 0);
      assert.equal(native.epoll_wait(ep, view, max, 0), 0, 'listener drained, nothing to read yet');
      assert.equal(sendAll(client, Buffer.from('hi')), 2);
      assert.equal(native.epoll_wait(ep, view, max, 5000), 1);
      assert.ok(evAt(0).events & C.EPOLLIN);
      assert.equal(evAt(0).data, 424242, 'data set explicitly');
      assert.equal(i32[C.EPOLL_EVENT_DATA_OFFSET / 4], 424242);

      // MOD to writability, DEL removes it
      assert.equal(native.epoll_ctl(ep, C.EPOLL_CTL_MOD, conn, C.EPOLLOUT, 7), 0);
      assert.equal(native.epoll_wait(ep, view, max, 5000), 1);
      assert.ok(evAt(0).events & C.EPOLLOUT);
      assert.equal(evAt(0).data, 7);
      assert.equal(native.epoll_ctl(ep, C.EPOLL_CTL_DEL, conn, 0), 0);
      assert.equal(native.epoll_wait(ep, view, max, 0), 0);
      // peer hangup
      assert.equal(native.epoll_ctl(ep, C.EPOLL_CTL_ADD, conn, C.EPOLLIN | C.EPOLLRDHUP), 0);
      closeFd(client);
      assert.equal(native.epoll_wait(ep, view, max, 5000), 1);
      assert.ok(evAt(0).events & C.EPOLLRDHUP);
      assert.equal(evAt(0).data, conn);
    });
  });

  describe('poll and epoll_wait under signals (EINTR)', () => {
    // An interrupted wait is retried with the time left, not the whole timeout again: with a
    // signal every 50 ms, a 1 s wait that restarted from scratch would last until the signals stop.
    it('poll with a 1,000 ms timeout returns 0 after about 1 s, however many signals interrupt it', async () => {
      const { server } = pair();
      const pfd = Buffer.alloc(C.POLLFD_SIZE);
      pfd.writeInt32LE(server, C.POLLFD_FD_OFFSET);
      pfd.writeInt16LE(C.POLLIN, C.POLLFD_EVENTS_OFFSET); // never readable: the client sends nothing
      const { r, ms, signals } = await underSignals(() => native.poll(pfd, 1, 1000));
      assert.equal(r, 0, errname(r));
      assert.ok(signals >= 3, `only ${signals} signals during the wait`);
      assert.ok(ms >= 900 && ms < 5000, `took ${ms} ms`);
    });

    it('epoll_wait with a 1,000 ms timeout returns 0 after about 1 s, however many signals interrupt it', async () => {
      const ep = track(native.epoll_create1(C.EPOLL_CLOEXEC), 'epoll_create1');
      const { server } = pair();
      assert.equal(native.epoll_ctl(ep, C.EPOLL_CTL_ADD, server, C.EPOLLIN), 0);
      const events = new Int32Array((4 * C.EPOLL_EVENT_SIZE) / 4);
      const { r, ms, signals } = await underSignals(() => native.epoll_wait(ep, events, 4, 1000));
      assert.equal(r, 0, errname(r));
      assert.ok(signals >= 3, `only ${signals} signals during the wait`);
      assert.ok(ms >= 900 && ms < 5000, `took ${ms} ms`);
    });
  });

  describe('sendfile', () => {
    const SIZE = 10 * 1024 * 1024;
    let dir: string;
    let file: string;
    let digest: string;
    before(() => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zh-sendfile-'));
      file = path.join(dir, 'random.bin');
      const data = crypto.randomBytes(SIZE);
      fs.writeFileSync(file, data);
      digest = crypto.createHash('sha256').update(data).digest('hex');
    });
    after(() => fs.rmSync(dir, { recursive: true, force: true }));

    for (const nonblock of [false, true]) {
      for (const withOffset of [true, false]) {
        it(`10 MB reaches the peer byte-identical (${nonblock ? 'non-blocking' : 'blocking'} socket, ${withOffset ? 'explicit offset' : 'file position'})`, async () => {
          const l = listener();
          // the peer: a separate node process that hashes what it receives
          const { child, done } = runChild(process.execPath, [path.join(FIXTURES, 'sha256-reader.js'), String(l.port)]);
          children.add(child);
          // a bound on the blocking accept in case the child never connects
          assert.equal(native.setsockopt(l.fd, C.SOL_SOCKET, C.SO_RCVTIMEO, 15000), 0);
          const conn = track(native.accept4(l.fd, C.SOCK_CLOEXEC | (nonblock ? C.SOCK_NONBLOCK : 0)), 'accept4');
          closeFd(l.fd);
          assert.equal(native.setsockopt(conn, C.SOL_SOCKET, C.SO_SNDTIMEO, 15000), 0);
          const inFd = track(native.open(file, C.O_RDONLY | C.O_CLOEXEC), 'open');

          let sent = 0;
          let partial = 0;
          let eagain = 0;
          const deadline = Date.now() + 20000;
          while (sent < SIZE) {
            const r = native.sendfile(conn, inFd, withOffset ? sent : null, SIZE - sent);
            if (r === -C.EAGAIN) {
              assert.ok(nonblock, 'EAGAIN on a blocking socket');
              eagain++;
              const rev = pollOne(conn, C.POLLOUT, 10000);
              assert.ok(rev & C.POLLOUT, `poll POLLOUT revents=${rev}`);
              continue;
            }
            assert.ok(r > 0, `sendfile: ${r < 0 ? errname(r) : r}`);
            if (r < SIZE - sent) partial++;
            sent += r;
            assert.ok(Date.now() < deadline, 'sendfile took too long');
          }
          if (nonblock)
            assert.ok(eagain + partial > 0, 'expected at least one partial send or EAGAIN with a non-blocking socket');

          // with an offset the file position is untouched; without, it advanced to the end
          const pos = Buffer.alloc(1);
          assert.equal(native.read(inFd, pos, 0, 1), withOffset ? 1 : 0);

          assert.equal(native.shutdown(conn, C.SHUT_WR), 0);
          const res = await done;
          assert.equal(res.code, 0, res.stderr);
          assert.equal(res.stdout.trim(), `${SIZE} ${digest}`);
        });
      }
    }
  });

  describe('open/openat2/fstat', () => {
    let root: string;
    before(() => {
      root = fs.mkdtempSync(path.join(os.tmpdir(), 'zh-openat2-'));
      fs.mkdirSync(path.join(root, 'public'));
      fs.writeFileSync(path.join(root, 'public', 'index.html'), '<h1>hi</h1>\n');
      fs.writeFileSync(path.join(root, 'secret.txt'), 'do not serve\n');
      fs.symlinkSync('../secret.txt', path.join(root, 'public', 'escape'));
      fs.symlinkSync('index.html', path.join(root, 'public', 'inside'));
    });
    after(() => fs.rmSync(root, { recursive: true, force: true }));

    it('RESOLVE_BENEATH refuses ../ and symlinks out of the dir with EXDEV and opens nothing', () => {
      const dirFd = track(native.open(path.join(root, 'public'), C.O_RDONLY | C.O_DIRECTORY | C.O_CLOEXEC), 'open dir');
      const before = fdCount();
      const flags = C.O_RDONLY | C.O_CLOEXEC;
      assert.equal(native.openat2(dirFd, '../secret.txt', flags, C.RESOLVE_BENEATH), -C.EXDEV);
      assert.equal(native.openat2(dirFd, 'escape', flags, C.RESOLVE_BENEATH), -C.EXDEV);
      assert.equal(native.openat2(dirFd, path.join(root, 'secret.txt'), flags, C.RESOLVE_BENEATH), -C.EXDEV);
      // not even created when asked to
      assert.equal(
        native.openat2(dirFd, '../created.txt', C.O_WRONLY | C.O_CREAT | C.O_CLOEXEC, C.RESOLVE_BENEATH),
        -C.EXDEV,
      );
      assert.equal(fs.existsSync(path.join(root, 'created.txt')), false);
      assert.equal(fdCount(), before, 'no descriptor was opened');
      // the same without RESOLVE_BENEATH does escape (proves the paths are real)
      const esc = track(native.openat2(dirFd, 'escape', flags, 0), 'openat2 escape');
      closeFd(esc);

      // inside the tree works, symlinks that stay inside too
      const fd = track(native.openat2(dirFd, 'index.html', flags, C.RESOLVE_BENEATH), 'openat2');
      const st = new Float64Array(3);
      assert.equal(native.fstat(fd, st), 0);
      assert.equal(st[0] & C.S_IFMT, C.S_IFREG);
      assert.equal(st[0] & 0o777, fs.statSync(path.join(root, 'public', 'index.html')).mode & 0o777);
      assert.equal(st[1], 12);
      assert.ok(Math.abs(st[2] - fs.statSync(path.join(root, 'public', 'index.html')).mtimeMs) < 1);
      const buf = Buffer.alloc(64);
      assert.equal(native.read(fd, buf, 0, 64), 12);
      assert.equal(buf.toString('utf8', 0, 12), '<h1>hi</h1>\n');
      const fd2 = track(native.openat2(dirFd, 'inside', flags, C.RESOLVE_BENEATH), 'openat2 inside');
      assert.equal(native.fstat(fd2, st), 0);
      assert.equal(st[1], 12);

      assert.equal(native.fstat(dirFd, st), 0);
      assert.equal(st[0] & C.S_IFMT, C.S_IFDIR);
      assert.equal(native.openat2(dirFd, 'missing', flags, C.RESOLVE_BENEATH), -C.ENOENT);
      assert.equal(native.open(path.join(root, 'nope'), C.O_RDONLY), -C.ENOENT);
      assert.throws(() => native.fstat(fd, new Float64Array(2)), RangeError);
    });
  });

  describe('processes', () => {
    it('waitStatus decodes exit codes and signals', () => {
      assert.deepEqual(native.waitStatus(7 << 8), { exited: true, code: 7, signaled: false, signal: 0 });
      assert.deepEqual(native.waitStatus(C.SIGKILL), { exited: false, code: -1, signaled: true, signal: C.SIGKILL });
    });

    // Reap `pid` within `ms` (polling WNOHANG so a stuck child cannot hang the suite), else kill it.
    function reap(pid: number, ms: number): number {
      const status = new Int32Array(1);
      const nap = new Int32Array(new SharedArrayBuffer(4));
      const until = Date.now() + ms;
      for (;;) {
        const r = native.waitpid(pid, C.WNOHANG, status);
        if (r === pid) return status[0];
        assert.equal(r, 0, `waitpid: ${errname(r)}`);
        if (Date.now() > until) {
          native.kill(pid, C.SIGKILL);
          native.waitpid(pid, 0);
          assert.fail(`child ${pid} did not exit within ${ms} ms`);
        }
        Atomics.wait(nap, 0, 0, 5);
      }
    }

    it('fork + waitpid return the child exit status (child calls _exit(7) at once)', () => {
      const pid = native.fork();
      if (pid === 0) native._exit(7);
      assert.ok(pid > 0, `fork: ${errname(pid)}`);
      // before the fix in native/process.cc (V8 heap is MADV_DONTFORK) this was SIGSEGV
      assert.deepEqual(native.waitStatus(reap(pid, 10000)), { exited: true, code: 7, signaled: false, signal: 0 });
      assert.equal(native.waitpid(pid, C.WNOHANG), -C.ECHILD, 'reaped');
      // blocking waitpid with a status out-array
      const status = new Int32Array(1);
      const pid2 = native.fork();
      if (pid2 === 0) native._exit(9);
      assert.equal(native.waitpid(pid2, 0, status), pid2);
      assert.equal(native.waitStatus(status[0]).code, 9);
    });

    it('a forked child runs JS for ~60 ms; its CPU time shows in getrusage(RUSAGE_CHILDREN)', async () => {
      // in a fresh `node --single-threaded` (see the fixture for why)
      const { child, done } = runChild(process.execPath, [
        '--single-threaded',
        path.join(FIXTURES, 'fork-burn.js'),
        '60',
      ]);
      children.add(child);
      const res = await done;
      assert.equal(res.code, 0, res.stderr);
      const r = JSON.parse(res.stdout);
      assert.ok(r.pid > 0);
      assert.equal(r.w, r.pid);
      assert.deepEqual(r.status, { exited: true, code: 3, signaled: false, signal: 0 });
      assert.ok(r.after.user + r.after.system >= r.before.user + r.before.system + 0.03, res.stdout);
    });

    it('getrusage(RUSAGE_CHILDREN) grows after a child that burns CPU', () => {
      const before = rusage(C.RUSAGE_CHILDREN);
      const self = rusage(C.RUSAGE_SELF);
      assert.ok(self.user > 0 && self.maxrss > 0);
      // a reaped child's usage is added to ours whoever calls wait (here libuv)
      const r = child_process.spawnSync(
        process.execPath,
        ['-e', 'const t=Date.now();let x=0;while(Date.now()-t<150)x+=Math.sqrt(x+1);'],
        { timeout: 20000 },
      );
      assert.equal(r.status, 0);
      const after = rusage(C.RUSAGE_CHILDREN);
      assert.ok(
        after.user + after.system > before.user + before.system + 0.05,
        `${JSON.stringify(before)} -> ${JSON.stringify(after)}`,
      );
      assert.ok(after.maxrss > 0);
      assert.ok(native.getppid() > 0);
      assert.equal(native.getpid(), process.pid);
      assert.equal(native.gettid(), process.pid, 'the main thread tid is the pid');
    });

    it('a child blocked in accept4 with installStopHandler() exits cleanly on SIGINT within a second', async () => {
      let sentAt = 0;
      const { child, done } = runChild(process.execPath, [path.join(FIXTURES, 'stop-accept.js')], (line, c) => {
        if (!line.startsWith('ready ')) return;
        // wait until the child is really inside accept4 (syscall 288 on x86-64, 242 on arm64)
        const pid = Number(line.slice(6));
        const until = Date.now() + 10000;
        const tick = () => {
          let sc = '';
          try {
            sc = fs.readFileSync(`/proc/${pid}/syscall`, 'utf8');
          } catch {
            sc = '';
          }
          let wchan = '';
          try {
            wchan = fs.readFileSync(`/proc/${pid}/wchan`, 'utf8');
          } catch {
            wchan = '';
          }
          const inAccept = /^(288|242|43) /.test(sc) || /accept/.test(wchan);
          if (inAccept || Date.now() > until) {
            sentAt = Date.now();
            c.kill('SIGINT');
          } else setTimeout(tick, 10);
        };
        tick();
      });
      children.add(child);
      const res = await done;
      const took = Date.now() - sentAt;
      assert.ok(sentAt > 0, 'child never became ready: ' + res.stderr);
      assert.equal(res.signal, null, `killed by ${res.signal}: ${res.stderr}`);
      assert.equal(res.code, 0, res.stderr);
      const lines = res.stdout.trim().split('\n');
      const report = JSON.parse(lines[lines.length - 1]);
      assert.equal(report.stop, C.SIGINT, 'stopRequested() == SIGINT');
      assert.equal(report.accept, 'EINTR');
      assert.ok(took < 1000, `exited ${took} ms after SIGINT`);
    });
  });

  describe('a stop signal handled before a wait begins', () => {
    it('accept4, poll and epoll_wait without a timeout, and a blocking waitpid return EINTR at once instead of waiting for ever', async () => {
      const { child, done } = runChild(process.execPath, [path.join(FIXTURES, 'stop-before-wait.js')], (line, c) => {
        if (line.startsWith('ready ')) c.kill('SIGINT'); // lands while the child spins in JavaScript
      });
      children.add(child);
      // Without the check the child blocks in accept4() for ever: give up (and fail) after 20 s.
      const guard = setTimeout(() => child.kill('SIGKILL'), 20_000);
      const res = await done;
      clearTimeout(guard);
      assert.equal(res.signal, null, `killed by ${res.signal} (a wait blocked): ${res.stderr}`);
      assert.equal(res.code, 0, res.stderr);
      const lines = res.stdout.trim().split('\n');
      const report = JSON.parse(lines[lines.length - 1]);
      assert.deepEqual(report, {
        accept: 'EINTR',
        poll: 'EINTR',
        epoll: 'EINTR',
        waitpid: 'EINTR',
        pollWithTimeout: '0',
        stop: C.SIGINT,
      });
    });
  });

  describe('worker_threads', () => {
    it('the addon loads and works inside a Worker', async () => {
      const sysPath = require.resolve('../lib/sys');
      const code = `
        const { parentPort } = require('node:worker_threads');
        const { native, C, sendAll } = require(${JSON.stringify(sysPath)});
        const l = native.socket(C.AF_INET, C.SOCK_STREAM | C.SOCK_CLOEXEC);
        native.bind(l, '127.0.0.1', 0); native.listen(l, 4);
        const port = native.getsockname(l).port;
        const c = native.socket(C.AF_INET, C.SOCK_STREAM | C.SOCK_CLOEXEC);
        const conn = native.connect(c, '127.0.0.1', port);
        const s = native.accept4(l, C.SOCK_CLOEXEC);
        sendAll(c, Buffer.from('from a worker'));
        const b = Buffer.alloc(32);
        const n = native.recv(s, b, 0, 13, C.MSG_WAITALL);
        const closes = [native.close(s), native.close(c), native.close(l)];
        parentPort.postMessage({ pid: native.getpid(), tid: native.gettid(), conn, got: b.toString('utf8', 0, n), closes, eagain: C.EAGAIN });
      `;
      const w = new Worker(code, { eval: true });
      const msg = await new Promise<{
        pid: number;
        tid: number;
        conn: number;
        got: string;
        closes: number[];
        eagain: number;
      }>((resolve, reject) => {
        w.once('message', resolve);
        w.once('error', reject);
        w.once('exit', (c) => reject(new Error(`worker exited ${c}`)));
      });
      await w.terminate();
      assert.equal(msg.pid, process.pid);
      assert.notEqual(msg.tid, process.pid, 'a Worker is another thread');
      assert.equal(msg.conn, 0);
      assert.equal(msg.got, 'from a worker');
      assert.deepEqual(msg.closes, [0, 0, 0]);
      assert.equal(msg.eagain, C.EAGAIN);
    });
  });

  describe('argument checking', () => {
    it('wrong types throw TypeError, bad windows RangeError, and the process survives', () => {
      const fd = tcpSocket();
      const buf = Buffer.alloc(8);
      const n = native as unknown as LooseBinding;
      assert.throws(() => n.recv('3', buf, 0, 1), TypeError);
      assert.throws(() => n.close('3'), TypeError);
      assert.throws(() => n.close(), TypeError);
      assert.throws(() => n.socket(), TypeError);
      assert.throws(() => n.socket(C.AF_INET), TypeError);
      assert.throws(() => n.close(1.5), TypeError);
      assert.throws(() => n.close(NaN), TypeError);
      assert.throws(() => n.close(2 ** 40), TypeError); // out of int32 range: refused before conversion
      assert.throws(() => n.recv(fd, 'buffer', 0, 1), TypeError);
      assert.throws(() => n.recv(fd, buf), TypeError);
      assert.throws(() => n.recv(fd, buf, 0, -1), RangeError);
      assert.throws(() => n.recv(fd, buf, -1, 1), RangeError);
      assert.throws(() => n.recv(fd, buf, 4, 5), RangeError);
      assert.throws(() => n.send(fd, buf, 9, 0), RangeError);
      assert.throws(() => n.read(fd, buf, 0, 9), RangeError);
      assert.throws(() => n.write(fd, buf, 0, 2 ** 53), RangeError);
      assert.throws(() => n.bind(fd, 'localhost', 80), TypeError);
      assert.throws(() => n.bind(fd, 42, 80), TypeError);
      assert.throws(() => n.bind(fd, '127.0.0.1', 70000), RangeError);
      assert.throws(() => n.open(42, 0), TypeError);
      assert.throws(() => n.open('a\0b', 0), TypeError);
      assert.throws(() => n.sendfile(fd, fd, -1, 10), RangeError);
      assert.throws(() => n.sendfile(fd, fd, null, -10), RangeError);

      const pfd = Buffer.alloc(C.POLLFD_SIZE);
      assert.throws(() => n.poll(pfd, 2, 0), RangeError);
      assert.throws(() => n.poll(pfd, -1, 0), RangeError);
      assert.throws(() => n.poll([fd], 1, 0), TypeError);
      assert.throws(() => n.poll(pfd, '1', 0), TypeError);
      assert.throws(() => n.poll(pfd.subarray(1), 0, 0), RangeError); // misaligned

      const ep = track(native.epoll_create1(C.EPOLL_CLOEXEC));
      const evs = new Int32Array(C.EPOLL_EVENT_SIZE / 4);
      assert.throws(() => n.epoll_wait(ep, evs, 2, 0), RangeError);
      assert.throws(() => n.epoll_wait(ep, evs, 0, 0), RangeError);
      assert.throws(() => n.epoll_wait(ep, new ArrayBuffer(64), 1, 0), TypeError);
      assert.throws(() => n.epoll_ctl(ep, C.EPOLL_CTL_ADD, 'x', 0), TypeError);
      assert.throws(() => n.waitpid(1, 0, new Int8Array(2)), RangeError);
      assert.throws(() => n.setSyscallStats(3), RangeError);
      assert.throws(() => n.errname('EAGAIN'), TypeError);

      // still alive and working
      assert.equal(native.getpid(), process.pid);
      assert.equal(native.epoll_wait(ep, evs, 1, 0), 0);
      assert.equal(native.recv(fd, buf, 0, 8, C.MSG_DONTWAIT), -C.ENOTCONN);
    });

    it("integers are checked finite, integral and in the C type's range before conversion (TypeError)", () => {
      const fd = tcpSocket();
      const buf = Buffer.alloc(8);
      const n = native as unknown as LooseBinding;
      const notInt32 = [NaN, Infinity, -Infinity, 0.5, 2 ** 31, -(2 ** 31) - 1, 2 ** 53, -(2 ** 63), 2 ** 64];
      for (const v of notInt32) {
        assert.throws(() => n.close(v), TypeError, `close(${v})`);
        assert.throws(() => n.fcntl(fd, C.F_GETFL, v), TypeError, `fcntl optional arg ${v}`);
        assert.throws(() => n.poll(Buffer.alloc(C.POLLFD_SIZE), 0, v), TypeError, `poll timeout ${v}`);
      }
      // int64 arguments (offsets, lengths, counts, option values): the range is [-2^63, 2^63)
      for (const v of [NaN, Infinity, -Infinity, 0.5, 2 ** 63, -(2 ** 63) - 4096, 2 ** 64]) {
        assert.throws(() => n.recv(fd, buf, 0, v), TypeError, `recv length ${v}`);
        assert.throws(() => n.sendfile(fd, fd, null, v), TypeError, `sendfile count ${v}`);
        assert.throws(() => n.setsockopt(fd, C.SOL_SOCKET, C.SO_RCVTIMEO, v), TypeError, `setsockopt value ${v}`);
      }
      // the edges of int32 are accepted and reach the syscall
      assert.equal(native.close(2 ** 31 - 1), -C.EBADF);
      assert.equal(native.close(-(2 ** 31)), -C.EBADF);
    });

    it('extra arguments are ignored and missing ones read as undefined (never past the argument array)', () => {
      const fd = tcpSocket();
      const buf = Buffer.alloc(8);
      const n = native as unknown as LooseBinding;
      const extra = Array.from({ length: 12 }, (_, i) => i);
      assert.equal(n.close(-1, ...extra), -C.EBADF);
      assert.equal(n.recv(fd, buf, 0, 8, C.MSG_DONTWAIT, ...extra), -C.ENOTCONN);
      assert.equal(n.fcntl(fd, C.F_GETFD, undefined, ...extra), C.FD_CLOEXEC);
      assert.throws(() => n.recv(fd, buf, 0), TypeError, 'the missing length is undefined, not a stale slot');
    });

    it('execve refuses a path, argv or env string with an embedded NUL (TypeError, not a truncated exec)', () => {
      const sysPath = require.resolve('../lib/sys');
      const echo = fs.existsSync('/bin/echo') ? '/bin/echo' : '/usr/bin/echo';
      // in a child: if the string were cut at the NUL, execve would succeed and replace it
      const code = `
        const { native } = require(${JSON.stringify(sysPath)});
        const calls = [[${JSON.stringify(echo)} + '\\0x', ['echo', 'path'], []],
                       [${JSON.stringify(echo)}, ['echo', 'arg\\0v'], []],
                       [${JSON.stringify(echo)}, ['echo', 'env'], ['A=\\0b']],
                       [${JSON.stringify(echo)}, ['echo', 42], []]];
        for (const c of calls) {
          try { console.log('returned ' + native.execve(...c)); } catch (e) { console.log(e.constructor.name); }
        }`;
      const r = child_process.spawnSync(process.execPath, ['-e', code], { encoding: 'utf8', timeout: 20000 });
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout, 'TypeError\nTypeError\nTypeError\nTypeError\n');
    });
  });

  describe('syscall counters', () => {
    after(() => native.setSyscallStats(0));

    it('count calls and errnos; reset works', () => {
      const { server } = pair();
      native.setSyscallStats(1);
      native.resetSyscallStats();
      const buf = Buffer.alloc(4);
      for (let i = 0; i < 3; i++) assert.equal(native.recv(server, buf, 0, 4, C.MSG_DONTWAIT), -C.EAGAIN);
      native.getpid();
      native.getpid();
      assert.equal(native.close(-1), -C.EBADF);
      native.setSyscallStats(0);
      native.getpid(); // not counted
      const stats = native.syscallStats();
      const by = Object.fromEntries(stats.map((s) => [s.name, s]));
      assert.equal(by.recvfrom.calls, 3);
      assert.equal(by.recvfrom.errors, 3);
      assert.deepEqual(by.recvfrom.errnos, { EAGAIN: 3 });
      assert.equal(by.getpid.calls, 2);
      assert.equal(by.getpid.errors, 0);
      assert.deepEqual(by.close.errnos, { EBADF: 1 });
      assert.equal(by.recvfrom.ns, 0, 'mode 1 does not time');

      native.setSyscallStats(2);
      native.resetSyscallStats();
      assert.deepEqual(native.syscallStats(), []);
      native.recv(server, buf, 0, 4, C.MSG_DONTWAIT);
      const timed = native.syscallStats();
      native.setSyscallStats(0);
      assert.equal(timed.length, 1);
      assert.equal(timed[0].name, 'recvfrom');
      assert.ok(timed[0].ns > 0);
      native.resetSyscallStats();
      assert.deepEqual(native.syscallStats(), []);
    });

    it('getppid goes through the counted, traced wrapper like every call', () => {
      native.setSyscallStats(1);
      native.resetSyscallStats();
      assert.equal(native.getppid(), process.ppid);
      const by = Object.fromEntries(native.syscallStats().map((s) => [s.name, s]));
      native.setSyscallStats(0);
      native.resetSyscallStats();
      assert.equal(by.getppid?.calls, 1, JSON.stringify(by));
      const sysPath = require.resolve('../lib/sys');
      const r = child_process.spawnSync(
        process.execPath,
        [
          '-e',
          `const { native } = require(${JSON.stringify(sysPath)});
        native.setSyscallStats(0, true); native.getppid(); native.setSyscallStats(0, false);`,
        ],
        { encoding: 'utf8', timeout: 20000 },
      );
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stderr, /^\[\d+\/\d+\] getppid\(\) = \d+$/m);
    });

    it('an uncontended shared mutex makes no futex call and counts none; a contended one counts', async () => {
      const h = native.shmMutexCreate();
      assert.ok(h >= 0, errname(h));
      native.setSyscallStats(1);
      native.resetSyscallStats();
      for (let i = 0; i < 3; i++) {
        assert.equal(native.shmMutexLock(h), 0);
        assert.equal(native.shmMutexUnlock(h), 0);
      }
      const uncontended = native.syscallStats().map((s) => s.name);
      assert.ok(!uncontended.includes('futex'), `uncontended lock/unlock counted: ${uncontended.join()}`);

      // contended: a Worker blocks in shmMutexLock while we hold it
      assert.equal(native.shmMutexLock(h), 0);
      const sysPath = require.resolve('../lib/sys');
      const w = new Worker(
        `const { parentPort } = require('node:worker_threads');
        const { native } = require(${JSON.stringify(sysPath)});
        parentPort.postMessage(native.gettid());
        const r = native.shmMutexLock(${h});
        parentPort.postMessage([r, native.shmMutexUnlock(${h})]);`,
        { eval: true },
      );
      const msgs: unknown[] = [];
      const done = new Promise<void>((resolve, reject) => {
        w.on('message', (m) => {
          msgs.push(m);
          if (msgs.length === 2) resolve();
        });
        w.once('error', reject);
      });
      const tidKnown = async () => {
        while (!msgs.length) await new Promise((r) => setTimeout(r, 5));
        return msgs[0] as number;
      };
      const tid = await tidKnown();
      // it is asleep in the kernel (state S right after posting, with no JS left before the lock)
      const state = () => fs.readFileSync(`/proc/self/task/${tid}/stat`, 'utf8').replace(/^.*\) /s, '')[0];
      for (let i = 0; i < 2000 && state() !== 'S'; i++) await new Promise((r) => setTimeout(r, 5));
      await new Promise((r) => setTimeout(r, 50));
      assert.equal(native.shmMutexUnlock(h), 0);
      await done;
      await w.terminate();
      assert.deepEqual(msgs[1], [0, 0]);
      const by = Object.fromEntries(native.syscallStats().map((s) => [s.name, s]));
      native.setSyscallStats(0);
      native.resetSyscallStats();
      assert.ok(by.futex?.calls >= 1, `the blocked lock was not counted: ${JSON.stringify(by)}`);
    });
  });

  describe('constants', () => {
    it('F_DUPFD_CLOEXEC comes from the addon and duplicates with close-on-exec set', () => {
      const fd = tcpSocket();
      assert.equal(typeof C.F_DUPFD_CLOEXEC, 'number');
      const dup = track(native.fcntl(fd, C.F_DUPFD_CLOEXEC, 0), 'F_DUPFD_CLOEXEC');
      assert.notEqual(dup, fd);
      assert.equal(native.fcntl(dup, C.F_GETFD) & C.FD_CLOEXEC, C.FD_CLOEXEC);
      const plain = track(native.fcntl(fd, C.F_DUPFD, 0), 'F_DUPFD');
      assert.equal(native.fcntl(plain, C.F_GETFD) & C.FD_CLOEXEC, 0);
    });
  });
});
