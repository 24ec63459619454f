// The prethreaded server's accept mutex (the article's pthread_mutex_lock() around accept()),
// built on a SharedArrayBuffer that every Worker maps.
//
//   word = 0: unlocked; > 0: locked by that owner id; -1: closed (the server is stopping).
//
// Fast path: CAS 0 -> id. A thread that finds the mutex held pushes its id on a stack of
// waiters and sleeps on its own cell; unlock() hands the mutex straight to the waiter on top
// of the stack (word = its id) and wakes only that one. The hand-off is LIFO on purpose: the
// thread that just finished a request is the next to accept, so a few hot threads do the work
// while the rest of the pool sleeps. Waking in arrival order (what Atomics.notify and the
// kernel's accept queue do) makes 100 Workers take turns, each on cold caches, and serves far
// fewer requests than when a few take part (measured in docs/syscall-cost.md).
//
// The stack and the hand-off are guarded by a small futex lock (`guard`), held for a few
// instructions. Atomics.wait is not interrupted by signals, so stopping goes through the
// cells themselves: close() marks the mutex closed and wakes every waiter with CLOSED.
const UNLOCKED = 0;
const CLOSED = -1;
const WORD = 0,
  GUARD = 1,
  TOP = 2,
  STACK = 4;
const WAITING = 0,
  HANDED = 1,
  SHUT = 2;

export class SharedMutex {
  readonly buffer: SharedArrayBuffer;
  readonly word: Int32Array;
  private readonly a: Int32Array;
  private readonly capacity: number;
  private readonly cells: number; // index of cell[0]; cell[id] is owner id's wait cell

  /** A new mutex for owner ids 1..capacity, or a view of an existing one (its buffer). */
  constructor(capacityOrBuffer: number | SharedArrayBuffer = 64) {
    const capacity =
      typeof capacityOrBuffer === 'number' ? capacityOrBuffer : (capacityOrBuffer.byteLength / 4 - STACK - 1) / 2;
    this.buffer =
      typeof capacityOrBuffer === 'number' ? new SharedArrayBuffer(4 * (STACK + 1 + 2 * capacity)) : capacityOrBuffer;
    this.capacity = capacity;
    this.a = new Int32Array(this.buffer);
    this.word = this.a.subarray(WORD, WORD + 1);
    this.cells = STACK + capacity;
  }

  /** Blocks until locked (true) or the mutex is closed (false). id must be 1..capacity. */
  lock(id: number): boolean {
    if (!(id > 0 && id <= this.capacity)) throw new RangeError(`mutex owner id must be 1..${this.capacity}`);
    const a = this.a;
    const seen = Atomics.compareExchange(a, WORD, UNLOCKED, id);
    if (seen === UNLOCKED) return true;
    if (seen === CLOSED) return false;
    this.guardLock();
    const now = Atomics.compareExchange(a, WORD, UNLOCKED, id);
    if (now === UNLOCKED || now === CLOSED) {
      this.guardUnlock();
      return now === UNLOCKED;
    }
    Atomics.store(a, this.cells + id, WAITING);
    a[STACK + a[TOP]] = id;
    a[TOP]++;
    this.guardUnlock();
    while (Atomics.load(a, this.cells + id) === WAITING) Atomics.wait(a, this.cells + id, WAITING);
    return Atomics.load(a, this.cells + id) === HANDED;
  }

  /** Unlocks if `id` holds the lock: to the most recent waiter, or to nobody (a no-op after close()). */
  unlock(id: number): void {
    const a = this.a;
    this.guardLock();
    if (Atomics.load(a, WORD) !== id) {
      this.guardUnlock();
      return;
    }
    if (a[TOP] > 0) {
      const next = a[STACK + --a[TOP]];
      Atomics.store(a, WORD, next);
      Atomics.store(a, this.cells + next, HANDED);
      this.guardUnlock();
      Atomics.notify(a, this.cells + next, 1);
    } else {
      Atomics.store(a, WORD, UNLOCKED);
      this.guardUnlock();
    }
  }

  /**
   * After a Worker died: take it off the waiters' stack (nothing may be handed to it any more)
   * and pass the mutex on if it held it or had just been handed it.
   */
  releaseIfOwner(id: number): void {
    const a = this.a;
    this.guardLock();
    for (let i = 0, n = a[TOP]; i < n; i++) {
      if (a[STACK + i] !== id) continue;
      a.copyWithin(STACK + i, STACK + i + 1, STACK + n);
      a[TOP]--;
      break;
    }
    this.guardUnlock();
    this.unlock(id);
  }

  /** Every lock() from now on (and every waiting one) returns false. */
  close(): void {
    const a = this.a;
    this.guardLock();
    Atomics.store(a, WORD, CLOSED);
    const waiters = Array.from(a.subarray(STACK, STACK + a[TOP]));
    a[TOP] = 0;
    for (const w of waiters) Atomics.store(a, this.cells + w, SHUT);
    this.guardUnlock();
    for (const w of waiters) Atomics.notify(a, this.cells + w, 1);
  }

  get closed(): boolean {
    return Atomics.load(this.a, WORD) === CLOSED;
  }

  // The guard: 0 free, 1 held, 2 held with sleepers (Drepper's "futexes are tricky", mutex 2).
  private guardLock(): void {
    const a = this.a;
    let c = Atomics.compareExchange(a, GUARD, 0, 1);
    if (c === 0) return;
    if (c !== 2) c = Atomics.exchange(a, GUARD, 2);
    while (c !== 0) {
      Atomics.wait(a, GUARD, 2);
      c = Atomics.exchange(a, GUARD, 2);
    }
  }

  private guardUnlock(): void {
    if (Atomics.exchange(this.a, GUARD, 0) === 2) Atomics.notify(this.a, GUARD, 1);
  }
}
