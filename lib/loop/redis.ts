// Non-blocking Redis for the event loop: connect() -> EINPROGRESS -> writable -> SO_ERROR,
// then the plan's commands one round trip at a time, replies read on readiness and parsed
// with the shared RespDecoder. One connection per request (the article), or a pool of N
// kept open and reused (--redis-pool N), with a queue of jobs waiting for a free one.
import { C, native } from '../sys';
import { EventLoop, Handler, READABLE, WRITABLE } from './loop';
import { PooledConnection, RedisJob, RedisPool, RoundTrips } from '../redis/pool';

export type { RedisJob };

const chunk = Buffer.allocUnsafe(64 * 1024);

class RedisConnection implements Handler, PooledConnection {
  state: 'connecting' | 'idle' | 'sending' | 'receiving' | 'closed' = 'connecting';
  job: RedisJob | null = null;
  private trips = new RoundTrips();
  private out: Buffer | null = null;
  private outOff = 0;

  constructor(
    private client: RedisClient,
    readonly fd: number,
  ) {}

  /** Give this connection a job; runs as soon as it is connected. */
  start(job: RedisJob): void {
    this.job = job;
    job.conn = this;
    this.trips.begin();
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
    this.out = this.trips.nextCommand(this.job!);
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
      const r = this.trips.received(this.job!, chunk.subarray(0, n));
      if (r === 'next') return this.sendNext();
      if (r === 'done') return this.finish();
      if (r !== 'more') return this.fail(r.error);
    }
  }

  private finish(): void {
    this.state = 'idle';
    this.client.finished(this, this.trips.replies);
  }

  fail(why: string): void {
    this.client.failed(this, why);
  }

  idle(): void {
    this.client.loop.want(this.fd, READABLE);
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

export class RedisClient extends RedisPool<RedisConnection> {
  constructor(
    readonly loop: EventLoop,
    host: string,
    port: number,
    poolSize: number,
  ) {
    super(host, port, poolSize);
  }

  protected open(): RedisConnection | null {
    const fd = this.socket(C.SOCK_NONBLOCK);
    if (fd === null) return null;
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
}
