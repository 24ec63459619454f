// An io_uring driven from TypeScript the way liburing's raw interface drives it from C: the SQ
// ring, CQ ring and SQE array are mmap()ed ArrayBuffers (native/uring.cc), SQEs are filled here,
// the SQ tail is published and the CQ head released with Atomics, and one io_uring_enter()
// submits everything queued and waits for at least one completion. Plus the provided-buffer
// ring the kernel picks receive buffers from, and --trace / --syscall-stats of the operations.
import * as fs from 'node:fs';
import { C, errname, native } from '../sys';

const OPS = [
  'NOP',
  'ACCEPT',
  'ASYNC_CANCEL',
  'CONNECT',
  'CLOSE',
  'READ',
  'SEND',
  'RECV',
  'SHUTDOWN',
  'SPLICE',
  'TIMEOUT',
];
/** Opcode -> name ('ACCEPT'), for the trace and the operations table. */
export const OP_NAME: Record<number, string> = Object.fromEntries(OPS.map((n) => [C[`IORING_OP_${n}`], n]));

const SQE = C.io_uring_sqe_SIZE,
  CQE = C.io_uring_cqe_SIZE;
const TWO32 = 2 ** 32;

/** io_uring cannot be used here; the message says why and what would enable it. */
export class UringUnavailable extends Error {}

function sysctlDisabled(): string | null {
  try {
    const v = fs.readFileSync('/proc/sys/kernel/io_uring_disabled', 'utf8').trim();
    return v === '0' ? null : v;
  } catch {
    return null; // no such sysctl (kernels before 6.6): only setup can tell
  }
}

/** Why io_uring_setup() failed, in words a user can act on. */
export function unavailableReason(err: number): string {
  const code = errname(err);
  const disabled = sysctlDisabled();
  if (disabled !== null)
    return (
      `io_uring is disabled by sysctl kernel.io_uring_disabled=${disabled} (io_uring_setup: ${code}); ` +
      `enable it with 'sysctl kernel.io_uring_disabled=0'` +
      (disabled === '1' ? ' (or run as a member of kernel.io_uring_group)' : '')
    );
  if (code === 'ENOSYS')
    return 'io_uring_setup: ENOSYS: this kernel has no io_uring (needs Linux >= 6.1 built with CONFIG_IO_URING=y)';
  if (code === 'EPERM' || code === 'EACCES')
    return `io_uring_setup: ${code}: io_uring is blocked here (a seccomp profile, e.g. a container runtime's default, or kernel.io_uring_disabled); allow io_uring_setup/io_uring_enter/io_uring_register or run outside the sandbox`;
  return `io_uring_setup: ${code} (${native.strerror(err)})`;
}

let probed: string | null | undefined;
/** Why io_uring cannot be used here (with what would enable it), or null: a ring is set up and closed once. */
export function uringUnavailable(): string | null {
  if (probed !== undefined) return probed;
  try {
    new Ring(2, 4).close();
    probed = null;
  } catch (e) {
    if (!(e instanceof UringUnavailable)) throw e;
    probed = e.message;
  }
  return probed;
}

export interface OpCount {
  submitted: number;
  completed: number;
  errors: Record<string, number>;
}

/** The fields of one SQE besides its opcode, fd and user_data (see Ring.prep()). */
export interface SqeFields {
  addr?: number;
  len?: number;
  off?: number;
  opFlags?: number;
  flags?: number;
  ioprio?: number;
  bufGroup?: number;
}

export class Ring {
  readonly fd: number;
  readonly features: number;
  private maps: ArrayBuffer[] = [];
  private sqU32: Uint32Array;
  private sqes: Uint8Array;
  private sqeU32: Uint32Array;
  private sqeU16: Uint16Array;
  private cqU32: Uint32Array;
  private cqI32: Int32Array;
  private sqHead: number;
  private sqTailIdx: number;
  private sqMask: number;
  private sqEntries: number;
  private cqHeadIdx: number;
  private cqTailIdx: number;
  private cqMask: number;
  private cqesBase: number; // in u32 words
  private tail = 0; // our copy of the SQ tail
  private queued = 0; // SQEs filled since the last submit
  readonly ops = new Map<number, OpCount>();
  counting = false;
  trace = false;
  private readonly pid = process.pid;

