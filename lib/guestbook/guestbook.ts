// The article's Redis-backed guestbook: pure command building, form parsing and page rendering.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { RespError, RespValue } from '../redis/resp';
import { escapeHtml } from '../http/response';

export const REMARKS_KEY = 'guestbook_remarks', COUNT_KEY = 'visitor_count';

/** GET /guestbook makes three round trips on purpose, as in the article. */
export const GET_COMMANDS: string[][] = [
  ['LRANGE', REMARKS_KEY, '0', '-1'],
  ['INCR', COUNT_KEY],
  ['GET', COUNT_KEY],
];

export const LIMITS = { name: 100, remarks: 1000 };

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

export function renderGuestbook(t: Templates, replies: RespValue[]): string {
  if (replies.length !== GET_COMMANDS.length) throw new Error(`guestbook: expected 3 replies, got ${replies.length}`);
  const [remarks, incr, count] = replies;
  if (!Array.isArray(remarks) || !remarks.every((r) => typeof r === 'string')) throw invalid('LRANGE', remarks);
  if (typeof incr !== 'number') throw invalid('INCR', incr);
  if (!(typeof count === 'number' || (typeof count === 'string' && /^\d+$/.test(count)))) throw invalid('GET', count);
  const items = remarks.length === 0
    ? '<li class="empty">No remarks yet. Be the first!</li>'
    : (remarks as string[]).map((r) => `<li>${escapeHtml(r)}</li>`).join('\n');
  return fill(t.guestbook, { remarks: items, visitor_count: formatCount(count) });
}

export type GuestbookForm = { ok: true; name: string; remarks: string } | { ok: false; message: string };

export function parseGuestbookForm(body: Buffer): GuestbookForm {
  const params = new URLSearchParams(body.toString('utf8'));
  const name = (params.get('guest-name') ?? '').trim();
  const remarks = (params.get('guest-remarks') ?? '').trim();
  if (!name) return { ok: false, message: 'Please enter your name.' };
  if (!remarks) return { ok: false, message: 'Please enter some remarks.' };
  // Count characters (code points), not UTF-16 units.
  if ([...name].length > LIMITS.name) return { ok: false, message: `Your name is too long (at most ${LIMITS.name} characters).` };
  if ([...remarks].length > LIMITS.remarks) {
    return { ok: false, message: `Your remarks are too long (at most ${LIMITS.remarks} characters).` };
  }
  return { ok: true, name, remarks };
}

export function postCommands(form: { name: string; remarks: string }): string[][] {
  return [['RPUSH', REMARKS_KEY, `${form.remarks} - ${form.name}`]];
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
  return smallPage('Could not sign the guestbook', `<p>${escapeHtml(message)}</p>\n<p><a href="/guestbook">Back to the guestbook</a></p>`);
}

export function renderUnavailable(): string {
  return smallPage(
    'Service unavailable',
    "<p>Sorry, the guestbook's database is unreachable right now. Please try again in a moment.</p>\n" +
      '<p><a href="/guestbook">Try again</a></p>',
  );
}
