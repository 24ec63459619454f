// The per-connection state machine of the event-driven servers, written once for both
// backends: read the request without blocking, route() it, carry out the Plan (bytes,
// headers + sendfile, or Redis round trips), close. Plus the acceptor and runEventServer().
import { C, native, raiseNofile } from '../sys';
import { HttpError, RequestParser } from '../http/request';
import { App, errorPlan, httpErrorPlan, Plan, route } from '../app';
import { closeApp, createApp } from '../public-root';
import { RespValue } from '../redis/resp';
import { logRequest, notice } from '../log';
import { connectionClosed } from '../live';
import { Options, Reader } from '../options';
import { Backend, EventLoop, Handler, IdleList, IdleNode, NONE, READABLE, WRITABLE } from './loop';
import { RedisClient, RedisJob } from './redis';
import { LINGER_MS, LingerDrain, readRequest } from '../request-reader';
import { ACCEPT_PAUSE_MS, outOfFds } from '../listen-socket';
import { ACCEPTED, EMPTY, SLEEPS, sleepsSoFar } from './herd';

export interface Server {
  loop: EventLoop;
  app: App;
  redis: RedisClient;
  reader: Reader;
  sendTimeoutMs: number; // --send-timeout: the whole response write
  idle: IdleList; // --timeout: the whole request read; waiting for Redis; a stalled write
  lingering: IdleList; // draining before close
}

type State = 'reading' | 'redis' | 'writing' | 'sendfile' | 'lingering' | 'closed';

export class HttpConnection implements Handler, IdleNode {
  idlePrev: IdleNode | null = null;
  idleNext: IdleNode | null = null;
  idleList: IdleList | null = null;
  lastActive = 0;

  private state: State = 'reading';
  private parser = new RequestParser();
  private plan: Plan | null = null;
  private job: RedisJob | null = null;
  private out: Buffer | null = null;
  private outOff = 0;
  private fileFd = -1;
  private fileOff = 0;
  private status = 0;
  private sent = 0;
  private drainer: LingerDrain | null = null;
  private sendBy = 0; // the whole response must be out by then (--send-timeout)

  constructor(
    private s: Server,
    readonly fd: number,
  ) {
    s.idle.touch(this, s.loop.now);
  }

  ready(): void {
    switch (this.state) {
      case 'reading':
        return this.read();
      case 'writing':
        return this.flush();
      case 'sendfile':
        return this.sendFile();
      case 'lingering':
        return this.drain();
    }
  }

  // ---- reading ----

  /** Read what has arrived; when the request is incomplete, wait for readability. */
  read(): void {
    const p = this.parser;
    const r = readRequest(this.fd, p, this.s.reader);
    if (r === 'again') {
      this.s.loop.want(this.fd, READABLE);
      return;
    }
    if (r === 'eof' || r === 'failed') return this.close();
    if (p.state === 'done') this.carryOut(route(this.s.app, p.request!));
    else this.carryOut(httpErrorPlan(p.error as HttpError));
  }

  /** Bytes of the response not yet queued (a response whose last byte made it is done, not cut). */
  private unsent(): number {
    const head = this.out ? this.out.length - this.outOff : 0;
    const file = this.fileFd >= 0 ? (this.plan as Plan & { kind: 'file' }).size - this.fileOff : 0;
    return head + file;
  }

  /**
   * A write made progress: restart the stall timeout (--timeout), unless the whole response is
   * past --send-timeout (then false: the caller closes). Reading never touches: --timeout bounds
   * the whole request from accept, so a client trickling bytes gets its 408 all the same.
   */
  private progress(): boolean {
    if (this.unsent() === 0) return true; // the last byte is queued: done, whenever that was
    const now = this.s.loop.now;
    if (now >= this.sendBy) return false;
    this.s.idle.touch(this, now);
    return true;
  }

  // ---- answering ----

