// The threaded architecture side by side in one run (docs/threads.md): the article's C threaded
// server; zerohttpd threaded with --worker-code files (Workers as before issue 17), cached
// (Workers from the bundle and a code cache) and isolate (a bare V8 isolate per connection, the
// default), each with the start gate (threaded.ts, STARTING_AT_ONCE) on and off. GET / and GET
// /guestbook, wrk -t1 --timeout 10s (a slow thread start is a slow response, not a lost one), one
// connection per request, a 1 s warm-up first.
// Each row also gives the server's CPU time per request (all its threads, from /proc), which
// other load on the machine disturbs less than the rate.
//   node dist/bench/threaded-rate.js [--c-dir DIR] [--seconds 4] [--connections 20]
// --c-dir: the article's C servers built in a temporary directory (see their ABOUT.md); their
// Redis is on port 6379 of the address given, so a private redis-server is started on 6379 of
// a loopback address of its own (127.x.y.z), and zerohttpd's servers use that one too.
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { treeCpuSeconds } from '../lib/bench/procfs';
import { parseWrkOutput } from '../lib/bench/load';
import { sleep, stop, waitListening } from './wrk';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : undefined;
}
const SECONDS = Number(arg('seconds') ?? 4);
const CONNS = Number(arg('connections') ?? 20);
const C_DIR = arg('c-dir');
const ROOT = path.join(__dirname, '..', '..');
const CLI = path.join(ROOT, 'dist', 'lib', 'cli.js');
const REDIS_IP = `127.${50 + (process.pid % 100)}.${(process.pid >> 8) % 250}.9`;

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}

interface Row {
  rps: number;
  cpuMsPerReq: number;
  note: string;
}

function wrk(url: string, seconds: number): string {
  return execFileSync(
    'wrk',
    ['-t1', `-c${CONNS}`, `-d${seconds}s`, '--timeout', '10s', '-H', 'Connection: close', url],
    {
      encoding: 'utf8',
    },
  );
}

type Target = [string, string[], string, Record<string, string>];

async function measure(
  cmd: string,
  args: string[],
  cwd: string,
  env: Record<string, string>,
  port: number,
  route: string,
): Promise<Row> {
  const proc = spawn(cmd, args, { cwd, stdio: 'ignore', env: { ...process.env, ...env } });
  try {
    await waitListening(port, proc);
    const url = `http://127.0.0.1:${port}${route}`;
    wrk(url, 1); // warm-up
    const cpu0 = treeCpuSeconds(proc.pid!);
    const r = parseWrkOutput(wrk(url, SECONDS));
    const cpu1 = treeCpuSeconds(proc.pid!);
    const cpu = cpu0 && cpu1 ? cpu1.user + cpu1.sys - cpu0.user - cpu0.sys : NaN;
    const done = r.requests;
    const errs = Object.entries(r.errors).filter(([, n]) => n > 0);
    const note = [r.non2xx ? `non-2xx ${r.non2xx}` : '', errs.map(([k, n]) => `${k} ${n}`).join(' ')]
      .filter(Boolean)
      .join(', ');
    return { rps: done / r.durationS, cpuMsPerReq: done > 0 ? (cpu * 1000) / done : NaN, note };
  } finally {
    await stop(proc);
  }
}

async function main(): Promise<void> {
  const redis = spawn('redis-server', ['--bind', REDIS_IP, '--port', '6379', '--save', '', '--appendonly', 'no'], {
    stdio: 'ignore',
  });
  try {
    await sleep(300);
    const node = process.execPath;
    const ours =
      (code: string, gate: boolean) =>
      (p: number): Target => [
        node,
        [CLI, 'threaded', '--port', `${p}`, '--quiet', '--redis', `${REDIS_IP}:6379`, '--worker-code', code],
        ROOT,
        gate ? {} : { ZEROHTTPD_STARTING_AT_ONCE: '1000000' },
      ];
    const targets: [string, (port: number) => Target][] = [
      ['threaded, files, no start gate (before)', ours('files', false)],
      ['threaded, files, start gate', ours('files', true)],
      ['threaded, cached, start gate', ours('cached', true)],
      ['threaded, isolate, no start gate', ours('isolate', false)],
      ['threaded, isolate, start gate (default)', ours('isolate', true)],
    ];
    if (C_DIR && fs.existsSync(path.join(C_DIR, 'threaded')))
      targets.unshift([
        'C threaded (the article)',
        (p) => [path.join(C_DIR, 'threaded'), [`${p}`, REDIS_IP], C_DIR, {}],
      ]);
    else console.log('(no --c-dir with a built threaded: the C row is skipped)');
    console.log(
      `wrk -t1 -c${CONNS} -d${SECONDS}s --timeout 10s, Connection: close, after a 1 s warm-up; server and wrk share the machine`,
    );
    for (const route of ['/', '/guestbook']) {
      const rows: [string, Row][] = [];
      for (const [name, how] of targets) {
        const port = await freePort();
        const [cmd, args, cwd, env] = how(port);
        try {
          rows.push([name, await measure(cmd, args, cwd, env, port, route)]);
        } catch (e) {
          rows.push([name, { rps: 0, cpuMsPerReq: NaN, note: (e as Error).message }]);
        }
      }
      const c = rows.find(([n]) => n.startsWith('C '))?.[1].rps;
      const files = rows.find(([n]) => n.endsWith('(before)'))?.[1].rps;
      console.log(`GET ${route}`);
      for (const [name, r] of rows)
        console.log(
          `  ${name.padEnd(40)} ${r.rps.toFixed(0).padStart(6)} req/s  ${r.cpuMsPerReq.toFixed(2).padStart(6)} ms CPU/req` +
            (files ? `  ${(r.rps / files).toFixed(1).padStart(5)}x before` : '') +
            (c ? `  ${(r.rps / c).toFixed(3)}x C` : '') +
            (r.note ? `  [${r.note}]` : ''),
        );
    }
  } finally {
    await stop(redis);
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
