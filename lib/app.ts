// What to answer, decided once for every architecture. route() turns a parsed request into
// a Plan; blocking servers and the event loop only differ in how they carry a Plan out.
// Pure: no syscalls here; the static files come from the App (lib/public-root.ts opens them).
import { HttpError, Request } from './http/request';
import { ALLOW, errorResponse, HTML, htmlResponse, responseHead } from './http/response';
import * as gb from './guestbook/guestbook';
import { RespError, RespValue } from './redis/resp';
import { STATS_PAGE } from './stats-page';

export type Plan =
  /** A whole response in memory. */
  | { kind: 'bytes'; status: number; data: Buffer }
  /** Headers, then (unless HEAD) `size` bytes of the open file `fd` with sendfile(). The sender closes fd. */
  | { kind: 'file'; status: number; head: Buffer; fd: number; size: number; sendBody: boolean }
  /** Run these Redis commands one round trip at a time, then answer respond(replies). */
  | { kind: 'redis'; commands: string[][]; respond(replies: RespValue[]): Plan; unavailable(): Plan };

/** What route() needs of the site: the guestbook's templates, and the static files beneath the public root (lib/public-root.ts). */
export interface App {
  templates: gb.Templates;
  /** The file at `rawPath` (as requested) beneath the public root, as a Plan: a file to send, a redirect or an error. */
  staticFile(rawPath: string, head: boolean, query: string): Plan;
  /** --stats-page: the live counters as JSON text (lib/live.ts); /_stats and /_stats.json are served only with it. */
  liveStats?: () => string;
}

export function errorPlan(
  status: number,
  opts: { message?: string; head?: boolean; extra?: Record<string, string> } = {},
): Plan {
  return { kind: 'bytes', status, data: errorResponse(status, opts) };
}

export function httpErrorPlan(err: HttpError): Plan {
  return errorPlan(err.status, { message: err.message });
}

const html = (status: number, page: string, head: boolean): Plan => ({
  kind: 'bytes',
  status,
  data: htmlResponse(status, page, { head }),
});

export function route(app: App, req: Request): Plan {
  const head = req.method === 'HEAD';
  const isGet = req.method === 'GET' || head;
  if (!isGet && req.method !== 'POST')
    return errorPlan(501, { message: `${req.method} is not supported`, extra: { Allow: ALLOW } });
  if (app.liveStats && (req.path === '/_stats' || req.path === '/_stats.json')) {
    if (!isGet) return errorPlan(405, { extra: { Allow: 'GET, HEAD' } });
    if (req.path === '/_stats') return html(200, STATS_PAGE, head);
    const body = Buffer.from(app.liveStats());
    const h = responseHead(200, 'application/json', body.length, { 'Cache-Control': 'no-store' });
    return { kind: 'bytes', status: 200, data: head ? h : Buffer.concat([h, body]) };
  }
  if (req.path === '/guestbook') return isGet ? guestbookGet(app, req) : guestbookPost(app, req);
  if (!isGet) return errorPlan(405, { extra: { Allow: 'GET, HEAD' } });
  return app.staticFile(req.path, head, req.query);
}

/** Redis answered, but with a transient error (restarting and loading its data, busy): unavailable, not broken. */
function transientRedisError(replies: RespValue[]): boolean {
  return replies.some((r) => r instanceof RespError && /^(LOADING|BUSY|TRYAGAIN|MASTERDOWN)\b/.test(r.message));
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
        return gb.headAnswered(replies)
          ? { kind: 'bytes', status: 200, data: responseHead(200, HTML, null) }
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
      transientRedisError(replies)
        ? html(503, gb.renderUnavailable(), false)
        : !gb.postAcknowledged(replies)
          ? errorPlan(502, { message: 'the database refused the remark' })
          : html(200, gb.renderThanks(app.templates, form), false),
    unavailable: () => html(503, gb.renderUnavailable(), false),
  };
}
