// How the threaded server starts a Worker (docs/threads.md): thread-worker.js and what it requires
// bundled by esbuild into one script, run from a V8 code cache, the warm cache handed back by the first Worker,
// and --worker-code files (plain Node loading) still there.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';
import * as vm from 'node:vm';
import { C, native } from '../lib/sys';
import { boundPort, setupListeningSocket } from '../lib/listen-socket';
import { DEFAULTS } from '../lib/options';
import { cacheAccepted, loadWorkerBundle, mapStack, WORKER_BUNDLE, WorkerBoot } from '../lib/servers/worker-bundle';
import { bundleWorker } from '../scripts/bundle-worker';
import { ADDON_PATHS, ROOT } from '../lib/paths';
import {
  adoptCodeCache,
  cachedThreadStart,
  ClientSlot,
  startThread,
  ThreadStart,
  WORKER_SCRIPT,
} from '../lib/servers/worker-threads';
import { withServer } from './helpers/server';
import { withRedis } from './helpers/redis';
import { get } from './helpers/http';

/** Run a bundle in this thread, as BOOT_SOURCE does in a Worker; what its entry exports. */
function runBundle(boot: WorkerBoot): unknown {
  const fn = new vm.Script(boot.source, { filename: boot.filename }).runInThisContext() as (...a: unknown[]) => void;
  const m = { exports: {} };
  fn.call(m.exports, m.exports, createRequire(boot.filename), m, boot.filename, path.dirname(boot.filename));
  return m.exports;
}

