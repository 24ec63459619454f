// Part III: the preforked server. The parent fork()s --workers children up front; each
// connects to Redis once and loops on a blocking accept() on the shared listening socket,
// optionally serialized by an accept lock (Stevens, UNP ch. 30). The parent only waits:
// a worker that dies is replaced; on Ctrl-C every worker is stopped and reaped.
// --dispatch pass (Stevens' serv05) is in enterPassLoop(): the parent accepts and passes.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { C, native, setNonBlocking, sleepMs } from '../sys';
import { App } from '../app';
import { createApp } from '../public-root';
import { handleClient, serveContext } from '../serve';
import { BlockingRedis } from '../redis/blocking';
import { notice } from '../log';
import { workerStarted } from '../live';
import { AcceptLock, Options } from '../options';
import { ServeContext } from '../serve';
import { acceptClient, Lock } from '../listen-socket';
import { describe, noteShortfall, reapChildren, runChild, stopChildren } from './children';
import { warmUpRequestPath } from './warm-up';
import type { Architecture } from './index';

export const architecture = {
  childrenInStats: true,
  forks: true,
  mode: (opts: Options) =>
    opts.dispatch === 'pass' ? 'dispatch pass' : `dispatch accept, accept-lock ${opts.acceptLock ?? 'none'}`,
  enterServerLoop,
} satisfies Architecture;

/** acquire() is false when a stop signal interrupted the wait; ownerDied() is told of every reaped worker. */
function makeAcceptLock(kind: AcceptLock, workers: number): Lock & { ownerDied?(pid: number): void } {
  if (kind === 'fcntl') {
    // A record lock on an unlinked temp file. POSIX locks belong to the process, so the
    // workers contend although they share one open file description.
    const file = path.join(os.tmpdir(), `zerohttpd-accept-lock-${process.pid}-${Date.now()}`);
    const fd = native.open(file, C.O_RDWR | C.O_CREAT | C.O_EXCL | C.O_CLOEXEC, 0o600);
    if (fd < 0) throw new Error(`cannot create accept lock file ${file}: ${native.errname(fd)}`);
    fs.unlinkSync(file);
    return {
      acquire: () => native.fcntlLock(fd, C.F_SETLKW, C.F_WRLCK) === 0,
      release: () => void native.fcntlLock(fd, C.F_SETLK, C.F_UNLCK),
    };
  }
  if (kind === 'mutex') {
    const h = native.shmMutexCreate();
    if (h < 0) throw new Error(`cannot create the shared accept mutex: ${native.errname(h)}`);
    return {
      acquire: () => {
        const r = native.shmMutexLock(h);
        if (-r === C.EOWNERDEAD) {
          notice(`zerohttpd: worker ${native.getpid()}: the accept mutex's owner died holding it; recovered`);
          native.shmMutexConsistent(h);
          return true;
        }
        return r === 0;
      },
      release: () => void native.shmMutexUnlock(h),
    };
  }
  if (kind === 'lifo') {
    // A futex in shared memory that hands the lock to the most recently idle worker (native/process.cc).
    const h = native.shmLifoCreate(workers + 16); // a cell per worker; a dead one's is freed when it is reaped
    if (h < 0) throw new Error(`cannot create the LIFO accept lock: ${native.errname(h)}`);
    return {
      acquire: () => native.shmLifoLock(h) === 0,
      release: () => void native.shmLifoUnlock(h),
      ownerDied: (pid) => {
        if (native.shmLifoOwnerDied(h, pid) === 1 && !native.stopRequested())
          notice(`zerohttpd: worker ${pid} died holding or awaiting the LIFO accept lock; passed on`);
      },
    };
  }
  return { acquire: () => true, release: () => {} };
}

/** A worker: connect to Redis once (it reconnects lazily if Redis goes away), then accept and serve until stopped. */
function workerLoop(listenFd: number, app: App, lock: Lock, redis: BlockingRedis, opts: Options): void {
  redis.connect();
  const ctx = serveContext(app, redis, opts);
  const who = `worker ${native.getpid()}`;
  while (!native.stopRequested()) {
    const client = acceptClient(listenFd, lock, who);
    if (client < 0) continue; // EINTR (stop), ECONNABORTED: the loop condition decides
    handleClient(client, ctx);
  }
}

