// Part III: the preforked server. The parent fork()s --workers children up front; each
// connects to Redis once and loops on a blocking accept() on the shared listening socket,
// optionally serialized by an accept lock (Stevens, UNP ch. 30). The parent only waits:
// a worker that dies is replaced; on Ctrl-C every worker is stopped and reaped.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { C, native, sleepMs } from '../sys';
import { App } from '../app';
import { createApp } from '../public-root';
import { handleClient, serveContext } from '../serve';
import { BlockingRedis } from '../redis/blocking';
import { notice } from '../log';
import { AcceptLock, Options } from '../options';
import { acceptClient, Lock } from '../listen-socket';
import { describe, reapChildren, runChild, stopChildren } from './children';
import { warmUpRequestPath } from './warm-up';
import type { Architecture } from './index';

export const architecture = { childrenInStats: true, forks: true, enterServerLoop } satisfies Architecture;

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
  const lock = makeAcceptLock(opts.acceptLock ?? 'none', opts.workers);
  const probe = new BlockingRedis(opts.redisHost, opts.redisPort);
  probe.connectOrWarn();
  probe.close();

  const workers = new Set<number>();
  const parentPid = native.getpid();
  while (!native.stopRequested()) {
    while (workers.size < opts.workers && !native.stopRequested()) {
      const pid = native.fork();
      if (pid === 0) runChild(parentPid, 'worker', opts, (redis) => workerLoop(listenFd, app, lock, redis, opts));
      if (pid < 0) {
        notice(`zerohttpd: fork: ${native.errname(pid)} with ${workers.size} of ${opts.workers} workers; retrying`);
        break;
      }
      workers.add(pid);
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
