// The event loop shared by the poll and epoll servers, in the shape of Redis' ae.c: one loop
// (interest bookkeeping, deadlines, dispatch) over a tiny backend (add / modify / remove / wait)
// that lib/servers/poll.ts and lib/servers/epoll.ts each implement in a page.
import { C, native } from '../sys';
import { WAITS } from './herd';

/** Interest and readiness bits of the loop's own API (like ae.c's AE_READABLE/AE_WRITABLE). */
export const NONE = 0,
  READABLE = 1,
  WRITABLE = 2;

export interface Backend {
  readonly name: string;
  /**
   * Edge-triggered: the backend registers both directions once (add) and never needs
   * modify/remove until close; handlers must read/write/accept until EAGAIN.
   */
  readonly edge: boolean;
  add(fd: number, mask: number): void;
  modify(fd: number, mask: number): void;
  /** `closing`: the fd is about to be closed (epoll drops it by itself then). */
  remove(fd: number, closing: boolean): void;
  /** Wait for readiness; returns the number of fired events (or -errno, e.g. EINTR). */
  wait(timeoutMs: number): number;
  firedFd(i: number): number;
  /** READABLE | WRITABLE; errors and hang-ups report both, so the handler's next syscall sees them. */
  firedMask(i: number): number;
  close(): void;
}

export interface Handler {
  /** Called with the fired bits, already filtered by this fd's interest. */
  ready(mask: number): void;
  /** The loop is stopping: release everything (fds, files). */
  shutdown(): void;
}

/** A node of an idle list: whoever sits in one has a deadline `timeoutMs` after `lastActive`. */
export interface IdleNode {
  idlePrev: IdleNode | null;
  idleNext: IdleNode | null;
  idleList: IdleList | null;
  lastActive: number;
  /** The deadline passed. The node is already unlinked. */
  expired(): void;
}

/**
 * Everyone in one list shares one timeout, so ordering by last activity is ordering by
 * deadline: touch = move to the tail, O(1); the head is always the nearest deadline.
 */
export class IdleList {
  private head: IdleNode | null = null;
  private tail: IdleNode | null = null;
  size = 0;
  constructor(readonly timeoutMs: number) {}

  touch(n: IdleNode, now: number): void {
    if (n.idleList) n.idleList.unlink(n);
    n.lastActive = now;
    n.idleList = this;
    n.idlePrev = this.tail;
    n.idleNext = null;
    if (this.tail) this.tail.idleNext = n;
    else this.head = n;
    this.tail = n;
    this.size++;
  }

  unlink(n: IdleNode): void {
    if (n.idleList !== this) return;
    if (n.idlePrev) n.idlePrev.idleNext = n.idleNext;
    else this.head = n.idleNext;
    if (n.idleNext) n.idleNext.idlePrev = n.idlePrev;
    else this.tail = n.idlePrev;
    n.idlePrev = n.idleNext = null;
    n.idleList = null;
    this.size--;
  }

  /** Milliseconds until the nearest deadline (0 if already due), or -1 if empty. */
  nextIn(now: number): number {
    return this.head ? Math.max(0, this.head.lastActive + this.timeoutMs - now) : -1;
  }

  expire(now: number): void {
    while (this.head && this.head.lastActive + this.timeoutMs <= now) {
      const n = this.head;
      this.unlink(n);
      n.expired();
    }
  }
}

interface Timer {
  at: number;
  fn: () => void;
}

/** A loop's deadlines (this one's and io_uring's): its idle lists and a few one-shot timers. */
export class Deadlines {
  private idleLists: IdleList[] = [];
  private timers: Timer[] = []; // few (the accept pause): a sorted array is enough

  idleList(timeoutMs: number): IdleList {
    const l = new IdleList(timeoutMs);
    this.idleLists.push(l);
    return l;
  }

  setTimer(at: number, fn: () => void): void {
    const t = { at, fn };
    let i = this.timers.length;
    while (i > 0 && this.timers[i - 1].at > t.at) i--;
    this.timers.splice(i, 0, t);
  }

