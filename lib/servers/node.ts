// The yardstick: the same site written the idiomatic Node.js way, with node:http, fs streams and
// ioredis. It shares the pure modules (path rules, pages, guestbook) so its answers match the
// raw-syscall servers byte for byte in their bodies; only the plumbing is Node's own.
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as path from 'node:path';
import { Duplex, pipeline } from 'node:stream';
import Redis from 'ioredis';
import { native, C } from '../sys';
import { ALLOW, errorResponse, SERVER } from '../http/response';
import { contentType, directoryRedirect, openErrorStatus, sanitizePath } from '../http/static';
import * as gb from '../guestbook/guestbook';
import { HttpError, LIMITS } from '../http/request';
import { logRequest, notice } from '../log';
import { redisUnreachable } from '../net-probe';
import { LINGER_MAX_BYTES, LINGER_MS } from '../request-reader';
import { DEFAULTS, Options } from '../options';
import type { Architecture } from './index';

export const architecture = { childrenInStats: false, ownSignals: true, enterServerLoop } satisfies Architecture;

const HTML = 'text/html; charset=utf-8';
const REDIS_CONNECT_WAIT_MS = 2000;
const RETRY_MAX_MS = 500;

/**
 * While ioredis is reconnecting, wait for the outcome of its next attempt (bounded) instead of
 * failing at once: a Redis that just came back serves the very next request.
 */
function whenSettled(redis: Redis): Promise<void> {
  if (redis.status === 'ready') return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(t);
      redis.off('ready', done);
      redis.off('error', done);
      resolve();
    };
    const t = setTimeout(done, RETRY_MAX_MS + 100);
    redis.once('ready', done);
    redis.once('error', done);
  });
}

interface Site {
  publicDir: string;
  templates: gb.Templates;
  redis: Redis;
}

/** This process's --timeout and --send-timeout (one server per process), set by enterServerLoop(). */
let bounds: Pick<Options, 'timeoutMs' | 'sendTimeoutMs'> = DEFAULTS;
/** Sockets whose response has started: an error after that must not write a second head. */
const answering = new WeakSet<Duplex>();
/** The request being answered on a socket: once it is complete, bytes past it are ignored (onClientError). */
const requests = new WeakMap<Duplex, http.IncomingMessage>();

/**
 * From its head on, a response is bounded as on the raw servers: --timeout without progress (a
 * client that stopped reading; node:http destroys the socket when 'timeout' has no listener) or
 * --send-timeout in all (a client reading very slowly) drops the connection. Destroying the
 * response makes pipeline() destroy a file stream piped into it, which closes the file.
 */
function startResponse(res: http.ServerResponse): void {
  const socket = res.socket;
  if (socket) answering.add(socket);
  res.setTimeout(bounds.timeoutMs);
  const cut = setTimeout(() => res.destroy(), bounds.sendTimeoutMs);
  // Logged once it is over, with the bytes that went out (head included), as the raw servers do:
  // a response cut short shows as such.
  const before = socket?.bytesWritten ?? 0;
  res.once('close', () => {
    clearTimeout(cut);
    logRequest(res.statusCode, res.req.method ?? '-', res.req.url ?? '-', (socket?.bytesWritten ?? before) - before);
  });
}

function send(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  status: number,
  html: string | Buffer,
  extra: Record<string, string> = {},
): void {
  const body = typeof html === 'string' ? Buffer.from(html, 'utf8') : html;
  startResponse(res);
  res.writeHead(status, {
    Server: SERVER,
    'Content-Type': HTML,
    'Content-Length': body.length,
    Connection: 'close',
    ...extra,
  });
  res.end(req.method === 'HEAD' ? undefined : body);
}

/** The same error page as errorResponse(), without its HTTP/1.0 head (node:http writes its own). */
function sendError(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  status: number,
  message?: string,
  extra?: Record<string, string>,
): void {
  const whole = errorResponse(status, { message, extra });
  send(req, res, status, whole.subarray(whole.indexOf('\r\n\r\n') + 4), extra);
}