  constructor(entries: number, cqEntries: number) {
    const params = new Uint8Array(C.io_uring_params_SIZE);
    const pu32 = new Uint32Array(params.buffer);
    const P = (name: string) => C[`io_uring_params_${name}_OFFSET`] / 4;
    // COOP_TASKRUN: completions are run when we enter the kernel, not by interrupting us (5.19+).
    // (SINGLE_ISSUER | DEFER_TASKRUN measured 6x slower here, waiting ~3 ms per io_uring_enter.)
    const tries = [C.IORING_SETUP_COOP_TASKRUN, 0];
    let fd = -C.EINVAL;
    for (const f of tries) {
      params.fill(0);
      pu32[P('FLAGS')] = f | C.IORING_SETUP_CQSIZE | C.IORING_SETUP_SUBMIT_ALL;
      pu32[P('CQ_ENTRIES')] = cqEntries;
      fd = native.io_uring_setup(entries, params);
      if (fd >= 0 || -fd !== C.EINVAL) break;
    }
    if (fd < 0) throw new UringUnavailable(unavailableReason(fd));
    this.fd = fd;
    this.features = pu32[P('FEATURES')];
    const need = C.IORING_FEAT_SINGLE_MMAP | C.IORING_FEAT_NODROP | C.IORING_FEAT_FAST_POLL | C.IORING_FEAT_EXT_ARG;
    if ((this.features & need) !== need) {
      native.close(fd);
      throw new UringUnavailable(
        `io_uring here lacks features this server uses (SINGLE_MMAP, NODROP, FAST_POLL, EXT_ARG: features=${this.features.toString(16)}); it needs Linux >= 6.1`,
      );
    }
    const sqEntries = pu32[P('SQ_ENTRIES')],
      cqN = pu32[P('CQ_ENTRIES')];
    const sqArray = pu32[P('SQ_ARRAY')];
    const ringSize = Math.max(sqArray + sqEntries * 4, pu32[P('CQ_CQES')] + cqN * CQE);
    const ring = this.map(ringSize, C.IORING_OFF_SQ_RING); // SINGLE_MMAP: SQ and CQ rings in one
    const sqes = this.map(sqEntries * SQE, C.IORING_OFF_SQES);
    this.sqU32 = this.cqU32 = new Uint32Array(ring);
    this.cqI32 = new Int32Array(ring);
    this.sqHead = pu32[P('SQ_HEAD')] / 4;
    this.sqTailIdx = pu32[P('SQ_TAIL')] / 4;
    this.sqMask = this.sqU32[pu32[P('SQ_RING_MASK')] / 4];
    this.sqEntries = sqEntries;
    this.cqHeadIdx = pu32[P('CQ_HEAD')] / 4;
    this.cqTailIdx = pu32[P('CQ_TAIL')] / 4;
    this.cqMask = this.cqU32[pu32[P('CQ_RING_MASK')] / 4];
    this.cqesBase = pu32[P('CQ_CQES')] / 4;
    for (let i = 0; i < sqEntries; i++) this.sqU32[sqArray / 4 + i] = i; // SQE i sits in slot i
    this.tail = Atomics.load(this.sqU32, this.sqTailIdx);
    this.sqes = new Uint8Array(sqes);
    this.sqeU32 = new Uint32Array(sqes);
    this.sqeU16 = new Uint16Array(sqes);
  }

  private map(length: number, offset: number): ArrayBuffer {
    const m = native.mmap(length, this.fd, offset);
    if (typeof m === 'number') {
      this.close();
      throw new Error(`io_uring: mmap of the rings: ${errname(m)}`);
    }
    this.maps.push(m);
    return m;
  }

  private count(op: number): OpCount {
    let c = this.ops.get(op);
    if (!c) this.ops.set(op, (c = { submitted: 0, completed: 0, errors: {} }));
    return c;
  }

