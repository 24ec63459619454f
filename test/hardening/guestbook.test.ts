// Hardening: guestbook escaping and paging against every architecture (common.ts).
import * as assert from 'node:assert/strict';
import { REMARKS_KEY } from '../../lib/guestbook/guestbook';
import { describeEveryArch, exchange, form, postReq, summary } from './common';

describeEveryArch('guestbook', (env) => {
  it('escapes guestbook content and pages 10,000 remarks, 50 a page, newest first', async () => {
    const { srv, redis } = env;
    const c = redis.client();
    await c.del(REMARKS_KEY);
    const items: string[] = [];
    for (let i = 0; i < 10_000; i++) items.push(`entry-${i}-<i>`);
    for (let i = 0; i < items.length; i += 1000) await c.rpush(REMARKS_KEY, ...items.slice(i, i + 1000));
    const evilName = '"><img src=x onerror=alert(1)>';
    const evilRemark = "<script>alert('x')</script> & </li>";
    const t = await exchange(srv.port, postReq(form({ 'guest-name': evilName, 'guest-remarks': evilRemark })));
    assert.equal(t.status, 200);
    assert.ok(!t.body.includes('<script>alert') && !t.body.includes('<img src=x'), 'thanks page unescaped');
    assert.ok(t.body.includes('&lt;script&gt;'), 'thanks page shows the escaped remark');
    assert.equal(await c.lindex(REMARKS_KEY, 0), items[1], 'the POST trimmed the list to 10,000');
    await c.rpush(REMARKS_KEY, '</li></ul><script>stored()</script>', 'a "quoted" & \'single\' <b>');
    const inOrder = (page: string, expected: string[]) => {
      let pos = -1;
      for (const e of expected) {
        const at = page.indexOf(`<li>${e}</li>`, pos + 1);
        assert.ok(at > pos, `${e} missing or out of order`);
        pos = at;
      }
    };
    const entries = (from: number, count: number) =>
      Array.from({ length: count }, (_, k) => `entry-${from - k}-&lt;i&gt;`);
    const pages: string[] = [];
    for (const target of ['/guestbook', '/guestbook?page=2']) {
      const r = await exchange(srv.port, `GET ${target} HTTP/1.0\r\n\r\n`, { timeoutMs: 30_000 });
      assert.equal(r.status, 200);
      assert.equal(r.headers['content-length'], String(r.body.length), 'whole body');
      const page = r.body.toString('utf8');
      assert.ok(
        !page.includes('<script>stored') && !page.includes('<script>alert') && !page.includes('<img src=x'),
        'stored content unescaped',
      );
      assert.equal(page.match(/<li>/g)?.length, 50);
      assert.match(page, /<\/html>\s*$/);
      pages.push(page);
    }
    inOrder(pages[0], [
      'a &quot;quoted&quot; &amp; &#39;single&#39; &lt;b&gt;',
      '&lt;/li&gt;&lt;/ul&gt;&lt;script&gt;stored()&lt;/script&gt;',
      '&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &lt;/li&gt; - &quot;&gt;&lt;img src=x onerror=alert(1)&gt;',
      ...entries(9999, 47),
    ]);
    inOrder(pages[1], entries(9952, 50));
    summary.served += 3;
    await c.del(REMARKS_KEY);
  });
});
