// Benchmark of the event-driven servers against nginx (1 worker) and a plain node:http static
// server, all in one run on this machine: `GET /` with wrk, one connection per request.
//   npx tsc -p tsconfig.json && node dist/bench/event-archs.js [--duration 4] [--uring-only]
// (--uring-only: just epoll, io_uring and nginx at c=50, and the syscalls per request of both.)
// Prints req/s per server and the ratios the issue asks for. wrk shares the cores with the
// server (-t1): compare within one run, not across machines.
import { freePort } from '../lib/net-probe';
import { ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { raiseNofile } from '../lib/sys';
import { parseSyscallReport } from '../lib/bench/bench-servers';
import { PUBLIC_DIR as PUBLIC } from '../lib/paths';
import { CLI, nginxConfig, sleep, stop, waitListening, wrk as runWrk, WrkResult as Result } from './wrk';

const argDuration = process.argv.indexOf('--duration');
const DURATION = argDuration > 0 ? Number(process.argv[argDuration + 1]) : 4;

const URING_ONLY = process.argv.includes('--uring-only');

const wrk = (port: number, connections: number, urlPath = '/'): Result => runWrk(port, connections, DURATION, urlPath);

/** Start a server, run wrk at each concurrency, stop it. */
async function measure(
  name: string,
  start: (port: number) => ChildProcess,
  concurrencies: number[],
  urlPath = '/',
): Promise<Map<number, Result>> {
  const port = await freePort();
  const proc = start(port);
  let stderr = '';
  proc.stderr?.on('data', (d) => (stderr += d));
  const out = new Map<number, Result>();
  try {
    await waitListening(port, proc);
    wrk(port, 10, urlPath); // warm-up (JIT, page cache)
    for (const c of concurrencies) {
      const r = wrk(port, c, urlPath);
      out.set(c, r);
      console.log(
        `${name.padEnd(34)} c=${String(c).padEnd(6)} ${r.rps.toFixed(0).padStart(7)} req/s${r.errors ? `  (${r.errors})` : ''}`,
      );
      await sleep(500); // let TIME_WAIT and the backlog settle a little
    }
  } catch (e) {
    console.log(`${name}: ${(e as Error).message} ${stderr}`);
  } finally {
    await stop(proc);
  }
  return out;
}

const NODE_HTTP = `
const http = require('node:http'), fs = require('node:fs'), path = require('node:path');
const root = process.argv[1];
http.createServer((req, res) => {
  const file = path.join(root, req.url === '/' ? 'index.html' : path.normalize(req.url));
  fs.stat(file, (err, st) => {
    if (err || !st.isFile()) { res.writeHead(404, { Connection: 'close' }); return res.end(); }
    res.writeHead(200, { 'Content-Type': 'text/html', 'Content-Length': st.size, Connection: 'close' });
    fs.createReadStream(file).pipe(res);
  });
}).listen(Number(process.argv[2]), '127.0.0.1');
`;

/** Syscalls per request of a zerohttpd server under wrk at c=50 (a separate run with --syscall-stats). */
async function syscallsPerRequest(args: string[]): Promise<number> {
  const port = await freePort();
  const proc = spawn(
    process.execPath,
    [CLI, ...args, '--syscall-stats', '--port', String(port), '--host', '127.0.0.1', '--quiet', '--backlog', '4096'],
    { stdio: ['ignore', 'pipe', 'ignore'] },
  );
  let out = '';
  proc.stdout.on('data', (d) => (out += d));
  try {
    await waitListening(port, proc);
    wrk(port, 50);
  } finally {
    await stop(proc);
  }
  const r = parseSyscallReport(out);
  return r && r.accepted ? r.total / r.accepted : NaN;
}

async function main(): Promise<void> {
  raiseNofile(30_000); // inherited by wrk and the servers
  console.log(
    `GET / (index.html), wrk -t1 -d${DURATION}s, Connection: close, ${os.cpus().length} CPUs shared by wrk and the server\n`,
  );
  const zh = (args: string[]) => (port: number) =>
    spawn(
      process.execPath,
      [CLI, ...args, '--port', String(port), '--host', '127.0.0.1', '--quiet', '--backlog', '4096'],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );

  const epoll = await measure(
    'epoll --reader buffered',
    zh(['epoll', '--reader', 'buffered']),
    URING_ONLY ? [50] : [50, 100, 10_000],
  );
  const uring = await measure('io_uring --reader buffered', zh(['io_uring', '--reader', 'buffered']), [50]);
  const nginxBin = ['/usr/sbin/nginx', '/usr/bin/nginx'].find((p) => fs.existsSync(p));
  const runNginx = async (): Promise<Map<number, Result> | undefined> => {
    if (!nginxBin) {
      console.log('nginx: not installed (apt-get install -y nginx-light); skipped');
      return undefined;
    }
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zerohttpd-nginx-'));
    try {
      return await measure(
        'nginx (1 worker, sendfile)',
        (port) => {
          fs.writeFileSync(path.join(dir, 'nginx.conf'), nginxConfig(dir, port));
          return spawn(nginxBin, ['-c', path.join(dir, 'nginx.conf'), '-p', dir], {
            stdio: ['ignore', 'ignore', 'pipe'],
          });
        },
        [50],
      );
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  };
  const ratio = (a: number, b: number | undefined) => (b ? (a / b).toFixed(2) : 'n/a');
  const uringRatios = async (nginx: Map<number, Result> | undefined) => {
    const u50 = uring.get(50)?.rps ?? 0;
    const [su, se] = [
      await syscallsPerRequest(['io_uring', '--reader', 'buffered']),
      await syscallsPerRequest(['epoll', '--reader', 'buffered']),
    ];
    console.log(`  io_uring / epoll (buffered, c=50)     = ${ratio(u50, epoll.get(50)?.rps)}  (goal >= 1.15)`);
    console.log(`  io_uring / nginx 1 worker             = ${ratio(u50, nginx?.get(50)?.rps)}  (goal >= 1.0)`);
    console.log(`  syscalls per request: io_uring ${su.toFixed(2)} (goal <= 1.0), epoll ${se.toFixed(2)}`);
  };
  if (URING_ONLY) {
    const nginx = await runNginx();
    console.log('\nratios (one run):');
    return uringRatios(nginx);
  }
  const edge = await measure('epoll --edge --reader buffered', zh(['epoll', '--edge', '--reader', 'buffered']), [50]);
  const poll = await measure('poll --reader buffered', zh(['poll', '--reader', 'buffered']), [50]);
  const byte = await measure('epoll --reader byte', zh(['epoll', '--reader', 'byte']), [50]);
  const nodeHttp = await measure(
    'node:http + createReadStream',
    (port) => spawn(process.execPath, ['-e', NODE_HTTP, PUBLIC, String(port)], { stdio: ['ignore', 'ignore', 'pipe'] }),
    [50],
  );

  const nginx = await runNginx();

  // The guestbook (3 Redis round trips per request) against a private redis-server:
  // a connection per request (the article) vs a pool of 8 (requests queue for a free one).
  let gb0: Map<number, Result> | undefined, gb8: Map<number, Result> | undefined;
  const redisPort = await freePort();
  const redisDir = fs.mkdtempSync(path.join(os.tmpdir(), 'zerohttpd-bench-redis-'));
  const redis = spawn(
    'redis-server',
    ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', redisDir],
    { stdio: 'ignore' },
  );
  redis.on('error', () => console.log('guestbook: redis-server not found; skipped'));
  try {
    await waitListening(redisPort, redis);
    const r = ['--redis', `127.0.0.1:${redisPort}`];
    gb0 = await measure(
      'epoll buffered /guestbook, no pool',
      zh(['epoll', '--reader', 'buffered', ...r]),
      [50],
      '/guestbook',
    );
    gb8 = await measure(
      'epoll buffered /guestbook, pool 8',
      zh(['epoll', '--reader', 'buffered', '--redis-pool', '8', ...r]),
      [50],
      '/guestbook',
    );
  } catch (e) {
    console.log(`guestbook: ${(e as Error).message}`);
  } finally {
    await stop(redis);
    fs.rmSync(redisDir, { recursive: true, force: true });
  }

  const e50 = epoll.get(50)?.rps ?? 0;
  console.log('\nratios (one run):');
  console.log(`  epoll buffered / nginx 1 worker       = ${ratio(e50, nginx?.get(50)?.rps)}  (goal >= 0.8)`);
  console.log(`  epoll buffered / node:http            = ${ratio(e50, nodeHttp.get(50)?.rps)}  (goal >= 2.5)`);
  console.log(
    `  epoll c=10000 / epoll c=100           = ${ratio(epoll.get(10_000)?.rps ?? 0, epoll.get(100)?.rps)}  (goal >= 0.8)`,
  );
  console.log(`  epoll --edge / epoll (c=50)           = ${ratio(edge.get(50)?.rps ?? 0, e50)}`);
  console.log(`  poll / epoll (c=50)                   = ${ratio(poll.get(50)?.rps ?? 0, e50)}`);
  console.log(`  byte reader / buffered reader (epoll) = ${ratio(byte.get(50)?.rps ?? 0, e50)}`);
  console.log(`  guestbook pool 8 / per request        = ${ratio(gb8?.get(50)?.rps ?? 0, gb0?.get(50)?.rps)}`);
  await uringRatios(nginx);
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
