// Requests per second of the forking and preforked servers with wrk (one connection per
// request), side by side in one run with the article's C servers when given their build
// directory (built outside the project as shared/seed/zerohttpd-c/ABOUT.md says; they talk to
// Redis on 6379, so this starts a throwaway redis-server there and points ours at it too).
// Each server gets a warm-up run, then the measured one; ratios are against the C server of the
// same architecture (see docs/fork-safety.md).
// Usage: node dist/bench/process-archs.js [--c DIR] [--duration 4] [--warmup 1] [--connections 20]
//          [--workers 100] [--paths /,/guestbook] [--locks none,mutex,lifo] [--only forking|preforked]
//          [--node-flags '--max-semi-space-size=1']  (our servers once more with these node flags)
//          [--rounds 3]  (every row once per round; medians: the machine's load varies between runs)
import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import * as net from 'node:net';
import * as path from 'node:path';
import { parseListening } from '../lib/banner';
import { freePort } from '../lib/net-probe';

const CLI = path.resolve(__dirname, '..', 'lib', 'cli.js');

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : def;
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

interface Running {
  port: number;
  stop(): Promise<void>;
}

function stopper(proc: ChildProcess): () => Promise<void> {
  return () =>
    new Promise<void>((resolve) => {
      if (proc.exitCode !== null || proc.signalCode !== null) return resolve();
      proc.on('exit', () => {
        try {
          process.kill(-proc.pid!, 'SIGKILL'); // anything of its process group left behind
        } catch {
          /* none */
        }
        resolve();
      });
      proc.kill('SIGINT');
      setTimeout(() => {
        try {
          process.kill(-proc.pid!, 'SIGKILL');
        } catch {
          /* gone */
        }
      }, 5000).unref();
    });
}

async function startOurs(args: string[], redisPort: number, nodeFlags: string[] = []): Promise<Running> {
  const proc = spawn(
    process.execPath,
    [...nodeFlags, CLI, ...args, '--quiet', '--port', '0', '--redis', `127.0.0.1:${redisPort}`],
    {
      stdio: ['ignore', 'ignore', 'pipe'],
      detached: true,
    },
  );
  let err = '';
  proc.stderr.on('data', (d) => (err += d));
  const port = await new Promise<number>((resolve, reject) => {
    proc.stderr.on('data', () => {
      const m = parseListening(err);
      if (m) resolve(m.port);
    });
    proc.on('exit', (c) => reject(new Error(`server exited (${c}): ${err}`)));
  });
  return { port, stop: stopper(proc) };
}

async function startC(dir: string, name: string): Promise<Running> {
  const port = await freePort();
  const proc = spawn(path.join(dir, name), [String(port), '127.0.0.1'], { cwd: dir, stdio: 'ignore', detached: true });
  for (let i = 0; !(await canConnect(port)); i++) {
    if (i === 200 || proc.exitCode !== null) throw new Error(`C ${name} did not start on ${port}`);
    await sleep(25);
  }
  return { port, stop: stopper(proc) };
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1', () => {
      s.destroy();
      resolve(true);
    });
    s.on('error', () => resolve(false));
  });
}

function wrk(port: number, duration: number, connections: number, urlPath: string): { rps: number; errors: string } {
  const r = spawnSync(
    'wrk',
    ['-t1', `-c${connections}`, `-d${duration}s`, '-H', 'Connection: close', `http://127.0.0.1:${port}${urlPath}`],
    { encoding: 'utf8' },
  );
  if (r.status !== 0) throw new Error(`wrk failed: ${r.stderr}`);
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(r.stdout)?.[1] ?? NaN);
  const errors = [/Socket errors:.*/.exec(r.stdout)?.[0], /Non-2xx.*/.exec(r.stdout)?.[0]].filter(Boolean).join('; ');
  return { rps, errors };
}

