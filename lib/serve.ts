// handleClient(): the blocking request path shared by the iterative, forking, preforked,
// threaded and prethreaded servers. accept -> read request -> route -> respond -> close.
import { C, native, sendAll } from './sys';
import { HttpError, RequestParser } from './http/request';
import { App, errorPlan, httpErrorPlan, Plan, route } from './app';
import { BlockingRedis } from './redis/blocking';
import { logRequest } from './log';
import { Reader } from './options';

export interface ServeContext {
  app: App;
  redis: BlockingRedis;
  reader: Reader;
  timeoutMs: number;
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
 * --timeout bounds the whole request, not each recv(): SO_RCVTIMEO alone restarts with every
 * byte, so a client trickling one byte a second would hold a blocking server for hours
 * (slowloris). After each recv() the time left is checked, and SO_RCVTIMEO is re-armed to it
 * once it has shrunk by more than a tenth of the timeout, so a request takes at most 1.1x
 * --timeout to read; a fast client never costs an extra syscall, a slow one at most ~10.
 */
class ReadDeadline {
  private readonly deadline: number;
  private armed: number;
  private readonly slack: number;
  constructor(private fd: number, timeoutMs: number) {
    this.deadline = Date.now() + timeoutMs;
    this.armed = timeoutMs;
    this.slack = Math.max(10, timeoutMs / 10);
  }
  /** False once the deadline has passed. */
  ok(): boolean {
    const left = this.deadline - Date.now();
    if (left <= 0) return false;
    if (this.armed - left > this.slack) {
      this.armed = Math.max(1, Math.floor(left));
      native.setsockopt(this.fd, C.SOL_SOCKET, C.SO_RCVTIMEO, this.armed);
    }
    return true;
  }
}

/**
 * The article's get_line() pattern: one recv() per byte; after '\r', a MSG_PEEK look-ahead
 * and, if it is '\n', one more recv() to take it. Body bytes are read in one recv() each time.
 */
function readByteByByte(fd: number, p: RequestParser, d: ReadDeadline): ReadResult {
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

/** Set when the buffered reader received bytes past the request (pipelining): see lingeringClose(). */
let leftover = false;

/** Large recv() calls; the parser leaves any pipelined bytes unconsumed (we answer one request). */
function readBuffered(fd: number, p: RequestParser, d: ReadDeadline): ReadResult {
  while (p.wantsMore) {
    const n = native.recv(fd, chunk, 0, chunk.length);
    if (n <= 0) return classify(n);
    if (p.push(chunk, 0, n) < n) leftover = true;
    if (p.wantsMore && !d.ok()) return 'timeout';
  }
  return p.state === 'done' ? 'done' : 'error';
}

/** Read one request; `timeoutMs` bounds the whole read (see ReadDeadline). SO_RCVTIMEO must already be timeoutMs. */
export function readRequest(fd: number, p: RequestParser, reader: Reader, timeoutMs: number): ReadResult {
  leftover = false;
  const d = new ReadDeadline(fd, timeoutMs);
  return reader === 'byte' ? readByteByByte(fd, p, d) : readBuffered(fd, p, d);
}

const LINGER_MS = 1000;
const LINGER_MAX_BYTES = 256 * 1024;

/**
 * close() on a socket with unread input sends RST, and the peer may then lose the response
 * it has not read yet. When we answered before reading everything (an error mid-request,
 * pipelined bytes), stop sending, drain what the client still sends (at most 256 KB, and for
 * at most 2 x LINGER_MS: the last recv() may start just before the deadline), then close.
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

/** Carry out a plan on a blocking socket. Returns the status and bytes sent. */
export function sendPlan(fd: number, plan: Plan, redis: BlockingRedis): { status: number; bytes: number } {
  if (plan.kind === 'redis') {
    const replies = redis.run(plan.commands);
    return sendPlan(fd, replies ? plan.respond(replies) : plan.unavailable(), redis);
  }
  if (plan.kind === 'bytes') {
    const n = sendAll(fd, plan.data);
    return { status: plan.status, bytes: Math.max(n, 0) };
  }
  let sent = sendAll(fd, plan.head);
  if (sent >= 0 && plan.sendBody) {
    for (let off = 0; off < plan.size; ) {
      const n = native.sendfile(fd, plan.fd, off, plan.size - off);
      if (n <= 0) break; // peer gone (EPIPE/ECONNRESET), timed out, or the file shrank
      off += n;
      sent += n;
    }
  }
  native.close(plan.fd);
  return { status: plan.status, bytes: Math.max(sent, 0) };
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
  if (plan) {
    const req = parser.request;
    const { status, bytes } = sendPlan(fd, plan, ctx.redis);
    logRequest(status, req?.method ?? '-', req?.target ?? '-', bytes);
  }
  if (r === 'error' || leftover) lingeringClose(fd, ctx.beforeClose);
  else {
    ctx.beforeClose?.(fd);
    native.close(fd);
  }
}
