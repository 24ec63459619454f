// The command line, run as a user would: `node dist/lib/cli.js ...` in a real process.
import * as assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { CLI, RunningServer, startServer } from './helpers/server';
import { STRACE } from './helpers/strace';
import { archArgs } from '../lib/servers/index';
import { freePort } from '../lib/net-probe';
import { sleep } from './helpers/procs';
import { get, rawRequest } from './helpers/http';

const VERSION: string = require('../../package.json').version;

/** Run the CLI to completion (it must exit by itself within timeoutMs), under `prefix` (a tracer) if given. */
function runCli(
  args: string[],
  timeoutMs = 20_000,
  prefix: string[] = [],
): Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const cmd = [...prefix, process.execPath, CLI, ...args];
    // Its own process group: a server that wrongly started is killed with its tracer.
    const p = spawn(cmd[0], cmd.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let stdout = '',
      stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    const t = setTimeout(() => {
      process.kill(-p.pid!, 'SIGKILL');
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
/** What follows a usage error's one line, instead of the whole usage. */
const HINT = "Try 'zerohttpd --help' for the options.";

describe('cli', function () {
  this.timeout(60_000);
  let noRedis: string;
  before(async () => {
    noRedis = `127.0.0.1:${await freePort()}`; // the guestbook is not under test here
  });

  describe('usage errors exit 2 with one clear line and a hint, not the whole usage', () => {
    const cases: [string[], RegExp][] = [
      [['fork-bomb'], /^zerohttpd: unknown architecture 'fork-bomb' \(one of: .*iterative.*\)$/],
      [['iterative', '--bogus'], /^zerohttpd: .*'--bogus'/],
      [['iterative', '--reader', 'sideways'], /^zerohttpd: --reader must be byte or buffered, not 'sideways'$/],
      [['iterative', '--port', '70000'], /^zerohttpd: --port must be an integer from 0 to 65535, not '70000'$/],
      [['iterative', 'eighty'], /^zerohttpd: --port must be an integer .* not 'eighty'$/],
      [['iterative', '--timeout', '0'], /^zerohttpd: --timeout must be .* not '0'$/],
      [['iterative', '--timeout', 'soon'], /^zerohttpd: --timeout must be .* not 'soon'$/],
      // Rounds to 0 ms, which the kernel (SO_RCVTIMEO) and node read as "no timeout at all".
      [['iterative', '--timeout', '0.0001'], /^zerohttpd: --timeout must be .* not '0.0001'$/],
      [['epoll', '--send-timeout', '0.0004'], /^zerohttpd: --send-timeout must be .* not '0.0004'$/],
      [['preforked', '--dispatch', 'sideways'], /^zerohttpd: --dispatch must be accept, pass .* not 'sideways'$/],
      [
        ['threaded', '--worker-code', 'pthread'],
        /^zerohttpd: --worker-code must be isolate, cached or files, not 'pthread'$/,
      ],
      [['iterative', '--host', 'not-an-ip'], /^zerohttpd: --host must be .* not 'not-an-ip'$/],
      [['iterative', '--port'], /^zerohttpd: .*--port/],
      // A negative number is a value to judge, not an option ("argument is ambiguous").
      [['preforked', '--workers', '-1'], /^zerohttpd: --workers must be an integer from 1 to 10000, not '-1'$/],
      [['iterative', '8000', '127.0.0.1', 'extra'], /^zerohttpd: too many arguments: extra$/],
    ];
    for (const [args, first] of cases) {
      it(args.join(' '), async () => {
        const r = await runCli(args);
        assert.equal(r.code, 2, `exit code; stderr: ${r.stderr}`);
        const lines = r.stderr.split('\n');
        assert.match(lines[0], first);
        assert.deepEqual(lines.slice(1), [HINT, ''], 'the message, the hint, nothing else');
        assert.equal(r.stdout, '', 'nothing on stdout');
        assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
      });
    }
  });

  describe('an option that does not apply to the architecture is refused before anything listens', () => {
    // Under strace: the proof that no socket was bound is the absence of bind() and listen().
    const cases: [string[], string][] = [
      [
        ['prethreaded', '--accept-lock', 'fcntl'],
        '--accept-lock fcntl does not apply to prethreaded: record locks belong to a process and cannot serialize its threads; use mutex or none',
      ],
      [
        ['iterative', '--workers', '5'],
        '--workers does not apply to iterative (it is an option of: preforked, poll, epoll)',
      ],
      [
        ['poll', '--workers', '2', '--listen', 'exclusive'],
        '--listen exclusive does not apply to poll: EPOLLEXCLUSIVE is an epoll flag; poll() has no exclusive wake-up (use shared or reuseport)',
      ],
      [
        ['epoll', '--listen', 'reuseport'],
        '--listen reuseport takes --workers N with N > 1: a single epoll process shares its port with none',
      ],
      [
        ['preforked', '--dispatch', 'pass', '--accept-lock', 'mutex'],
        '--accept-lock does not apply to preforked --dispatch pass: the parent is the only process that accepts, there is nothing to serialize',
      ],
      [
        ['prethreaded', '--accept-lock', 'none', '--dispatch', 'main'],
        '--accept-lock does not apply to prethreaded --dispatch main: the main thread is the only one that accepts, there is nothing to serialize',
      ],
      [
        ['prethreaded', '--dispatch', 'pass'],
        "--dispatch pass does not apply to prethreaded: pass is preforked's; prethreaded takes accept or main",
      ],
      [['iterative', '--threads', '3'], '--threads does not apply to iterative (it is an option of: prethreaded)'],
      [['poll', '--edge'], '--edge does not apply to poll (it is an option of: epoll)'],
      [
        ['node', '--redis-pool', '2'],
        '--redis-pool does not apply to node (it is an option of: poll, epoll, io_uring)',
      ],
      [
        ['node', '--reader', 'buffered'],
        '--reader does not apply to node (it is an option of: iterative, forking, preforked, threaded, prethreaded, poll, epoll, io_uring)',
      ],
      [
        ['threaded', '--quiet', '--accept-lock', 'mutex', '--workers', '2'],
        '--accept-lock does not apply to threaded (it is an option of: preforked, prethreaded)',
      ],
      [
        ['--threads', '5'],
        '--threads does not apply to epoll (it is an option of: prethreaded); no architecture was named, and epoll is the default',
      ],
    ];
    let dir: string;
    before(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zh-cli-'))));
    after(() => fs.rmSync(dir, { recursive: true, force: true }));

    for (const [args, message] of cases) {
      it(`${args.join(' ')}: exit 2, one line, no bind()`, async () => {
        const trace = path.join(dir, `${args.join('_')}.strace`);
        const r = await runCli([...args, '--port', String(await freePort()), '--redis', noRedis], 15_000, [
          STRACE,
          '-f',
          '-qq',
          '-e',
          'trace=bind,listen',
          '-e',
          'signal=none',
          '-o',
          trace,
        ]);
        assert.equal(r.stderr, `zerohttpd: ${message}\n${HINT}\n`);
        assert.equal(r.code, 2);
        assert.equal(r.stdout, '');
        assert.deepEqual(
          fs
            .readFileSync(trace, 'utf8')
            .split('\n')
            .filter((l) => /\b(bind|listen)\(/.test(l)),
          [],
          'no socket was bound',
        );
      });
    }

    it('the options that do apply still start: preforked --workers 2 --accept-lock fcntl, epoll --edge --redis-pool 2, node --syscall-stats', async () => {
      for (const args of [
        ['preforked', '--workers', '2', '--accept-lock', 'fcntl'],
        ['epoll', '--edge', '--redis-pool', '2'],
        ['node', '--syscall-stats'],
      ]) {
        const srv = await startServer([...args, '--redis', noRedis, '--quiet']);
        try {
          assert.equal((await get(srv.port, '/')).status, 200, args.join(' '));
        } finally {
          assert.equal((await srv.stop()).code, 0, `${args.join(' ')}: ${srv.stderr()}`);
        }
      }
    });

    it('validating and --help load neither a server module nor the addon', () => {
      const script = `
        const cli = require(${JSON.stringify(CLI)});
        try { cli.parseCommandLine(['epoll', '--threads', '5']); } catch (e) { if (!(e instanceof cli.UsageError)) throw e; }
        cli.parseCommandLine(['epoll', '--workers', '5', '--listen', 'reuseport']);
        cli.parseCommandLine(['preforked', '--workers', '5']);
        cli.parseCommandLine(['--help']);
        console.log(Object.keys(require.cache).filter((f) => f.endsWith('.node') || /servers\\/(?!index\\.js)/.test(f)).join('\\n'));`;
      const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout.trim(), '', 'modules loaded');
    });

    it('archArgs() keeps of one argument list what applies to each architecture (tests and bench start every one with it)', () => {
      const all = [
        '--redis',
        '127.0.0.1:1',
        '--workers',
        '4',
        '--threads',
        '4',
        '--max-threads',
        '8',
        '--accept-lock',
        'mutex',
        '--edge',
        '--redis-pool=2',
        '--reader',
        'buffered',
        '--syscall-stats',
        '--quiet',
        '--port',
        '0',
      ];
      assert.deepEqual(archArgs('epoll', all), [
        '--redis',
        '127.0.0.1:1',
        '--workers',
        '4',
        '--edge',
        '--redis-pool=2',
        '--reader',
        'buffered',
        '--syscall-stats',
        '--quiet',
        '--port',
        '0',
      ]);
      assert.deepEqual(archArgs('preforked', all), [
        '--redis',
        '127.0.0.1:1',
        '--workers',
        '4',
        '--accept-lock',
        'mutex',
        '--reader',
        'buffered',
        '--syscall-stats',
        '--quiet',
        '--port',
        '0',
      ]);
      assert.deepEqual(archArgs('node', all), ['--redis', '127.0.0.1:1', '--syscall-stats', '--quiet', '--port', '0']);
      assert.deepEqual(archArgs('iterative', ['8000', '--syscall-stats=time', '--bogus', '--threads', '2']), [
        '8000',
        '--syscall-stats=time',
        '--bogus',
      ]);
    });
  });

  it('--help prints the usage on stdout and exits 0', async () => {
    for (const flag of ['--help', '-h']) {
      const r = await runCli([flag]);
      assert.equal(r.code, 0);
      assert.match(r.stdout, /^usage: zerohttpd <architecture> \[port\] \[redis-host\]/);
      assert.match(r.stdout, /iterative/);
      assert.match(r.stdout, /--timeout/);
      assert.match(
        r.stdout,
        /redis-host[^]*the Redis server's host[^]*not an address to listen on/,
        'the third argument is the Redis host',
      );
      assert.equal(r.stderr, '');
    }
  });

  it('--help works with the addon removed from build/; serving then says the addon is not built', () => {
    // dist/lib and package.json in a temp dir: no build/ beside them, so lib/sys.ts cannot load the addon.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zerohttpd-no-addon-'));
    try {
      fs.cpSync(path.dirname(CLI), path.join(dir, 'dist', 'lib'), { recursive: true });
      fs.copyFileSync(path.join(CLI, '..', '..', '..', 'package.json'), path.join(dir, 'package.json'));
      const cli = path.join(dir, 'dist', 'lib', 'cli.js');
      const help = spawnSync(process.execPath, [cli, '--help'], { encoding: 'utf8', timeout: 20_000 });
      assert.equal(help.status, 0, help.stderr);
      assert.match(help.stdout, /^usage: zerohttpd <architecture>/);
      assert.equal(help.stderr, '');
      const serve = spawnSync(process.execPath, [cli, 'iterative', '--port', '0', '--redis', noRedis], {
        encoding: 'utf8',
        timeout: 20_000,
      });
      assert.equal(serve.status, 1);
      assert.match(
        serve.stderr,
        /the native addon is not built \(looked in .*zerohttpd-no-addon-.*build\/Release\/zerohttpd\.node/,
      );
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
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
    const r = await runCli([
      'iterative',
      '--port',
      '0',
      '--public',
      '/nonexistent/zerohttpd-public',
      '--redis',
      noRedis,
    ]);
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
      const lines = srv
        .stdout()
        .split('\n')
        .filter((l) => /^\d{3} /.test(l));
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
          s.on('connect', () => {
            s.destroy();
            reject(new Error('still accepting after exit'));
          });
          s.on('error', () => resolve());
        });
      });
    }

    it('SIGINT while a client is connected and silent still stops promptly', async () => {
      const srv = await startServer(['iterative', '--redis', noRedis, '--timeout', '60']);
      const idle = net.connect(srv.port, '127.0.0.1');
      idle.on('error', () => {});
      await new Promise((r) => idle.on('connect', r));
      await sleep(200); // the server is now blocked in recv() on it
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
    const p = spawn(process.execPath, [CLI, 'iterative', String(port), '--redis', noRedis, '--quiet'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let err = '';
    p.stderr.on('data', (d) => (err += d));
    const exited = new Promise<number | null>((r) => p.on('exit', (c) => r(c)));
    try {
      for (let i = 0; i < 200 && !/listening on/.test(err); i++) await sleep(50);
      assert.match(err, new RegExp(`listening on 0\\.0\\.0\\.0:${port} `));
      assert.equal((await get(port, '/')).status, 200);
    } finally {
      p.kill('SIGINT');
      assert.equal(await exited, 0);
    }
  });
});