  /**
   * Queue one SQE. `addr` is an address (native.address()), `off` a file offset or a second
   * address, `opFlags` the op's flags word (msg_flags, accept_flags, ...).
   */
  prep(op: number, fd: number, ud: number, o: SqeFields = {}): void {
    if (this.tail - Atomics.load(this.sqU32, this.sqHead) >= this.sqEntries) this.submit(0, -1); // full: push them in
    const i = this.tail & this.sqMask;
    const b = i * SQE;
    this.sqes.fill(0, b, b + SQE);
    const w = b / 4;
    this.sqes[b + C.io_uring_sqe_OPCODE_OFFSET] = op;
    this.sqes[b + C.io_uring_sqe_FLAGS_OFFSET] = o.flags ?? 0;
    this.sqeU16[(b + C.io_uring_sqe_IOPRIO_OFFSET) / 2] = o.ioprio ?? 0;
    this.sqeU32[w + C.io_uring_sqe_FD_OFFSET / 4] = fd;
    const off = o.off ?? 0,
      addr = o.addr ?? 0;
    this.sqeU32[w + C.io_uring_sqe_OFF_OFFSET / 4] = off % TWO32;
    this.sqeU32[w + C.io_uring_sqe_OFF_OFFSET / 4 + 1] = Math.floor(off / TWO32);
    this.sqeU32[w + C.io_uring_sqe_ADDR_OFFSET / 4] = addr % TWO32;
    this.sqeU32[w + C.io_uring_sqe_ADDR_OFFSET / 4 + 1] = Math.floor(addr / TWO32);
    this.sqeU32[w + C.io_uring_sqe_LEN_OFFSET / 4] = o.len ?? 0;
    this.sqeU32[w + C.io_uring_sqe_OP_FLAGS_OFFSET / 4] = o.opFlags ?? 0;
    this.sqeU32[w + C.io_uring_sqe_USER_DATA_OFFSET / 4] = ud % TWO32;
    this.sqeU32[w + C.io_uring_sqe_USER_DATA_OFFSET / 4 + 1] = Math.floor(ud / TWO32);
    this.sqeU16[(b + C.io_uring_sqe_BUF_GROUP_OFFSET) / 2] = o.bufGroup ?? 0;
    this.tail++;
    this.queued++;
    if (this.counting) this.count(op).submitted++;
    if (this.trace) this.traceSqe(op, fd, ud, o);
  }

  private traceSqe(
    op: number,
    fd: number,
    ud: number,
    o: { len?: number; opFlags?: number; flags?: number; ioprio?: number; off?: number },
  ): void {
    const parts = [`sqe ${OP_NAME[op] ?? op}`, `fd=${fd}`];
    if (op === C.IORING_OP_ACCEPT && (o.ioprio ?? 0) & C.IORING_ACCEPT_MULTISHOT) parts.push('multishot');
    if (o.len) parts.push(`len=${o.len}`);
    if (op === C.IORING_OP_READ) parts.push(`off=${o.off ?? 0}`);
    if ((o.flags ?? 0) & C.IOSQE_BUFFER_SELECT) parts.push('buffer-select');
    if ((o.flags ?? 0) & C.IOSQE_IO_LINK) parts.push('link');
    if ((o.opFlags ?? 0) & C.MSG_PEEK && op === C.IORING_OP_RECV) parts.push('MSG_PEEK');
    parts.push(`ud=${ud}`);
    fs.writeSync(2, `[${this.pid}] ${parts.join(' ')}\n`);
  }

  /**
   * One io_uring_enter(): submit every queued SQE and wait for at least `minComplete` CQEs (at
   * most timeoutMs; -1: no limit). Returns the result (submitted, or -errno: -ETIME, -EINTR).
   */
  submit(minComplete: number, timeoutMs: number): number {
    Atomics.store(this.sqU32, this.sqTailIdx, this.tail);
    const n = this.queued;
    this.queued = 0;
    const flags = minComplete > 0 || n === 0 ? C.IORING_ENTER_GETEVENTS : 0;
    const r = native.io_uring_enter(this.fd, n, minComplete, flags, timeoutMs);
    // A failed enter submitted nothing: those SQEs are still queued.
    if (r < 0) this.queued = n;
    else if (r < n) this.queued = n - r;
    return r;
  }

  /** Completions ready now, each handed to fn (user data, result, CQE flags); returns how many. */
  reap(fn: (ud: number, res: number, flags: number) => void): number {
    let head = Atomics.load(this.cqU32, this.cqHeadIdx);
    const tail = Atomics.load(this.cqU32, this.cqTailIdx);
    const n = tail - head;
    const base = this.cqesBase,
      ud0 = C.io_uring_cqe_USER_DATA_OFFSET / 4,
      res0 = C.io_uring_cqe_RES_OFFSET / 4,
      fl0 = C.io_uring_cqe_FLAGS_OFFSET / 4;
    while (head !== tail) {
      const w = base + ((head & this.cqMask) * CQE) / 4;
      const ud = this.cqU32[w + ud0] + this.cqU32[w + ud0 + 1] * TWO32;
      const res = this.cqI32[w + res0],
        flags = this.cqU32[w + fl0];
      head = (head + 1) >>> 0;
      Atomics.store(this.cqU32, this.cqHeadIdx, head); // release it before the handler queues more
      if (this.trace) this.traceCqe(ud, res, flags);
      fn(ud, res, flags);
    }
    return n >>> 0;
  }

  /** Count a completion of `op` (the caller knows the op from the user data). */
  completed(op: number, res: number): void {
    if (!this.counting) return;
    const c = this.count(op);
    c.completed++;
    if (res < 0) {
      const e = errname(res);
      c.errors[e] = (c.errors[e] ?? 0) + 1;
    }
  }

