// poll/epoll with --workers N: the parent forks N processes, each running the whole event loop
// (nginx's shape), and only waits: a worker that dies is replaced; on Ctrl-C every worker is
// stopped and reaped, so their CPU time is in the stats. How the workers share the port:
//   shared     one listening socket in every worker's poll set / epoll: every worker is woken
//              for each connection, one wins the accept4() (the thundering herd);
//   exclusive  the same socket added with EPOLLEXCLUSIVE: the kernel wakes one waiting worker;
//   reuseport  one SO_REUSEPORT socket per worker, all made here before the first fork (so a
//              replacement inherits its slot's socket and the connections queued on it); the
//              kernel spreads connections over them by a hash of the addresses and ports.
import { native, sleepMs } from '../sys';
import { notice } from '../log';
import { Options } from '../options';
import { boundPort, setupListeningSocket } from '../listen-socket';
import { createHerdTable, herdSlot } from '../loop/herd';
import { describe, noteShortfall, reapChildren, runChild, stopChildren } from './children';
import type { Architecture } from './index';

/** Each worker serves `serve(itsListeningSocket, itsHerdCounters)` until a stop is requested. */
export function runEventWorkers(
  listenFd: number,
  opts: Options,
  waitCall: string,
  serve: (listenFd: number, herd: Float64Array) => void,
): void {
  const n = opts.workers;
  const sockets = [listenFd];
  try {
    while (opts.listen === 'reuseport' && sockets.length < n)
      sockets.push(
        setupListeningSocket(opts.host, boundPort(listenFd), opts.backlog, { nonBlocking: true, reusePort: true }),
      );
    createHerdTable(n, opts.listen, waitCall);
  } catch (e) {
    for (const fd of sockets.slice(1)) native.close(fd);
    throw e;
  }

  const slotOf = new Map<number, number>(); // worker pid -> slot
  const workers = new Set<number>();
  const parentPid = native.getpid();
  while (!native.stopRequested()) {
    for (let slot = 0; slot < n && !native.stopRequested(); slot++) {
      if ([...slotOf.values()].includes(slot)) continue;
      const pid = native.fork();
      if (pid === 0) {
        runChild(parentPid, 'worker', opts, () => {
          for (const fd of sockets) if (fd !== sockets[slot % sockets.length]) native.close(fd);
          serve(sockets[slot % sockets.length], herdSlot(slot));
        });
      }
      if (pid < 0) {
        noteShortfall(`fork: ${native.errname(pid)}`, workers.size, n);
        break;
      }
      workers.add(pid);
      slotOf.set(pid, slot);
      noteShortfall('', workers.size, n);
    }
    // Block until a worker dies (or a stop signal: EINTR); poll while we are short of workers.
    const short = workers.size < n;
    const reaped = reapChildren(workers, !short);
    if (short && reaped.length === 0) sleepMs(200);
    for (const pid of slotOf.keys()) if (!workers.has(pid)) slotOf.delete(pid);
    for (const { pid, how } of reaped) {
      if (!native.stopRequested()) notice(`zerohttpd: worker ${pid} ${describe(how)}; starting a replacement`);
    }
  }
  stopChildren(workers, { graceMs: 0 });
  for (const fd of sockets.slice(1)) native.close(fd); // run.ts closes the first
}

/** What the listening line says after the architecture's name: `(2 workers, listen reuseport)`. */
export function workersMode(opts: Options): string | null {
  return opts.workers > 1 ? `${opts.workers} workers, listen ${opts.listen}` : null;
}

/** poll's and epoll's registry entry: one process, or with --workers N a parent and N forked
 *  workers, whose CPU time is in the stats as children's. */
export function eventArchitecture(enterServerLoop: Architecture['enterServerLoop']) {
  return {
    childrenInStats: (o: Options) => o.workers > 1,
    nonBlockingListen: true,
    forks: (o: Options) => o.workers > 1,
    mode: workersMode,
    enterServerLoop,
  } satisfies Architecture;
}
