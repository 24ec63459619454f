import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import {
  COUNT_KEY, escapeHtml, formatCount, GET_COMMANDS, LIMITS, parseGuestbookForm, postCommands, REMARKS_KEY,
  renderFormError, renderGuestbook, renderThanks, renderUnavailable, Templates,
} from '../lib/guestbook/guestbook';
import { RespError } from '../lib/redis/resp';

// Compiled to dist/test/, templates stay at the project root.
const templates = new Templates(path.join(__dirname, '..', '..', 'templates'));
const form = (fields: Record<string, string>) => Buffer.from(new URLSearchParams(fields).toString());

describe('guestbook', () => {
  it('uses the article\'s keys and three GET round trips', () => {
    assert.equal(REMARKS_KEY, 'guestbook_remarks');
    assert.equal(COUNT_KEY, 'visitor_count');
    assert.deepEqual(GET_COMMANDS, [
      ['LRANGE', 'guestbook_remarks', '0', '-1'],
      ['INCR', 'visitor_count'],
      ['GET', 'visitor_count'],
    ]);
  });

  it('formats counts with thousands separators', () => {
    assert.equal(formatCount(0), '0');
    assert.equal(formatCount(999), '999');
    assert.equal(formatCount(1234), '1,234');
    assert.equal(formatCount('1234567'), '1,234,567');
    assert.equal(formatCount(100000), '100,000');
  });

  it('escapes HTML', () => {
    assert.equal(escapeHtml(`<a href="x">Tom & 'Jerry'</a>`), '&lt;a href=&quot;x&quot;&gt;Tom &amp; &#39;Jerry&#39;&lt;/a&gt;');
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

    it('renders 10,000 remarks quickly', () => {
      const remarks = Array.from({ length: 10_000 }, (_, i) => `remark <${i}> - guest ${i}`);
      const t0 = Date.now();
      const html = renderGuestbook(templates, [remarks, 10_000, '10000']);
      assert.ok(Date.now() - t0 < 1000);
      assert.equal(html.split('<li>').length - 1, 10_000);
      assert.ok(html.includes('remark &lt;9999&gt; - guest 9999'));
      assert.match(html, /visitor number 10,000/);
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
      assert.deepEqual(parseGuestbookForm(Buffer.from('guest-name=+Ann%20Lee+&guest-remarks=Hello+%26+welcome%21%0A')), {
        ok: true, name: 'Ann Lee', remarks: 'Hello & welcome!',
      });
      assert.deepEqual(parseGuestbookForm(form({ 'guest-name': 'Zoë', 'guest-remarks': '日本語 ok' })), {
        ok: true, name: 'Zoë', remarks: '日本語 ok',
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
      const r = parseGuestbookForm(form({ 'guest-name': '€'.repeat(LIMITS.name), 'guest-remarks': '😀'.repeat(LIMITS.remarks) }));
      assert.equal(r.ok, true);
    });
  });

  it('stores "<remarks> - <name>" with RPUSH', () => {
    assert.deepEqual(postCommands({ name: 'Ann', remarks: 'Great' }), [['RPUSH', 'guestbook_remarks', 'Great - Ann']]);
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
