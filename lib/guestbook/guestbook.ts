// The article's Redis-backed guestbook: pure command building, form parsing and page rendering.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { RespError, RespValue } from '../redis/resp';
import { escapeHtml } from '../http/response';

export const REMARKS_KEY = 'guestbook_remarks',
  COUNT_KEY = 'visitor_count';

export const LIMITS = { name: 100, remarks: 1000 };

/**
 * Bounds (SECURITY.md): a page shows PAGE_SIZE remarks, newest first (page 1 = the newest);
 * every POST trims the list to the newest MAX_REMARKS, so there are at most MAX_PAGES pages.
 */
export const PAGE_SIZE = 50,
  MAX_REMARKS = 10_000,
  MAX_PAGES = MAX_REMARKS / PAGE_SIZE;
/** The longest entry a POST stores, "<remarks> - <name>", in UTF-16 units; longer ones are clipped on the page. */
export const MAX_STORED = 2 * (LIMITS.remarks + ' - '.length + LIMITS.name);

export type Paging = { ok: true; page: number } | { ok: false; message: string };

/** `?page=K` from the query string: 1 when absent, else a whole number from 1 to MAX_PAGES (a 400 otherwise). */
export function parsePage(query: string): Paging {
  const values = new URLSearchParams(query).getAll('page');
  if (values.length === 0) return { ok: true, page: 1 };
  const page = /^[1-9]\d{0,5}$/.test(values[0]) ? Number(values[0]) : 0;
  if (values.length > 1 || page < 1 || page > MAX_PAGES)
    return { ok: false, message: `page must be a whole number from 1 to ${MAX_PAGES}` };
  return { ok: true, page };
}

/**
 * GET /guestbook makes three round trips on purpose, as in the article. RPUSH appends, so the
 * newest remark is at index -1: LRANGE takes the page's PAGE_SIZE remarks counted from there,
 * plus the one before them, whose presence says that an older page exists.
 */
export function getCommands(page: number): string[][] {
  const newest = -1 - (page - 1) * PAGE_SIZE;
  return [
    ['LRANGE', REMARKS_KEY, String(newest - PAGE_SIZE), String(newest)],
    ['INCR', COUNT_KEY],
    ['GET', COUNT_KEY],
  ];
}

/**
 * HEAD /guestbook renders nothing and counts no visit: one O(1) LLEN, so that HEAD still says
 * 503 while Redis is down or loading, then 200 without a Content-Length (the length of a page
 * is only known by rendering it; RFC 9110 9.3.2 lets HEAD omit it).
 */
export const HEAD_COMMANDS: string[][] = [['LLEN', REMARKS_KEY]];

export function headAnswered(replies: RespValue[]): boolean {
  return replies.length === 1 && typeof replies[0] === 'number';
}

export function formatCount(n: number | string): string {
  const s = String(n);
  const m = /^(-?)(\d+)$/.exec(s);
  if (!m) return s;
  return m[1] + m[2].replace(/\B(?=(\d{3})+$)/g, ',');
}

export { escapeHtml };

/** Replaces {{name}} placeholders in one pass; values are inserted verbatim (escape them first). */
export function fill(template: string, values: Record<string, string>): string {
  return template.replace(/\{\{(\w+)\}\}/g, (whole, key: string) => (key in values ? values[key] : whole));
}

export class Templates {
  guestbook: string;
  thanks: string;
  constructor(dir: string) {
    this.guestbook = fs.readFileSync(path.join(dir, 'guestbook.html'), 'utf8');
    this.thanks = fs.readFileSync(path.join(dir, 'thanks.html'), 'utf8');
  }
}

function invalid(what: string, v: RespValue): Error {
  const detail = v instanceof RespError ? `error reply: ${v.message}` : JSON.stringify(v);
  return new Error(`guestbook: unexpected ${what} reply (${detail})`);
}

/** An entry longer than a POST can store (written by something else): its beginning, so the page stays bounded. */
function clip(remark: string): string {
  return remark.length <= MAX_STORED ? remark : remark.slice(0, MAX_STORED) + '…';
}

const pageHref = (page: number) => (page === 1 ? '/guestbook' : `/guestbook?page=${page}`);

function pageLinks(page: number, hasOlder: boolean): string {
  if (page === 1 && !hasOlder) return '';
  const parts = [`Page ${page}`];
  if (page > 1) parts.push(`<a href="${pageHref(page - 1)}" rel="prev">&larr; Newer remarks</a>`);
  if (hasOlder) parts.push(`<a href="${pageHref(page + 1)}" rel="next">Older remarks &rarr;</a>`);
  return parts.join(' &middot; ');
}

