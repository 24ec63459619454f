// Non-blocking Redis for the event loop: connect() -> EINPROGRESS -> writable -> SO_ERROR,
// then the plan's commands one round trip at a time, replies read on readiness and parsed
// with the shared RespDecoder. One connection per request (the article), or a pool of N
// kept open and reused (--redis-pool N), with a queue of jobs waiting for a free one.
import { C, native } from '../sys';
import { encodeCommand, RespDecoder, RespValue } from '../redis/resp';
import { EventLoop, Handler, READABLE, WRITABLE } from './loop';
import { notice } from '../log';

export interface RedisJob {
  commands: string[][];
  /** replies, or null when Redis is unreachable, failed or the job was cancelled. */
  done: (replies: RespValue[] | null) => void;
  conn: RedisConnection | null;
  queued: boolean;
}

const chunk = Buffer.allocUnsafe(64 * 1024);

class RedisConnection implements Handler {
  state: 'connecting' | 'idle' | 'sending' | 'receiving' | 'closed' = 'connecting';
  job: RedisJob | null = null;
  private decoder = new RespDecoder();
  private out: Buffer | null = null;
  private outOff = 0;
  private step = 0;
  private replies: RespValue[] = [];

  constructor(
    private client: RedisClient,
    readonly fd: number,
  ) {}

  /** Give this connection a job; runs as soon as it is connected. */
  start(job: RedisJob): void {
    this.job = job;
    job.conn = this;
    this.step = 0;
    this.replies = [];
    if (this.state === 'idle') this.sendNext();
  }

  ready(mask: number): void {
    if (this.state === 'connecting') {
      const err = native.getsockopt(this.fd, C.SOL_SOCKET, C.SO_ERROR);
      if (err !== 0) return this.fail(err < 0 ? native.errname(err) : native.errname(-err));
      this.state = 'idle';
      if (this.job) this.sendNext();
      else this.client.loop.want(this.fd, READABLE); // idle in the pool: notice Redis closing it
      return;
    }
    if (this.state === 'sending' && mask & WRITABLE) this.flush();
    else if (mask & READABLE) this.receive();
  }

  private sendNext(): void {
    this.out = encodeCommand(this.job!.commands[this.step]);
    this.outOff = 0;
    this.state = 'sending';
    this.flush();
  }

  private flush(): void {
    const out = this.out!;
    while (this.outOff < out.length) {
      const n = native.send(this.fd, out, this.outOff, out.length - this.outOff, C.MSG_NOSIGNAL);
      if (n < 0) {
        if (-n === C.EAGAIN) return this.client.loop.want(this.fd, WRITABLE);
        return this.fail(native.errname(n));
      }
      this.outOff += n;
    }
    this.out = null;
    this.state = 'receiving';
    this.receive();
  }

  /** Read until EAGAIN (edge-triggered discipline), decoding replies as they complete. */
  private receive(): void {
    for (;;) {
      const n = native.recv(this.fd, chunk, 0, chunk.length);
      if (n === 0) return this.fail('connection closed by Redis');
      if (n < 0) {
        if (-n === C.EAGAIN) return this.client.loop.want(this.fd, READABLE);
        return this.fail(native.errname(n));
      }
      if (this.state !== 'receiving') return this.fail('unexpected data from Redis');
      this.decoder.push(chunk.subarray(0, n));
      let r: { value: RespValue } | undefined;
      try {
        r = this.decoder.next();
      } catch (e) {
        return this.fail((e as Error).message);
      }
      if (r) {
        this.replies.push(r.value);
        if (++this.step < this.job!.commands.length) return this.sendNext();
        return this.finish();
      }
    }
  }

  private finish(): void {
    const job = this.job!,
      replies = this.replies;
    this.job = null;
    job.conn = null;
    this.state = 'idle';
    this.client.released(this); // may start the next queued job on this connection
    job.done(replies);
  }

  fail(why: string): void {
    const job = this.job;
    this.close();
    this.client.failed(this, why);
    if (job) {
      job.conn = null;
      job.done(null);
    }
  }

