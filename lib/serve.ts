// handleClient(): the blocking request path shared by the iterative, forking, preforked,
// threaded and prethreaded servers. accept -> read request -> route -> respond -> close.
import { C, native, sendAll } from './sys';
import { HttpError, RequestParser } from './http/request';
import { App, errorPlan, httpErrorPlan, Plan, route } from './app';
import { BAD_REPLY, BlockingRedis } from './redis/blocking';
import { logRequest } from './log';
import { Reader } from './options';

export interface ServeContext {
  app: App;
  redis: BlockingRedis;
  reader: Reader;
  timeoutMs: number;     // bounds the whole request read, and any single stalled send
  sendTimeoutMs: number; // bounds the whole response write
  /** Called just before the client fd is closed (the thread servers release their claim on it). */
  beforeClose?: (fd: number) => void;
}

const CR = 13, LF = 10;
const one = Buffer.alloc(1);
const chunk = Buffer.allocUnsafe(16 * 1024 + 512);

/** What ended the read: a complete request, a parse error to answer, or a reason to drop it. */
type ReadResult = 'done' | 'error' | 'eof' | 'timeout' | 'failed';

function classify(n: number): ReadResult {
  return n === 0 ? 'eof' : -n === C.EAGAIN ? 'timeout' : 'failed';
}

/**
 * A bound on a whole phase (reading the request, sending the response) of a blocking socket.
 * SO_RCVTIMEO/SO_SNDTIMEO alone restart with every byte, so a client trickling one byte a second
 * (slowloris), or reading 3 KB a second, would hold a blocking server for hours. After each call
 * the time left is checked, and the socket timeout (`opt`) is re-armed to it once it has shrunk
 * by more than a tenth, so a phase takes at most ~1.1x its bound; a fast client never costs an
 * extra syscall, a slow one at most ~10. `stallMs` is the socket timeout already set on the fd.
 */
class Deadline {
  private readonly at: number;
  private armed: number;
  private readonly slack: number;
  constructor(private fd: number, private opt: number, totalMs: number, stallMs: number) {
    this.at = Date.now() + totalMs;
    this.armed = stallMs;
    this.slack = Math.max(10, Math.min(totalMs, stallMs) / 10);
    if (totalMs < stallMs) this.arm(totalMs);
  }
  private arm(ms: number): void {
    this.armed = Math.max(1, Math.floor(ms));
    native.setsockopt(this.fd, C.SOL_SOCKET, this.opt, this.armed);
  }
  /** False once the deadline has passed. */
  ok(): boolean {
    const left = this.at - Date.now();
    if (left <= 0) return false;
    if (this.armed - left > this.slack) this.arm(left);
    return true;
  }
}

/**
 * The article's get_line() pattern: one recv() per byte; after '\r', a MSG_PEEK look-ahead
 * and, if it is '\n', one more recv() to take it. Body bytes are read in one recv() each time.
 */
function readByteByByte(fd: number, p: RequestParser, d: Deadline): ReadResult {
  while (p.wantsMore) {
    if (p.state === 'body') {
      const n = native.recv(fd, chunk, 0, Math.min(p.bodyRemaining, chunk.length));
      if (n <= 0) return classify(n);
      p.push(chunk, 0, n);
      if (p.wantsMore && !d.ok()) return 'timeout';
      continue;
    }
    let n = native.recv(fd, one, 0, 1);
    if (n <= 0) return classify(n);
    p.push(one, 0, 1);
    if (p.wantsMore && !d.ok()) return 'timeout';
    if (one[0] === CR && p.wantsMore) {
      n = native.recv(fd, one, 0, 1, C.MSG_PEEK);
      if (n <= 0) return classify(n);
      if (!d.ok()) return 'timeout';
      const peeked: number = one[0];
      if (peeked === LF) {
        native.recv(fd, one, 0, 1);
        p.push(one, 0, 1);
      }
    }
  }
  return p.state === 'done' ? 'done' : 'error';
}

/** Large recv() calls; the parser leaves any pipelined bytes unconsumed (we answer one request). */
function readBuffered(fd: number, p: RequestParser, d: Deadline): ReadResult {
  while (p.wantsMore) {
    const n = native.recv(fd, chunk, 0, chunk.length);
    if (n <= 0) return classify(n);
    p.push(chunk, 0, n);
    if (p.wantsMore && !d.ok()) return 'timeout';
  }
  return p.state === 'done' ? 'done' : 'error';
}

/** Read one request; `timeoutMs` bounds the whole read (see Deadline). SO_RCVTIMEO must already be timeoutMs. */
export function readRequest(fd: number, p: RequestParser, reader: Reader, timeoutMs: number): ReadResult {
  const d = new Deadline(fd, C.SO_RCVTIMEO, timeoutMs, timeoutMs);
  return reader === 'byte' ? readByteByByte(fd, p, d) : readBuffered(fd, p, d);
}