async function main(): Promise<void> {
  const cDir = arg('c', '');
  const duration = Number(arg('duration', '4')),
    warmup = Number(arg('warmup', '1')),
    connections = Number(arg('connections', '20')),
    workers = arg('workers', '100');
  const paths = arg('paths', '/,/guestbook').split(',');
  const locks = arg('locks', 'none,mutex,lifo').split(',');
  const only = arg('only', '');
  const rounds = Number(arg('rounds', '1'));
  const nodeFlags = arg('node-flags', '').split(' ').filter(Boolean);
  let redis: ChildProcess | null = null;
  let redisPort = 6379;
  if (cDir) {
    if (await canConnect(6379))
      throw new Error('something already listens on 6379; the C servers need their own Redis there');
    redis = spawn('redis-server', ['--port', '6379', '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
      stdio: 'ignore',
    });
    while (!(await canConnect(6379))) await sleep(25);
  } else {
    redisPort = await freePort();
    redis = spawn(
      'redis-server',
      ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
      {
        stdio: 'ignore',
      },
    );
    while (!(await canConnect(redisPort))) await sleep(25);
  }
  type Row = { label: string; arch: string; start: () => Promise<Running>; c?: boolean };
  const rows: Row[] = [];
  if (!only || only === 'forking') {
    if (cDir) rows.push({ label: 'C forking', arch: 'forking', c: true, start: () => startC(cDir, 'forking') });
    rows.push({ label: 'forking', arch: 'forking', start: () => startOurs(['forking'], redisPort) });
    if (nodeFlags.length)
      rows.push({
        label: 'forking +flags',
        arch: 'forking',
        start: () => startOurs(['forking'], redisPort, nodeFlags),
      });
  }
  if (!only || only === 'preforked') {
    if (cDir)
      rows.push({ label: 'C preforked (100)', arch: 'preforked', c: true, start: () => startC(cDir, 'preforked') });
    for (const lock of locks) {
      const args = ['preforked', '--workers', workers, '--accept-lock', lock];
      rows.push({ label: `preforked ${workers} ${lock}`, arch: 'preforked', start: () => startOurs(args, redisPort) });
      if (nodeFlags.length)
        rows.push({
          label: `preforked ${workers} ${lock} +flags`,
          arch: 'preforked',
          start: () => startOurs(args, redisPort, nodeFlags),
        });
    }
  }
  if (nodeFlags.length) console.log(`+flags: node ${nodeFlags.join(' ')}`);
  console.log(
    `wrk -t1 -c${connections} -d${duration}s -H 'Connection: close' after a ${warmup}s warm-up; servers one at a time,` +
      ` ${rounds} round(s) (every row once per round, in order), medians`,
  );
  try {
    for (const urlPath of paths) {
      const rates = new Map<Row, number[]>(rows.map((r) => [r, []]));
      const errs = new Map<Row, string>();
      for (let round = 0; round < rounds; round++) {
        for (const row of rows) {
          const s = await row.start();
          await sleep(row.arch === 'preforked' ? 1500 : 300); // workers up
          wrk(s.port, warmup, connections, urlPath);
          const { rps, errors } = wrk(s.port, duration, connections, urlPath);
          await s.stop();
          rates.get(row)!.push(rps);
          if (errors) errs.set(row, errors);
        }
      }
      console.log(`\nGET ${urlPath}`);
      console.log(`${'server'.padEnd(28)} ${'req/s'.padStart(9)}  vs C   (each round)`);
      const cRate: Record<string, number> = {};
      for (const row of rows) {
        const rps = median(rates.get(row)!);
        if (row.c) cRate[row.arch] = rps;
        const vs = cRate[row.arch] ? `${(rps / cRate[row.arch]).toFixed(2)}x` : '';
        const each = rates
          .get(row)!
          .map((r) => r.toFixed(0))
          .join(', ');
        const e = errs.get(row);
        console.log(
          `${row.label.padEnd(28)} ${rps.toFixed(0).padStart(9)}  ${vs.padEnd(6)} (${each})${e ? `  (${e})` : ''}`,
        );
      }
    }
  } finally {
    redis?.kill('SIGTERM');
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
