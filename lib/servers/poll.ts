// Part VI: poll(). One process; the struct pollfd[] lives in one ArrayBuffer that the kernel
// reads and writes in place (zero-copy), grown by doubling; removal swaps in the last entry
// (an fd -> index map keeps it O(1)). The connection logic is lib/loop/connection.ts; --workers N
// runs N such loops in N processes (lib/servers/event-workers.ts).
import { C, native } from '../sys';
import { Backend, READABLE, WRITABLE } from '../loop/loop';
import { runEventServer } from '../loop/connection';
import { Options } from '../options';
import { eventArchitecture, runEventWorkers } from './event-workers';

export const architecture = eventArchitecture(enterServerLoop);

const SIZE = C.POLLFD_SIZE;
const FD = C.POLLFD_FD_OFFSET / 4,
  EVENTS = C.POLLFD_EVENTS_OFFSET / 2,
  REVENTS = C.POLLFD_REVENTS_OFFSET / 2;
const IN = C.POLLIN | C.POLLERR | C.POLLHUP | C.POLLNVAL | C.POLLRDHUP;
const OUT = C.POLLOUT | C.POLLERR | C.POLLHUP | C.POLLNVAL;

export class PollBackend implements Backend {
  readonly name = 'poll';
  readonly edge = false;
  private cap = 256;
  private n = 0;
  private i32 = new Int32Array((this.cap * SIZE) / 4);
  private i16 = new Int16Array(this.i32.buffer);
  private index = new Int32Array(1024).fill(-1); // fd -> slot
  private fired = new Int32Array(2 * this.cap); // (fd, mask) pairs of the last wait()

  private events(mask: number): number {
    return (mask & READABLE ? C.POLLIN : 0) | (mask & WRITABLE ? C.POLLOUT : 0);
  }

  add(fd: number, mask: number): void {
    if (this.n === this.cap) {
      this.cap *= 2;
      const i32 = new Int32Array((this.cap * SIZE) / 4);
      i32.set(this.i32);
      this.i32 = i32;
      this.i16 = new Int16Array(i32.buffer);
      this.fired = new Int32Array(2 * this.cap);
    }
    if (fd >= this.index.length) {
      const idx = new Int32Array(Math.max(fd + 1, this.index.length * 2)).fill(-1);
      idx.set(this.index);
      this.index = idx;
    }
    const i = this.n++;
    this.index[fd] = i;
    this.i32[(i * SIZE) / 4 + FD] = fd;
    this.i16[(i * SIZE) / 2 + EVENTS] = this.events(mask);
    this.i16[(i * SIZE) / 2 + REVENTS] = 0;
  }

  modify(fd: number, mask: number): void {
    this.i16[(this.index[fd] * SIZE) / 2 + EVENTS] = this.events(mask);
  }

  remove(fd: number): void {
    const i = this.index[fd],
      last = --this.n;
    this.index[fd] = -1;
    if (i !== last) {
      const lastFd = this.i32[(last * SIZE) / 4 + FD];
      this.i32[(i * SIZE) / 4 + FD] = lastFd;
      this.i16[(i * SIZE) / 2 + EVENTS] = this.i16[(last * SIZE) / 2 + EVENTS];
      this.i16[(i * SIZE) / 2 + REVENTS] = this.i16[(last * SIZE) / 2 + REVENTS];
      this.index[lastFd] = i;
    }
  }

  wait(timeoutMs: number): number {
    const r = native.poll(this.i16, this.n, timeoutMs);
    if (r <= 0) return r;
    // Copy out what fired first: handlers add and remove entries while we dispatch.
    let k = 0;
    for (let i = 0; i < this.n && k < r; i++) {
      const rev = this.i16[(i * SIZE) / 2 + REVENTS];
      if (rev === 0) continue;
      this.fired[2 * k] = this.i32[(i * SIZE) / 4 + FD];
      this.fired[2 * k + 1] = (rev & IN ? READABLE : 0) | (rev & OUT ? WRITABLE : 0);
      k++;
    }
    return k;
  }

  firedFd(i: number): number {
    return this.fired[2 * i];
  }

  firedMask(i: number): number {
    return this.fired[2 * i + 1];
  }

  close(): void {
    this.n = 0;
  }
}

function enterServerLoop(listenFd: number, opts: Options): void {
  if (opts.workers === 1) return runEventServer(listenFd, opts, new PollBackend());
  runEventWorkers(listenFd, opts, 'poll', (fd, herd) => runEventServer(fd, opts, new PollBackend(), herd));
}
