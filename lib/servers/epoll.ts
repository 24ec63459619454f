// Part VII: epoll. Level-triggered by default, as the article; --edge registers every fd once
// with EPOLLET for both directions, and the handlers read / write / sendfile / accept until
// EAGAIN. epoll_wait() fills a struct epoll_event[] buffer in place (zero-copy). --workers N runs
// N such loops in N processes (lib/servers/event-workers.ts), --listen exclusive with EPOLLEXCLUSIVE.
import { C, check, native } from '../sys';
import { Backend, READABLE, WRITABLE } from '../loop/loop';
import { runEventServer } from '../loop/connection';
import { Options } from '../options';
import { eventArchitecture, runEventWorkers } from './event-workers';

export const architecture = eventArchitecture(enterServerLoop);

const SIZE = C.EPOLL_EVENT_SIZE;
const EV = C.EPOLL_EVENT_EVENTS_OFFSET / 4,
  DATA = C.EPOLL_EVENT_DATA_OFFSET / 4;
const IN = C.EPOLLIN | C.EPOLLERR | C.EPOLLHUP | C.EPOLLRDHUP;
const OUT = C.EPOLLOUT | C.EPOLLERR | C.EPOLLHUP;
const MAX_EVENTS = 1024;

export class EpollBackend implements Backend {
  readonly name = 'epoll';
  private epfd = check<number>('epoll_create1', native.epoll_create1(C.EPOLL_CLOEXEC));
  private buf = new Int32Array((MAX_EVENTS * SIZE) / 4);
  private u32 = new Uint32Array(this.buf.buffer);

  /** `exclusiveFd`: the listening socket of --listen exclusive, added with EPOLLEXCLUSIVE. */
  constructor(
    readonly edge: boolean,
    private exclusiveFd = -1,
  ) {}

  private events(mask: number, fd: number): number {
    // EPOLLEXCLUSIVE takes only EPOLLIN/EPOLLOUT/EPOLLET (EINVAL with EPOLLRDHUP) and no EPOLL_CTL_MOD.
    if (fd === this.exclusiveFd) return C.EPOLLIN | C.EPOLLEXCLUSIVE | (this.edge ? C.EPOLLET : 0);
    if (this.edge) return C.EPOLLIN | C.EPOLLOUT | C.EPOLLRDHUP | C.EPOLLET;
    return (mask & READABLE ? C.EPOLLIN : 0) | (mask & WRITABLE ? C.EPOLLOUT : 0);
  }

  add(fd: number, mask: number): void {
    check('epoll_ctl', native.epoll_ctl(this.epfd, C.EPOLL_CTL_ADD, fd, this.events(mask, fd), fd));
  }

  modify(fd: number, mask: number): void {
    check('epoll_ctl', native.epoll_ctl(this.epfd, C.EPOLL_CTL_MOD, fd, this.events(mask, fd), fd));
  }

  remove(fd: number, closing: boolean): void {
    if (!closing) native.epoll_ctl(this.epfd, C.EPOLL_CTL_DEL, fd, 0); // close() removes it anyway
  }

  wait(timeoutMs: number): number {
    return native.epoll_wait(this.epfd, this.buf, MAX_EVENTS, timeoutMs);
  }

  firedFd(i: number): number {
    return this.buf[(i * SIZE) / 4 + DATA];
  }

  firedMask(i: number): number {
    const ev = this.u32[(i * SIZE) / 4 + EV];
    return (ev & IN ? READABLE : 0) | (ev & OUT ? WRITABLE : 0);
  }

  close(): void {
    native.close(this.epfd);
  }
}

function enterServerLoop(listenFd: number, opts: Options): void {
  if (opts.workers === 1) return runEventServer(listenFd, opts, new EpollBackend(opts.edge));
  // Each worker makes its own epoll instance after the fork: one shared instance would be one herd member.
  runEventWorkers(listenFd, opts, 'epoll_wait', (fd, herd) =>
    runEventServer(fd, opts, new EpollBackend(opts.edge, opts.listen === 'exclusive' ? fd : -1), herd),
  );
}
