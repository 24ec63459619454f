// A blocking Redis client over a raw fd, as the article's "we roll our own Redis routines":
// one command, one round trip. Used by the five blocking architectures.
import { C, native, sendAll, setNonBlocking } from '../sys';
import { encodeCommand, RespDecoder, RespValue } from './resp';
import { notice } from '../log';
import { redisUnreachable } from '../net-probe';

const CONNECT_TIMEOUT_MS = 2000;
const IO_TIMEOUT_MS = 5000;

/** What command() and run() return when Redis answered bytes that are not RESP (the connection is dropped; the next command reconnects). */
export const BAD_REPLY: unique symbol = Symbol('bad reply from Redis');

/**
 * A non-blocking connect() after poll() returned `polled`: 0 if connected, else -errno.
 * `soError` is getsockopt(SO_ERROR): the pending error (>= 0), or -errno if getsockopt itself failed.
 */
export function connectOutcome(polled: number, soError: () => number): number {
  if (polled === 0) return -C.ETIMEDOUT;
  if (polled < 0) return polled;
  const e = soError();
  return e > 0 ? -e : e; // a pending error, or getsockopt's own -errno, or 0
}

export class BlockingRedis {
  private fd = -1;
  private decoder = new RespDecoder();
  private buf = Buffer.allocUnsafe(64 * 1024);
  /** Why the last connect/command failed (for logs). */
  lastError = '';

  constructor(
    readonly host: string,
    readonly port: number,
  ) {}

  get connected(): boolean {
    return this.fd >= 0;
  }

  /** Connect if not connected. A non-blocking connect bounded by poll(), then back to blocking. */
  connect(): boolean {
    if (this.fd >= 0) return true;
    const family = this.host.includes(':') ? C.AF_INET6 : C.AF_INET;
    const fd = native.socket(family, C.SOCK_STREAM | C.SOCK_CLOEXEC | C.SOCK_NONBLOCK);
    if (fd < 0) return this.fail(fd, 'socket');
    let r = native.connect(fd, this.host, this.port);
    if (r < 0 && -r === C.EINPROGRESS) {
      const pfd = new Int32Array(2);
      pfd[0] = fd;
      new Int16Array(pfd.buffer)[2] = C.POLLOUT;
      r = connectOutcome(native.poll(pfd, 1, CONNECT_TIMEOUT_MS), () =>
        native.getsockopt(fd, C.SOL_SOCKET, C.SO_ERROR),
      );
    }
    if (r < 0) {
      native.close(fd);
      return this.fail(r, 'connect');
    }
    setNonBlocking(fd, false);
    native.setsockopt(fd, C.IPPROTO_TCP, C.TCP_NODELAY, 1);
    native.setsockopt(fd, C.SOL_SOCKET, C.SO_RCVTIMEO, IO_TIMEOUT_MS);
    native.setsockopt(fd, C.SOL_SOCKET, C.SO_SNDTIMEO, IO_TIMEOUT_MS);
    this.fd = fd;
    this.decoder = new RespDecoder();
    return true;
  }

  /** Connect at start-up; if Redis is not there, say so once (the server still starts). */
  connectOrWarn(): void {
    if (!this.connect()) notice(redisUnreachable(this.host, this.port, this.lastError));
  }

  /** One command, one round trip. Returns the reply, undefined if Redis is unreachable, BAD_REPLY if it answered garbage. */
  command(args: string[]): RespValue | undefined | typeof BAD_REPLY {
    if (!this.connect()) return undefined;
    if (sendAll(this.fd, encodeCommand(args)) < 0) return this.drop('send');
    for (;;) {
      let next;
      try {
        next = this.decoder.next();
      } catch (e) {
        // a RESP protocol error: nothing more on this connection can be trusted
        this.drop((e as Error).message);
        return BAD_REPLY;
      }
      if (next) return next.value;
      const n = native.recv(this.fd, this.buf, 0, this.buf.length);
      if (n <= 0) return this.drop(n === 0 ? 'closed by server' : native.errname(n));
      this.decoder.push(this.buf.subarray(0, n));
    }
  }

  /** Runs commands in order; stops at the first round trip that failed (undefined) or got garbage (BAD_REPLY). */
  run(commands: string[][]): RespValue[] | undefined | typeof BAD_REPLY {
    this.dropIfStale();
    const replies: RespValue[] = [];
    for (const c of commands) {
      const r = this.command(c);
      if (r === undefined || r === BAD_REPLY) return r;
      replies.push(r);
    }
    return replies;
  }

  /**
   * An idle connection has nothing to read: if it is readable, Redis closed it (restart,
   * timeout) or sent junk. Drop it now so this request reconnects instead of failing on it.
   */
  private dropIfStale(): void {
    if (this.fd < 0) return;
    const n = native.recv(this.fd, this.buf, 0, 1, C.MSG_PEEK | C.MSG_DONTWAIT);
    if (n < 0 && -n === C.EAGAIN) return;
    this.drop(n === 0 ? 'closed by server' : n > 0 ? 'unexpected data' : native.errname(n));
  }

  close(): void {
    if (this.fd >= 0) native.close(this.fd);
    this.fd = -1;
  }

  private fail(r: number, what: string): false {
    this.lastError = `${what}: ${native.errname(r)}`;
    return false;
  }

  private drop(why: string): undefined {
    this.lastError = why;
    this.close();
    return undefined;
  }
}