/**
 * The page for getCommands(page)'s replies. LRANGE answers oldest first; the page shows the
 * newest PAGE_SIZE of them, newest first, each at most MAX_STORED units long: its size is
 * bounded whatever the list holds.
 */
export function renderGuestbook(t: Templates, replies: RespValue[], page = 1): string {
  if (replies.length !== 3) throw new Error(`guestbook: expected 3 replies, got ${replies.length}`);
  const [remarks, incr, count] = replies;
  if (!Array.isArray(remarks) || !remarks.every((r) => typeof r === 'string')) throw invalid('LRANGE', remarks);
  if (typeof incr !== 'number') throw invalid('INCR', incr);
  if (!(typeof count === 'number' || (typeof count === 'string' && /^\d+$/.test(count)))) throw invalid('GET', count);
  const shown = remarks.slice(-PAGE_SIZE).reverse();
  const items =
    shown.length > 0
      ? shown.map((r) => `<li>${escapeHtml(clip(r))}</li>`).join('\n')
      : page === 1
        ? '<li class="empty">No remarks yet. Be the first!</li>'
        : '<li class="empty">No remarks on this page.</li>';
  const hasOlder = remarks.length > PAGE_SIZE && page < MAX_PAGES;
  return fill(t.guestbook, { remarks: items, visitor_count: formatCount(count), pages: pageLinks(page, hasOlder) });
}

export type GuestbookForm = { ok: true; name: string; remarks: string } | { ok: false; message: string };

export function parseGuestbookForm(body: Buffer): GuestbookForm {
  const params = new URLSearchParams(body.toString('utf8'));
  const name = (params.get('guest-name') ?? '').trim();
  const remarks = (params.get('guest-remarks') ?? '').trim();
  if (!name) return { ok: false, message: 'Please enter your name.' };
  if (!remarks) return { ok: false, message: 'Please enter some remarks.' };
  // Count characters (code points), not UTF-16 units.
  if ([...name].length > LIMITS.name)
    return { ok: false, message: `Your name is too long (at most ${LIMITS.name} characters).` };
  if ([...remarks].length > LIMITS.remarks) {
    return { ok: false, message: `Your remarks are too long (at most ${LIMITS.remarks} characters).` };
  }
  return { ok: true, name, remarks };
}

/**
 * POST /guestbook: LTRIM the list to the newest MAX_REMARKS - 1, then RPUSH the remark (two
 * round trips; the list holds at most MAX_REMARKS afterwards, plus one for each POST
 * running at the same time between the two). Trimming first keeps RPUSH's
 * reply the acknowledgement, as before: a Redis lost during the LTRIM has stored nothing.
 */
export function postCommands(form: { name: string; remarks: string }): string[][] {
  return [
    ['LTRIM', REMARKS_KEY, String(-(MAX_REMARKS - 1)), '-1'],
    ['RPUSH', REMARKS_KEY, `${form.remarks} - ${form.name}`],
  ];
}

/** Both commands of postCommands() succeeded: the remark is stored. */
export function postAcknowledged(replies: RespValue[]): boolean {
  return replies.length === 2 && replies[0] === 'OK' && typeof replies[1] === 'number';
}

export function renderThanks(t: Templates, form: { name: string; remarks: string }): string {
  return fill(t.thanks, { name: escapeHtml(form.name), remarks: escapeHtml(form.remarks) });
}

const SMALL_PAGE_STYLE =
  'body{font-family:system-ui,sans-serif;max-width:36rem;margin:3rem auto;padding:0 1rem;color:#222}' +
  'h1{font-size:1.4rem}a{color:#0645ad}';

function smallPage(title: string, bodyHtml: string): string {
  return `<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>${escapeHtml(title)}</title><style>${SMALL_PAGE_STYLE}</style></head>
<body>
<h1>${escapeHtml(title)}</h1>
${bodyHtml}
</body>
</html>
`;
}

export function renderFormError(message: string): string {
  return smallPage(
    'Could not sign the guestbook',
    `<p>${escapeHtml(message)}</p>\n<p><a href="/guestbook">Back to the guestbook</a></p>`,
  );
}

export function renderUnavailable(): string {
  return smallPage(
    'Service unavailable',
    "<p>Sorry, the guestbook's database is unreachable right now. Please try again in a moment.</p>\n" +
      '<p><a href="/guestbook">Try again</a></p>',
  );
}
