// The prethreaded server's accept mutex (the article's pthread_mutex_lock() around accept()),
// built on one Int32 of a SharedArrayBuffer that every Worker maps.
//   word = 0: unlocked; > 0: locked by that owner id; -1: closed (the server is stopping).
// lock = CAS 0 -> id, else Atomics.wait on the value seen; unlock = CAS id -> 0 + notify one.
// Atomics.wait is not interrupted by signals, so stopping is expressed through the word
// itself: close() stores -1 and wakes everyone, and a waiter that read an older value
// returns from Atomics.wait at once ("not-equal"): no wake-up can be lost.
const UNLOCKED = 0;
const CLOSED = -1;

export class SharedMutex {
  readonly word: Int32Array;

  constructor(readonly buffer: SharedArrayBuffer = new SharedArrayBuffer(4)) {
    this.word = new Int32Array(buffer, 0, 1);
  }

  /** Blocks until locked (true) or the mutex is closed (false). id must be > 0. */
  lock(id: number): boolean {
    if (!(id > 0)) throw new RangeError('mutex owner id must be > 0');
    for (;;) {
      const seen = Atomics.compareExchange(this.word, 0, UNLOCKED, id);
      if (seen === UNLOCKED) return true;
      if (seen === CLOSED) return false;
      Atomics.wait(this.word, 0, seen);
    }
  }

  /** Unlocks if `id` holds the lock (a no-op after close()). */
  unlock(id: number): void {
    if (Atomics.compareExchange(this.word, 0, id, UNLOCKED) === id) Atomics.notify(this.word, 0, 1);
  }

  /** Frees the lock if a Worker died holding it. */
  releaseIfOwner(id: number): void {
    this.unlock(id);
  }

  /** Every lock() from now on (and every waiting one) returns false. */
  close(): void {
    Atomics.store(this.word, 0, CLOSED);
    Atomics.notify(this.word, 0);
  }

  get closed(): boolean {
    return Atomics.load(this.word, 0) === CLOSED;
  }
}
