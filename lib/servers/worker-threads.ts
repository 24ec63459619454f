// What the threaded and prethreaded servers share: the Worker entry's data, starting a
// Worker, and the client slot that lets the main thread unblock a Worker at Ctrl-C.
import * as path from 'node:path';
import { Worker, WorkerOptions } from 'node:worker_threads';
import { native } from '../sys';
import { notice } from '../log';
import { Options } from '../options';
import { BOOT_SOURCE, loadWorkerBundle, mapStack, WorkerBoot } from './worker-bundle';
import { workerEnded, workerStarted } from '../live';
import { ClientSlot } from './client-slot';

export { ClientSlot };

export const WORKER_SCRIPT = path.join(__dirname, 'thread-worker.js');

export interface ThreadWorkerData {
  kind: 'threaded' | 'prethreaded';
  id: number; // > 0; the accept mutex's owner id
  opts: Options;
  slot: SharedArrayBuffer; // ClientSlot
  listenFd: number; // prethreaded
  mutex: SharedArrayBuffer | null; // prethreaded with --accept-lock mutex
  boot?: WorkerBoot; // started from thread-worker.bundle.js (worker-bundle.ts), not from WORKER_SCRIPT
  queue?: SharedArrayBuffer | null; // prethreaded --dispatch main: the FdQueue the main thread fills
}

/**
 * How a Worker is started: from thread-worker.js (boot null: Node reads and compiles each module),
 * or from the bundled script and its code cache; and with which Worker options. None of the
 * options measured (resourceLimits, SHARE_ENV, stdio, fd tracking, execArgv) made a Worker
 * cheaper (docs/threads.md), so the server passes none.
 */
export interface ThreadStart {
  boot: WorkerBoot | null;
  options: WorkerOptions;
}
export const PLAIN_START: ThreadStart = { boot: null, options: {} };

/**
 * --worker-code cached: thread-worker.js and what it requires, bundled by esbuild at build time,
 * started from a code cache; the first Worker to finish hands back a cache that holds what its
 * request compiled (adoptCodeCache), and the Workers after it start from that one.
 */
export function cachedThreadStart(): ThreadStart {
  return { boot: { ...loadWorkerBundle(), giveCache: true }, options: {} };
}

/** If `start` still wants a warm code cache, take the one Worker `t` posts when it is done. */
export function adoptCodeCache(start: ThreadStart, t: Thread): void {
  if (!start.boot?.giveCache) return;
  t.worker?.once('message', (m: { codeCache?: unknown }) => {
    if (start.boot?.giveCache && m?.codeCache instanceof Uint8Array)
      start.boot = { ...start.boot, cache: m.codeCache, giveCache: false };
  });
}

/** A thread of the threaded/prethreaded server: a Worker, or a bare-isolate thread (isolate-threads.ts). */
export interface Thread {
  slot: ClientSlot;
  exited: Promise<number>;
  /** Stop its JavaScript (it is busy in JS after the grace period of stopThreads()). */
  terminate(): void;
  worker?: Worker;
}

/** Start a Worker on thread-worker.js. Throws if the Worker cannot be created. */
export function startThread(
  data: Omit<ThreadWorkerData, 'slot' | 'boot'>,
  slot: ClientSlot,
  how: ThreadStart = PLAIN_START,
): Thread & { worker: Worker } {
  const workerData = { ...data, slot: slot.buffer, boot: how.boot ?? undefined } satisfies ThreadWorkerData;
  const worker = how.boot
    ? new Worker(BOOT_SOURCE, { ...how.options, eval: true, workerData })
    : new Worker(WORKER_SCRIPT, { ...how.options, workerData });
  worker.on('error', (e) => {
    const stack = e instanceof Error ? (e.stack ?? e.message) : String(e);
    notice(
      `zerohttpd: ${data.kind} worker ${data.id} failed: ${how.boot ? mapStack(stack, how.boot.filename) : stack}`,
    );
  });
  workerStarted();
  const exited = new Promise<number>((resolve) =>
    worker.once('exit', (code) => {
      workerEnded();
      resolve(code);
    }),
  );
  return { worker, slot, exited, terminate: () => void worker.terminate() };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Wait until every thread (Worker or isolate thread) has ended (the stop flag is already set).
 * Every 20 ms, shut down the client sockets they are still serving, so none stays blocked in
 * recv()/send(); a thread still alive after graceMs is busy in JavaScript and gets terminate(),
 * once: for a Worker each call adds an 'exit' listener, and a thread blocked in a syscall (a slow
 * Redis) stays alive until it returns, so calling it every round would pile up listeners
 * (MaxListenersExceededWarning).
 */
export async function stopThreads(live: Iterable<Thread>, graceMs = 1000): Promise<void> {
  const deadline = Date.now() + graceMs;
  const terminated = new Set<Thread>();
  for (;;) {
    const left = [...live];
    if (left.length === 0) return;
    for (const t of left) t.slot.shutdownClient();
    if (Date.now() > deadline) {
      for (const t of left) {
        if (terminated.has(t)) continue;
        terminated.add(t);
        t.terminate();
      }
    }
    await Promise.race([sleep(20), ...left.map((t) => t.exited)]);
  }
}

/** Resolves once the native stop flag is set (SIGINT/SIGTERM). The event loop cannot see the
 *  flag by itself (the handler only sets it), so look every 50 ms. */
export function stopRequested(): Promise<void> {
  return new Promise((resolve) => {
    const t = setInterval(() => {
      if (!native.stopRequested()) return;
      clearInterval(t);
      resolve();
    }, 50);
  });
}
