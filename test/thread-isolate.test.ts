// The threaded server's default thread (docs/threads.md): a native thread running a bare V8
// isolate (native/isolate.cc) that compiles thread-isolate.bundle.js from a code cache and serves
// one client. Here: the bundle's stand-ins answer as what they replace, threads made in this
// process serve a real connection, fail and are terminated as the server expects, and the server
// itself makes one thread per connection, visible under strace -f.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as vm from 'node:vm';
import { spawnSync } from 'node:child_process';
import * as mime from 'mime-types';
import { C, native } from '../lib/sys';
import { boundPort, setupListeningSocket } from '../lib/listen-socket';
import { DEFAULTS } from '../lib/options';
import { ClientSlot } from '../lib/servers/client-slot';
import { ISOLATE_BUNDLE, IsolateThreads } from '../lib/servers/isolate-threads';
import { mimeTableSource } from '../scripts/bundle-worker';
import { withServer } from './helpers/server';
import { withRedis } from './helpers/redis';
import { get, load, post, rawRequest } from './helpers/http';
import { callsOf, startTraced } from './helpers/strace';

describe('threaded: a bare V8 isolate per connection (native/isolate.cc)', function () {
  this.timeout(30_000);

  it("the bundle's mime-types table answers contentType() as the package does", () => {
    const m = { exports: {} as { contentType: (s: unknown) => string | false } };
    const req = (id: string) => {
      assert.equal(id, 'path');
      return require('path-browserify') as unknown; // what the bundle resolves node:path to
    };
    new vm.Script(mimeTableSource()).runInNewContext({ require: req, exports: m.exports, module: m });
    const names = [
      ...Object.keys(mime.types).flatMap((e) => [e, `file.${e}`, `FILE.${e.toUpperCase()}`]),
      ...['', 'a', 'a.', '.bashrc', 'archive.tar.gz', 'x.html.', 'constructor', '__proto__', 'a.__proto__'],
      ...['a.constructor', 'toString', 'a.hasOwnProperty', 'é.txt', 'a b.css', 'a.unknownext'],
    ];
    for (const n of names) assert.equal(m.exports.contentType(n), mime.contentType(n), n);
    // (A MIME type rather than a file name, which lib/http/static.ts never passes, is not kept.)
    assert.equal(m.exports.contentType('text/html'), false);
    assert.equal(m.exports.contentType(undefined), mime.contentType(undefined as unknown as string));
  });

  it('the bundle is built for a context without Node: no require() left, stand-ins for fs, path, Buffer', () => {
    const inputs = Object.keys(JSON.parse(fs.readFileSync(`${ISOLATE_BUNDLE}.inputs.json`, 'utf8')) as object);
    for (const f of [
      '../serve.js',
      '../public-root.js',
      '../redis/blocking.js',
      'thread-isolate.js',
      '../isolate/fs.js',
    ])
      assert.ok(inputs.includes(f), f);
    assert.ok(inputs.some((f) => /node_modules[/\\]buffer[/\\]/.test(f)));
    // mime-db is an input (the table is made from it) but not a module of the bundle: not parsed per thread
    assert.ok(inputs.some((f) => /mime-db[/\\]db\.json$/.test(f)));
    assert.ok(!fs.readFileSync(ISOLATE_BUNDLE, 'utf8').includes('node_modules/mime-db/'), 'mime-db is not bundled');
    // Run its top level in a bare context (as native/isolate.cc does), with a recording `native`:
    // it loads without touching anything but __zerohttpd, and sets serve().
    const calls: string[] = [];
    const fake = new Proxy(
      { constants: C },
      { get: (t, k) => (k in t ? t[k as 'constants'] : () => (calls.push(String(k)), 0)) },
    );
    const boot: { native: unknown; serve?: unknown } = { native: fake };
    const ctx = vm.createContext({ __zerohttpd: boot });
    new vm.Script(fs.readFileSync(ISOLATE_BUNDLE, 'utf8'), { filename: ISOLATE_BUNDLE }).runInContext(ctx);
    assert.equal(typeof boot.serve, 'function');
    assert.deepEqual(calls, [], 'no syscall at load');
  });

  describe('threads made in this process', () => {
    let listenFd = -1;
    let port = 0;
    let dir = '';
    before(() => {
      listenFd = setupListeningSocket('127.0.0.1', 0, 16);
      port = boundPort(listenFd);
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zh-isolate-'));
    });
    after(() => {
      native.close(listenFd);
      fs.rmSync(dir, { recursive: true, force: true });
    });
    const opts = { ...DEFAULTS, quiet: true };

    /** A connected pair through the listening socket: [client, server side], the request sent. */
    function connection(request = 'GET / HTTP/1.0\r\n\r\n'): [number, number] {
      const c = native.socket(C.AF_INET, C.SOCK_STREAM | C.SOCK_CLOEXEC);
      assert.equal(native.connect(c, '127.0.0.1', port), 0);
      const s = native.accept4(listenFd, C.SOCK_CLOEXEC);
      assert.ok(s >= 0);
      const req = Buffer.from(request);
      native.send(c, req, 0, req.length);
      return [c, s];
    }
    /** What the client read until the server closed, and closes it. */
    function response(c: number): string {
      const buf = Buffer.alloc(65536);
      let text = '';
      for (let n; (n = native.recv(c, buf, 0, buf.length)) > 0;) text += buf.subarray(0, n).toString('latin1');
      native.close(c);
      return text;
    }
    /** A script file as the server's bundle is (a fresh .inputs.json beside it). */
    function script(name: string, source: string): string {
      const f = path.join(dir, name);
      fs.writeFileSync(f, source);
      fs.writeFileSync(`${f}.inputs.json`, '{}');
      return f;
    }

    it('serve one client each; the first leaves a code cache with what it compiled, the next start from it', async () => {
      const threads = new IsolateThreads(opts);
      assert.equal(native.isolateCodeCacheSize(), 0);
      for (let i = 1; i <= 3; i++) {
        const [c, s] = connection();
        const slot = new ClientSlot();
        slot.assign(s);
        const t = threads.start(i, slot);
        assert.equal(await t.exited, 0);
        assert.equal(slot.busy, false, 'the thread closed its client');
        assert.match(response(c), /^HTTP\/1\.0 200 OK\r\n[^]*<\/html>/);
        if (i === 1) assert.ok(native.isolateCodeCacheSize() > 10_000, `cache ${native.isolateCodeCacheSize()} bytes`);
      }
    });

    it("the syscall table counts the thread's own calls, not those of its node:fs stand-in (as Node's fs in a Worker)", async () => {
      const threads = new IsolateThreads(opts);
      native.resetSyscallStats();
      native.setSyscallStats(1, false);
      try {
        const [c, s] = connection('GET /index.html HTTP/1.0\r\n\r\n');
        const slot = new ClientSlot();
        slot.assign(s);
        assert.equal(await threads.start(1, slot).exited, 0);
        assert.match(response(c), /^HTTP\/1\.0 200 OK\r\n/);
      } finally {
        native.setSyscallStats(0, false);
      }
      const calls = Object.fromEntries(native.syscallStats().map((r) => [r.name, r.calls]));
      native.resetSyscallStats();
      // The request: the public root (openat2... as the Worker's createApp()), the file (openat,
      // fstat, sendfile, close) and the client's close. Not the guestbook's two templates, which
      // createApp() reads with fs.readFileSync (an openat, fstat, read and close each).
      assert.equal(calls.read, undefined, JSON.stringify(calls));
      assert.equal(calls.sendfile, 1, JSON.stringify(calls));
      assert.equal(calls.openat, 1, JSON.stringify(calls));
    });

    it('a script that throws ends its thread with code 1; the client it never took gets 503', async () => {
      const threads = new IsolateThreads(
        opts,
        script('throws.js', "__zerohttpd.serve = () => { throw new Error('boom'); };"),
      );
      const [c, s] = connection();
      const slot = new ClientSlot();
      slot.assign(s);
      assert.equal(await threads.start(1, slot).exited, 1);
      slot.reclaim(); // what threaded.ts does at the exit of a thread that never took its client
      assert.match(response(c), /^HTTP\/1\.0 503 Service Unavailable\r\n/);
    });

    it('terminate() stops a thread busy in JavaScript (the last resort of stopThreads at Ctrl-C)', async () => {
      const busy = script(
        'busy.js',
        '__zerohttpd.serve = () => { const a = new Int32Array(__zerohttpd.slot); Atomics.store(a, 2, 1); for (;;) {} };',
      );
      const threads = new IsolateThreads(opts, busy);
      const [c, s] = connection();
      const slot = new ClientSlot();
      slot.assign(s);
      const t = threads.start(1, slot);
      while (!slot.tookClient) await new Promise((r) => setImmediate(r)); // it is in its loop
      // Not while one runs: it reports to the current onExit, and counts among the threads alive.
      assert.throws(() => new IsolateThreads(opts, busy), /RangeError: isolate threads are still running/);
      t.terminate();
      assert.equal(await t.exited, 1);
      slot.reclaim();
      native.close(c);
      assert.equal(slot.busy, false);
    });

    it('a thread whose script runs out of JS heap ends with an error; the process lives on', async () => {
      // Without a near-heap-limit callback V8 aborts the whole process (Fatal JavaScript OOM).
      const f = script(
        'oom.js',
        '__zerohttpd.serve = () => { const a = []; for (;;) a.push(new Array(100_000).fill(1.5)); };',
      );
      const ended = new Map<number, (error?: string) => void>();
      assert.equal(
        native.isolateThreadsInit((id, error) => ended.get(id)?.(error)),
        0,
      );
      native.isolateScript(fs.readFileSync(f, 'utf8'), f, JSON.stringify(C), 32); // a 32 MB heap
      for (let i = 1; i <= 2; i++) {
        const [c, s] = connection();
        const slot = new ClientSlot();
        slot.assign(s);
        const error = new Promise<string | undefined>((resolve) => ended.set(i, resolve));
        assert.equal(native.isolateThreadStart(i, slot.buffer, '{}'), 0);
        assert.match(
          (await error) ?? '',
          /^out of memory: its JavaScript heap reached its limit \(\d+ MB of old space\)$/,
        );
        slot.reclaim();
        assert.match(response(c), /^HTTP\/1\.0 503 Service Unavailable\r\n/);
      }
    });

    it("the bindings' UTF-8 is Node's Buffer's; bad arguments are a TypeError or RangeError, not a crash", async () => {
      // The script reports what it saw as its error (the onExit report carries it back).
      const f = script(
        'bindings.js',
        `__zerohttpd.serve = () => {
          const n = __zerohttpd.native, out = [];
          const bytes = (h) => new Uint8Array(h.match(/../g).map((x) => parseInt(x, 16)));
          for (const h of ['61f09f98eda08062', 'c328', 'e282', 'f4908080', 'efbbbf41'])
            out.push(n.utf8Slice(bytes(h), 0, h.length / 2));
          out.push(n.utf8Slice(bytes('41c3a942'), 1, 2));
          const s = 'x\\ud800y\\u20ac', buf = new Uint8Array(n.utf8Length(s));
          out.push([n.utf8Length(s), n.utf8Write(buf, 0, buf.length, s), Array.from(buf).join(',')]);
          out.push(n.utf8Write(new Uint8Array(3), 0, 3, 'a\\u20ac')); // whole characters only
          for (const call of [
            () => n.utf8Slice('no', 0, 1), () => n.utf8Slice(new Uint8Array(2), 1, 2), () => n.utf8Length(1),
            () => n.utf8Write(new Uint8Array(1), 0, 1, 5), () => n.read(0), () => n.read('0', new Uint8Array(1), 0, 1),
            () => n.poll(new Uint8Array(4), 1, 0), () => n.fstat(0, new Float64Array(1)), () => n.open('a\\0b', 0),
            () => n.connect(0, 'not an address', 1), () => n.connect(0, '127.0.0.1', 70000), () => n.errname(2 ** 40),
            () => n.setsockopt(0, 1, 20, -1), () => n.sendfile(1, 2, -1, 1), () => n.liveAdd(1e6, 1),
            () => n.open('x'.repeat(5000), 0),
          ]) {
            try { call(); out.push('no error'); } catch (e) { out.push(e.constructor.name); }
          }
          throw JSON.stringify(out);
        };`,
      );
      const ended = new Map<number, (error?: string) => void>();
      native.isolateThreadsInit((id, error) => ended.get(id)?.(error));
      native.isolateScript(fs.readFileSync(f, 'utf8'), f, JSON.stringify(C));
      const error = new Promise<string | undefined>((resolve) => ended.set(1, resolve));
      const slot = new ClientSlot();
      assert.equal(native.isolateThreadStart(1, slot.buffer, '{}'), 0);
      const out = JSON.parse((await error) ?? '') as unknown[];
      const node = (h: string) => Buffer.from(h, 'hex').toString('utf8');
      const s = 'x\ud800y\u20ac';
      assert.deepEqual(out.slice(0, 8), [
        node('61f09f98eda08062'),
        node('c328'),
        node('e282'),
        node('f4908080'),
        node('efbbbf41'),
        Buffer.from('41c3a942', 'hex').toString('utf8', 1, 3),
        [Buffer.byteLength(s), Buffer.byteLength(s), [...Buffer.from(s)].join(',')],
        1,
      ]);
      assert.deepEqual(out.slice(8), [
        ...['TypeError', 'RangeError', 'TypeError', 'TypeError', 'TypeError', 'TypeError', 'RangeError'],
        ...['RangeError', 'TypeError', 'TypeError', 'RangeError', 'TypeError', 'RangeError', 'RangeError'],
        ...['RangeError', 'RangeError'],
      ]);
    });

    it('a thread runs the script that was current when it was started, not one set after', async () => {
      const ended = new Map<number, (error?: string) => void>();
      native.isolateThreadsInit((id, error) => ended.get(id)?.(error));
      const first = script('first.js', "__zerohttpd.serve = () => { throw 'first'; };");
      const second = script('second.js', "__zerohttpd.serve = () => { throw 'second'; };");
      native.isolateScript(fs.readFileSync(first, 'utf8'), first, JSON.stringify(C));
      const error = new Promise<string | undefined>((resolve) => ended.set(1, resolve));
      assert.equal(native.isolateThreadStart(1, new ClientSlot().buffer, '{}'), 0);
      native.isolateScript(fs.readFileSync(second, 'utf8'), second, JSON.stringify(C)); // at once
      assert.equal(await error, 'first');
    });

    it('process.exit() while threads run JavaScript waits for them (it crashed with SIGSEGV under V8 torn down)', () => {
      const busy = script(
        'alloc.js',
        '__zerohttpd.serve = () => { Atomics.store(new Int32Array(__zerohttpd.slot), 2, 1); const a = [];' +
          ' for (;;) { a.push({ x: [1] }); if (a.length > 1e5) a.length = 0; } };',
      );
      const lib = path.join(__dirname, '..', 'lib');
      const code = `
        const { IsolateThreads } = require(${JSON.stringify(path.join(lib, 'servers', 'isolate-threads'))});
        const { ClientSlot } = require(${JSON.stringify(path.join(lib, 'servers', 'client-slot'))});
        const { DEFAULTS } = require(${JSON.stringify(path.join(lib, 'options'))});
        const threads = new IsolateThreads({ ...DEFAULTS, quiet: true }, ${JSON.stringify(busy)});
        const slots = [];
        for (let i = 1; i <= 8; i++) { const slot = new ClientSlot(); slot.assign(-1); slots.push(slot); threads.start(i, slot); }
        const check = () => (slots.every((s) => s.tookClient) ? setTimeout(() => process.exit(3), 50) : setImmediate(check));
        check();`;
      for (let i = 0; i < 4; i++) {
        const r = spawnSync(process.execPath, ['-e', code], { encoding: 'utf8', timeout: 20_000 });
        assert.deepEqual([r.status, r.signal], [3, null], r.stderr);
      }
    });

    it('process.exit() while threads are blocked in recv() on their clients shuts those down and exits cleanly', () => {
      const blocked = script(
        'blocked.js',
        '__zerohttpd.serve = () => { const a = new Int32Array(__zerohttpd.slot); Atomics.store(a, 2, 1);' +
          ' __zerohttpd.native.recv(Atomics.load(a, 1), new Uint8Array(1), 0, 1); };',
      );
      const lib = path.join(__dirname, '..', 'lib');
      const code = `
        const { C, native } = require(${JSON.stringify(path.join(lib, 'sys'))});
        const { IsolateThreads } = require(${JSON.stringify(path.join(lib, 'servers', 'isolate-threads'))});
        const { ClientSlot } = require(${JSON.stringify(path.join(lib, 'servers', 'client-slot'))});
        const { DEFAULTS } = require(${JSON.stringify(path.join(lib, 'options'))});
        const threads = new IsolateThreads({ ...DEFAULTS, quiet: true }, ${JSON.stringify(blocked)});
        const slots = [];
        for (let i = 1; i <= 4; i++) {
          const fds = new Int32Array(2);
          native.socketpair(C.AF_UNIX, C.SOCK_STREAM | C.SOCK_CLOEXEC, 0, fds); // fds[1]: a client that never writes
          const slot = new ClientSlot(); slot.assign(fds[0]); slots.push(slot); threads.start(i, slot);
        }
        const check = () => (slots.every((s) => s.tookClient) ? process.exit(3) : setImmediate(check));
        check();`;
      const r = spawnSync(process.execPath, ['-e', code], { encoding: 'utf8', timeout: 20_000 });
      assert.deepEqual([r.status, r.signal], [3, null], r.stderr);
      assert.doesNotMatch(r.stderr, /still in a system call/, 'every blocked thread returned before the exit');
    });

    it('a stale or missing bundle is refused with what to run', () => {
      assert.throws(
        () => new IsolateThreads(opts, path.join(dir, 'nope.js')),
        /nope\.js is not built: run 'npm run bundle'/,
      );
    });
  });

  describe('the threaded server', () => {
    const redis = withRedis();
    const start = withServer(redis);

    it('serves static files and the guestbook (GET, POST) from isolate threads, and --worker-code cached from Workers', async () => {
      for (const how of [[], ['--worker-code', 'cached']]) {
        await redis().flush();
        const srv = await start(['threaded', ...how]);
        assert.match(srv.stderr(), /zerohttpd threaded \(a thread per connection/);
        assert.equal((await get(srv.port, '/')).status, 200);
        assert.equal(
          (await post(srv.port, '/guestbook', { 'guest-name': 'ann', 'guest-remarks': 'hello there' })).status,
          200,
        );
        const page = await get(srv.port, '/guestbook');
        assert.equal(page.status, 200);
        assert.match(page.body.toString(), /hello there - ann/);
        // Remarks in malformed UTF-8 (a sequence cut short, a surrogate): decoded as Node does.
        const raw = Buffer.concat([Buffer.from('guest-name=bo&guest-remarks=a'), Buffer.from('f09f98eda08062', 'hex')]);
        const thanks = await rawRequest(
          srv.port,
          Buffer.concat([Buffer.from(`POST /guestbook HTTP/1.0\r\nContent-Length: ${raw.length}\r\n\r\n`), raw]),
        );
        assert.equal(thanks.status, 200);
        assert.ok(
          thanks.body.toString().includes('<blockquote>a\ufffd\ufffd\ufffd\ufffdb</blockquote>'),
          thanks.body.toString(),
        );
        assert.equal((await get(srv.port, '/guestbook?page=x')).status, 400);
        assert.equal((await get(srv.port, '/%FF')).status, 400);
        assert.equal((await srv.stop('SIGINT')).code, 0);
      }
    });

    it('under strace -f: one new thread per connection, and the threads open no .js file', async () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zerohttpd-isolate-'));
      try {
        const t = await startTraced(
          'clone,clone3,openat',
          ['threaded', '--quiet', '--redis', `127.0.0.1:${redis().port}`],
          dir,
        );
        const n = 8;
        const r = await load(t.port, n, 2, (i) => `GET ${i % 2 ? '/guestbook' : '/'} HTTP/1.0\r\nHost: x\r\n\r\n`);
        assert.deepEqual(r.errors, []);
        assert.deepEqual(r.byStatus, { 200: n });
        const { code, calls } = await t.stop();
        assert.equal(code, 0);
        // Each connection's thread opens the public root for itself (createApp()): n threads, each
        // one made by the main thread with clone3(CLONE_THREAD), none of them loading a module.
        const made = new Set(
          callsOf(calls, t.pid)
            .filter((c) => /^clone3?$/.test(c.name) && /CLONE_THREAD/.test(c.args) && c.ret !== null && c.ret > 0)
            .map((c) => c.ret),
        );
        const roots = calls.filter((c) => c.name === 'openat' && /public", O_RDONLY\|O_CLOEXEC\|O_PATH/.test(c.args));
        const servers = new Set(roots.map((c) => c.pid));
        assert.equal(servers.size, n, `threads that opened the public root: ${[...servers].join(' ')}`);
        for (const tid of servers) assert.ok(made.has(tid), `thread ${tid} was made by the main thread`);
        assert.deepEqual(
          calls.filter((c) => c.name === 'openat' && servers.has(c.pid) && /\.js"/.test(c.args)).map((c) => c.line),
          [],
          'a thread loads no module',
        );
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });
  });
});
