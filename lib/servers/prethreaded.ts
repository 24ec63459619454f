// Part V: the prethreaded server. A pool of --threads N Workers (default 100, as the article),
// each looping on accept() on the shared listening fd under an accept mutex (the article's
// pthread_mutex_lock() around accept(); --accept-lock none lets them all block in accept()).
//
// The main thread only keeps the pool: it waits in the event loop, replaces a Worker that
// dies, and at Ctrl-C (seen by polling the native stop flag every 50 ms: the signal handler
// cannot wake the event loop) closes the mutex, shuts the listening socket down so that
// every blocked accept() returns EINVAL, and shuts down the clients still being served.
// --dispatch main (Stevens' serv08): the main thread accepts instead and hands each fd to an
// idle Worker through an FdQueue (lib/fd-queue.ts): acceptForWorkers() below.
import * as assert from 'node:assert/strict';
import { C, native, setNonBlocking } from '../sys';
import { notice } from '../log';
import { Options } from '../options';
import { SharedMutex } from '../shared-mutex';
import { FdQueue } from '../fd-queue';
import { acceptClient } from '../listen-socket';
import { ClientSlot, startThread, stopRequested, stopThreads, Thread } from './worker-threads';
import type { Architecture } from './index';

export const architecture = {
  childrenInStats: false,
  mode: (opts: Options) =>
    opts.dispatch === 'main'
      ? 'dispatch main'
      : `dispatch accept, accept-lock ${opts.acceptLockGiven ? opts.acceptLock : 'mutex'}`,
  enterServerLoop,
} satisfies Architecture;

async function enterServerLoop(listenFd: number, opts: Options): Promise<void> {
  const queue = opts.dispatch === 'main' ? new FdQueue(opts.threads) : null;
  // The CLI refuses --accept-lock with --dispatch main: only the main thread accepts.
  const lock = queue ? 'none' : opts.acceptLockGiven ? opts.acceptLock : 'mutex';
  // The CLI refuses fcntl (lib/servers/index.ts): record locks belong to a process.
  assert.notEqual(lock, 'fcntl', 'prethreaded cannot serialize threads with record locks');
  const mutex = lock === 'mutex' || lock === 'lifo' ? new SharedMutex(opts.threads) : null;
  const live = new Set<Thread>();
  let stopping = false;

  function spawn(id: number): void {
    let t: Thread;
    try {
      t = startThread(
        { kind: 'prethreaded', id, opts, listenFd, mutex: mutex?.buffer ?? null, queue: queue?.buffer ?? null },
        new ClientSlot(),
      );
    } catch (e) {
      notice(`zerohttpd: cannot start thread ${id}: ${(e as Error).message}; retrying in 1 s`);
      setTimeout(() => !stopping && spawn(id), 1000);
      return;
    }
    live.add(t);
    void t.exited.then((code) => {
      live.delete(t);
      mutex?.releaseIfOwner(id);
      t.slot.reclaim();
      if (stopping || native.stopRequested()) return; // a Worker that saw the stop flag before we did
      // A Worker that died before serving anyone would die again at once: retry after 1 s.
      const delay = t.slot.tookClient ? 0 : 1000;
      notice(`zerohttpd: thread ${id} exited (code ${code}); starting a new one${delay ? ` in ${delay} ms` : ''}`);
      setTimeout(() => !stopping && spawn(id), delay);
    });
  }

  for (let id = 1; id <= opts.threads; id++) spawn(id);
  await (queue ? acceptForWorkers(listenFd, queue) : stopRequested());
  stopping = true;
  for (const fd of queue?.close() ?? []) native.close(fd); // accepted, never taken
  mutex?.close();
  native.shutdown(listenFd, C.SHUT_RDWR);
  await stopThreads(live);
}

/**
 * --dispatch main (Stevens' serv08): the main thread accepts, on a non-blocking listening socket,
 * while a Worker is idle with nothing queued for it, and queues the fd; between accepts it yields
 * to the event loop (Worker exits and replacements are handled there), and its waits (a
 * connection: poll(); an idle Worker: Atomics.waitAsync) last at most 50 ms so a stop is seen.
 */
async function acceptForWorkers(listenFd: number, queue: FdQueue): Promise<void> {
  setNonBlocking(listenFd);
  const pfd = new Int16Array(C.POLLFD_SIZE / 2);
  new Int32Array(pfd.buffer)[C.POLLFD_FD_OFFSET / 4] = listenFd;
  pfd[C.POLLFD_EVENTS_OFFSET / 2] = C.POLLIN;
  let lastAccepted = false; // then try accept4() at once; else poll() first (no EAGAIN while idle)
  while (!native.stopRequested()) {
    if (!queue.wantsClient()) {
      await queue.idleChanged(50);
      continue;
    }
    if (lastAccepted || native.poll(pfd, 1, 50) > 0) {
      const fd = acceptClient(listenFd, null, 'main thread');
      lastAccepted = fd >= 0;
      if (lastAccepted) queue.put(fd);
    }
    await new Promise(setImmediate);
  }
}
