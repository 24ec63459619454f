// route() (lib/app.ts) without sockets or the addon: a request becomes a Plan; static files are
// asked of the App, whose public-root half (lib/public-root.ts) the server tests cover.
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { App, Plan, route } from '../lib/app';
import { Request } from '../lib/http/request';
import { getCommands, HEAD_COMMANDS, Templates } from '../lib/guestbook/guestbook';
import { TEMPLATES_DIR } from '../lib/paths';

function request(method: string, target: string, body = ''): Request {
  const [p, q = ''] = target.split('?');
  return {
    method,
    target,
    path: p,
    query: q,
    version: 'HTTP/1.1',
    headers: new Map(),
    contentLength: body.length,
    body: Buffer.from(body),
  };
}

/** An App whose static files are recorded, not opened. */
function fakeApp(): App & { asked: [string, boolean, string][] } {
  const asked: [string, boolean, string][] = [];
  const file: Plan = { kind: 'bytes', status: 200, data: Buffer.from('a file') };
  return {
    asked,
    templates: new Templates(TEMPLATES_DIR),
    staticFile: (p, head, query) => (asked.push([p, head, query]), file),
  };
}

const status = (p: Plan) => (p.kind === 'redis' ? 'redis' : p.status);

describe('route() (pure routing)', () => {
  it('asks the App for static files with the path, HEAD and the query string', () => {
    const app = fakeApp();
    assert.equal(status(route(app, request('GET', '/about?x=1'))), 200);
    assert.equal(status(route(app, request('HEAD', '/'))), 200);
    assert.deepEqual(app.asked, [
      ['/about', false, 'x=1'],
      ['/', true, ''],
    ]);
  });

  it('refuses other methods without touching the public root: 501 (unknown), 405 (POST to a file)', () => {
    const app = fakeApp();
    assert.equal(status(route(app, request('PUT', '/'))), 501);
    assert.equal(status(route(app, request('POST', '/index.html'))), 405);
    assert.deepEqual(app.asked, []);
  });

  it('the guestbook is Redis commands: a page for GET, LLEN for HEAD, 400 for a bad page or form', () => {
    const app = fakeApp();
    const get = route(app, request('GET', '/guestbook'));
    assert.ok(get.kind === 'redis');
    assert.deepEqual(get.commands, getCommands(1));
    assert.equal(status(get.unavailable()), 503);
    const head = route(app, request('HEAD', '/guestbook'));
    assert.ok(head.kind === 'redis');
    assert.deepEqual(head.commands, HEAD_COMMANDS);
    assert.equal(status(route(app, request('GET', '/guestbook?page=zero'))), 400);
    assert.equal(status(route(app, request('POST', '/guestbook', 'nonsense'))), 400);
    assert.deepEqual(app.asked, []);
  });

  it('lib/app.ts loads without the addon', () => {
    const r = spawnSync(
      process.execPath,
      [
        '-e',
        `require(${JSON.stringify(path.join(__dirname, '..', 'lib', 'app.js'))});
      console.log(Object.keys(require.cache).filter((f) => f.endsWith('.node') || f.endsWith('sys.js')).join(' '))`,
      ],
      { encoding: 'utf8' },
    );
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim(), '');
  });
});
