// The command line, run as a user would: `node dist/lib/cli.js ...` in a real process.
import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as net from 'node:net';
import { CLI, RunningServer, startServer } from './helpers/server';
import { freePort } from './helpers/redis';
import { get, rawRequest } from './helpers/http';

const VERSION: string = require('../../package.json').version;

/** Run the CLI to completion (it must exit by itself within timeoutMs). */
function runCli(args: string[], timeoutMs = 20_000): Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '', stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    const t = setTimeout(() => {
      p.kill('SIGKILL');
      reject(new Error(`cli ${args.join(' ')} did not exit within ${timeoutMs} ms; stderr: ${stderr}`));
    }, timeoutMs);
    p.on('exit', (code, signal) => {
      clearTimeout(t);
      // 'exit' can precede the last 'data'; 'close' comes after the pipes end.
      p.on('close', () => resolve({ code, signal, stdout, stderr }));
    });
  });
}

const STATS = /^user time = \d+\.\d+ s, sys time = \d+\.\d+ s$/m;

describe('cli', function () {
  this.timeout(60_000);
  let noRedis: string;
  before(async () => {
    noRedis = `127.0.0.1:${await freePort()}`; // the guestbook is not under test here
  });

  describe('usage errors exit 2 with one clear line, then the usage', () => {
    const cases: [string[], RegExp][] = [
      [['fork-bomb'], /^zerohttpd: unknown architecture 'fork-bomb' \(one of: .*iterative.*\)$/],
      [['iterative', '--bogus'], /^zerohttpd: .*'--bogus'/],
      [['iterative', '--reader', 'sideways'], /^zerohttpd: --reader must be byte or buffered, not 'sideways'$/],
      [['iterative', '--port', '70000'], /^zerohttpd: --port must be an integer from 0 to 65535, not '70000'$/],
      [['iterative', 'eighty'], /^zerohttpd: --port must be an integer .* not 'eighty'$/],
      [['iterative', '--timeout', '0'], /^zerohttpd: --timeout must be .* not '0'$/],
      [['iterative', '--timeout', 'soon'], /^zerohttpd: --timeout must be .* not 'soon'$/],
      [['iterative', '--host', 'not-an-ip'], /^zerohttpd: --host must be .* not 'not-an-ip'$/],
      [['iterative', '--port'], /^zerohttpd: .*--port/],
      [['iterative', '8000', '127.0.0.1', 'extra'], /^zerohttpd: too many arguments: extra$/],
    ];
    for (const [args, first] of cases) {
      it(args.join(' '), async () => {
        const r = await runCli(args);
        assert.equal(r.code, 2, `exit code; stderr: ${r.stderr}`);
        const lines = r.stderr.split('\n');
        assert.match(lines[0], first);
        assert.equal(lines[1], '', 'one line, then a blank line');
        assert.match(lines[2], /^usage: zerohttpd <architecture> \[port\] \[redis-host\]/);
        assert.equal(r.stdout, '', 'nothing on stdout');
        assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
      });
    }
  });

  it('--help prints the usage on stdout and exits 0', async () => {
    for (const flag of ['--help', '-h']) {
      const r = await runCli([flag]);
      assert.equal(r.code, 0);
      assert.match(r.stdout, /^usage: zerohttpd <architecture> \[port\] \[redis-host\]/);
      assert.match(r.stdout, /iterative/);
      assert.match(r.stdout, /--timeout/);
      assert.equal(r.stderr, '');
    }
  });

  it('--version prints the package version and exits 0', async () => {
    for (const flag of ['--version', '-v']) {
      const r = await runCli([flag]);
      assert.equal(r.code, 0);
      assert.equal(r.stdout, `zerohttpd ${VERSION}\n`);
    }
  });

  it('a missing --public directory is a clear error, exit 1', async () => {
    const r = await runCli(['iterative', '--port', '0', '--public', '/nonexistent/zerohttpd-public', '--redis', noRedis]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /public directory '\/nonexistent\/zerohttpd-public' does not exist/);
  });

  describe('port in use', () => {
    it('exits 1 with a message naming the port (held by another program)', async () => {
      const holder = net.createServer();
      await new Promise<void>((resolve) => holder.listen(0, '0.0.0.0', () => resolve()));
      const port = (holder.address() as net.AddressInfo).port;
      try {
        const r = await runCli(['iterative', String(port), '--redis', noRedis]);
        assert.equal(r.code, 1, `stderr: ${r.stderr}`);
        assert.match(r.stderr, new RegExp(`port ${port} is already in use`));
        assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
        assert.doesNotMatch(r.stderr, /listening on/);
      } finally {
        holder.close();
      }
    });

    it('exits 1 naming the port when another zerohttpd has it (--port flag)', async () => {
      const first = await startServer(['iterative', '--redis', noRedis, '--quiet']);
      try {
        const r = await runCli(['iterative', '--port', String(first.port), '--redis', noRedis]);
        assert.equal(r.code, 1);
        assert.match(r.stderr, new RegExp(`port ${first.port} is already in use`));
        assert.equal((await get(first.port, '/')).status, 200, 'the first server is unharmed');
      } finally {
        assert.equal((await first.stop()).code, 0);
      }
    });
  });

  describe('request log', () => {
    let srv: RunningServer;
    afterEach(async () => {
      await srv?.stop();
    });

    it('prints one line per request on stdout: status, method, target, bytes', async () => {
      srv = await startServer(['iterative', '--redis', noRedis]);
      const a = await get(srv.port, '/index.html');
      const b = await get(srv.port, '/missing?q=1');
      const c = await rawRequest(srv.port, 'HEAD /logo.png HTTP/1.0\r\n\r\n');
      const d = await rawRequest(srv.port, 'DELETE /x HTTP/1.0\r\n\r\n');
      const e = await rawRequest(srv.port, 'NONSENSE\r\n\r\n');
      const g = await get(srv.port, '/guestbook'); // Redis is down: 503
      const { code } = await srv.stop();
      assert.equal(code, 0);
      const lines = srv.stdout().split('\n').filter((l) => /^\d{3} /.test(l));
      assert.deepEqual(lines, [
        `200 GET /index.html ${a.raw.length} bytes`,
        `404 GET /missing?q=1 ${b.raw.length} bytes`,
        `200 HEAD /logo.png ${c.raw.length} bytes`,
        `501 DELETE /x ${d.raw.length} bytes`,
        `400 - - ${e.raw.length} bytes`,
        `503 GET /guestbook ${g.raw.length} bytes`,
      ]);
      assert.match(srv.stdout(), STATS);
    });

    it('--quiet prints no request lines, only the stats on stop', async () => {
      srv = await startServer(['iterative', '--redis', noRedis, '--quiet']);
      assert.equal((await get(srv.port, '/index.html')).status, 200);
      assert.equal((await get(srv.port, '/nope')).status, 404);
      const { code } = await srv.stop();
      assert.equal(code, 0);
      assert.doesNotMatch(srv.stdout(), /GET/);
      assert.equal(srv.stdout().trim().split('\n').length, 1);
      assert.match(srv.stdout(), STATS);
    });
  });

  describe('stopping', () => {
    for (const signal of ['SIGINT', 'SIGTERM'] as const) {
      it(`${signal} prints "user time = X s, sys time = Y s" and exits 0`, async () => {
        const srv = await startServer(['iterative', '--redis', noRedis]);
        assert.equal((await get(srv.port, '/')).status, 200);
        const r = await srv.stop(signal, 15_000);
        assert.equal(r.signal, null, `killed by ${r.signal}, not exited`);
        assert.equal(r.code, 0);
        assert.match(srv.stdout(), STATS);
        // The port is released.
        await new Promise<void>((resolve, reject) => {
          const s = net.connect(srv.port, '127.0.0.1');
          s.on('connect', () => { s.destroy(); reject(new Error('still accepting after exit')); });
          s.on('error', () => resolve());
        });
      });
    }

    it('SIGINT while a client is connected and silent still stops promptly', async () => {
      const srv = await startServer(['iterative', '--redis', noRedis, '--timeout', '60']);
      const idle = net.connect(srv.port, '127.0.0.1');
      idle.on('error', () => {});
      await new Promise((r) => idle.on('connect', r));
      await new Promise((r) => setTimeout(r, 200)); // the server is now blocked in recv() on it
      try {
        const r = await srv.stop('SIGINT', 15_000);
        assert.equal(r.code, 0);
        assert.ok(r.ms < 10_000, `took ${r.ms} ms`);
        assert.match(srv.stdout(), STATS);
      } finally {
        idle.destroy();
      }
    });
  });

  it('accepts the article-style positional port: iterative <port>', async () => {
    const port = await freePort();
    const p = spawn(process.execPath, [CLI, 'iterative', String(port), '--redis', noRedis, '--quiet'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    p.stderr.on('data', (d) => (err += d));
    const exited = new Promise<number | null>((r) => p.on('exit', (c) => r(c)));
    try {
      for (let i = 0; i < 200 && !/listening on/.test(err); i++) await new Promise((r) => setTimeout(r, 50));
      assert.match(err, new RegExp(`listening on 0\\.0\\.0\\.0:${port} `));
      assert.equal((await get(port, '/')).status, 200);
    } finally {
      p.kill('SIGINT');
      assert.equal(await exited, 0);
    }
  });
});
