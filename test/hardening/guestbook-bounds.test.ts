// The guestbook stays bounded on every architecture in ARCHITECTURES (issue 12): a list of
// 20,000 remarks that HTML escaping expands 5x (1,000 apostrophes each, the red team's case)
// gives a page of PAGE_SIZE remarks, ?page=K pages through the rest, HEAD neither reads the
// list nor counts a visit, and a POST trims the list to MAX_REMARKS.
import * as assert from 'node:assert/strict';
import { runnableArchitectures } from '../helpers/skip';
import { COUNT_KEY, MAX_REMARKS, PAGE_SIZE, REMARKS_KEY } from '../../lib/guestbook/guestbook';
import { withRedis } from '../helpers/redis';
import { withServer } from '../helpers/server';
import { get, post, rawRequest, RawResponse } from '../helpers/http';

const FILL = 20_000;
const remark = (i: number) => `${"'".repeat(1000)} - #${i}`; // stored as "<remarks> - <name>", name "#i"
/** Small pools: a few requests each, on a shared machine. */
const ARGS: Record<string, string[]> = {
  preforked: ['--workers', '2'],
  prethreaded: ['--threads', '2'],
  threaded: ['--max-threads', '4'],
};

/** The "#i" of each remark on a page, in page order. */
const shown = (r: RawResponse) => [...r.body.toString('utf8').matchAll(/ - #(\d+)<\/li>/g)].map((m) => Number(m[1]));
const range = (from: number, count: number) => Array.from({ length: count }, (_, k) => from - k);

describe('guestbook bounds, on every architecture', function () {
  this.timeout(120_000);
  const redis = withRedis();
  const start = withServer(redis);

  /** How many times Redis ran a command (INFO commandstats), to prove what a request did not do. */
  async function calls(cmd: string): Promise<number> {
    const m = new RegExp(`^cmdstat_${cmd}:calls=(\\d+)`, 'm').exec(await redis().client().info('commandstats'));
    return m ? Number(m[1]) : 0;
  }

  for (const arch of runnableArchitectures()) {
    it(`${arch}: a bounded page of ${PAGE_SIZE}, ?page=, HEAD without LRANGE or INCR, POST trims to ${MAX_REMARKS}`, async () => {
      const c = redis().client();
      await c.flushall();
      const fill = c.pipeline();
      for (let i = 0; i < FILL; i += 1000)
        fill.rpush(REMARKS_KEY, ...Array.from({ length: 1000 }, (_, k) => remark(i + k)));
      await fill.exec();
      await c.set(COUNT_KEY, '41');
      const srv = await start([arch, ...(ARGS[arch] ?? [])]);

      // Page 1: the newest PAGE_SIZE, newest first; 5x expansion of 50 remarks, not of 20,000 (110 MB).
      const first = await get(srv.port, '/guestbook');
      assert.equal(first.status, 200);
      assert.equal(first.headers['content-length'], String(first.body.length), 'whole body');
      assert.ok(first.body.length < PAGE_SIZE * (5 * 1000 + 50) + 5000, `page of ${first.body.length} bytes`);
      assert.deepEqual(shown(first), range(FILL - 1, PAGE_SIZE));
      assert.match(first.body.toString(), /<a href="\/guestbook\?page=2" rel="next">/);
      assert.ok(first.body.toString().includes('visitor number 42'));

      const second = await get(srv.port, '/guestbook?page=2');
      assert.equal(second.status, 200);
      assert.deepEqual(shown(second), range(FILL - 1 - PAGE_SIZE, PAGE_SIZE));
      assert.match(
        second.body.toString(),
        /<a href="\/guestbook" rel="prev">.*<a href="\/guestbook\?page=3" rel="next">/,
      );

      for (const bad of ['/guestbook?page=0', '/guestbook?page=201', '/guestbook?page=x']) {
        const r = await get(srv.port, bad);
        assert.equal(r.status, 400, bad);
        assert.ok(r.body.toString().includes('page must be a whole number from 1 to 200'), bad);
      }

      // HEAD: one LLEN, no LRANGE, no INCR; 200 without a Content-Length (the page is not rendered).
      const before = await Promise.all(['lrange', 'incr', 'llen'].map(calls));
      const head = await rawRequest(srv.port, 'HEAD /guestbook HTTP/1.0\r\nHost: x\r\n\r\n');
      assert.equal(head.status, 200);
      assert.equal(head.body.length, 0);
      assert.equal(head.headers['content-length'], undefined);
      assert.match(head.headers['content-type'], /^text\/html/);
      assert.deepEqual(await Promise.all(['lrange', 'incr', 'llen'].map(calls)), [before[0], before[1], before[2] + 1]);
      assert.equal(await c.get(COUNT_KEY), '43', 'two GETs counted; the 400s and the HEAD were not');

      // POST: LTRIM to MAX_REMARKS - 1, then RPUSH: the newest MAX_REMARKS are kept.
      const p = await post(srv.port, '/guestbook', { 'guest-name': 'Ann', 'guest-remarks': 'capped' });
      assert.equal(p.status, 200);
      assert.equal(await c.llen(REMARKS_KEY), MAX_REMARKS);
      assert.deepEqual(await c.lrange(REMARKS_KEY, 0, 0), [remark(FILL - MAX_REMARKS + 1)]);
      assert.deepEqual(await c.lrange(REMARKS_KEY, -1, -1), ['capped - Ann']);

      // HEAD still answers 503 while Redis is down.
      await redis().stop();
      try {
        const down = await rawRequest(srv.port, 'HEAD /guestbook HTTP/1.0\r\nHost: x\r\n\r\n');
        assert.equal(down.status, 503);
        assert.equal(down.body.length, 0);
      } finally {
        await redis().start();
      }
    });
  }
});
