// /_stats in a real browser: Debian's chromium, headless, driven by playwright-core. The page
// must draw, from /_stats.json alone (no network beyond the server), the requests this test made.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { startServer } from './helpers/server';
import { get } from './helpers/http';
import { skipBecause } from './helpers/skip';
import { freePort } from '../lib/net-probe';

const CHROMIUM = '/usr/bin/chromium';
const FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

describe('/_stats in headless chromium', function () {
  this.timeout(60_000);

  it('charts the requests this test made, and asks nothing of any other host', async function () {
    if (!fs.existsSync(CHROMIUM)) skipBecause(this, `no browser at ${CHROMIUM} (apt-get install chromium)`);
    const { chromium } = require('playwright-core') as typeof import('playwright-core');
    const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'zerohttpd-chromium-'));
    const srv = await startServer(['epoll', '--redis', `127.0.0.1:${await freePort()}`, '--stats-page', '--quiet']);
    const origin = `http://127.0.0.1:${srv.port}`;
    const browser = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: FLAGS,
    });
    try {
      for (let i = 0; i < 5; i++) assert.equal((await get(srv.port, '/')).status, 200);
      const page = browser.pages()[0] ?? (await browser.newPage());
      const asked: string[] = [];
      page.on('request', (r) => asked.push(r.url()));
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      await page.goto(`${origin}/_stats`);
      // Evaluated in the page (a string: test/ is compiled without the DOM's types).
      const last = (n: number) =>
        page.waitForFunction(`document.querySelector('#chart-requests polyline')?.dataset.last === '${n}'`, null, {
          timeout: 20_000,
        });
      await last(5);
      for (let i = 0; i < 3; i++) assert.equal((await get(srv.port, '/')).status, 200);
      await last(8); // the page's own requests are not counted
      assert.equal(await page.textContent('#requests'), '8');
      // Two samples at least: the line is drawn, with the highest point at the total.
      const points = (await page.getAttribute('#chart-requests polyline', 'points')) ?? '';
      assert.ok(points.split(' ').length >= 2, points);
      assert.equal(await page.getAttribute('#chart-requests polyline', 'data-max'), '8');
      assert.deepEqual(errors, []);
      assert.deepEqual(
        asked.filter((u) => !u.startsWith(`${origin}/`)),
        [],
        'the page is self-contained',
      );
    } finally {
      await browser.close();
      fs.rmSync(profile, { recursive: true, force: true });
      assert.equal((await srv.stop()).code, 0);
    }
  });
});
