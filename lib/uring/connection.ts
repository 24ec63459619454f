// One client connection of the io_uring server: the event loop's HttpConnection states
// (reading, redis, writing, lingering) driven by completions instead of readiness. The request
// is read with RECVs whose buffer the kernel picks from the provided-buffer ring (or, with
// --reader byte, one-byte RECVs and the article's MSG_PEEK after '\r') into the shared
// RequestParser; route() decides; headers go out with SEND; a file's bytes go file -> READ into a
// buffer JS never touches -> SEND, linked; then SHUTDOWN and a bounded drain before CLOSE.
import { C, native } from '../sys';
import { HttpError, RequestParser } from '../http/request';
import { App, errorPlan, httpErrorPlan, Plan, route } from '../app';
import { RespValue } from '../redis/resp';
import { logRequest } from '../log';
import { Reader } from '../options';
import { IdleList, IdleNode } from '../loop/loop';
import { LINGER_MAX_BYTES } from '../request-reader';
import { Owner, Tag, UringLoop } from './loop';
import { RedisJob, UringRedis } from './redis';

export interface HttpSide {
  loop: UringLoop;
  app: App;
  redis: UringRedis;
  reader: Reader;
  sendTimeoutMs: number;
  idle: IdleList;
  lingering: IdleList;
  /** Buffers for a file's bytes (head + file chunk), reused. */
  chunks: Buffer[];
}

export const CHUNK = 64 * 1024;
const CR = 13,
  LF = 10;
const SEND_FLAGS = C.MSG_NOSIGNAL | C.MSG_WAITALL; // WAITALL: the ring retries a partial send itself

type State = 'reading' | 'redis' | 'writing' | 'lingering' | 'closed';

export class UringConnection extends Owner implements IdleNode {
  idlePrev: IdleNode | null = null;
  idleNext: IdleNode | null = null;
  idleList: IdleList | null = null;
  lastActive = 0;

  private state: State = 'reading';
  private parser = new RequestParser();
  private plan: Plan | null = null;
  private job: RedisJob | null = null;
  private out: Buffer | null = null; // being sent (kept referenced: the kernel reads it)
  private outOff = 0;
  private chunk: Buffer | null = null;
  private fileFd = -1;
  private fileOff = 0;
  private fileSize = 0;
  private outLen = 0;
  private status = 0;
  private sent = 0;
  private sendBy = 0;
  private drained = 0;
  private peekByte = new Uint8Array(1);

  constructor(
    private s: HttpSide,
    fd: number,
  ) {
    super(s.loop, fd);
    s.idle.touch(this, s.loop.now);
    this.read();
  }

  // ---- reading ----

  private read(): void {
    const p = this.parser,
      bufs = this.loop.bufs;
    let len = 0; // the whole provided buffer
    if (this.s.reader === 'byte') len = p.state === 'body' ? Math.min(p.bodyRemaining, bufs.size) : 1;
    this.op(Tag.RECV, { len, flags: C.IOSQE_BUFFER_SELECT, bufGroup: bufs.group });
  }

  completed(tag: Tag, res: number, data: Uint8Array | null): void {
    switch (tag) {
      case Tag.RECV:
        return this.received(res, data);
      case Tag.PEEK:
        return this.peeked(res);
      case Tag.SEND:
      case Tag.READ:
        return this.wrote(tag, res);
      case Tag.DRAIN:
        return this.drainedSome(res);
    }
  }

  private received(res: number, data: Uint8Array | null): void {
    if (this.state !== 'reading' || this.life !== 'open') return; // e.g. cancelled by a 408
    if (-res === C.ENOBUFS) {
      this.loop.retry.push(() => this.read());
      return;
    }
    if (res <= 0 || !data) return this.close(); // EOF, ECONNRESET, ...
    const p = this.parser;
    p.push(data, 0, res);
    if (p.wantsMore && this.s.reader === 'byte' && p.state !== 'body' && data[res - 1] === CR) {
      // The article's get_line(): look at the next byte without taking it.
      this.op(Tag.PEEK, { addr: native.address(this.peekByte), len: 1, opFlags: C.MSG_PEEK });
      return;
    }
    this.parsedSome();
  }

  private peeked(res: number): void {
    if (this.state !== 'reading' || this.life !== 'open') return;
    if (res <= 0) return this.close();
    if (this.peekByte[0] === LF) {
      this.op(Tag.RECV, { len: 1, flags: C.IOSQE_BUFFER_SELECT, bufGroup: this.loop.bufs.group });
      return;
    }
    this.parsedSome();
  }

  private parsedSome(): void {
    const p = this.parser;
    if (p.wantsMore) return this.read();
    if (p.state === 'done') this.carryOut(route(this.s.app, p.request!));
    else this.carryOut(httpErrorPlan(p.error as HttpError));
  }

  // ---- answering ----

  private carryOut(plan: Plan): void {
    this.plan = plan;
    this.s.idle.touch(this, this.loop.now);
    if (plan.kind === 'redis') {
      this.state = 'redis';
      this.job = this.s.redis.run(plan.commands, (replies) => this.redisDone(plan, replies));
      return;
    }
    this.status = plan.status;
    this.state = 'writing';
    this.sendBy = this.loop.now + this.s.sendTimeoutMs;
    if (plan.kind === 'bytes') return this.send(plan.data, 0);
    this.fileFd = plan.fd;
    this.fileSize = plan.sendBody ? plan.size : 0;
    this.fileOff = 0;
    if (this.fileSize === 0) return this.send(plan.head, 0);
    // Head and the first chunk of the file in one buffer: READ the file behind the head, then
    // SEND both, linked (a short read breaks the link: the SEND is cancelled).
    this.chunk = this.s.chunks.pop() ?? Buffer.allocUnsafeSlow(CHUNK);
    const head = plan.head.length <= CHUNK / 2 ? plan.head.copy(this.chunk, 0) : 0;
    if (head === 0) return this.send(plan.head, 0); // an odd, huge head: on its own first
    this.nextChunk(head);
  }