  private carryOut(plan: Plan): void {
    this.plan = plan;
    this.s.idle.touch(this, this.s.loop.now); // the Redis deadline starts now
    if (plan.kind === 'redis') {
      this.state = 'redis';
      this.s.loop.want(this.fd, NONE);
      this.job = this.s.redis.run(plan.commands, (replies) => this.redisDone(plan, replies));
      return;
    }
    this.status = plan.status;
    if (plan.kind === 'bytes') {
      this.out = plan.data;
    } else {
      this.out = plan.head;
      this.fileFd = plan.fd;
      this.fileOff = plan.sendBody ? 0 : plan.size;
    }
    this.outOff = 0;
    this.state = 'writing';
    this.sendBy = this.s.loop.now + this.s.sendTimeoutMs;
    this.flush();
  }

  private redisDone(plan: Plan & { kind: 'redis' }, replies: RespValue[] | null): void {
    this.job = null;
    if (this.state !== 'redis') return;
    this.carryOut(replies ? plan.respond(replies) : plan.unavailable());
  }

  /** send() until the buffer is out or EAGAIN (then wait for writability). */
  private flush(): void {
    const out = this.out!;
    while (this.outOff < out.length) {
      const n = native.send(this.fd, out, this.outOff, out.length - this.outOff, C.MSG_NOSIGNAL);
      if (n < 0) {
        if (-n === C.EAGAIN) return this.s.loop.want(this.fd, WRITABLE);
        return this.abort(); // EPIPE, ECONNRESET: the client is gone
      }
      this.outOff += n;
      this.sent += n;
      if (!this.progress()) return this.abort();
    }
    this.out = null;
    if (this.fileFd >= 0) {
      this.state = 'sendfile';
      return this.sendFile();
    }
    this.done();
  }

  /** sendfile() on the non-blocking socket, resumed on writability after a partial send / EAGAIN. */
  private sendFile(): void {
    const plan = this.plan as Plan & { kind: 'file' };
    while (this.fileOff < plan.size) {
      const n = native.sendfile(this.fd, this.fileFd, this.fileOff, plan.size - this.fileOff);
      if (n < 0 && -n === C.EAGAIN) return this.s.loop.want(this.fd, WRITABLE);
      if (n <= 0) return this.abort(); // peer gone, or the file shrank under us
      this.fileOff += n;
      this.sent += n;
      if (!this.progress()) return this.abort();
    }
    this.done();
  }

  /** Log the response (whole, or as far as it went). */
  private log(): void {
    const req = this.parser.request;
    logRequest(this.status, req?.method ?? '-', req?.target ?? '-', this.sent);
  }

  /** The response cannot be finished (client gone, stalled, past --send-timeout): log how far it went, close. */
  private abort(): void {
    this.log();
    this.close();
  }

  /** Every byte of the response is queued: log it, then lingering close. */
  private done(): void {
    this.log();
    this.releaseFile();
    this.linger();
  }

  // ---- closing ----

  /**
   * nginx's lingering close (see lingeringClose() in serve.ts): close() with unread input sends
   * RST and may destroy the response the client has not read yet, so shut down our side, drain
   * (LingerDrain: at most LINGER_MAX_BYTES, here for at most LINGER_MS) until the client's EOF, then close.
   */
  private linger(): void {
    this.state = 'lingering';
    this.drainer = new LingerDrain();
    native.shutdown(this.fd, C.SHUT_WR);
    this.s.lingering.touch(this, this.s.loop.now);
    this.drain();
  }

  private drain(): void {
    if (this.drainer!.step(this.fd) === 'again') return this.s.loop.want(this.fd, READABLE);
    this.close();
  }

