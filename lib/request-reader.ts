// Reading a request off a socket, written once for every server: the blocking ones (serve.ts),
// the event loop (loop/connection.ts) and any other that reads with recv(). Bytes come in through
// native.recv() and go to the pure RequestParser; what comes out is one step result.
import { C, native } from './sys';
import { RequestParser } from './http/request';
import { Reader } from './options';

/**
 * How a read step ended. 'done': the parser wants no more (a request, or an error to answer:
 * see its state). 'again': the request is incomplete and the socket has nothing more for now
 * (EAGAIN: on a blocking socket with SO_RCVTIMEO, that timeout fired), or `inTime` said stop.
 * 'eof': the client closed. 'failed': recv() failed (ECONNRESET, ...).
 */
export type ReadStep = 'done' | 'again' | 'eof' | 'failed';

/** Lingering close: drain for at most this long, and at most this many bytes. */
export const LINGER_MS = 1000;
export const LINGER_MAX_BYTES = 256 * 1024;

const CR = 13,
  LF = 10;
const one = Buffer.alloc(1);
const chunk = Buffer.allocUnsafe(16 * 1024 + 512);

function classify(n: number): ReadStep {
  return n === 0 ? 'eof' : -n === C.EAGAIN ? 'again' : 'failed';
}

/**
 * Read from `fd` into `p` until one of the ReadStep outcomes. After 'again' a later call carries
 * on where this one stopped (the parser holds the state). `inTime`, if given, is asked after each
 * recv() that leaves the request incomplete; false ends the step with 'again' (the blocking
 * servers' whole-request deadline).
 */
export function readRequest(fd: number, p: RequestParser, reader: Reader, inTime?: () => boolean): ReadStep {
  return reader === 'byte' ? readByteByByte(fd, p, inTime) : readBuffered(fd, p, inTime);
}

/**
 * The article's get_line(): one recv() per byte; after '\r', a MSG_PEEK look-ahead and, if it is
 * '\n', one more recv() to take it (if the '\n' has not arrived, the parser takes it later).
 * Body bytes are read in one recv() each time.
 */
function readByteByByte(fd: number, p: RequestParser, inTime?: () => boolean): ReadStep {
  while (p.wantsMore) {
    if (p.state === 'body') {
      const n = native.recv(fd, chunk, 0, Math.min(p.bodyRemaining, chunk.length));
      if (n <= 0) return classify(n);
      p.push(chunk, 0, n);
      if (p.wantsMore && inTime && !inTime()) return 'again';
      continue;
    }
    let n = native.recv(fd, one, 0, 1);
    if (n <= 0) return classify(n);
    p.push(one, 0, 1);
    if (p.wantsMore && inTime && !inTime()) return 'again';
    if (one[0] === CR && p.wantsMore) {
      n = native.recv(fd, one, 0, 1, C.MSG_PEEK);
      if (n <= 0) return classify(n);
      if (inTime && !inTime()) return 'again';
      const peeked: number = one[0];
      if (peeked === LF) {
        native.recv(fd, one, 0, 1);
        p.push(one, 0, 1);
      }
    }
  }
  return 'done';
}

/** Large recv() calls; bytes past the request (pipelined) stay unread by the parser: the lingering close drains them. */
function readBuffered(fd: number, p: RequestParser, inTime?: () => boolean): ReadStep {
  while (p.wantsMore) {
    const n = native.recv(fd, chunk, 0, chunk.length);
    if (n <= 0) return classify(n);
    p.push(chunk, 0, n);
    if (p.wantsMore && inTime && !inTime()) return 'again';
  }
  return 'done';
}

/**
 * The drain of nginx's lingering close (see lingeringClose() in serve.ts): recv() what the
 * client still sends and throw it away. One per connection: it counts the bytes across steps.
 * Once nothing is left to read, the wait is over as soon as the client has acknowledged every
 * byte we sent (SIOCOUTQ: nothing but our FIN): a reset can then only cost it bytes it already has, and keeps
 * them readable. So a client that has its whole answer costs one recv() and one ioctl(), not a
 * round trip for its FIN.
 */
function acknowledged(fd: number): boolean {
  const unacked = native.ioctl(fd, C.SIOCOUTQ);
  return unacked >= 0 && unacked <= 1;
}

export class LingerDrain {
  private drained = 0;

  /**
   * 'again': nothing more for now (EAGAIN, or `inTime` said stop) and part of the answer is not
   * acknowledged yet; 'done': EOF, an error, LINGER_MAX_BYTES drained in all, or all acknowledged.
   * `flags`: MSG_DONTWAIT for a first look on a blocking socket.
   */
  step(fd: number, inTime?: () => boolean, flags = 0): 'again' | 'done' {
    for (;;) {
      const n = native.recv(fd, chunk, 0, chunk.length, flags);
      // SIOCOUTQ counts our FIN (sent by shutdown(SHUT_WR)) as one byte until it is acknowledged.
      if (n < 0 && -n === C.EAGAIN) return acknowledged(fd) ? 'done' : 'again';
      if (n <= 0) return 'done';
      this.drained += n;
      if (this.drained >= LINGER_MAX_BYTES) return 'done';
      if (inTime && !inTime()) return 'again';
    }
  }
}