describe('threaded Worker start (worker-bundle.ts, scripts/bundle-worker.ts)', function () {
  this.timeout(30_000);

  describe('the esbuild bundle', () => {
    let dir: string;
    let out: string;
    const addon = path.join(ROOT, ADDON_PATHS[0]);
    before(async () => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zh-bundle-'));
      fs.mkdirSync(path.join(dir, 'sub'));
      fs.mkdirSync(path.join(dir, 'out'));
      fs.writeFileSync(
        path.join(dir, 'entry.js'),
        `const b = require('./sub/b'); const data = require("./data.json"); const p = require('node:path');
         const name = process.env.ZH_NOT_SET || ${JSON.stringify(path.join(dir, 'c.js'))}; const c = require(name);
         module.exports = { b, data, sep: p.sep, c, same: require('./sub/b.js') === b, file: __filename };
         Object.defineProperty(module.exports, 'fail', { value: require('./sub/fail').fail });`,
      );
      // (a computed relative name would resolve from the bundle's directory: lib/ has none)
      // a literal relative require of a .node file, from another directory than the bundle's
      fs.writeFileSync(
        path.join(dir, 'sub', 'b.js'),
        `exports.up = require('../data.json').n + 1;
         exports.addon = require(${JSON.stringify(path.relative(path.join(dir, 'sub'), addon))});`,
      );
      fs.writeFileSync(
        path.join(dir, 'sub', 'fail.js'),
        `// line 1\nexports.fail = () => {\n  throw new Error('from fail.js');\n};`,
      );
      fs.writeFileSync(path.join(dir, 'data.json'), '{"n": 41}');
      fs.writeFileSync(path.join(dir, 'c.js'), `module.exports = 'computed';`);
      out = path.join(dir, 'out', 'entry.bundle.js');
      await bundleWorker(path.join(dir, 'entry.js'), out);
    });
    after(() => fs.rmSync(dir, { recursive: true, force: true }));

    it('holds what the entry requires by literal name; the addon, builtins and computed names go to Node', () => {
      const inputs: Record<string, string> = JSON.parse(fs.readFileSync(`${out}.inputs.json`, 'utf8'));
      assert.deepEqual(Object.keys(inputs).sort(), ['../data.json', '../entry.js', '../sub/b.js', '../sub/fail.js']);
      const boot = loadWorkerBundle(out, false);
      assert.ok(!boot.source.includes('computed'), 'c.js (a name computed at run time) is not in it');
      assert.ok(!boot.source.includes('napi_register'), 'nor the addon');
      const m = runBundle(boot) as Record<string, unknown>;
      assert.deepEqual(m, {
        b: { up: 42, addon: native },
        data: { n: 41 },
        sep: '/',
        c: 'computed',
        same: true,
        file: out, // one module now: __filename is the bundle's
      });
    });

    it("a Worker's error stack is mapped back to the file and line the bundle took the code from", () => {
      const m = runBundle(loadWorkerBundle(out, false)) as { fail: () => void };
      let stack = '';
      try {
        m.fail();
      } catch (e) {
        stack = (e as Error).stack ?? '';
      }
      const first = stack.split('\n')[1];
      assert.match(first, /entry\.bundle\.js:\d+:\d+/, 'V8 reports the bundle');
      assert.match(mapStack(stack, out).split('\n')[1], new RegExp(`${path.join(dir, 'sub', 'fail.js')}:3:9\\)$`));
      assert.equal(mapStack(stack, path.join(dir, 'no-map.js')), stack, 'no map: the stack as it was');
    });

    it('is refused, with what to run, when missing or older than a file it was built from', () => {
      const b = path.join(dir, 'sub', 'b.js');
      const text = fs.readFileSync(b, 'utf8');
      assert.doesNotThrow(() => loadWorkerBundle(out, false));
      fs.writeFileSync(b, text); // the same content again (as tsc rewrites its output): still fresh
      assert.doesNotThrow(() => loadWorkerBundle(out, false));
      fs.writeFileSync(b, `${text}\nexports.more = 1;`);
      assert.throws(() => loadWorkerBundle(out), /entry\.bundle\.js is older than .*sub\/b\.js: run 'npm run bundle'/);
      assert.throws(() => loadWorkerBundle(path.join(dir, 'nope.js')), /nope\.js is not built: run 'npm run bundle'/);
    });

    it("thread-worker.js: the server's modules are in it, and V8 takes its code cache (not for other source)", () => {
      const inputs = Object.keys(JSON.parse(fs.readFileSync(`${WORKER_BUNDLE}.inputs.json`, 'utf8')) as object);
      for (const f of ['../serve.js', '../public-root.js', '../redis/blocking.js', 'thread-worker.js'])
        assert.ok(inputs.includes(f), f);
      assert.ok(inputs.some((f) => /mime-db[/\\]db\.json$/.test(f)));
      const boot = loadWorkerBundle();
      assert.equal(boot.filename, WORKER_BUNDLE);
      assert.equal(path.dirname(WORKER_BUNDLE), path.dirname(WORKER_SCRIPT));
      assert.ok(boot.cache && boot.cache.length > 0);
      assert.equal(cacheAccepted(boot), true);
      assert.equal(cacheAccepted({ ...boot, source: boot.source.replace('use strict', 'use  strict') }), false);
    });
  });

  describe('Workers started from the bundle serve a real connection', () => {
    let listenFd = -1;
    let port = 0;
    before(() => {
      listenFd = setupListeningSocket('127.0.0.1', 0, 16);
      port = boundPort(listenFd);
    });
    after(() => native.close(listenFd));

    /** One GET / served by a Worker started `how`; the status line the client read. */
    async function serveOne(how: ThreadStart, onStart: (t: ReturnType<typeof startThread>) => void = () => {}) {
      const c = native.socket(C.AF_INET, C.SOCK_STREAM | C.SOCK_CLOEXEC);
      assert.equal(native.connect(c, '127.0.0.1', port), 0);
      const s = native.accept4(listenFd, C.SOCK_CLOEXEC);
      assert.ok(s >= 0);
      const req = Buffer.from('GET / HTTP/1.0\r\n\r\n');
      native.send(c, req, 0, req.length);
      const slot = new ClientSlot();
      slot.assign(s);
      const t = startThread(
        { kind: 'threaded', id: 1, opts: { ...DEFAULTS, quiet: true }, listenFd, mutex: null },
        slot,
        how,
      );
      onStart(t);
      assert.equal(await t.exited, 0);
      t.slot.reclaim();
      const buf = Buffer.alloc(65536);
      let text = '';
      for (let n; (n = native.recv(c, buf, 0, buf.length)) > 0;) text += buf.subarray(0, n).toString('latin1');
      native.close(c);
      return text.split('\r\n')[0];
    }

    it('the first Worker hands back a code cache with what its request compiled; the next ones start from it', async () => {
      const start = cachedThreadStart();
      const first = start.boot!.cache!;
      assert.equal(start.boot!.giveCache, true);
      assert.equal(await serveOne(start, (t) => adoptCodeCache(start, t)), 'HTTP/1.0 200 OK');
      await new Promise((r) => setImmediate(r));
      assert.equal(start.boot!.giveCache, false, 'the warm cache was taken');
      assert.ok(
        start.boot!.cache!.length > first.length,
        `warm ${start.boot!.cache!.length} > top-level ${first.length} bytes`,
      );
      assert.equal(cacheAccepted(start.boot!), true);
      assert.equal(await serveOne(start), 'HTTP/1.0 200 OK');
    });
  });

  describe('the threaded server', () => {
    const redis = withRedis();
    const start = withServer(redis);
    it('--worker-code files (plain Node loading) serves as before', async () => {
      const srv = await start(['threaded', '--worker-code', 'files']);
      assert.equal((await get(srv.port, '/')).status, 200);
      assert.equal((await srv.stop('SIGINT')).code, 0);
    });
  });
});
