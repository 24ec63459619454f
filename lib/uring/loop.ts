// The completion loop of the io_uring server: every in-flight operation carries its owner's slot
// and a tag in its user data, so one reaped CQE goes straight to the connection that asked. Each
// owner counts its operations in flight and closes its fd only once none is left (cancelling
// them first): the kernel never writes into memory we have dropped, and no fd is reused under
// an operation. Deadlines are the event loop's IdleLists; the wait is one io_uring_enter().
import { C, errname, native } from '../sys';
import { Deadlines, IdleList } from '../loop/loop';
import { BufferRing, Ring, SqeFields } from './ring';

/** What an operation was for, in the low bits of its user data. */
export enum Tag {
  ACCEPT = 1,
  RECV,
  PEEK,
  SEND,
  READ,
  SHUTDOWN,
  DRAIN,
  CANCEL,
  CLOSE,
  FILE_CLOSE,
  CONNECT,
  REDIS_SEND,
  REDIS_RECV,
}
const TAGS = 16;
const OP_OF_TAG: number[] = [];
OP_OF_TAG[Tag.ACCEPT] = C.IORING_OP_ACCEPT;
OP_OF_TAG[Tag.RECV] = OP_OF_TAG[Tag.PEEK] = OP_OF_TAG[Tag.DRAIN] = OP_OF_TAG[Tag.REDIS_RECV] = C.IORING_OP_RECV;
OP_OF_TAG[Tag.SEND] = OP_OF_TAG[Tag.REDIS_SEND] = C.IORING_OP_SEND;
OP_OF_TAG[Tag.READ] = C.IORING_OP_READ;
OP_OF_TAG[Tag.SHUTDOWN] = C.IORING_OP_SHUTDOWN;
OP_OF_TAG[Tag.CANCEL] = C.IORING_OP_ASYNC_CANCEL;
OP_OF_TAG[Tag.CLOSE] = OP_OF_TAG[Tag.FILE_CLOSE] = C.IORING_OP_CLOSE;
OP_OF_TAG[Tag.CONNECT] = C.IORING_OP_CONNECT;

/** Something with operations in flight: a client connection, a Redis connection, the server. */
export abstract class Owner {
  slot = 0;
  pending = 0;
  /** open -> cancelling (ops in flight being cancelled) -> closing (CLOSE submitted) -> closed */
  life: 'open' | 'cancelling' | 'closing' | 'closed' = 'open';

  constructor(
    readonly loop: UringLoop,
    readonly fd: number,
  ) {
    loop.attach(this);
  }

  /** Queue an operation on this owner's fd (or `fd`). Nothing is queued once closing. */
  op(tag: Tag, o: SqeFields = {}, fd = this.fd): void {
    if (this.life !== 'open') return;
    this.loop.prep(this, tag, fd, o);
  }

  /** A completion of one of ours. `data`: the received bytes when the kernel picked a buffer. */
  abstract completed(tag: Tag, res: number, data: Uint8Array | null, flags: number): void;

  /** Everything in flight is done and the fd is about to be closed: release what the ops used. */
  protected released(): void {}

  /** Cancel what is in flight, then close the fd (IORING_OP_CLOSE) once nothing is. */
  closeFd(): void {
    if (this.life !== 'open') return;
    this.life = 'cancelling';
    if (this.pending > 0)
      this.loop.prep(this, Tag.CANCEL, this.fd, { opFlags: C.IORING_ASYNC_CANCEL_FD | C.IORING_ASYNC_CANCEL_ALL });
    this.settle();
  }

  settle(): void {
    if (this.life !== 'cancelling' || this.pending > 0) return;
    this.life = 'closing';
    this.released();
    this.loop.prep(this, Tag.CLOSE, this.fd, {});
  }
}

export class UringLoop {
  now = Date.now();
  private owners: (Owner | undefined)[] = [undefined];
  private free: number[] = [];
  private deadlines = new Deadlines();
  /** Receives that found no free buffer (ENOBUFS): retried after this batch recycled some. */
  retry: (() => void)[] = [];
  stopping = false;
  /** Owns the server-wide operations (multishot ACCEPT, closing the files served). */
  server: Owner | null = null;
  readonly closes = { http: 0 };

  constructor(
    readonly ring: Ring,
    readonly bufs: BufferRing,
  ) {}

  attach(o: Owner): void {
    const slot = this.free.pop() ?? this.owners.length;
    this.owners[slot] = o;
    o.slot = slot;
  }

  prep(o: Owner, tag: Tag, fd: number, f: SqeFields): void {
    if (this.stopping && tag !== Tag.CLOSE && tag !== Tag.FILE_CLOSE) return;
    o.pending++;
    this.ring.prep(OP_OF_TAG[tag], fd, o.slot * TAGS + tag, f);
  }

  /** Close a served file through the ring (nothing else uses it any more). */
  closeFile(fd: number): void {
    this.prep(this.server!, Tag.FILE_CLOSE, fd, {});
  }

  idleList(ms: number): IdleList {
    return this.deadlines.idleList(ms);
  }

  setTimer(ms: number, fn: () => void): void {
    this.deadlines.setTimer(this.now + ms, fn);
  }

  private dispatch = (ud: number, res: number, flags: number): void => {
    const tag = (ud % TAGS) as Tag,
      slot = (ud - tag) / TAGS;
    this.ring.completed(OP_OF_TAG[tag], res);
    const o = this.owners[slot];
    let data: Uint8Array | null = null,
      bid = -1;
    if (flags & C.IORING_CQE_F_BUFFER) {
      bid = flags >>> C.IORING_CQE_BUFFER_SHIFT;
      data = this.bufs.view(bid, Math.max(res, 0));
    }
    if (o) {
      if (!(flags & C.IORING_CQE_F_MORE)) o.pending--;
      if (tag === Tag.CLOSE) {
        o.life = 'closed';
        this.owners[slot] = undefined;
        this.free.push(slot);
      }
      o.completed(tag, res, data, flags);
      o.settle();
    }
    if (bid >= 0) this.bufs.recycle(bid);
  };

  /** Submit, wait, dispatch completions and deadlines until a stop is requested. */
  run(): void {
    const ring = this.ring;
    while (!native.stopRequested()) {
      const r = ring.submit(1, this.deadlines.waitTime(this.now));
      this.now = Date.now();
      if (r < 0 && -r !== C.ETIME && -r !== C.EINTR && -r !== C.EBUSY && -r !== C.EAGAIN)
        throw new Error(`io_uring_enter: ${errname(r)}`);
      ring.reap(this.dispatch);
      if (this.retry.length) {
        const again = this.retry;
        this.retry = [];
        for (const fn of again) fn();
      }
      this.deadlines.fire(this.now);
    }
    // Stopping: submit what is queued (the closes) and reap what has completed, starting nothing new.
    this.stopping = true;
    ring.submit(1, 0);
    ring.reap(this.dispatch);
  }

  /** The owners still holding an fd (to close synchronously at the end, after the ring is gone). */
  remaining(): Owner[] {
    return this.owners.filter((o): o is Owner => !!o && o.life !== 'closed');
  }
}