  private nextChunk(head: number): void {
    const n = Math.min(CHUNK - head, this.fileSize - this.fileOff);
    const addr = native.address(this.chunk!);
    this.out = this.chunk;
    this.outOff = 0;
    this.outLen = head + n;
    this.op(Tag.READ, { addr: addr + head, len: n, off: this.fileOff, flags: C.IOSQE_IO_LINK }, this.fileFd);
    this.op(Tag.SEND, { addr, len: head + n, opFlags: SEND_FLAGS });
  }

  private send(buf: Buffer, off: number): void {
    this.out = buf;
    this.outOff = off;
    this.outLen = buf.length;
    this.op(Tag.SEND, { addr: native.address(buf) + off, len: buf.length - off, opFlags: SEND_FLAGS });
  }

  private redisDone(plan: Plan & { kind: 'redis' }, replies: RespValue[] | null): void {
    this.job = null;
    if (this.state !== 'redis') return;
    this.carryOut(replies ? plan.respond(replies) : plan.unavailable());
  }

  private wrote(tag: Tag, res: number): void {
    if (this.state !== 'writing' || this.life !== 'open') return;
    if (tag === Tag.READ) {
      if (res <= 0) return this.abort(); // the file shrank or failed: the linked SEND is cancelled
      this.fileOff += res;
      return;
    }
    if (res <= 0) return this.abort(); // EPIPE, ECONNRESET, ECANCELED (short read): the client is gone
    this.sent += res;
    this.outOff += res;
    if (this.outOff < this.outLen) {
      // Partial (a signal, or a socket error after some bytes): the rest of this buffer.
      if (!this.progress()) return;
      const out = this.out!;
      this.op(Tag.SEND, {
        addr: native.address(out) + this.outOff,
        len: this.outLen - this.outOff,
        opFlags: SEND_FLAGS,
      });
      return;
    }
    if (this.fileOff < this.fileSize) {
      if (!this.progress()) return;
      if (!this.chunk) this.chunk = this.s.chunks.pop() ?? Buffer.allocUnsafeSlow(CHUNK);
      return this.nextChunk(0);
    }
    this.done();
  }

  /** A write made progress: restart the stall timeout, unless past --send-timeout (then abort). */
  private progress(): boolean {
    if (this.loop.now >= this.sendBy) {
      this.abort();
      return false;
    }
    this.s.idle.touch(this, this.loop.now);
    return true;
  }

  private log(): void {
    const req = this.parser.request;
    logRequest(this.status, req?.method ?? '-', req?.target ?? '-', this.sent);
  }

  private abort(): void {
    this.log();
    this.close();
  }

  private done(): void {
    this.log();
    this.releaseFile();
    this.linger();
  }

  // ---- closing ----

  /** The lingering close: SHUTDOWN(SHUT_WR), then drain (bounded) until the client's EOF. */
  private linger(): void {
    this.state = 'lingering';
    this.drained = 0;
    this.s.lingering.touch(this, this.loop.now);
    // shutdown() directly: IORING_OP_SHUTDOWN never completes inline, it goes to an io-wq worker
    // thread (a wake-up and a context switch per request), which costs more than the syscall.
    native.shutdown(this.fd, C.SHUT_WR);
    this.drain();
  }

  private drain(): void {
    this.op(Tag.DRAIN, { flags: C.IOSQE_BUFFER_SELECT, bufGroup: this.loop.bufs.group });
  }

  private drainedSome(res: number): void {
    if (this.state !== 'lingering' || this.life !== 'open') return;
    if (-res === C.ENOBUFS) {
      this.loop.retry.push(() => this.drain());
      return;
    }
    if (res <= 0) return this.close(); // EOF (or an error): the client has everything
    this.drained += res;
    if (this.drained >= LINGER_MAX_BYTES) return this.close();
    this.drain();
  }

  /** Deadline passed (IdleNode). */
  expired(): void {
    switch (this.state) {
      case 'reading':
        // Cancel the pending receive (its completion is then ignored) and answer 408.
        this.op(Tag.CANCEL, { opFlags: C.IORING_ASYNC_CANCEL_FD | C.IORING_ASYNC_CANCEL_ALL });
        this.parser = new RequestParser();
        return this.carryOut(errorPlan(408));
      case 'redis': {
        const plan = this.plan as Plan & { kind: 'redis' };
        if (this.job) this.s.redis.cancel(this.job);
        this.job = null;
        this.state = 'reading';
        return this.carryOut(plan.unavailable());
      }
      case 'writing':
        return this.abort();
      default:
        return this.close();
    }
  }

  private releaseFile(): void {
    if (this.fileFd >= 0) this.loop.closeFile(this.fileFd);
    this.fileFd = -1;
  }

  close(): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.idleList?.unlink(this);
    if (this.job) this.s.redis.cancel(this.job);
    this.job = null;
    this.loop.closes.http++;
    this.closeFd();
  }

  /** Nothing in flight any more: the file and the buffers can go. */
  protected released(): void {
    this.releaseFile();
    if (this.chunk) this.s.chunks.push(this.chunk);
    this.chunk = null;
    this.out = null;
  }

  /** The server is stopping (the ring is already closed): close synchronously. */
  shutdown(): void {
    if (this.fileFd >= 0) native.close(this.fileFd);
    this.fileFd = -1;
    native.close(this.fd);
    this.life = 'closed';
  }
}