export const LINGER_MS = 1000;
export const LINGER_MAX_BYTES = 256 * 1024;

/**
 * nginx's lingering close, after every response. close() on a socket with unread input (a stray
 * CRLF after the request, a pipelined request, bytes arriving a little later) sends RST, and the
 * kernel then throws away the part of the response still queued for the client. So: stop
 * sending (FIN after the last queued byte), drain what the client still sends until its EOF (at
 * most LINGER_MAX_BYTES, and for at most ~LINGER_MS), then close. A client that reads the
 * response and closes costs one recv() that returns 0.
 */
export function lingeringClose(fd: number, beforeClose?: (fd: number) => void): void {
  native.shutdown(fd, C.SHUT_WR);
  native.setsockopt(fd, C.SOL_SOCKET, C.SO_RCVTIMEO, LINGER_MS);
  // Bounded in time too: a client trickling bytes would otherwise reset SO_RCVTIMEO forever.
  const deadline = Date.now() + LINGER_MS;
  for (let total = 0; total < LINGER_MAX_BYTES && Date.now() < deadline; ) {
    const n = native.recv(fd, chunk, 0, chunk.length);
    if (n <= 0) break;
    total += n;
  }
  beforeClose?.(fd);
  native.close(fd);
}

/** send() all of buf within the deadline; the number of bytes sent, or -errno if nothing could be. */
function sendWithin(fd: number, buf: Buffer, d: Deadline): number {
  let off = 0;
  while (off < buf.length && d.ok()) {
    const n = native.send(fd, buf, off, buf.length - off, C.MSG_NOSIGNAL);
    if (n < 0) return off || n;
    off += n;
  }
  return off;
}

export interface Sent { status: number; bytes: number; complete: boolean }

/**
 * Carry out a plan on a blocking socket (SO_SNDTIMEO already set to `timeoutMs`, the longest a
 * single send may stall). `sendTimeoutMs` bounds the whole response: a client reading very
 * slowly is cut off. `complete` says whether every byte of the response was queued. `head`: a HEAD request.
 */
export function sendPlan(fd: number, plan: Plan, redis: BlockingRedis, timeoutMs: number, sendTimeoutMs: number, head = false): Sent {
  if (plan.kind === 'redis') {
    const replies = redis.run(plan.commands);
    const next = replies === BAD_REPLY ? errorPlan(502, { head, message: 'unexpected reply from the database' })
      : replies ? plan.respond(replies) : plan.unavailable();
    return sendPlan(fd, next, redis, timeoutMs, sendTimeoutMs, head);
  }
  const d = new Deadline(fd, C.SO_SNDTIMEO, sendTimeoutMs, timeoutMs);
  if (plan.kind === 'bytes') {
    const n = sendWithin(fd, plan.data, d);
    return { status: plan.status, bytes: Math.max(n, 0), complete: n === plan.data.length };
  }
  let sent = sendWithin(fd, plan.head, d);
  let complete = sent === plan.head.length;
  if (complete && plan.sendBody) {
    let off = 0;
    while (off < plan.size && d.ok()) {
      const n = native.sendfile(fd, plan.fd, off, plan.size - off);
      if (n <= 0) break; // peer gone (EPIPE/ECONNRESET), timed out, or the file shrank
      off += n;
      sent += n;
    }
    complete = off === plan.size;
  }
  native.close(plan.fd);
  return { status: plan.status, bytes: Math.max(sent, 0), complete };
}

/** Serve one connection and close it. Never throws for anything a client can send. */
export function handleClient(fd: number, ctx: ServeContext): void {
  native.setsockopt(fd, C.SOL_SOCKET, C.SO_RCVTIMEO, ctx.timeoutMs);
  native.setsockopt(fd, C.SOL_SOCKET, C.SO_SNDTIMEO, ctx.timeoutMs);
  const parser = new RequestParser();
  const r = readRequest(fd, parser, ctx.reader, ctx.timeoutMs);
  let plan: Plan | null = null;
  if (r === 'done') plan = route(ctx.app, parser.request!);
  else if (r === 'error') plan = httpErrorPlan(parser.error as HttpError);
  else if (r === 'timeout') plan = errorPlan(408);
  let complete = false;
  if (plan) {
    const req = parser.request;
    const sent = sendPlan(fd, plan, ctx.redis, ctx.timeoutMs, ctx.sendTimeoutMs, req?.method === 'HEAD');
    logRequest(sent.status, req?.method ?? '-', req?.target ?? '-', sent.bytes);
    complete = sent.complete;
  }
  // Linger whenever the client may still read what we queued; after EOF, a reset or a send
  // that failed or timed out there is nothing left to protect.
  if (complete) lingeringClose(fd, ctx.beforeClose);
  else {
    ctx.beforeClose?.(fd);
    native.close(fd);
  }
}