  /** Milliseconds until the nearest deadline (0 if already due), or -1 (wait forever). */
  waitTime(now: number): number {
    let t = -1;
    for (const l of this.idleLists) {
      const n = l.nextIn(now);
      if (n >= 0 && (t < 0 || n < t)) t = n;
    }
    if (this.timers.length) {
      const n = Math.max(0, this.timers[0].at - now);
      if (t < 0 || n < t) t = n;
    }
    return t;
  }

  /** Run the timers that are due, then expire the idle nodes past their deadline. */
  fire(now: number): void {
    while (this.timers.length && this.timers[0].at <= now) this.timers.shift()!.fn();
    for (const l of this.idleLists) l.expire(now);
  }

  clearTimers(): void {
    this.timers = [];
  }
}

export class EventLoop {
  now = Date.now();
  private handlers: (Handler | undefined)[] = [];
  private interest = new Uint8Array(1024);
  private registered = new Uint8Array(1024);
  private deadlines = new Deadlines();
  stopping = false;

  /** `herd`: the worker's counters (lib/loop/herd.ts) when it is one of --workers N. */
  constructor(
    readonly backend: Backend,
    readonly herd: Float64Array | null = null,
  ) {}

  idleList(timeoutMs: number): IdleList {
    return this.deadlines.idleList(timeoutMs);
  }

  private grow(fd: number): void {
    if (fd < this.interest.length) return;
    let n = this.interest.length;
    while (n <= fd) n *= 2;
    const i = new Uint8Array(n),
      r = new Uint8Array(n);
    i.set(this.interest);
    r.set(this.registered);
    this.interest = i;
    this.registered = r;
  }

  /** Start handling fd (no interest yet: call want()). */
  attach(fd: number, h: Handler): void {
    this.grow(fd);
    this.handlers[fd] = h;
    this.interest[fd] = NONE;
  }

  /**
   * Set what fd waits for. NONE unregisters it in level-triggered mode, so a peer's
   * hang-up is not reported over and over while we are busy elsewhere (e.g. waiting for Redis).
   */
  want(fd: number, mask: number): void {
    const cur = this.interest[fd];
    if (cur === mask) return;
    this.interest[fd] = mask;
    const b = this.backend;
    if (b.edge) {
      if (!this.registered[fd] && mask !== NONE) {
        b.add(fd, READABLE | WRITABLE);
        this.registered[fd] = 1;
      }
      return;
    }
    if (!this.registered[fd]) {
      if (mask === NONE) return;
      b.add(fd, mask);
      this.registered[fd] = 1;
    } else if (mask === NONE) {
      b.remove(fd, false);
      this.registered[fd] = 0;
    } else b.modify(fd, mask);
  }

  /** Forget fd and close it. */
  close(fd: number): void {
    if (this.registered[fd]) this.backend.remove(fd, true);
    this.registered[fd] = 0;
    this.interest[fd] = NONE;
    this.handlers[fd] = undefined;
    native.close(fd);
  }

  /** Stop watching fd without closing it (the listener while accept is paused). */
  detach(fd: number): void {
    if (this.registered[fd]) this.backend.remove(fd, false);
    this.registered[fd] = 0;
    this.interest[fd] = NONE;
    this.handlers[fd] = undefined;
  }

  setTimer(ms: number, fn: () => void): void {
    this.deadlines.setTimer(this.now + ms, fn);
  }

  /** Dispatch readiness and deadlines until a stop is requested. */
  run(): void {
    const b = this.backend;
    while (!native.stopRequested()) {
      const n = b.wait(this.deadlines.waitTime(this.now));
      this.now = Date.now();
      if (this.herd) this.herd[WAITS]++;
      if (n < 0) {
        if (-n === C.EINTR) continue; // a stop request: the loop condition decides
        throw new Error(`${b.name}: ${native.errname(n)}`);
      }
      for (let i = 0; i < n; i++) {
        const fd = b.firedFd(i);
        const mask = b.firedMask(i) & this.interest[fd];
        if (mask !== NONE) this.handlers[fd]?.ready(mask);
      }
      this.deadlines.fire(this.now);
    }
    this.shutdown();
  }

  private shutdown(): void {
    this.stopping = true;
    for (let fd = 0; fd < this.handlers.length; fd++) this.handlers[fd]?.shutdown();
    this.handlers = [];
    this.deadlines.clearTimers();
    this.backend.close();
  }
}
