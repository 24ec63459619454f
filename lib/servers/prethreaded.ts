// Part V: the prethreaded server. A pool of --threads N Workers (default 100, as the article),
// each looping on accept() on the shared listening fd under an accept mutex (the article's
// pthread_mutex_lock() around accept(); --accept-lock none lets them all block in accept()).
//
// The main thread only keeps the pool: it waits in the event loop, replaces a Worker that
// dies, and at Ctrl-C (seen by polling the native stop flag every 50 ms: the signal handler
// cannot wake the event loop) closes the mutex, shuts the listening socket down so that
// every blocked accept() returns EINVAL, and shuts down the clients still being served.
import * as assert from 'node:assert/strict';
import { C, native } from '../sys';
import { notice } from '../log';
import { Options } from '../options';
import { SharedMutex } from '../shared-mutex';
import { ClientSlot, startThread, stopRequested, stopThreads, Thread } from './worker-threads';
import type { Architecture } from './index';

export const architecture = { childrenInStats: false, enterServerLoop } satisfies Architecture;

async function enterServerLoop(listenFd: number, opts: Options): Promise<void> {
  const lock = opts.acceptLockGiven ? opts.acceptLock : 'mutex';
  // The CLI refuses fcntl (lib/servers/index.ts): record locks belong to a process.
  assert.notEqual(lock, 'fcntl', 'prethreaded cannot serialize threads with record locks');
  const mutex = lock === 'mutex' || lock === 'lifo' ? new SharedMutex(opts.threads) : null;
  const live = new Set<Thread>();
  let stopping = false;

  function spawn(id: number): void {
    let t: Thread;
    try {
      t = startThread({ kind: 'prethreaded', id, opts, listenFd, mutex: mutex?.buffer ?? null }, new ClientSlot());
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
  await stopRequested();
  stopping = true;
  mutex?.close();
  native.shutdown(listenFd, C.SHUT_RDWR);
  await stopThreads(live);
}
