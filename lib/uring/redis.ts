// Redis over the ring for the io_uring server: CONNECT, then each command as a SEND and its
// reply as RECVs decoded by the shared RespDecoder, one round trip at a time. One connection per
// request (the article) or --redis-pool N kept open and reused, jobs queued for a free one. An
// idle pooled connection keeps one RECV in flight, so Redis closing it is noticed.
import { C, native } from '../sys';
import { encodeCommand, RespDecoder, RespValue } from '../redis/resp';
import { notice } from '../log';
import { Owner, Tag, UringLoop } from './loop';

export interface RedisJob {
  commands: string[][];
  done: (replies: RespValue[] | null) => void;
  conn: RedisConnection | null;
  queued: boolean;
}

const SEND_FLAGS = C.MSG_NOSIGNAL | C.MSG_WAITALL;

class RedisConnection extends Owner {
  state: 'connecting' | 'idle' | 'busy' | 'closed' = 'connecting';
  job: RedisJob | null = null;
  private decoder = new RespDecoder();
  private addr = new Uint8Array(128);
  private inBuf = Buffer.allocUnsafeSlow(64 * 1024);
  private out: Buffer | null = null;
  private step = 0;
  private replies: RespValue[] = [];
  private receiving = false;

  constructor(
    private client: UringRedis,
    fd: number,
  ) {
    super(client.loop, fd);
    const len = native.sockaddr(client.host, client.port, this.addr);
    this.op(Tag.CONNECT, { addr: native.address(this.addr), off: len });
  }

  start(job: RedisJob): void {
    this.job = job;
    job.conn = this;
    this.step = 0;
    this.replies = [];
    if (this.state === 'idle') this.sendNext();
  }

  completed(tag: Tag, res: number): void {
    if (this.state === 'closed') return;
    if (tag === Tag.CONNECT) {
      if (res < 0) return this.fail(`connect: ${native.errname(res)}`);
      this.state = 'idle';
      if (this.job) this.sendNext();
      else this.listen();
    } else if (tag === Tag.REDIS_SEND) {
      if (res < 0) return this.fail(native.errname(res));
      this.out = null;
      this.listen();
    } else if (tag === Tag.REDIS_RECV) {
      this.receiving = false;
      this.received(res);
    }
  }

  private sendNext(): void {
    this.state = 'busy';
    this.out = encodeCommand(this.job!.commands[this.step]);
    this.op(Tag.REDIS_SEND, { addr: native.address(this.out), len: this.out.length, opFlags: SEND_FLAGS });
  }

  /** Keep one RECV in flight: a reply, or (idle in the pool) Redis closing the connection. */
  private listen(): void {
    if (this.receiving) return;
    this.receiving = true;
    this.op(Tag.REDIS_RECV, { addr: native.address(this.inBuf), len: this.inBuf.length });
  }

  private received(n: number): void {
    if (n === 0) return this.fail('connection closed by Redis');
    if (n < 0) return this.fail(native.errname(n));
    if (!this.job) return this.fail('unexpected data from Redis');
    this.decoder.push(Buffer.from(this.inBuf.subarray(0, n)));
    let r: { value: RespValue } | undefined;
    try {
      r = this.decoder.next();
    } catch (e) {
      return this.fail((e as Error).message);
    }
    if (!r) return this.listen();
    this.replies.push(r.value);
    if (++this.step < this.job.commands.length) return this.sendNext();
    const job = this.job,
      replies = this.replies;
    this.job = null;
    job.conn = null;
    this.state = 'idle';
    this.client.released(this);
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
    this.closeFd();
  }

  /** Idle in the pool: wait for Redis closing it. */
  idle(): void {
    this.listen();
  }

  protected released(): void {
    this.out = null;
  }

  shutdown(): void {
    native.close(this.fd);
    this.life = 'closed';
  }
}

export class UringRedis {
  private pool: RedisConnection[] = [];
  private idle: RedisConnection[] = [];
  private queue: RedisJob[] = [];
  private warned = false;

  constructor(
    readonly loop: UringLoop,
    readonly host: string,
    readonly port: number,
    private poolSize: number,
  ) {}

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

  cancel(job: RedisJob): void {
    if (job.queued) {
      job.queued = false;
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
    const fd = native.socket(family, C.SOCK_STREAM | C.SOCK_CLOEXEC);
    if (fd < 0) {
      this.warn(`socket: ${native.errname(fd)}`);
      return null;
    }
    return new RedisConnection(this, fd);
  }

  released(c: RedisConnection): void {
    this.warned = false;
    if (this.poolSize === 0) return c.close();
    const next = this.dequeue();
    if (next) return c.start(next);
    c.idle();
    this.idle.push(c);
  }

  failed(c: RedisConnection, why: string): void {
    this.forget(c);
    this.warn(why);
    if (this.poolSize > 0) {
      const next = this.dequeue();
      if (next) {
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
    while (this.queue.length) {
      const j = this.queue.shift()!;
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
