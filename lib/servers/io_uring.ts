// Part VIII: io_uring. One ring owned by TypeScript (lib/uring/): a multishot ACCEPT hands over
// every new connection, each request is read with RECVs into buffers the kernel picks from a
// provided-buffer ring, answered with SEND (a file: READ into a buffer + SEND, linked), and the
// connection ends with SHUTDOWN, a drain and CLOSE. One io_uring_enter() per loop turn submits
// every queued operation and waits for at least one completion: strace sees only that.
import { C, native, raiseNofile } from '../sys';
import { closeApp, createApp } from '../public-root';
import { Options } from '../options';
import { LINGER_MS } from '../request-reader';
import { ACCEPT_PAUSE_MS, outOfFds } from '../listen-socket';
import { notice } from '../log';
import { BufferRing, Ring } from '../uring/ring';
import { Owner, Tag, UringLoop } from '../uring/loop';
import { HttpSide, UringConnection } from '../uring/connection';
import { UringRedis } from '../uring/redis';
import { setOperationsReport } from '../syscall-report';
import { operationsTable } from '../uring/report';
import type { Architecture } from './index';

export const architecture = { childrenInStats: false, enterServerLoop } satisfies Architecture;

const ENTRIES = 1024; // SQ; the CQ is 4x: a burst of completions never overflows
const BUFFERS = 1024,
  BUFFER_SIZE = 16 * 1024 + 512; // like the event loop's recv chunk

/** The multishot ACCEPT: one SQE, one CQE per new connection (re-armed if the kernel ends it). */
class Acceptor extends Owner {
  accepted = 0;
  private warned = false;

  constructor(
    private s: HttpSide,
    listenFd: number,
  ) {
    super(s.loop, listenFd);
    s.loop.server = this;
    this.arm();
  }

  private arm(): void {
    this.op(Tag.ACCEPT, { opFlags: C.SOCK_CLOEXEC, ioprio: C.IORING_ACCEPT_MULTISHOT });
  }

  completed(tag: Tag, res: number, _data: Uint8Array | null, flags = 0): void {
    if (tag !== Tag.ACCEPT) return; // FILE_CLOSE: nothing to do
    if (res >= 0) {
      this.accepted++;
      new UringConnection(this.s, res);
    } else if (outOfFds(res)) {
      if (!this.warned)
        notice(`zerohttpd: accept: ${native.errname(res)}; pausing accept for ${ACCEPT_PAUSE_MS} ms (logged once)`);
      this.warned = true;
    }
    // Without F_MORE the multishot ACCEPT has ended (an error such as EMFILE): arm a new one.
    if (!(flags & C.IORING_CQE_F_MORE) && !this.loop.stopping) {
      if (outOfFds(res)) this.loop.setTimer(ACCEPT_PAUSE_MS, () => this.arm());
      else this.arm();
    }
  }
}

function enterServerLoop(listenFd: number, opts: Options): void {
  raiseNofile(1 << 20);
  const ring = new Ring(ENTRIES, ENTRIES * 4);
  ring.counting = opts.syscallStats > 0;
  ring.trace = opts.trace;
  const bufs = new BufferRing(ring, 0, BUFFERS, BUFFER_SIZE);
  const loop = new UringLoop(ring, bufs);
  const app = createApp(opts);
  const s: HttpSide = {
    loop,
    app,
    redis: new UringRedis(loop, opts.redisHost, opts.redisPort, opts.redisPool),
    reader: opts.reader,
    sendTimeoutMs: opts.sendTimeoutMs,
    idle: loop.idleList(opts.timeoutMs),
    lingering: loop.idleList(Math.min(LINGER_MS, opts.timeoutMs)),
    chunks: [],
  };
  const acceptor = new Acceptor(s, listenFd);
  if (ring.counting) setOperationsReport(() => ({ accepted: acceptor.accepted, table: operationsTable(ring, loop) }));
  try {
    loop.run();
  } finally {
    // Closing the ring cancels everything in flight; then the fds still open are closed directly.
    const left = loop.remaining().filter((o) => o !== acceptor);
    ring.close();
    bufs.close();
    for (const o of left) (o as Owner & { shutdown(): void }).shutdown();
    closeApp(app);
  }
}
