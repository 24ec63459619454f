// The issue-16 goal, side by side in one run: epoll on one core vs epoll --workers 2 in each
// --listen mode vs nginx with 2 workers and reuseport (and 1 worker), GET / with wrk -t1,
// one connection per request, --reader buffered. Each server gets a warm-up; the two epoll
// designs the goal compares are measured twice, interleaved, and the better of each kept.
//   npx tsc -p tsconfig.json && flock /tmp/zerohttpd-bench.lock node dist/bench/event-workers.js [--duration 4] [-c 50]
import { ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { freePort } from '../lib/net-probe';
import { raiseNofile } from '../lib/sys';
import { CLI, nginxConfig, sleep, stop, waitListening, wrk } from './wrk';

const arg = (name: string, def: number) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : def;
};
const DURATION = arg('--duration', 4);
const CONC = arg('-c', 50);
async function measure(name: string, start: (port: number) => ChildProcess): Promise<number> {
  const port = await freePort();
  const proc = start(port);
  try {
    await waitListening(port, proc, 400);
    wrk(port, 10, 1); // warm-up: JIT, page cache, every worker forked
    await sleep(300);
    const r = wrk(port, CONC, DURATION);
    console.log(`${name.padEnd(44)} ${r.rps.toFixed(0).padStart(7)} req/s${r.errors ? `  (${r.errors})` : ''}`);
    return r.rps;
  } finally {
    await stop(proc, 10_000);
    await sleep(500);
  }
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
