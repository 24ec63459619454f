// The Redis pool both event-driven servers share (lib/loop over readiness, lib/uring over the
// ring): one connection per request (the article), or --redis-pool N kept open and reused, jobs
// queued for a free one, and one warning while Redis is unreachable. The transport (how a
// connection connects, sends and receives) is the subclass's open() and its connections.
import { C, native } from '../sys';
import { notice } from '../log';
import { encodeCommand, RespDecoder, RespValue } from './resp';

export interface RedisJob {
  commands: string[][];
  /** replies, or null when Redis is unreachable, failed or the job was cancelled. */
  done: (replies: RespValue[] | null) => void;
  conn: PooledConnection | null;
  queued: boolean;
}

/** What the pool asks of a connection; it calls finished() or failed() back. */
export interface PooledConnection {
  job: RedisJob | null;
  /** Take this job; it runs as soon as the connection is connected. */
  start(job: RedisJob): void;
  /** Close the fd (once); the connection is then dead. */
  close(): void;
  /** Idle in the pool: notice Redis closing the connection. */
  idle(): void;
}

/** A connection's side of its job, one round trip at a time: the next command, the replies so far. */
export class RoundTrips {
  private decoder = new RespDecoder();
  private step = 0;
  replies: RespValue[] = [];

  begin(): void {
    this.step = 0;
    this.replies = [];
  }

  nextCommand(job: RedisJob): Buffer {
    return encodeCommand(job.commands[this.step]);
  }

  /** Bytes arrived: 'more' (the reply is incomplete), 'next' command to send, 'done', or what is wrong. */
  received(job: RedisJob, bytes: Uint8Array): 'more' | 'next' | 'done' | { error: string } {
    this.decoder.push(bytes);
    let r: { value: RespValue } | undefined;
    try {
      r = this.decoder.next();
    } catch (e) {
      return { error: (e as Error).message };
    }
    if (!r) return 'more';
    this.replies.push(r.value);
    return ++this.step < job.commands.length ? 'next' : 'done';
  }
}

export abstract class RedisPool<Conn extends PooledConnection> {
  private pool: Conn[] = []; // open pooled connections
  private idlers: Conn[] = []; // of which free
  private queue: RedisJob[] = [];
  private queueHead = 0;
  private warned = false;

  constructor(
    readonly host: string,
    readonly port: number,
    private poolSize: number,
  ) {}

  /** A new connection under way to host:port, or null (warned) when it cannot be made. */
  protected abstract open(): Conn | null;

  /** A TCP socket for host's family (with `flags` besides SOCK_CLOEXEC), or null, warned. */
  protected socket(flags = 0): number | null {
    const family = this.host.includes(':') ? C.AF_INET6 : C.AF_INET;
    const fd = native.socket(family, C.SOCK_STREAM | C.SOCK_CLOEXEC | flags);
    if (fd >= 0) return fd;
    this.warn(`socket: ${native.errname(fd)}`);
    return null;
  }

  /** Run the commands one round trip at a time; done() is called exactly once (never synchronously twice). */
  run(commands: string[][], done: (replies: RespValue[] | null) => void): RedisJob {
    const job: RedisJob = { commands, done, conn: null, queued: false };
    if (this.poolSize === 0) {
      const c = this.open();
      if (c) c.start(job);
      else done(null);
      return job;
    }
    const free = this.idlers.pop();
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

  /** c (back to idle) answered its job: next queued job or the pool (or closed), then done(). */
  finished(c: Conn, replies: RespValue[]): void {
    const job = c.job!;
    c.job = null;
    job.conn = null;
    this.warned = false;
    if (this.poolSize === 0) c.close();
    else {
      const next = this.dequeue();
      if (next)
        c.start(next); // may start the next queued job on this connection
      else {
        c.idle();
        this.idlers.push(c);
      }
    }
    job.done(replies);
  }

  /** c failed (why): close it, warn once, give a waiting job a fresh connection, then done(null). */
  failed(c: Conn, why: string): void {
    const job = c.job;
    c.close();
    this.forget(c);
    this.warn(why);
    if (this.poolSize > 0) {
      // Waiting jobs get a fresh connection (each fails fast while Redis is down).
      const next = this.dequeue();
      if (next) {
        const n = this.open();
        if (n) {
          this.pool.push(n);
          n.start(next);
        } else next.done(null);
      }
    }
    if (job) {
      job.conn = null;
      job.done(null);
    }
  }

  private forget(c: PooledConnection): void {
    let i = this.pool.indexOf(c as Conn);
    if (i >= 0) this.pool.splice(i, 1);
    i = this.idlers.indexOf(c as Conn);
    if (i >= 0) this.idlers.splice(i, 1);
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

  protected warn(why: string): void {
    if (this.warned) return;
    this.warned = true;
    notice(`zerohttpd: redis ${this.host}:${this.port}: ${why}; /guestbook answers 503 until it is back`);
  }
}