  private traceCqe(ud: number, res: number, flags: number): void {
    const f: string[] = [];
    if (flags & C.IORING_CQE_F_MORE) f.push('F_MORE');
    if (flags & C.IORING_CQE_F_BUFFER) f.push(`F_BUFFER(${flags >>> C.IORING_CQE_BUFFER_SHIFT})`);
    if (flags & C.IORING_CQE_F_SOCK_NONEMPTY) f.push('F_SOCK_NONEMPTY');
    const r = res < 0 ? `${res} ${errname(res)}` : String(res);
    fs.writeSync(2, `[${this.pid}] cqe ud=${ud} res=${r}${f.length ? ' ' + f.join(' ') : ''}\n`);
  }

  close(): void {
    for (const m of this.maps) native.munmap(m);
    this.maps = [];
    if (this.fd >= 0) native.close(this.fd);
  }
}

/**
 * A provided-buffer ring (IORING_REGISTER_PBUF_RING): `count` buffers of `size` bytes in one
 * anonymous mapping; a RECV with IOSQE_BUFFER_SELECT and this group lets the kernel pick one when
 * data arrives (so an idle connection holds no buffer). Its id comes back in the CQE's flags;
 * give it back with recycle() once the bytes are consumed.
 */
export class BufferRing {
  private mem: ArrayBuffer;
  private entries: Uint8Array;
  private e32: Uint32Array;
  private e16: Uint16Array;
  private tail = 0;
  private base: number;
  private ringBytes: number;
  readonly bytes: Uint8Array;

  constructor(
    ring: Ring,
    readonly group: number,
    readonly count: number, // a power of two
    readonly size: number,
  ) {
    const page = C.PAGE_SIZE;
    this.ringBytes = Math.ceil((count * C.io_uring_buf_SIZE) / page) * page;
    const m = native.mmap(this.ringBytes + count * size, -1, 0);
    if (typeof m === 'number') throw new Error(`io_uring: mmap of the buffer ring: ${errname(m)}`);
    this.mem = m;
    this.entries = new Uint8Array(m, 0, this.ringBytes);
    this.e32 = new Uint32Array(m, 0, this.ringBytes / 4);
    this.e16 = new Uint16Array(m, 0, this.ringBytes / 2);
    this.bytes = new Uint8Array(m, this.ringBytes);
    this.base = native.address(this.entries);
    const reg = new Uint8Array(C.io_uring_buf_reg_SIZE);
    const r32 = new Uint32Array(reg.buffer),
      r16 = new Uint16Array(reg.buffer);
    r32[C.io_uring_buf_reg_RING_ADDR_OFFSET / 4] = this.base % TWO32;
    r32[C.io_uring_buf_reg_RING_ADDR_OFFSET / 4 + 1] = Math.floor(this.base / TWO32);
    r32[C.io_uring_buf_reg_RING_ENTRIES_OFFSET / 4] = count;
    r16[C.io_uring_buf_reg_BGID_OFFSET / 2] = group;
    const r = native.io_uring_register(ring.fd, C.IORING_REGISTER_PBUF_RING, reg, 1);
    if (r < 0) {
      native.munmap(m);
      throw new UringUnavailable(
        `io_uring_register(IORING_REGISTER_PBUF_RING): ${errname(r)}: provided-buffer rings need Linux >= 5.19`,
      );
    }
    for (let bid = 0; bid < count; bid++) this.put(bid);
    this.publish();
  }

  /** Buffer `bid`'s first `len` bytes. */
  view(bid: number, len: number): Uint8Array {
    return this.bytes.subarray(bid * this.size, bid * this.size + len);
  }

  private put(bid: number): void {
    const b = (this.tail & (this.count - 1)) * C.io_uring_buf_SIZE;
    const addr = this.base + this.ringBytes + bid * this.size;
    this.e32[(b + C.io_uring_buf_ADDR_OFFSET) / 4] = addr % TWO32;
    this.e32[(b + C.io_uring_buf_ADDR_OFFSET) / 4 + 1] = Math.floor(addr / TWO32);
    this.e32[(b + C.io_uring_buf_LEN_OFFSET) / 4] = this.size;
    this.e16[(b + C.io_uring_buf_BID_OFFSET) / 2] = bid;
    this.tail = (this.tail + 1) & 0xffff;
  }

  private publish(): void {
    Atomics.store(this.e16, C.io_uring_buf_ring_TAIL_OFFSET / 2, this.tail);
  }

  /** Give buffer `bid` back to the kernel. */
  recycle(bid: number): void {
    this.put(bid);
    this.publish();
  }

  close(): void {
    void this.entries;
    native.munmap(this.mem);
  }
}