function enterServerLoop(listenFd: number, opts: Options): void {
  const app = createApp(opts); // opened once: every worker inherits the fds and templates
  warmUpRequestPath(app, opts); // ... and the request path compiled
  const probe = new BlockingRedis(opts.redisHost, opts.redisPort);
  probe.connectOrWarn();
  probe.close();
  if (opts.dispatch === 'pass') return enterPassLoop(listenFd, app, opts);
  const lock = makeAcceptLock(opts.acceptLock ?? 'none', opts.workers);

  const workers = new Set<number>();
  const parentPid = native.getpid();
  while (!native.stopRequested()) {
    while (workers.size < opts.workers && !native.stopRequested()) {
      const pid = native.fork();
      if (pid === 0) runChild(parentPid, 'worker', opts, (redis) => workerLoop(listenFd, app, lock, redis, opts));
      if (pid < 0) {
        noteShortfall(`fork: ${native.errname(pid)}`, workers.size, opts.workers);
        break;
      }
      workers.add(pid);
      workerStarted();
      noteShortfall('', workers.size, opts.workers);
    }
    // Block until a worker dies (or a stop signal: EINTR); poll while we are short of workers.
    const short = workers.size < opts.workers;
    const reaped = reapChildren(workers, !short);
    if (short && reaped.length === 0) sleepMs(200);
    for (const { pid, how } of reaped) {
      lock.ownerDied?.(pid);
      if (!native.stopRequested()) notice(`zerohttpd: worker ${pid} ${describe(how)}; starting a replacement`);
    }
  }
  stopChildren(workers, { graceMs: 0 });
}

// ---------- --dispatch pass (Stevens' serv05) ----------

const IDLE = Buffer.from('i'); // a child to the parent: "I am idle" (also the byte carrying a fd)

/** A child of --dispatch pass: say it is idle, receive a connection over its socketpair, serve it; again. */
function passedWorkerLoop(sock: number, ctx: ServeContext): void {
  const byte = Buffer.alloc(1);
  const got = new Int32Array(2); // [fd, msg_flags]
  while (!native.stopRequested()) {
    if (native.send(sock, IDLE, 0, 1, C.MSG_NOSIGNAL) !== 1) return; // the parent is gone
    const n = native.recvmsg(sock, byte, 0, 1, got); // blocks; -EINTR only for a stop
    if (n <= 0) return; // 0: the parent closed our socketpair (stopping or gone)
    if (got[0] >= 0) handleClient(got[0], ctx);
    else notice(`zerohttpd: worker ${native.getpid()}: recvmsg carried no fd (out of fds?); a connection was lost`);
  }
}

interface PassChild {
  pid: number;
  sock: number; // the parent's end of the child's socketpair
  idle: boolean;
}

/**
 * The parent of --dispatch pass: poll() the children's sockets (an idle byte, or a hang-up when
 * one dies) and, while a child is idle, the listening socket; accept4() and sendmsg() the fd to
 * an idle child (round robin), then close our copy. A connection no child could take (it died
 * just then) is kept and passed to the next idle one: nothing accepted is dropped.
 */
