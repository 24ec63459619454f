// What to answer, decided once for every architecture. route() turns a parsed request into
// a Plan; blocking servers and the event loop only differ in how they carry a Plan out.
import * as fs from 'node:fs';
import { C, native } from './sys';
import { HttpError, Request } from './http/request';
import { ALLOW, errorResponse, HTML, htmlResponse, responseHead } from './http/response';
import { contentType, directoryRedirect, sanitizePath } from './http/static';
import * as gb from './guestbook/guestbook';
import { RespError, RespValue } from './redis/resp';
import { Options } from './options';

export type Plan =
  /** A whole response in memory. */
  | { kind: 'bytes'; status: number; data: Buffer }
  /** Headers, then (unless HEAD) `size` bytes of the open file `fd` with sendfile(). The sender closes fd. */
  | { kind: 'file'; status: number; head: Buffer; fd: number; size: number; sendBody: boolean }
  /** Run these Redis commands one round trip at a time, then answer respond(replies). */
  | { kind: 'redis'; commands: string[][]; respond(replies: RespValue[]): Plan; unavailable(): Plan };

export interface App {
  publicFd: number;        // O_PATH fd of the public root: files are opened beneath it only
  publicDir: string;
  templates: gb.Templates;
}

export function createApp(opts: Pick<Options, 'publicDir' | 'templatesDir'>): App {
  const publicDir = fs.realpathSync(opts.publicDir);
  const publicFd = native.open(publicDir, C.O_PATH | C.O_DIRECTORY | C.O_CLOEXEC);
  if (publicFd < 0) throw new Error(`cannot open public directory ${publicDir}: ${native.errname(publicFd)}`);
  try {
    return { publicFd, publicDir, templates: new gb.Templates(opts.templatesDir) };
  } catch (e) {
    native.close(publicFd); // e.g. EMFILE reading a template in a threaded Worker: don't leak the fd
    throw e;
  }
}

export function closeApp(app: App): void {
  native.close(app.publicFd);
}

export function errorPlan(status: number, opts: { message?: string; head?: boolean; extra?: Record<string, string> } = {}): Plan {
  return { kind: 'bytes', status, data: errorResponse(status, opts) };
}

export function httpErrorPlan(err: HttpError): Plan {
  return errorPlan(err.status, { message: err.message });
}

const html = (status: number, page: string, head: boolean): Plan => ({ kind: 'bytes', status, data: htmlResponse(status, page, { head }) });

export function route(app: App, req: Request): Plan {
  const head = req.method === 'HEAD';
  const isGet = req.method === 'GET' || head;
  if (!isGet && req.method !== 'POST') return errorPlan(501, { message: `${req.method} is not supported`, extra: { Allow: ALLOW } });
  if (req.path === '/guestbook') return isGet ? guestbookGet(app, req) : guestbookPost(app, req);
  if (!isGet) return errorPlan(405, { extra: { Allow: 'GET, HEAD' } });
  return staticFile(app, req.path, head, req.query);
}

const RESOLVE = C.RESOLVE_BENEATH | C.RESOLVE_NO_MAGICLINKS;
const OPEN_FLAGS = C.O_RDONLY | C.O_CLOEXEC | C.O_NONBLOCK | C.O_NOCTTY;
const statBuf = new Float64Array(3);

/**
 * openat2(RESOLVE_BENEATH) refuses '..', absolute paths and symlinks that leave the public
 * root in the kernel, before anything outside is opened; sanitizePath() has already refused
 * every encoded form. O_NONBLOCK keeps a FIFO in public/ from blocking the open.
 */
/** A failed open of a public file: missing -> 404; out of fds or memory -> 503 (it is us, and it passes); else 403. */
export function openErrorStatus(code: string): 404 | 403 | 503 {
  if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'ENAMETOOLONG') return 404;
  if (code === 'EMFILE' || code === 'ENFILE' || code === 'ENOMEM') return 503;
  return 403;
}

/** Redis answered, but with a transient error (restarting and loading its data, busy): unavailable, not broken. */
function transientRedisError(replies: RespValue[]): boolean {
  return replies.some((r) => r instanceof RespError && /^(LOADING|BUSY|TRYAGAIN|MASTERDOWN)\b/.test(r.message));
}

export function staticFile(app: App, rawPath: string, head: boolean, query = ''): Plan {
  const s = sanitizePath(rawPath);
  if (!s.ok) return errorPlan(s.status, { head });
  const fd = native.openat2(app.publicFd, s.rel || '.', OPEN_FLAGS, RESOLVE);
  if (fd < 0) {
    const code = native.errname(fd);
    if (code === 'EMFILE' || code === 'ENFILE' || code === 'ENOMEM') return errorPlan(503, { head, message: 'the server is out of resources, try again' });
    return errorPlan(openErrorStatus(code), { head });
  }
  if (native.fstat(fd, statBuf) < 0) {
    native.close(fd);
    return errorPlan(500, { head });
  }
  const type = statBuf[0] & C.S_IFMT;
  if (type === C.S_IFDIR && !s.dirIndex) {
    native.close(fd);
    const location = directoryRedirect(rawPath, query); // the query string stays: /about?x=1 -> /about/?x=1
    return errorPlan(301, { head, message: `Moved to ${location}`, extra: { Location: location } });
  }
  if (type !== C.S_IFREG) {
    native.close(fd);
    return errorPlan(404, { head });
  }
  const size = statBuf[1];
  return { kind: 'file', status: 200, head: responseHead(200, contentType(s.rel), size), fd, size, sendBody: !head };
}

/** GET /guestbook?page=K: one bounded page (lib/guestbook/guestbook.ts); HEAD: see gb.HEAD_COMMANDS. */
function guestbookGet(app: App, req: Request): Plan {
  const head = req.method === 'HEAD';
  const paging = gb.parsePage(req.query);
  if (!paging.ok) return errorPlan(400, { head, message: paging.message });
  const { page } = paging;
  return {
    kind: 'redis',
    commands: head ? gb.HEAD_COMMANDS : gb.getCommands(page),
    respond: (replies) => {
      if (transientRedisError(replies)) return html(503, gb.renderUnavailable(), head);
      if (head) {
        return gb.headAnswered(replies) ? { kind: 'bytes', status: 200, data: responseHead(200, HTML, null) }
          : errorPlan(502, { head, message: 'unexpected reply from the database' });
      }
      try {
        return html(200, gb.renderGuestbook(app.templates, replies, page), false);
      } catch {
        return errorPlan(502, { message: 'unexpected reply from the database' });
      }
    },
    unavailable: () => html(503, gb.renderUnavailable(), head),
  };
}

function guestbookPost(app: App, req: Request): Plan {
  const form = gb.parseGuestbookForm(req.body);
  if (!form.ok) return html(400, gb.renderFormError(form.message), false);
  return {
    kind: 'redis',
    commands: gb.postCommands(form),
    respond: (replies) =>
      transientRedisError(replies) ? html(503, gb.renderUnavailable(), false)
      : !gb.postAcknowledged(replies)
        ? errorPlan(502, { message: 'the database refused the remark' })
        : html(200, gb.renderThanks(app.templates, form), false),
    unavailable: () => html(503, gb.renderUnavailable(), false),
  };
}
