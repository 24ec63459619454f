// Threaded vs prethreaded on GET / (one connection per request), against the article's C
// prethreaded server measured on a 2-core machine (10.1k req/s, GET /, wrk -t1 -c50).
//   node dist/bench/thread-archs.js [seconds=4] [connections=50]
// wrk gets one thread (-t1) and shares the 2 cores with the server: compare within one run.
import { spawn, execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseListening } from '../lib/banner';

const SECONDS = Number(process.argv[2] ?? 4);
const CONNS = Number(process.argv[3] ?? 50);
const C_PRETHREADED = 10_100; // req/s, the article's C prethreaded server, c=50
const CLI = path.join(__dirname, '..', 'lib', 'cli.js');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Wait until the process has used no CPU for 500 ms (its Workers are all up and blocked). */
async function settled(pid: number): Promise<void> {
  const cpu = () =>
    fs
      .readFileSync(`/proc/${pid}/stat`, 'utf8')
      .slice(fs.readFileSync(`/proc/${pid}/stat`, 'utf8').lastIndexOf(')') + 2)
      .split(' ')
      .slice(11, 13)
      .reduce((a, b) => a + Number(b), 0);
  let last = -1;
  for (let i = 0; i < 120; i++) {
    const now = cpu();
    if (now === last) return;
    last = now;
    await sleep(500);
  }
}

async function measure(args: string[]): Promise<{ rps: number; extra: string }> {
  const p = spawn(process.execPath, [CLI, ...args, '--port', '0', '--quiet'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '',
    out = '';
  p.stderr.on('data', (d) => (err += d));
  p.stdout.on('data', (d) => (out += d));
  const exited = new Promise((r) => p.once('exit', r));
  while (!parseListening(err)) {
    if (p.exitCode !== null) throw new Error(`server exited: ${err}`);
    await sleep(20);
  }
  const port = parseListening(err)!.port;
  await settled(p.pid!); // a pool of Workers takes seconds of CPU to start: measure after
  const url = `http://127.0.0.1:${port}/`;
  execFileSync('/usr/bin/wrk', ['-t1', '-c', String(CONNS), '-d1s', '-H', 'Connection: close', url]); // warm-up
  const w = execFileSync('/usr/bin/wrk', [
    '-t1',
    '-c',
    String(CONNS),
    `-d${SECONDS}s`,
    '-H',
    'Connection: close',
    url,
  ]).toString();
  p.kill('SIGINT');
  await exited;
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(w)?.[1] ?? 0);
  const bad = /Non-2xx or 3xx responses: (\d+)/.exec(w)?.[1];
  const errs = /Socket errors: (.*)/.exec(w)?.[1];
  const peak = /peak workers = \d+/.exec(out)?.[0];
  return { rps, extra: [bad && `non-2xx ${bad}`, errs && `socket errors: ${errs}`, peak].filter(Boolean).join('; ') };
}

async function main(): Promise<void> {
  console.log(`GET / with wrk -t1 -c${CONNS} -d${SECONDS}s -H 'Connection: close' (server and wrk share the machine)`);
  const runs: [string, string[]][] = [
    ['prethreaded (100 threads, mutex)', ['prethreaded']],
    ['prethreaded (8 threads, mutex)', ['prethreaded', '--threads', '8']],
    ['prethreaded (100 threads, no lock)', ['prethreaded', '--accept-lock', 'none']],
    ['threaded (max-threads 256)', ['threaded']],
    ['threaded (max-threads 8)', ['threaded', '--max-threads', '8']],
  ];
  for (const [name, args] of runs) {
    const { rps, extra } = await measure(args);
    console.log(
      `  ${name.padEnd(36)} ${rps.toFixed(0).padStart(6)} req/s  ${(rps / C_PRETHREADED).toFixed(2)}x C prethreaded (10.1k)${extra ? `  [${extra}]` : ''}`,
    );
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