  close(): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.job = null;
    this.client.loop.close(this.fd);
  }

  shutdown(): void {
    this.close();
  }
}

export class RedisClient {
  private pool: RedisConnection[] = []; // open pooled connections
  private idle: RedisConnection[] = []; // of which free
  private queue: RedisJob[] = [];
  private queueHead = 0;
  private warned = false;

  constructor(
    readonly loop: EventLoop,
    private host: string,
    private port: number,
    private poolSize: number,
  ) {}

  /** Run the commands one round trip at a time; done() is called exactly once (never synchronously twice). */
  run(commands: string[][], done: (replies: RespValue[] | null) => void): RedisJob {
    const job: RedisJob = { commands, done, conn: null, queued: false };
    if (this.poolSize === 0) {
      const c = this.open();
      if (c) c.start(job);
      else done(null);
      return job;
    }
    const free = this.idle.pop();
    if (free) {
      free.start(job);
      return job;
    }
    if (this.pool.length < this.poolSize) {
      const c = this.open();
      if (!c) {
        done(null);
        return job;
      }
      this.pool.push(c);
      c.start(job);
      return job;
    }
    job.queued = true;
    this.queue.push(job);
    return job;
  }

  /** The HTTP side gave up on the job (its deadline): drop it, and its connection if mid-flight. */
  cancel(job: RedisJob): void {
    if (job.queued) {
      job.queued = false; // skipped when dequeued
      return;
    }
    const c = job.conn;
    if (!c) return;
    job.conn = null;
    c.job = null;
    c.close();
    this.forget(c);
  }

  private open(): RedisConnection | null {
    const family = this.host.includes(':') ? C.AF_INET6 : C.AF_INET;
    const fd = native.socket(family, C.SOCK_STREAM | C.SOCK_NONBLOCK | C.SOCK_CLOEXEC);
    if (fd < 0) {
      this.warn(`socket: ${native.errname(fd)}`);
      return null;
    }
    const c = new RedisConnection(this, fd);
    this.loop.attach(fd, c);
    const r = native.connect(fd, this.host, this.port);
    if (r === 0) c.state = 'idle';
    else if (-r === C.EINPROGRESS) this.loop.want(fd, WRITABLE);
    else {
      this.loop.close(fd);
      this.warn(`connect: ${native.errname(r)}`);
      return null;
    }
    return c;
  }

  /** A pooled connection finished its job: next queued job, or back to idle. */
  released(c: RedisConnection): void {
    this.warned = false;
    if (this.poolSize === 0) {
      c.close();
      return;
    }
    const next = this.dequeue();
    if (next) {
      c.start(next);
      return;
    }
    this.loop.want(c.fd, READABLE);
    this.idle.push(c);
  }

  failed(c: RedisConnection, why: string): void {
    this.forget(c);
    this.warn(why);
    if (this.poolSize > 0) {
      // Waiting jobs get a fresh connection (each fails fast while Redis is down).
      const next = this.dequeue();
      if (next) {
        next.queued = false;
        const n = this.open();
        if (n) {
          this.pool.push(n);
          n.start(next);
        } else next.done(null);
      }
    }
  }

  private forget(c: RedisConnection): void {
    let i = this.pool.indexOf(c);
    if (i >= 0) this.pool.splice(i, 1);
    i = this.idle.indexOf(c);
    if (i >= 0) this.idle.splice(i, 1);
  }

  private dequeue(): RedisJob | undefined {
    while (this.queueHead < this.queue.length) {
      const j = this.queue[this.queueHead++];
      if (this.queueHead > 1024 && this.queueHead * 2 > this.queue.length) {
        this.queue = this.queue.slice(this.queueHead);
        this.queueHead = 0;
      }
      if (j.queued) {
        j.queued = false;
        return j;
      }
    }
    return undefined;
  }

  private warn(why: string): void {
    if (this.warned) return;
    this.warned = true;
    notice(`zerohttpd: redis ${this.host}:${this.port}: ${why}; /guestbook answers 503 until it is back`);
  }
}