function enterPassLoop(listenFd: number, app: App, opts: Options): void {
  const children: PassChild[] = [];
  const pids = new Set<number>(); // forked, not yet reaped
  const parentPid = native.getpid();
  const sv = new Int32Array(2);
  // struct pollfd[workers + 1]: the children's sockets, then the listening socket.
  const pfds = new Int16Array((C.POLLFD_SIZE / 2) * (opts.workers + 1));
  const pfd32 = new Int32Array(pfds.buffer);
  const watch = (i: number, fd: number): void => {
    pfd32[(i * C.POLLFD_SIZE + C.POLLFD_FD_OFFSET) / 4] = fd;
    pfds[(i * C.POLLFD_SIZE + C.POLLFD_EVENTS_OFFSET) / 2] = C.POLLIN;
  };
  const revents = (i: number): number => pfds[(i * C.POLLFD_SIZE + C.POLLFD_REVENTS_OFFSET) / 2];
  const buf = Buffer.alloc(16);
  let pending = -1; // an accepted connection waiting for an idle child
  let next = 0; // round robin
  setNonBlocking(listenFd); // only the parent accepts (the children close it)

  const spawn = (): boolean => {
    const r = native.socketpair(C.AF_UNIX, C.SOCK_STREAM | C.SOCK_CLOEXEC, 0, sv);
    if (r < 0) {
      noteShortfall(`socketpair: ${native.errname(r)}`, children.length, opts.workers);
      return false;
    }
    const pid = native.fork();
    if (pid === 0) {
      // The child keeps only its own end: no listening socket, no other child's socket, no pending client.
      for (const fd of [listenFd, sv[0], pending, ...children.map((c) => c.sock)]) if (fd >= 0) native.close(fd);
      runChild(parentPid, 'worker', opts, (redis) => {
        redis.connect();
        passedWorkerLoop(sv[1], serveContext(app, redis, opts));
      });
    }
    native.close(sv[1]);
    if (pid < 0) {
      native.close(sv[0]);
      noteShortfall(`fork: ${native.errname(pid)}`, children.length, opts.workers);
      return false;
    }
    pids.add(pid);
    children.push({ pid, sock: sv[0], idle: false });
    noteShortfall('', children.length, opts.workers);
    return true;
  };
  const hangUp = (c: PassChild): void => {
    native.close(c.sock);
    children.splice(children.indexOf(c), 1);
  };
  /** sendmsg() the connection to the next idle child; true once one has it (our copy then closed). */
  const pass = (fd: number): boolean => {
    for (let i = 0; i < children.length; i++) {
      const c = children[(next + i) % children.length];
      if (!c.idle) continue;
      next = (next + i + 1) % children.length;
      const r = native.sendmsg(c.sock, IDLE, 0, 1, fd, C.MSG_NOSIGNAL);
      if (r === 1) {
        c.idle = false;
        native.close(fd);
        return true;
      }
      // It died (EPIPE, ECONNRESET: poll() sees its hang-up), or the send failed (ENOBUFS...):
      // the child is still waiting, try the others and then it again.
      if (-r === C.EPIPE || -r === C.ECONNRESET) c.idle = false;
      else notice(`zerohttpd: sendmsg to worker ${c.pid}: ${native.errname(r)}; retrying`);
    }
    return false;
  };

  while (!native.stopRequested()) {
    while (children.length < opts.workers && !native.stopRequested() && spawn());
    if (pending >= 0 && pass(pending)) pending = -1;
    const polled = [...children];
    const listening = pending < 0 && children.some((c) => c.idle);
    polled.forEach((c, i) => watch(i, c.sock));
    if (listening) watch(polled.length, listenFd);
    // Wait forever, unless a dead child is still to be reaped, we are short of children, or a
    // connection is still to be passed to an idle child (a failed sendmsg(): retried).
    const short =
      children.length < opts.workers || pids.size > children.length || (pending >= 0 && children.some((c) => c.idle));
    if (native.poll(pfds, polled.length + (listening ? 1 : 0), short ? 50 : -1) < 0) continue; // EINTR: a stop
    polled.forEach((c, i) => {
      if (!revents(i)) return;
      const r = native.recv(c.sock, buf, 0, buf.length, C.MSG_DONTWAIT);
      if (r > 0) c.idle = true;
      else if (r === 0 || -r !== C.EAGAIN) hangUp(c); // it died
    });
    for (const { pid, how } of reapChildren(pids)) {
      const c = children.find((k) => k.pid === pid);
      if (c) hangUp(c);
      if (!native.stopRequested()) notice(`zerohttpd: worker ${pid} ${describe(how)}; starting a replacement`);
    }
    // Accept while a child is idle, until EAGAIN: one poll() for a burst of connections.
    if (listening && revents(polled.length)) {
      while (pending < 0 && children.some((c) => c.idle)) {
        const client = acceptClient(listenFd, null, 'parent');
        if (client < 0) break;
        if (!pass(client)) pending = client;
      }
    }
  }
  if (pending >= 0) native.close(pending);
  for (const c of [...children]) hangUp(c); // EOF: idle children leave at once
  stopChildren(pids, { graceMs: 0 });
}
