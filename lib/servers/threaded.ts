// Part IV: the threaded server. The main thread accepts; every connection gets a new thread
// that serves it with its own Redis connection and ends. By default that thread is a native
// thread running a bare V8 isolate (--worker-code isolate; isolate-threads.ts, native/isolate.cc),
// which costs ~6x less CPU per request than a Node Worker at its best (docs/threads.md); --worker-code cached|files start a Worker running
// thread-worker.ts, from one bundled script and a V8 code cache or file by file (docs/threads.md).
//
// Back-pressure (--max-threads N, default 256, 0 = unlimited): a thread (an isolate or a Worker)
// costs megabytes and milliseconds to start (docs/threads.md), so an unbounded server runs out of
// memory at high concurrency. The count is of threads whose end (a Worker's 'exit', an isolate
// thread's report) has not been seen yet: an upper bound on the threads alive. Those events need the event loop, and the main thread is
// blocked in accept() most of the time, so after every accept() the loop yields once
// (setImmediate) to collect them; at the limit it waits in the event loop for an 'exit'
// (checking the stop flag every 50 ms, since a signal cannot wake the event loop). Ctrl-C
// interrupts the blocking accept(), which also gives up every 200 ms (SO_RCVTIMEO) so that exits
// are collected while no client comes.
import * as fs from 'node:fs';
import * as os from 'node:os';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { C, native } from '../sys';
import { out } from '../log';
import { Options } from '../options';
import { acceptClient } from '../listen-socket';
import { refuseClient } from '../serve';
import {
  adoptCodeCache,
  cachedThreadStart,
  ClientSlot,
  PLAIN_START,
  startThread,
  stopThreads,
  Thread,
} from './worker-threads';
import { IsolateThreads } from './isolate-threads';
import type { Architecture } from './index';

export const architecture = { childrenInStats: false, enterServerLoop } satisfies Architecture;

/** accept() gives up after this long, so threads' ends (and their 503s) are collected when no client comes. */
const COLLECT_INTERVAL_MS = 200;
/**
 * A Worker opens a dozen fds as it starts (its event loop's epoll and eventfd, the modules it
 * reads). Out of fds, node fails it with ERR_WORKER_INIT_FAILED and leaks the fds it had
 * opened (an eventpoll each time), so that a burst at the fd limit would leave the server
 * permanently out of fds. An isolate thread opens fewer (its loop's epoll and eventfd, the public
 * root, Redis) and fails cleanly, but the same reserve applies to it. Below this many free fds
 * (per thread starting) the client gets a 503 at once instead.
 */
const WORKER_FD_RESERVE = 16;

/**
 * Threads started one per CPU at a time finish sooner than twenty at once, which contend for the
 * CPUs and caches and each cost more CPU (docs/threads.md, measured with Workers). So while this
 * many threads are still starting (not yet on their client), the next connection waits in the
 * listen queue. Threads serving a client do not count: a slow client holds its own thread, not the start-up gate.
 * ZEROHTTPD_STARTING_AT_ONCE=N overrides it (bench/threaded-rate.ts measures the gate off).
 */
const STARTING_AT_ONCE = Number(process.env.ZEROHTTPD_STARTING_AT_ONCE ?? 0) || os.availableParallelism();

/** Block (at most waitMs) until one of the threads still starting takes its client; how many were starting. */
function waitForAStart(live: Set<Thread>, waitMs: number): number {
  let starting = 0,
    first: Thread | null = null;
  for (const t of live)
    if (!t.slot.tookClient) {
      starting++;
      first ??= t;
    }
  if (first && starting >= STARTING_AT_ONCE) Atomics.wait(first.slot.a, 2, 0, waitMs);
  return starting;
}

function fdsLeft(): number {
  const lim = native.getrlimit(C.RLIMIT_NOFILE);
  if (typeof lim === 'number' || lim.soft < 0) return Infinity;
  try {
    return lim.soft - fs.readdirSync('/proc/self/fd').length;
  } catch {
    return 0; // could not even open /proc/self/fd: out of fds
  }
}

async function enterServerLoop(listenFd: number, opts: Options): Promise<void> {
  const live = new Set<Thread>();
  let peak = 0,
    started = 0,
    nextId = 1;
  let anyExit: () => void = () => {};
  native.setsockopt(listenFd, C.SOL_SOCKET, C.SO_RCVTIMEO, COLLECT_INTERVAL_MS);
  // What each thread is and how it starts: --worker-code (docs/threads.md).
  const isolates = opts.workerCode === 'isolate' ? new IsolateThreads(opts) : null;
  const start = opts.workerCode === 'files' ? PLAIN_START : opts.workerCode === 'cached' ? cachedThreadStart() : null;

  while (!native.stopRequested()) {
    while (opts.maxThreads > 0 && live.size >= opts.maxThreads && !native.stopRequested()) {
      await new Promise<void>((resolve) => {
        anyExit = resolve;
        setTimeout(resolve, 50);
      });
    }
    while (waitForAStart(live, 20) >= STARTING_AT_ONCE && !native.stopRequested()) await yieldToEventLoop(); // a thread that died before taking its client leaves at its end
    if (native.stopRequested()) break;
    const client = acceptClient(listenFd);
    if (client < 0) {
      await yieldToEventLoop(); // EAGAIN every COLLECT_INTERVAL_MS: collect ended threads
      continue; // EINTR (stop), ECONNABORTED, ...: the loop condition decides
    }
    const slot = new ClientSlot();
    slot.assign(client);
    let t: Thread;
    try {
      // Threads still starting (not yet on their client) will take their fds too.
      let starting = 0;
      for (const t of live) if (!t.slot.tookClient) starting++;
      if (fdsLeft() < WORKER_FD_RESERVE * (1 + starting)) throw new Error('too few file descriptors left (EMFILE)');
      const id = nextId++;
      t = isolates
        ? isolates.start(id, slot)
        : startThread({ kind: 'threaded', id, opts, listenFd, mutex: null }, slot, start ?? PLAIN_START);
    } catch (e) {
      slot.release();
      refuseClient(
        client,
        `cannot start a thread: ${(e as Error).message}`,
        'could not start a thread for this request',
      );
      continue;
    }
    if (start) adoptCodeCache(start, t);
    live.add(t);
    started++;
    peak = Math.max(peak, live.size);
    void t.exited.then(() => {
      t.slot.reclaim(); // the thread died before serving: 503 and close
      live.delete(t);
      anyExit();
    });
    await yieldToEventLoop();
  }

  await stopThreads(live);
  out(`threaded: peak workers = ${peak}, workers started = ${started} (max-threads ${opts.maxThreads || 'unlimited'})`);
}
