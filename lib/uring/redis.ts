// Redis over the ring for the io_uring server: CONNECT, then each command as a SEND and its
// reply as RECVs decoded by the shared RespDecoder, one round trip at a time. One connection per
// request (the article) or --redis-pool N kept open and reused, jobs queued for a free one. An
// idle pooled connection keeps one RECV in flight, so Redis closing it is noticed.
import { C, native } from '../sys';
import { PooledConnection, RedisJob, RedisPool, RoundTrips } from '../redis/pool';
import { Owner, Tag, UringLoop } from './loop';

export type { RedisJob };

const SEND_FLAGS = C.MSG_NOSIGNAL | C.MSG_WAITALL;

class RedisConnection extends Owner implements PooledConnection {
  state: 'connecting' | 'idle' | 'busy' | 'closed' = 'connecting';
  job: RedisJob | null = null;
  private trips = new RoundTrips();
  private addr = new Uint8Array(128);
  private inBuf = Buffer.allocUnsafeSlow(64 * 1024);
  private out: Buffer | null = null;
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
    this.trips.begin();
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
    this.out = this.trips.nextCommand(this.job!);
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
    const r = this.trips.received(this.job, Buffer.from(this.inBuf.subarray(0, n)));
    if (r === 'more') return this.listen();
    if (r === 'next') return this.sendNext();
    if (r !== 'done') return this.fail(r.error);
    this.state = 'idle';
    this.client.finished(this, this.trips.replies);
  }

  fail(why: string): void {
    this.client.failed(this, why);
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

export class UringRedis extends RedisPool<RedisConnection> {
  constructor(
    readonly loop: UringLoop,
    host: string,
    port: number,
    poolSize: number,
  ) {
    super(host, port, poolSize);
  }

  protected open(): RedisConnection | null {
    const fd = this.socket();
    return fd === null ? null : new RedisConnection(this, fd);
  }
}
