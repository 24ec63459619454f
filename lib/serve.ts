// handleClient(): the blocking request path shared by the iterative, forking, preforked,
// threaded and prethreaded servers. accept -> read request -> route -> respond -> close.
import { C, native, sendAll } from './sys';
import { HttpError, RequestParser } from './http/request';
import { App, errorPlan, httpErrorPlan, Plan, route } from './app';
import { BAD_REPLY, BlockingRedis } from './redis/blocking';
import { logRequest, notice } from './log';
import { connectionClosed } from './live';
import { errorResponse } from './http/response';
import { Options, Reader } from './options';
import { LINGER_MS, LingerDrain, readRequest } from './request-reader';

export interface ServeContext {
  app: App;
  redis: BlockingRedis;
  reader: Reader;
  timeoutMs: number; // bounds the whole request read, and any single stalled send
  sendTimeoutMs: number; // bounds the whole response write
  /** Called just before the client fd is closed (the thread servers release their claim on it). */
  beforeClose?: (fd: number) => void;
}

/** A ServeContext from the command line's options. */
export function serveContext(
  app: App,
  redis: BlockingRedis,
  opts: Options,
  beforeClose?: (fd: number) => void,
): ServeContext {
  return { app, redis, reader: opts.reader, timeoutMs: opts.timeoutMs, sendTimeoutMs: opts.sendTimeoutMs, beforeClose };
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
  constructor(
    private fd: number,
    private opt: number,
    totalMs: number,
    stallMs: number,
  ) {
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
 * nginx's lingering close, after every response. close() on a socket with unread input (a stray
 * CRLF after the request, a pipelined request, bytes arriving a little later) sends RST, and the
 * kernel then throws away the part of the response still queued for the client. So: stop
 * sending (FIN after the last queued byte), drain what the client still sends until its EOF (at
 * most LINGER_MAX_BYTES, and for at most ~2 x LINGER_MS: a recv() may start just before the
 * deadline), then close. The wait ends as soon as the client has acknowledged the whole answer
 * (LingerDrain): a client that has it costs one non-blocking recv() and one ioctl().
 */
export function lingeringClose(fd: number, beforeClose?: (fd: number) => void): void {
  native.shutdown(fd, C.SHUT_WR);
  const drain = new LingerDrain();
  if (drain.step(fd, undefined, C.MSG_DONTWAIT) === 'again') {
    native.setsockopt(fd, C.SOL_SOCKET, C.SO_RCVTIMEO, LINGER_MS);
    // Bounded in time too: a client trickling bytes would otherwise reset SO_RCVTIMEO forever.
    const deadline = Date.now() + LINGER_MS;
    drain.step(fd, () => Date.now() < deadline);
  }
  beforeClose?.(fd);
  native.close(fd);
  connectionClosed();
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

export interface Sent {
  status: number;
  bytes: number;
  complete: boolean;
}

/**
 * At most this much per blocking sendfile(): the kernel splices a file into a socket 64 KB (one
 * pipe) at a time, and SO_SNDTIMEO bounds each of those sends, not the call. A client reading a
 * little at a time would keep one whole-file call going long past --send-timeout; one pipe per
 * call makes SO_SNDTIMEO (re-armed to the time left) bound the call. Files up to 64 KB (all of
 * public/) still go out in one call, as the article's.
 */
const SENDFILE_CHUNK = 64 * 1024;

/**
 * Carry out a plan on a blocking socket (SO_SNDTIMEO already set to `timeoutMs`, the longest a
 * single send may stall). `sendTimeoutMs` bounds the whole response: a client reading very
 * slowly is cut off. `complete` says whether every byte of the response was queued. `head`: a HEAD request.
 */
export function sendPlan(
  fd: number,
  plan: Plan,
  redis: BlockingRedis,
  timeoutMs: number,
  sendTimeoutMs: number,
  head = false,
): Sent {
  if (plan.kind === 'redis') {
    const replies = redis.run(plan.commands);
    const next =
      replies === BAD_REPLY
        ? errorPlan(502, { head, message: 'unexpected reply from the database' })
        : replies
          ? plan.respond(replies)
          : plan.unavailable();
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
      const n = native.sendfile(fd, plan.fd, off, Math.min(plan.size - off, SENDFILE_CHUNK));
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
  // --timeout bounds the whole read (see Deadline); 'again' is SO_RCVTIMEO firing or the deadline passing.
  const d = new Deadline(fd, C.SO_RCVTIMEO, ctx.timeoutMs, ctx.timeoutMs);
  const r = readRequest(fd, parser, ctx.reader, () => d.ok());
  let plan: Plan | null = null;
  if (r === 'done')
    plan = parser.state === 'done' ? route(ctx.app, parser.request!) : httpErrorPlan(parser.error as HttpError);
  else if (r === 'again') plan = errorPlan(408);
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
    connectionClosed();
  }
}

/** Refusals logged: at most one line a second, with how many were not logged since the last one,
 *  so that a flood of clients at the fd limit cannot flood the log too. */
const refusals = { lastLog: -Infinity, unlogged: 0 };

/**
 * No process or thread could be started for this client (fork() failed, a thread could not
 * start): say why on stderr (rate-limited, above), answer 503 and close, so the client is not
 * left hanging. `now` is for the test.
 */
export function refuseClient(fd: number, why: string, message: string, now = Date.now()): void {
  if (now - refusals.lastLog >= 1000) {
    const more = refusals.unlogged ? ` (and ${refusals.unlogged} more refused since the last such line)` : '';
    notice(`zerohttpd: ${why}; answering 503${more}`);
    refusals.lastLog = now;
    refusals.unlogged = 0;
  } else refusals.unlogged++;
  native.setsockopt(fd, C.SOL_SOCKET, C.SO_SNDTIMEO, 1000);
  sendAll(fd, errorResponse(503, { message }));
  lingeringClose(fd);
}
