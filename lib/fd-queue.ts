// prethreaded --dispatch main (Stevens' serv08): the main thread accepts and hands each client
// fd number to an idle Worker through this queue, a ring in a SharedArrayBuffer every Worker maps.
// One producer (the main thread), many consumers (the Workers), no lock:
//
//   [HEAD] next slot to take   [TAIL] next slot to fill   [IDLE] Workers waiting in take()
//   [SEQ] bumped by every put() and by close(): the word idle Workers sleep on (Atomics.wait)
//   [CLOSED] 1 once the server stops   [SLOTS...] the fds, capacity of them
//
// The main thread only puts while fewer fds are queued than Workers wait (queued() < idle()),
// so an fd is always for a Worker that is idle now, and the ring (capacity = the pool) never
// fills. A Worker reads slot HEAD, then claims it with a CAS on HEAD; the main thread cannot
// reuse that slot before HEAD has moved past it, so a read that loses the CAS is just dropped.
const HEAD = 0,
  TAIL = 1,
  IDLE = 2,
  SEQ = 3,
  CLOSED = 4,
  SLOTS = 5;

// In node since 16; in TypeScript's lib only from es2024 (this project targets an older one).
const waitAsync = (
  Atomics as unknown as {
    waitAsync: (a: Int32Array, i: number, v: number, ms: number) => { async: boolean; value: Promise<string> | string };
  }
).waitAsync;

export class FdQueue {
  readonly buffer: SharedArrayBuffer;
  private readonly a: Int32Array;
  private readonly capacity: number;

  /** A new queue for `capacity` Workers, or a view of an existing one (its buffer). */
  constructor(capacityOrBuffer: number | SharedArrayBuffer) {
    this.buffer =
      typeof capacityOrBuffer === 'number' ? new SharedArrayBuffer(4 * (SLOTS + capacityOrBuffer)) : capacityOrBuffer;
    this.a = new Int32Array(this.buffer);
    this.capacity = this.a.length - SLOTS;
  }

  queued(): number {
    return Atomics.load(this.a, TAIL) - Atomics.load(this.a, HEAD);
  }
  idle(): number {
    return Atomics.load(this.a, IDLE);
  }
  /** Main: a Worker is idle with nothing queued for it yet: accept() now. */
  wantsClient(): boolean {
    return !this.closed && this.queued() < this.idle();
  }
  get closed(): boolean {
    return Atomics.load(this.a, CLOSED) === 1;
  }

  /** Main: queue a client fd for the idle Worker wantsClient() saw, and wake one sleeper. */
  put(fd: number): void {
    const t = Atomics.load(this.a, TAIL);
    if (t - Atomics.load(this.a, HEAD) >= this.capacity) throw new Error('fd queue full: put() without wantsClient()');
    Atomics.store(this.a, SLOTS + (t % this.capacity), fd);
    Atomics.store(this.a, TAIL, t + 1);
    Atomics.add(this.a, SEQ, 1);
    Atomics.notify(this.a, SEQ, 1);
  }

  /** Main: resolves when a Worker may have become idle, or after ms (the caller checks the stop flag). */
  async idleChanged(ms: number): Promise<void> {
    const r = waitAsync(this.a, IDLE, Atomics.load(this.a, IDLE), ms);
    if (r.async) await r.value;
  }

  /** Worker: wait, idle, for a client fd; -1 once the queue is closed. */
  take(): number {
    Atomics.add(this.a, IDLE, 1);
    Atomics.notify(this.a, IDLE);
    try {
      for (;;) {
        const seq = Atomics.load(this.a, SEQ);
        if (this.closed) return -1;
        const h = Atomics.load(this.a, HEAD);
        if (h === Atomics.load(this.a, TAIL)) {
          Atomics.wait(this.a, SEQ, seq); // a put() or close() after our load changes SEQ: no lost wake-up
          continue;
        }
        const fd = Atomics.load(this.a, SLOTS + (h % this.capacity));
        if (Atomics.compareExchange(this.a, HEAD, h, h + 1) === h) return fd;
      }
    } finally {
      Atomics.sub(this.a, IDLE, 1);
    }
  }

  /** Main, stopping: wake every idle Worker (take() returns -1); returns the fds no Worker took, to close. */
  close(): number[] {
    Atomics.store(this.a, CLOSED, 1);
    Atomics.add(this.a, SEQ, 1);
    Atomics.notify(this.a, SEQ);
    const left: number[] = [];
    for (let h = Atomics.load(this.a, HEAD); h < Atomics.load(this.a, TAIL); h++) {
      if (Atomics.compareExchange(this.a, HEAD, h, h + 1) === h) left.push(this.a[SLOTS + (h % this.capacity)]);
    }
    return left;
  }
}
