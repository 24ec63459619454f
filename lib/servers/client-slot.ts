// The client fd a thread of the threaded or prethreaded server is serving, in shared memory the
// main thread and the thread both see (a SharedArrayBuffer; for a bare-isolate thread the same
// memory under a second SharedArrayBuffer of its own isolate, native/isolate.cc).
import { C, native, sendAll } from '../sys';
import { errorResponse } from '../http/response';
import { connectionClosed } from '../live';

const IDLE = 0,
  SERVING = 1,
  SHUTTING = 2;

/**
 * The client fd a thread (a Worker or a bare-isolate thread) is serving, so that at Ctrl-C the
 * main thread can shutdown() it and a thread blocked in recv() on a slow client returns at once
 * (process.exit() would hang on it otherwise). The main thread must never shutdown() an fd number
 * the thread has already closed (another thread may have reused it), so the thread leaves SERVING
 * with a CAS just before close(), and waits while the main thread holds the slot (for one
 * shutdown() call).
 *   [0] state: IDLE | SERVING | SHUTTING   [1] fd   [2] taken: the thread has started on it
 */
export class ClientSlot {
  readonly a: Int32Array;
  constructor(readonly buffer = new SharedArrayBuffer(12)) {
    this.a = new Int32Array(buffer);
  }

  /** The fd now belongs to the thread this slot is given to. */
  assign(fd: number): void {
    Atomics.store(this.a, 1, fd);
    Atomics.store(this.a, 0, SERVING);
  }
  /** Thread: it is working on the fd (main must not answer 503 for it any more). */
  take(): void {
    Atomics.store(this.a, 2, 1);
    Atomics.notify(this.a, 2); // the threaded server may wait for it (startingAtOnce)
  }
  /** Thread: about to close the fd; after this the main thread won't touch it. */
  release(): void {
    for (;;) {
      const s = Atomics.compareExchange(this.a, 0, SERVING, IDLE);
      if (s !== SHUTTING) return; // SERVING -> IDLE done (or already IDLE)
      Atomics.wait(this.a, 0, SHUTTING);
    }
  }
  get tookClient(): boolean {
    return Atomics.load(this.a, 2) === 1;
  }
  get busy(): boolean {
    return Atomics.load(this.a, 0) !== IDLE;
  }

  /** Main: shut down the fd being served, if any (idempotent). */
  shutdownClient(): void {
    if (Atomics.compareExchange(this.a, 0, SERVING, SHUTTING) !== SERVING) return;
    native.shutdown(Atomics.load(this.a, 1), C.SHUT_RDWR);
    Atomics.store(this.a, 0, SERVING);
    Atomics.notify(this.a, 0);
  }

  /** Main, after the thread ended: a fd it still held is ours to close (503 if it never started on it). */
  reclaim(): void {
    if (Atomics.load(this.a, 0) === IDLE) return;
    const fd = Atomics.load(this.a, 1);
    if (Atomics.load(this.a, 2) === 0)
      sendAll(fd, errorResponse(503, { message: 'could not start a thread for this request' }));
    Atomics.store(this.a, 0, IDLE);
    native.close(fd);
    connectionClosed();
  }
}
