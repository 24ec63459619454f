import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import {
  COUNT_KEY,
  escapeHtml,
  formatCount,
  getCommands,
  HEAD_COMMANDS,
  headAnswered,
  LIMITS,
  MAX_PAGES,
  MAX_REMARKS,
  MAX_STORED,
  PAGE_SIZE,
  parseGuestbookForm,
  parsePage,
  postAcknowledged,
  postCommands,
  REMARKS_KEY,
  renderFormError,
  renderGuestbook,
  renderThanks,
  renderUnavailable,
  Templates,
} from '../lib/guestbook/guestbook';
import { RespError } from '../lib/redis/resp';

// Compiled to dist/test/, templates stay at the project root.
const templates = new Templates(path.join(__dirname, '..', '..', 'templates'));
const form = (fields: Record<string, string>) => Buffer.from(new URLSearchParams(fields).toString());

describe('guestbook', () => {
  it("uses the article's keys and three GET round trips, LRANGE over one page and one more", () => {
    assert.equal(REMARKS_KEY, 'guestbook_remarks');
    assert.equal(COUNT_KEY, 'visitor_count');
    assert.deepEqual(getCommands(1), [
      ['LRANGE', 'guestbook_remarks', '-51', '-1'],
      ['INCR', 'visitor_count'],
      ['GET', 'visitor_count'],
    ]);
    assert.deepEqual(getCommands(2)[0], ['LRANGE', 'guestbook_remarks', '-101', '-51']);
    assert.deepEqual(getCommands(MAX_PAGES)[0], ['LRANGE', 'guestbook_remarks', '-10001', '-9951']);
    assert.deepEqual(HEAD_COMMANDS, [['LLEN', 'guestbook_remarks']], 'HEAD: no LRANGE, no INCR');
  });

  it('bounds: 50 remarks a page, 10,000 kept, 200 pages', () => {
    assert.deepEqual([PAGE_SIZE, MAX_REMARKS, MAX_PAGES], [50, 10_000, 200]);
    assert.equal(MAX_STORED, 2 * (1000 + 3 + 100));
  });

  describe('parsePage', () => {
    it('accepts ?page=K for K from 1 to MAX_PAGES, 1 when absent', () => {
      assert.deepEqual(parsePage(''), { ok: true, page: 1 });
      assert.deepEqual(parsePage('x=1&y'), { ok: true, page: 1 });
      assert.deepEqual(parsePage('page=1'), { ok: true, page: 1 });
      assert.deepEqual(parsePage('page=2&x=y'), { ok: true, page: 2 });
      assert.deepEqual(parsePage('page=%32'), { ok: true, page: 2 });
      assert.deepEqual(parsePage(`page=${MAX_PAGES}`), { ok: true, page: MAX_PAGES });
    });

    it('refuses anything else with a message (a 400, never a crash)', () => {
      for (const q of [
        'page=',
        'page',
        'page=0',
        'page=-1',
        'page=01',
        'page=1.5',
        'page=1e2',
        'page=+2',
        'page=%20%32',
        'page=0x10',
        'page=abc',
        `page=${MAX_PAGES + 1}`,
        'page=99999999999999999999999',
        `page=${'9'.repeat(5000)}`,
        'page=1&page=2',
        'page=Infinity',
      ]) {
        const r = parsePage(q);
        assert.equal(r.ok, false, q.slice(0, 40));
        if (!r.ok) assert.match(r.message, /page must be a whole number from 1 to 200/);
      }
    });
  });

  it('formats counts with thousands separators', () => {
    assert.equal(formatCount(0), '0');
    assert.equal(formatCount(999), '999');
    assert.equal(formatCount(1234), '1,234');
    assert.equal(formatCount('1234567'), '1,234,567');
    assert.equal(formatCount(100000), '100,000');
  });

  it('escapes HTML', () => {
    assert.equal(
      escapeHtml(`<a href="x">Tom & 'Jerry'</a>`),
      '&lt;a href=&quot;x&quot;&gt;Tom &amp; &#39;Jerry&#39;&lt;/a&gt;',
    );
  });

  describe('renderGuestbook', () => {
    it('renders the form, escaped remarks and the visitor number', () => {
      const html = renderGuestbook(templates, [['Nice <b>site</b> - Ann', 'Hi & bye - Bob'], 1234, '1234']);
      assert.match(html, /<form[^>]*method="POST"[^>]*action="\/guestbook"/i);
      assert.match(html, /name="guest-name"/);
      assert.match(html, /name="guest-remarks"/);
      assert.ok(html.includes('Nice &lt;b&gt;site&lt;/b&gt; - Ann'));
      assert.ok(html.includes('Hi &amp; bye - Bob'));
      assert.ok(!html.includes('<b>site</b>'));
      assert.match(html, /visitor number 1,234/);
      assert.ok(!html.includes('{{'), 'no placeholder left');
    });

    it('does not expand placeholders found inside remarks', () => {
      const html = renderGuestbook(templates, [['{{visitor_count}} - x'], 5, '5']);
      assert.ok(html.includes('{{visitor_count}} - x'));
    });

    it('renders an empty guestbook', () => {
      const html = renderGuestbook(templates, [[], 1, '1']);
      assert.match(html, /visitor number 1\b/);
    });

    it("shows at most PAGE_SIZE remarks, newest first; the LRANGE's extra, older one only links to the next page", () => {
      const remarks = Array.from({ length: 10_000 }, (_, i) => `remark <${i}>`); // a reply longer than asked for
      const html = renderGuestbook(templates, [remarks, 7, '7']);
      assert.equal(html.split('<li>').length - 1, PAGE_SIZE);
      let pos = 0;
      for (let i = 9999; i > 9999 - PAGE_SIZE; i--) {
        const at = html.indexOf(`<li>remark &lt;${i}&gt;</li>`);
        assert.ok(at > pos, `remark ${i} missing or out of order`);
        pos = at;
      }
      assert.ok(html.includes('<a href="/guestbook?page=2" rel="next">'));
      assert.ok(!html.includes('rel="prev"'));
    });

    it('links newer and older pages; none on a single page; no older link past MAX_PAGES', () => {
      const remarks = (n: number) => Array.from({ length: n }, (_, i) => `r${i}`);
      const one = renderGuestbook(templates, [remarks(PAGE_SIZE), 1, '1']);
      assert.ok(
        !one.includes('?page=') && !one.includes('rel="prev"') && !one.includes('rel="next"'),
        'exactly one page: no links',
      );
      const middle = renderGuestbook(templates, [remarks(PAGE_SIZE + 1), 1, '1'], 3);
      assert.match(
        middle,
        /Page 3 .*<a href="\/guestbook\?page=2" rel="prev">.*<a href="\/guestbook\?page=4" rel="next">/,
      );
      const second = renderGuestbook(templates, [remarks(3), 1, '1'], 2);
      assert.ok(second.includes('<a href="/guestbook" rel="prev">') && !second.includes('rel="next"'));
      const last = renderGuestbook(templates, [remarks(PAGE_SIZE + 1), 1, '1'], MAX_PAGES);
      assert.ok(
        last.includes(`?page=${MAX_PAGES - 1}`) && !last.includes('rel="next"'),
        'the list holds at most MAX_PAGES pages',
      );
      const past = renderGuestbook(templates, [[], 1, '1'], 5);
      assert.ok(past.includes('No remarks on this page.') && past.includes('?page=4" rel="prev"'));
    });

    it("pages through a list of any length (LRANGE's index rules) showing each remark exactly once, newest first", () => {
      // Redis LRANGE with negative indices: counted from the end, start clamped to 0, empty if end < 0.
      const lrange = (list: string[], start: number, end: number) => {
        const s = Math.max(list.length + start, 0),
          e = list.length + end;
        return e < 0 ? [] : list.slice(s, e + 1);
      };
      for (const n of [0, 1, 49, 50, 51, 99, 100, 101, 777, MAX_REMARKS]) {
        const list = Array.from({ length: n }, (_, i) => `#${i}`);
        const seen: string[] = [];
        for (let page = 1; ; page++) {
          const [, , start, end] = getCommands(page)[0];
          const html = renderGuestbook(templates, [lrange(list, Number(start), Number(end)), 1, '1'], page);
          seen.push(...[...html.matchAll(/<li>(#\d+)<\/li>/g)].map((m) => m[1]));
          if (!html.includes(`?page=${page + 1}"`)) break;
          assert.ok(page < MAX_PAGES);
        }
        assert.deepEqual(seen, [...list].reverse(), `list of ${n}`);
      }
    });

    it('a page is bounded: PAGE_SIZE remarks x the longest entry x the worst escaping, whatever Redis holds', () => {
      const empty = Buffer.byteLength(renderGuestbook(templates, [[], 1, '1'], 2));
      const item = (units: number) => '<li></li>\n'.length + 6 * units; // '"' -> '&quot;': 6 bytes per UTF-16 unit at most
      // The worst a POST can store: 1,000 quotes (or apostrophes, the red team's &#39;) and a 100-character name.
      for (const c of [`'`, '"']) {
        const worst = `${c.repeat(LIMITS.remarks)} - ${c.repeat(LIMITS.name)}`;
        const html = renderGuestbook(templates, [Array(PAGE_SIZE + 1).fill(worst), 1, '1'], 2);
        assert.equal(html.split('<li>').length - 1, PAGE_SIZE);
        assert.ok(html.includes(`<li>${escapeHtml(worst)}</li>`), 'a stored remark is shown whole');
        const bound = empty + PAGE_SIZE * item(LIMITS.remarks + 3 + LIMITS.name) + 200; // + the page links
        assert.ok(Buffer.byteLength(html) <= bound, `${Buffer.byteLength(html)} > ${bound}`);
      }
      // Longer entries written straight into Redis are clipped to MAX_STORED units.
      const huge = '"'.repeat(1_000_000);
      const html = renderGuestbook(templates, [Array(PAGE_SIZE).fill(huge), 1, '1']);
      assert.ok(html.includes(`<li>${'&quot;'.repeat(MAX_STORED)}…</li>`));
      assert.ok(Buffer.byteLength(html) <= empty + PAGE_SIZE * (item(MAX_STORED) + 3) + 200);
    });

    it('throws on invalid replies', () => {
      const bad: unknown[][] = [
        [new RespError('ERR boom'), 1, '1'],
        [['a'], new RespError('WRONGTYPE x'), '1'],
        [['a'], 1, null],
        [null, 1, '1'],
        [['a', 5], 1, '1'],
        [['a'], 1],
      ];
      for (const replies of bad) assert.throws(() => renderGuestbook(templates, replies as never), Error);
    });
  });

  describe('parseGuestbookForm', () => {
    it('decodes urlencoded fields and trims them', () => {
      assert.deepEqual(
        parseGuestbookForm(Buffer.from('guest-name=+Ann%20Lee+&guest-remarks=Hello+%26+welcome%21%0A')),
        {
          ok: true,
          name: 'Ann Lee',
          remarks: 'Hello & welcome!',
        },
      );
      assert.deepEqual(parseGuestbookForm(form({ 'guest-name': 'Zoë', 'guest-remarks': '日本語 ok' })), {
        ok: true,
        name: 'Zoë',
        remarks: '日本語 ok',
      });
    });

    it('rejects missing, empty and too long fields with a message', () => {
      const cases = [
        Buffer.alloc(0),
        form({ 'guest-remarks': 'hi' }),
        form({ 'guest-name': '   ', 'guest-remarks': 'hi' }),
        form({ 'guest-name': 'Ann', 'guest-remarks': ' \n ' }),
        form({ 'guest-name': 'a'.repeat(LIMITS.name + 1), 'guest-remarks': 'hi' }),
        form({ 'guest-name': 'Ann', 'guest-remarks': 'r'.repeat(LIMITS.remarks + 1) }),
      ];
      for (const body of cases) {
        const r = parseGuestbookForm(body);
        assert.equal(r.ok, false, body.toString());
        if (!r.ok) assert.ok(r.message.length > 0);
      }
    });

    it('accepts fields exactly at the limits (counted in characters)', () => {
      const r = parseGuestbookForm(
        form({ 'guest-name': '€'.repeat(LIMITS.name), 'guest-remarks': '😀'.repeat(LIMITS.remarks) }),
      );
      assert.equal(r.ok, true);
    });
  });

  it('stores "<remarks> - <name>" with RPUSH after an LTRIM that caps the list at MAX_REMARKS', () => {
    assert.deepEqual(postCommands({ name: 'Ann', remarks: 'Great' }), [
      ['LTRIM', 'guestbook_remarks', '-9999', '-1'],
      ['RPUSH', 'guestbook_remarks', 'Great - Ann'],
    ]);
    assert.equal(postAcknowledged(['OK', 10_000]), true);
    for (const bad of [
      ['OK'],
      [10_000],
      ['OK', new RespError('WRONGTYPE x')],
      [new RespError('WRONGTYPE x'), 1],
      ['OK', '1'],
    ]) {
      assert.equal(postAcknowledged(bad), false, JSON.stringify(bad));
    }
  });

  it('HEAD is answered by a number from LLEN', () => {
    assert.equal(headAnswered([0]), true);
    assert.equal(headAnswered([20_000]), true);
    for (const bad of [[], [new RespError('WRONGTYPE x')], ['0'], [null], [0, 1]])
      assert.equal(headAnswered(bad), false);
  });

  it('renders the thank-you, form-error and unavailable pages', () => {
    const thanks = renderThanks(templates, { name: '<Ann>', remarks: 'hi & bye' });
    assert.ok(thanks.includes('&lt;Ann&gt;') && thanks.includes('hi &amp; bye'));
    assert.match(thanks, /href="\/guestbook"/);
    assert.ok(!thanks.includes('{{'));

    const err = renderFormError('Name <too> long');
    assert.ok(err.includes('Name &lt;too&gt; long'));
    assert.match(err, /href="\/guestbook"/);

    assert.ok(renderUnavailable().includes("the guestbook's database is unreachable"));
  });
});