  /** Deadline passed (IdleNode). */
  expired(): void {
    switch (this.state) {
      case 'reading':
        // 408 only if nothing was answered yet (always true while reading).
        this.parser = new RequestParser(); // log '-' for the partial request
        return this.carryOut(errorPlan(408));
      case 'redis': {
        const plan = this.plan as Plan & { kind: 'redis' };
        if (this.job) this.s.redis.cancel(this.job);
        this.job = null;
        this.state = 'reading'; // leave 'redis' so a late reply is ignored
        return this.carryOut(plan.unavailable());
      }
      case 'writing':
      case 'sendfile':
        return this.abort(); // a write stalled for --timeout
      default:
        return this.close(); // lingering
    }
  }

  private releaseFile(): void {
    if (this.fileFd >= 0) native.close(this.fileFd);
    this.fileFd = -1;
  }

  close(): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.idleList?.unlink(this);
    if (this.job) this.s.redis.cancel(this.job);
    this.job = null;
    this.releaseFile();
    this.s.loop.close(this.fd);
    connectionClosed();
  }

  shutdown(): void {
    this.close();
  }
}

/** Accepts when the listening socket is readable, until EAGAIN. */
class Acceptor implements Handler {
  private paused = false;
  private warned = false;

  constructor(
    private s: Server,
    private listenFd: number,
  ) {
    s.loop.attach(listenFd, this);
    s.loop.want(listenFd, READABLE);
  }

  ready(): void {
    const loop = this.s.loop;
    let accepted = 0;
    for (;;) {
      const fd = native.accept4(this.listenFd, C.SOCK_NONBLOCK | C.SOCK_CLOEXEC);
      if (fd < 0) {
        if (-fd !== C.EAGAIN && -fd !== C.EINTR && !outOfFds(fd)) continue; // ECONNABORTED, EPROTO, ...: that client is gone, take the next
        if (loop.herd) {
          loop.herd[ACCEPTED] += accepted;
          if (accepted === 0 && -fd === C.EAGAIN) loop.herd[EMPTY]++; // woken for a connection another worker took
        }
        return outOfFds(fd) ? this.pause(fd) : undefined;
      }
      accepted++;
      const c = new HttpConnection(this.s, fd);
      loop.attach(fd, c);
      c.read(); // the request has usually arrived already: no readiness round trip needed
    }
  }

  /** Out of fds: stop watching the listener for a moment instead of spinning on it. */
  private pause(err: number): void {
    if (!this.warned)
      notice(`zerohttpd: accept: ${native.errname(err)}; pausing accept for ${ACCEPT_PAUSE_MS} ms (logged once)`);
    this.warned = true;
    this.paused = true;
    const loop = this.s.loop;
    loop.detach(this.listenFd);
    loop.setTimer(ACCEPT_PAUSE_MS, () => {
      if (loop.stopping) return;
      this.paused = false;
      loop.attach(this.listenFd, this);
      loop.want(this.listenFd, READABLE);
    });
  }

  shutdown(): void {
    if (!this.paused) this.s.loop.detach(this.listenFd); // run.ts closes the listening socket
  }
}

/**
 * enterServerLoop() of the poll and epoll servers: only the backend differs. `herd`: this
 * worker's counters when it is one of --workers N (lib/servers/event-workers.ts).
 */
export function runEventServer(
  listenFd: number,
  opts: Options,
  backend: Backend,
  herd: Float64Array | null = null,
): void {
  raiseNofile(1 << 20);
  const sleeps0 = herd ? sleepsSoFar() : 0;
  const loop = new EventLoop(backend, herd);
  const app = createApp(opts);
  const s: Server = {
    loop,
    app,
    redis: new RedisClient(loop, opts.redisHost, opts.redisPort, opts.redisPool),
    reader: opts.reader,
    sendTimeoutMs: opts.sendTimeoutMs,
    idle: loop.idleList(opts.timeoutMs),
    lingering: loop.idleList(Math.min(LINGER_MS, opts.timeoutMs)),
  };
  new Acceptor(s, listenFd);
  loop.run();
  closeApp(app);
  if (herd) herd[SLEEPS] += sleepsSoFar() - sleeps0;
}
