// The issue-16 goal, side by side in one run: epoll on one core vs epoll --workers 2 in each
// --listen mode vs nginx with 2 workers and reuseport (and 1 worker), GET / with wrk -t1,
// one connection per request, --reader buffered. Each server gets a warm-up; the two epoll
// designs the goal compares are measured twice, interleaved, and the better of each kept.
//   npx tsc -p tsconfig.json && flock /tmp/zerohttpd-bench.lock node dist/bench/event-workers.js [--duration 4] [-c 50]
import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { freePort } from '../lib/net-probe';
import { raiseNofile } from '../lib/sys';
import { PUBLIC_DIR as PUBLIC, ROOT } from '../lib/paths';

const WRK = process.env.WRK ?? '/usr/bin/wrk';
const CLI = path.join(ROOT, 'dist', 'lib', 'cli.js');
const arg = (name: string, def: number) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : def;
};
const DURATION = arg('--duration', 4);
const CONC = arg('-c', 50);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitListening(port: number, proc: ChildProcess): Promise<void> {
  for (let i = 0; i < 400; i++) {
    if (proc.exitCode !== null) throw new Error(`server exited with ${proc.exitCode}`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => {
        s.destroy();
        resolve(true);
      });
      s.on('error', () => resolve(false));
    });
    if (ok) return;
    await sleep(50);
  }
  throw new Error(`nothing listening on ${port}`);
}

function wrk(port: number, c: number, seconds: number): { rps: number; errors: string } {
  const r = spawnSync(WRK, ['-t1', `-c${c}`, `-d${seconds}s`, '-H', 'Connection: close', `http://127.0.0.1:${port}/`], {
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`wrk failed: ${r.stderr}`);
  const errs = /Socket errors: (.*)/.exec(r.stdout)?.[1] ?? '';
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(r.stdout)?.[1];
  return {
    rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(r.stdout)?.[1] ?? 0),
    errors: [errs, non2xx ? `non-2xx ${non2xx}` : ''].filter(Boolean).join('; '),
  };
}

async function stop(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const done = new Promise((r) => proc.once('exit', r));
  proc.kill('SIGINT');
  const t = setTimeout(() => proc.kill('SIGKILL'), 10_000);
  await done;
  clearTimeout(t);
}

async function measure(name: string, start: (port: number) => ChildProcess): Promise<number> {
  const port = await freePort();
  const proc = start(port);
  try {
    await waitListening(port, proc);
    wrk(port, 10, 1); // warm-up: JIT, page cache, every worker forked
    await sleep(300);
    const r = wrk(port, CONC, DURATION);
    console.log(`${name.padEnd(44)} ${r.rps.toFixed(0).padStart(7)} req/s${r.errors ? `  (${r.errors})` : ''}`);
    return r.rps;
  } finally {
    await stop(proc);
    await sleep(500);
  }
}

function nginxConfig(dir: string, port: number, workers: number): string {
  return `worker_processes ${workers};
daemon off;
master_process on;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log;
events { worker_connections 19000; }
worker_rlimit_nofile 20000;
http {
  access_log off;
  sendfile on;
  keepalive_timeout 0;
  client_body_temp_path ${dir}/body; proxy_temp_path ${dir}/proxy; fastcgi_temp_path ${dir}/fcgi;
  uwsgi_temp_path ${dir}/uwsgi; scgi_temp_path ${dir}/scgi;
  types { text/html html; }
  server { listen 127.0.0.1:${port} backlog=4096${workers > 1 ? ' reuseport' : ''}; root ${PUBLIC}; index index.html; }
}
`;
}

async function main(): Promise<void> {
  raiseNofile(30_000);
  console.log(
    `GET / (index.html), wrk -t1 -c${CONC} -d${DURATION}s, Connection: close, ${os.cpus().length} CPUs shared by wrk and the server\n`,
  );
  const zh = (args: string[]) => (port: number) =>
    spawn(
      process.execPath,
      [
        CLI,
        'epoll',
        ...args,
        '--reader',
        'buffered',
        '--port',
        String(port),
        '--host',
        '127.0.0.1',
        '--quiet',
        '--backlog',
        '4096',
      ],
      { stdio: 'ignore' },
    );
  const single: number[] = [],
    reuse: number[] = [];
  for (let round = 0; round < 2; round++) {
    single.push(await measure('epoll (1 process)', zh([])));
    reuse.push(await measure('epoll --workers 2 --listen reuseport', zh(['--workers', '2', '--listen', 'reuseport'])));
  }
  const shared = await measure('epoll --workers 2 --listen shared', zh(['--workers', '2', '--listen', 'shared']));
  const excl = await measure('epoll --workers 2 --listen exclusive', zh(['--workers', '2', '--listen', 'exclusive']));
  const nginx: Record<number, number> = {};
  const bin = ['/usr/sbin/nginx', '/usr/bin/nginx'].find((p) => fs.existsSync(p));
  if (bin) {
    for (const w of [2, 1]) {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zerohttpd-nginx-'));
      try {
        nginx[w] = await measure(`nginx (${w} worker${w > 1 ? 's, reuseport' : ''}, sendfile)`, (port) => {
          fs.writeFileSync(path.join(dir, 'nginx.conf'), nginxConfig(dir, port, w));
          return spawn(bin, ['-c', path.join(dir, 'nginx.conf'), '-p', dir], { stdio: 'ignore' });
        });
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    }
  } else console.log('nginx: not installed (apt-get install -y nginx-light); skipped');
  const best = (a: number[]) => Math.max(...a);
  const ratio = (a: number, b: number | undefined) => (b ? (a / b).toFixed(2) : 'n/a');
  console.log('\nratios (one run, the better of two rounds for the first two):');
  console.log(`  epoll --workers 2 reuseport / epoll 1 process = ${ratio(best(reuse), best(single))}  (goal >= 1.3)`);
  console.log(`  epoll --workers 2 reuseport / nginx 2 workers = ${ratio(best(reuse), nginx[2])}  (goal >= 0.9)`);
  console.log(`  epoll --workers 2 shared / epoll 1 process    = ${ratio(shared, best(single))}`);
  console.log(`  epoll --workers 2 exclusive / epoll 1 process = ${ratio(excl, best(single))}`);
  console.log(`  nginx 2 workers / nginx 1 worker              = ${ratio(nginx[2], nginx[1])}`);
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