function pathOf(url: string): string {
  const abs = /^https?:\/\/[^/?#]+/i.exec(url);
  let p = abs ? url.slice(abs[0].length) || '/' : url;
  const q = p.indexOf('?');
  if (q >= 0) p = p.slice(0, q);
  return p;
}

async function serveStatic(
  site: Site,
  req: http.IncomingMessage,
  res: http.ServerResponse,
  rawPath: string,
  query = '',
): Promise<void> {
  const s = sanitizePath(rawPath);
  if (!s.ok) return sendError(req, res, s.status);
  const full = path.join(site.publicDir, s.rel);
  let file: fs.promises.FileHandle;
  try {
    // sanitizePath refused '..' and hidden names; realpath refuses symlinks that leave public/.
    const real = await fs.promises.realpath(full);
    if (real !== site.publicDir && !real.startsWith(site.publicDir + path.sep)) return sendError(req, res, 403);
    file = await fs.promises.open(real, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK | fs.constants.O_NOCTTY);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return sendError(req, res, openErrorStatus(code ?? ''));
  }
  let st: fs.Stats;
  try {
    st = await file.stat();
  } catch {
    await file.close();
    return sendError(req, res, 500);
  }
  if (st.isDirectory() && !s.dirIndex) {
    await file.close();
    const location = directoryRedirect(rawPath, query); // the query string stays
    return sendError(req, res, 301, `Moved to ${location}`, { Location: location });
  }
  if (!st.isFile()) {
    await file.close();
    return sendError(req, res, 404);
  }
  startResponse(res);
  res.writeHead(200, {
    Server: SERVER,
    'Content-Type': contentType(s.rel),
    'Content-Length': st.size,
    Connection: 'close',
  });
  if (req.method === 'HEAD') {
    await file.close();
    res.end();
    return;
  }
  const stream = file.createReadStream({ start: 0, end: Math.max(st.size - 1, 0), autoClose: true });
  // pipeline(), not pipe(): a client that goes away mid-file destroys the stream, which closes
  // the file now instead of at garbage collection (pipe() leaves the FileHandle open).
  pipeline(stream, res, () => {});
}

function readBody(req: http.IncomingMessage, limit: number): Promise<Buffer | null> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (d: Buffer) => {
      size += d.length;
      if (size > limit) {
        resolve(null);
        req.removeAllListeners('data');
        req.resume();
      } else chunks.push(d);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/** GET: three round trips, as the article (and every other architecture) does; HEAD: one LLEN (gb.HEAD_COMMANDS). */
async function guestbookGet(site: Site, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const url = req.url ?? '';
  const paging = gb.parsePage(url.includes('?') ? url.slice(url.indexOf('?') + 1) : '');
  if (!paging.ok) return sendError(req, res, 400, paging.message);
  const head = req.method === 'HEAD';
  let replies: unknown[];
  try {
    await whenSettled(site.redis);
    replies = [];
    for (const [cmd, ...args] of head ? gb.HEAD_COMMANDS : gb.getCommands(paging.page))
      replies.push(await site.redis.call(cmd, ...args));
  } catch {
    return send(req, res, 503, gb.renderUnavailable());
  }
  if (head) {
    if (!gb.headAnswered(replies as never)) return sendError(req, res, 502, 'unexpected reply from the database');
    startResponse(res);
    res.writeHead(200, { Server: SERVER, 'Content-Type': HTML, Connection: 'close' }); // no Content-Length, as the raw servers
    res.end();
    return;
  }
  let page: string;
  try {
    page = gb.renderGuestbook(site.templates, replies as never, paging.page);
  } catch {
    return sendError(req, res, 502, 'unexpected reply from the database');
  }
  send(req, res, 200, page);
}

async function guestbookPost(site: Site, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const body = await readBody(req, LIMITS.body);
  if (body === null) return sendError(req, res, 413, 'request body too large');
  const form = gb.parseGuestbookForm(body);
  if (!form.ok) return send(req, res, 400, gb.renderFormError(form.message));
  try {
    await whenSettled(site.redis);
    const replies: unknown[] = [];
    for (const [cmd, ...args] of gb.postCommands(form)) replies.push(await site.redis.call(cmd, ...args));
    if (!gb.postAcknowledged(replies as never)) return sendError(req, res, 502, 'the database refused the remark');
  } catch {
    return send(req, res, 503, gb.renderUnavailable());
  }
  send(req, res, 200, gb.renderThanks(site.templates, form));
}

/**
 * What the raw servers' RequestParser refuses in a head that node:http accepted (its own limits
 * are set looser, so that every head the raw servers accept gets here): a request line over
 * LIMITS.requestLine (414), more header lines than LIMITS.headerLines or a header section over
 * LIMITS.headerBytes (431), and at once, without waiting for a body, a Content-Length over
 * LIMITS.body (413). node:http keeps no bytes as sent: the sizes are those of the usual
 * `Name: value` CRLF lines. And a missing (HTTP/1.1) or repeated Host: 400.
 */
function refusedHead(req: http.IncomingMessage): HttpError | null {
  if (`${req.method} ${req.url} HTTP/${req.httpVersion}`.length > LIMITS.requestLine)
    return new HttpError(414, 'request line too long');
  const raw = req.rawHeaders;
  let bytes = 2; // the empty line that ends the head
  for (let i = 0; i < raw.length; i += 2) {
    if (i / 2 >= LIMITS.headerLines) return new HttpError(431, 'too many header lines');
    bytes += raw[i].length + 2 + raw[i + 1].length + 2;
    if (bytes > LIMITS.headerBytes) return new HttpError(431, 'header section too large');
  }
  // RFC 9112 §3.2 (node:http lets two Host lines through; its own refusal of none has no page).
  const hosts = req.headersDistinct.host?.length ?? 0;
  if (hosts > 1) return new HttpError(400, 'more than one Host header');
  if (hosts === 0 && req.httpVersion === '1.1') return new HttpError(400, 'HTTP/1.1 request without a Host header');
  if (Number(req.headers['content-length'] ?? 0) > LIMITS.body) return new HttpError(413, 'request body too large');
  return null;
}

/** node:http's own refusals with the raw servers' statuses and messages; null when the socket failed (nobody to answer). */
function refusalOf(err: Error & { code?: string; reason?: string }): HttpError | null {
  if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') return new HttpError(408, '');
  if (err.code === 'HPE_HEADER_OVERFLOW') return new HttpError(431, 'header section too large');
  if (err.code === 'HPE_INVALID_CONTENT_LENGTH' && /overflow/i.test(err.reason ?? ''))
    return new HttpError(413, 'request body too large');
  return err.code?.startsWith('HPE_') ? new HttpError(400, '') : null;
}

/**
 * The raw servers' lingering close (lingeringClose() in lib/serve.ts) for node:http, which ends a
 * `Connection: close` response with socket.destroySoon(): destroy as soon as the last byte is
 * handed to the kernel, so a client byte arriving after that makes the kernel reset the
 * connection and drop what the client has not received yet. Instead: FIN after the last byte,
 * discard what the client still sends until its EOF (at most LINGER_MAX_BYTES, LINGER_MS), then
 * destroy.
 */
function lingerOnClose(socket: net.Socket): void {
  socket.destroySoon = function (this: net.Socket) {
    if (this.destroyed) return;
    this.end();
    const t = setTimeout(() => this.destroy(), LINGER_MS);
    let drained = 0;
    this.on('data', (d: Buffer) => {
      drained += d.length;
      if (drained >= LINGER_MAX_BYTES) this.destroy();
    });
    this.once('end', () => this.destroy());
    this.once('close', () => clearTimeout(t));
    this.resume();
  };
}

/** Like node:http's default 'clientError' handler, with the raw servers' pages (and their HTTP/1.0 head). */
function onClientError(err: Error, socket: Duplex): void {
  // Bytes after the request (a stray CRLF, a pipelined request, late bytes) while its answer is
  // going out: we answer one request per connection, so they must not cut that answer short.
  if (requests.get(socket)?.complete && (err as { code?: string }).code?.startsWith('HPE_')) return;
  const refusal = refusalOf(err);
  if (refusal && socket.writable && !answering.has(socket)) {
    const page = errorResponse(refusal.status, { message: refusal.message || undefined });
    socket.write(page);
    logRequest(refusal.status, '-', '-', page.length);
  }
  socket.destroy();
}

async function handle(site: Site, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const refused = refusedHead(req);
  if (refused) return sendError(req, res, refused.status, refused.message);
  const method = req.method ?? '';
  const isGet = method === 'GET' || method === 'HEAD';
  if (!isGet && method !== 'POST') return sendError(req, res, 501, `${method} is not supported`, { Allow: ALLOW });
  const p = pathOf(req.url ?? '/');
  if (p === '/guestbook') return isGet ? guestbookGet(site, req, res) : guestbookPost(site, req, res);
  if (!isGet) return sendError(req, res, 405, undefined, { Allow: 'GET, HEAD' });
  const q = (req.url ?? '').indexOf('?');
  return serveStatic(site, req, res, p, q < 0 ? '' : req.url!.slice(q + 1));
}

function connectRedis(opts: Options): Promise<Redis> {
  // No offline queue: while Redis is down, commands fail at once and /guestbook answers 503;
  // ioredis keeps reconnecting in the background.
  const redis = new Redis({
    host: opts.redisHost,
    port: opts.redisPort,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    commandTimeout: opts.timeoutMs, // Redis stalled: 503 after --timeout (per round trip), as the raw servers
    retryStrategy: (times) => Math.min(50 * times, RETRY_MAX_MS),
  });
  let reported = false;
  redis.on('error', (e: Error) => {
    if (!reported) notice(redisUnreachable(opts.redisHost, opts.redisPort, e.message));
    reported = true;
  });
  redis.on('ready', () => (reported = false));
  // Accept only once the first attempt has succeeded or failed (connections wait in the backlog).
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(t);
      redis.off('ready', done);
      redis.off('error', done);
      resolve(redis);
    };
    const t = setTimeout(done, REDIS_CONNECT_WAIT_MS);
    redis.once('ready', done);
    redis.once('error', done);
  });
}

