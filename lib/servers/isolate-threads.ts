// The threaded server's default thread (--worker-code isolate, docs/threads.md): per connection
// a native thread running a bare V8 isolate (native/isolate.cc) that compiles the request path
// from thread-isolate.bundle.js and a code cache and serves the one client. A Node Worker is a
// whole Node bootstrap (~37 ms of CPU); such a thread is an isolate and a context (~3 ms), and
// 7-9 ms of CPU in all to serve one GET / (docs/threads.md).
// This file is the main thread's side: the script, starting threads, and their ends, which
// native/isolate.cc reports on the main thread's event loop, like a Worker's 'exit'.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { C, native } from '../sys';
import { notice } from '../log';
import { Options } from '../options';
import { workerEnded, workerStarted } from '../live';
import { ClientSlot } from './client-slot';
import { mapStack, readBundle } from './worker-bundle';
import type { IsolateThreadData } from './thread-isolate';
import type { Thread } from './worker-threads';

/** Written by `npm run bundle` (and prepare, build, pretest) from thread-isolate.js. */
export const ISOLATE_BUNDLE = path.join(__dirname, 'thread-isolate.bundle.js');

/** How long process exit waits for threads still running (a thread blocked in a syscall on a slow
 *  client or Redis returns only when that call does). */
const EXIT_WAIT_MS = 2000;
let exitHooked = false;
/** The threads running (one onExit serves them all: isolateThreadsInit() is refused while any
 *  runs): the slot, whose client is shut down at exit, and what resolves the thread's `exited`. */
const running = new Map<number, { slot: ClientSlot; ended: (code: number) => void }>();

export class IsolateThreads {
  private readonly opts: Options;

  /** Loads the bundle (refused if missing or stale) and hands it to the addon. Throws if it cannot. */
  constructor(opts: Options, file = ISOLATE_BUNDLE) {
    // The thread has no realpath (lib/isolate/fs.ts): resolve --public here, once.
    this.opts = { ...opts, publicDir: fs.realpathSync(opts.publicDir) };
    const r = native.isolateThreadsInit((id, error) => {
      if (error !== undefined) notice(`zerohttpd: threaded thread ${id} failed: ${mapStack(error, file, false)}`);
      running.get(id)?.ended(error === undefined ? 0 : 1);
      running.delete(id);
    });
    if (r < 0) throw new Error(`this node offers no platform to run isolates on (${native.errname(r)})`);
    // An exit with threads still running (process.exit(), an uncaught exception) must wait for
    // them, as Node waits for its Workers: it tears V8 down under them otherwise (SIGSEGV).
    if (!exitHooked) {
      exitHooked = true;
      process.on('exit', () => {
        // A thread blocked in recv()/send() on its client returns at once (as stopThreads() does
        // at Ctrl-C); one blocked on Redis returns within its timeout, which may outlast the wait.
        for (const { slot } of running.values()) slot.shutdownClient();
        const left = native.isolateThreadsStop(EXIT_WAIT_MS);
        if (left > 0) notice(`zerohttpd: exiting with ${left} isolate thread(s) still in a system call`);
      });
    }
    native.isolateScript(readBundle(file), file, JSON.stringify(C));
  }

  /** A new thread serving the fd assigned to `slot`. Throws if the thread cannot be created. */
  start(id: number, slot: ClientSlot): Thread {
    const data: IsolateThreadData = { id, opts: this.opts };
    const r = native.isolateThreadStart(id, slot.buffer, JSON.stringify(data));
    if (r < 0) throw new Error(`pthread_create: ${native.errname(r)}`);
    // Its end is reported on this thread's event loop, so never before this turn is over.
    const exited = new Promise<number>((ended) => running.set(id, { slot, ended }));
    workerStarted();
    void exited.then(() => workerEnded());
    return { slot, exited, terminate: () => void native.isolateThreadTerminate(id) };
  }
}