async function enterServerLoop(listenFd: number, opts: Options): Promise<void> {
  bounds = opts;
  const site: Site = {
    publicDir: fs.realpathSync(opts.publicDir),
    templates: new gb.Templates(opts.templatesDir),
    redis: await connectRedis(opts),
  };
  // requestTimeout/headersTimeout are only checked every connectionsCheckingInterval (30 s by
  // default): check often enough that --timeout holds. node:http counts the target and the
  // header names and values against maxHeaderSize and keeps only maxHeadersCount headers: both
  // are set just looser than LIMITS, and refusedHead() applies LIMITS itself.
  const server = http.createServer(
    {
      connectionsCheckingInterval: Math.max(50, Math.min(1000, opts.timeoutMs / 4)),
      maxHeaderSize: LIMITS.requestLine + LIMITS.headerBytes + 1,
      requireHostHeader: false, // refusedHead() answers 400 with the raw servers' page
    },
    (req, res) => {
      requests.set(req.socket, req); // once it is complete, bytes past it are ignored (onClientError)
      lingerOnClose(req.socket);
      handle(site, req, res).catch(() => {
        if (!res.headersSent) sendError(req, res, 500);
        else res.destroy();
      });
    },
  );
  server.keepAliveTimeout = 0;
  server.requestTimeout = opts.timeoutMs;
  server.headersTimeout = opts.timeoutMs;
  server.maxHeadersCount = LIMITS.headerLines + 1;
  server.on('clientError', onClientError);
  // node:http closes the socket it listens on; give it a duplicate and leave listenFd to run.ts.
  const fd = native.fcntl(listenFd, C.F_DUPFD_CLOEXEC, 0);
  if (fd < 0) throw new Error(`fcntl(F_DUPFD_CLOEXEC): ${native.errname(fd)}`);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    // For an fd, node reads the backlog from the arguments only ({ fd, backlog } would listen(fd, 511)).
    server.listen({ fd }, opts.backlog, () => {
      server.off('error', reject);
      resolve();
    });
  });
  await new Promise<void>((resolve) => {
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      server.close(() => resolve());
      server.closeAllConnections();
      site.redis.disconnect();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}
