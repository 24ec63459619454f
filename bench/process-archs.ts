// Requests per second of the forking and preforked servers with wrk (one connection per
// request), side by side in one run with the article's C servers when given their build
// directory (built outside the project as shared/seed/zerohttpd-c/ABOUT.md says; they talk to
// Redis on 6379, so this starts a throwaway redis-server there and points ours at it too).
// Each server gets a warm-up run, then the measured one; ratios are against the C server of the
// same architecture (see docs/fork-safety.md).
// Usage: node dist/bench/process-archs.js [--c DIR] [--duration 4] [--warmup 1] [--connections 20]
//          [--workers 100] [--paths /,/guestbook] [--locks none,mutex,lifo] [--only forking|preforked]
//          [--node-flags '--max-semi-space-size=1']  (our servers once more with these node flags)
//          [--variant 'NAME=FLAGS'...]  (repeatable: our servers once more per variant; FLAGS are node
//          flags, and VAR=VALUE words set the environment, e.g. 'mh=GLIBC_TUNABLES=glibc.malloc.hugetlb=1')
//          [--rounds 3]  (every row once per round; medians: the machine's load varies between runs)
// Besides req/s, each row's CPU per request: the CPU time of the server's process group during the
// measured wrk run (/proc/PID/stat of every member, plus the children the leader reaped), over the
// requests wrk completed, and that against the C server's ("CPU vs C": C's over ours, so 0.25x is
// four times C's CPU per request: what bounds a CPU-saturated server, beside req/s); and the
// machine's busy time (/proc/stat) less wrk's and Redis's, per request, which also charges what
// the server makes the kernel do elsewhere (and anything else running: a quiet machine only).
import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseListening } from '../lib/banner';
import { freePort } from '../lib/net-probe';

const CLI = path.resolve(__dirname, '..', 'lib', 'cli.js');

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : def;
}
/** USER_HZ: the unit of /proc/stat and /proc/PID/stat times (100 on every Linux architecture we run on). */
const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** The median; of an even count, the mean of the middle two. */
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

interface Running {
  port: number;
  pid: number;
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

/** Every value of a repeatable option. */
function args(name: string): string[] {
  return process.argv.flatMap((a, i) =>
    a === `--${name}` && i + 1 < process.argv.length ? [process.argv[i + 1]] : [],
  );
}

/** 'NAME=words': node flags, and VAR=VALUE words for the environment. */
function parseVariant(v: string): { name: string; flags: string[]; env: Record<string, string> } {
  const eq = v.indexOf('=');
  if (eq <= 0) throw new Error(`--variant ${v}: expected NAME=FLAGS`);
  const words = v
    .slice(eq + 1)
    .split(' ')
    .filter(Boolean);
  const isEnv = (w: string) => /^[A-Z_][A-Z0-9_]*=/.test(w);
  const env = Object.fromEntries(
    words.filter(isEnv).map((w) => [w.slice(0, w.indexOf('=')), w.slice(w.indexOf('=') + 1)]),
  );
  return { name: v.slice(0, eq), flags: words.filter((w) => !isEnv(w)), env };
}

/** Jiffies the whole machine was busy (all of /proc/stat's cpu line but idle and iowait). */
function machineBusy(): number {
  const f = fs.readFileSync('/proc/stat', 'latin1').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  return f.reduce((a, b) => a + b, 0) - f[3] - f[4];
}
/** /proc/PID/stat from field 3 (state) on, as numbers; null if gone. */
function procStat(pid: number | string): number[] | null {
  try {
    const f = fs.readFileSync(`/proc/${pid}/stat`, 'latin1');
    return f
      .slice(f.lastIndexOf(')') + 2)
      .split(' ')
      .map(Number);
  } catch {
    return null;
  }
}
/** utime + stime (jiffies) of a process, and with `reaped` its reaped children's too. */
function procCpu(pid: number | 'self', reaped = false): number {
  const x = procStat(pid);
  return x ? x[11] + x[12] + (reaped ? x[13] + x[14] : 0) : 0;
}
/** CPU (jiffies) of process group `pgid` (its leader's pid): every live member's, and what the leader reaped. */
function groupCpu(pgid: number): number {
  let sum = procCpu(pgid, true) - procCpu(pgid);
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    const x = procStat(d);
    if (x && x[2] === pgid) sum += x[11] + x[12]; // x[2]: field 5, pgrp
  }
  return sum;
}

async function startOurs(
  args: string[],
  redisPort: number,
  nodeFlags: string[] = [],
  env: Record<string, string> = {},
): Promise<Running> {
  const proc = spawn(
    process.execPath,
    [...nodeFlags, CLI, ...args, '--quiet', '--port', '0', '--redis', `127.0.0.1:${redisPort}`],
    {
      stdio: ['ignore', 'ignore', 'pipe'],
      detached: true,
      env: { ...process.env, ...env },
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
  return { port, pid: proc.pid!, stop: stopper(proc) };
}

async function startC(dir: string, name: string): Promise<Running> {
  const port = await freePort();
  const proc = spawn(path.join(dir, name), [String(port), '127.0.0.1'], { cwd: dir, stdio: 'ignore', detached: true });
  for (let i = 0; !(await canConnect(port)); i++) {
    if (i === 200 || proc.exitCode !== null) throw new Error(`C ${name} did not start on ${port}`);
    await sleep(25);
  }
  return { port, pid: proc.pid!, stop: stopper(proc) };
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

function wrk(
  port: number,
  duration: number,
  connections: number,
  urlPath: string,
): { rps: number; requests: number; errors: string } {
  const r = spawnSync(
    'wrk',
    ['-t1', `-c${connections}`, `-d${duration}s`, '-H', 'Connection: close', `http://127.0.0.1:${port}${urlPath}`],
    { encoding: 'utf8' },
  );
  if (r.status !== 0) throw new Error(`wrk failed: ${r.stderr}`);
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(r.stdout)?.[1] ?? NaN);
  const requests = Number(/(\d+) requests in/.exec(r.stdout)?.[1] ?? NaN);
  const errors = [/Socket errors:.*/.exec(r.stdout)?.[0], /Non-2xx.*/.exec(r.stdout)?.[0]].filter(Boolean).join('; ');
  return { rps, requests, errors };
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
  const variants = args('variant').map(parseVariant);
  if (nodeFlags.length) variants.unshift({ name: '+flags', flags: nodeFlags, env: {} });
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
    for (const v of variants)
      rows.push({
        label: `forking ${v.name}`,
        arch: 'forking',
        start: () => startOurs(['forking'], redisPort, v.flags, v.env),
      });
  }
  if (!only || only === 'preforked') {
    if (cDir)
      rows.push({ label: 'C preforked (100)', arch: 'preforked', c: true, start: () => startC(cDir, 'preforked') });
    for (const lock of locks) {
      const args = ['preforked', '--workers', workers, '--accept-lock', lock];
      rows.push({ label: `preforked ${workers} ${lock}`, arch: 'preforked', start: () => startOurs(args, redisPort) });
      for (const v of variants)
        rows.push({
          label: `preforked ${workers} ${lock} ${v.name}`,
          arch: 'preforked',
          start: () => startOurs(args, redisPort, v.flags, v.env),
        });
    }
  }
  for (const v of variants)
    console.log(`${v.name}: node ${[...Object.entries(v.env).map(([k, x]) => `${k}=${x}`), ...v.flags].join(' ')}`);
  console.log(
    `load average before: ${os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
  );
  console.log(
    `wrk -t1 -c${connections} -d${duration}s -H 'Connection: close' after a ${warmup}s warm-up; servers one at a time,` +
      ` ${rounds} round(s) (every row once per round, in order), medians`,
  );
  try {
    for (const urlPath of paths) {
      const rates = new Map<Row, number[]>(rows.map((r) => [r, []]));
      const cpus = new Map<Row, number[]>(rows.map((r) => [r, []]));
      const machine = new Map<Row, number[]>(rows.map((r) => [r, []]));
      const errs = new Map<Row, string>();
      for (let round = 0; round < rounds; round++) {
        for (const row of rows) {
          const s = await row.start();
          await sleep(row.arch === 'preforked' ? 1500 : 300); // workers up
          wrk(s.port, warmup, connections, urlPath);
          const [busy0, wrk0, redis0, group0] = [
            machineBusy(),
            procCpu('self', true),
            procCpu(redis.pid!),
            groupCpu(s.pid),
          ];
          const { rps, requests, errors } = wrk(s.port, duration, connections, urlPath);
          const group = groupCpu(s.pid) - group0;
          const busy = machineBusy() - busy0 - (procCpu('self', true) - wrk0) - (procCpu(redis.pid!) - redis0);
          await s.stop();
          rates.get(row)!.push(rps);
          const usPerReq = (jiffies: number) => ((jiffies / CLK_TCK) * 1e6) / requests;
          cpus.get(row)!.push(usPerReq(group));
          machine.get(row)!.push(usPerReq(busy));
          if (errors) errs.set(row, errors);
        }
      }
      console.log(`\nGET ${urlPath}`);
      console.log(
        `${'server'.padEnd(32)} ${'req/s'.padStart(9)}  vs C   ${'us CPU/req'.padStart(10)}  CPU vs C ${'machine'.padStart(8)}  (each round)`,
      );
      const cRate: Record<string, number> = {};
      const cCpu: Record<string, number> = {};
      for (const row of rows) {
        const rps = median(rates.get(row)!);
        const cpuUs = median(cpus.get(row)!);
        if (row.c) {
          cRate[row.arch] = rps;
          cCpu[row.arch] = cpuUs;
        }
        const vs = cRate[row.arch] ? `${(rps / cRate[row.arch]).toFixed(2)}x` : '';
        // The same direction as req/s: C's CPU per request over this row's (0.25x: 4x the CPU).
        const cpuVs = cCpu[row.arch] && cpuUs > 0 ? `${(cCpu[row.arch] / cpuUs).toFixed(2)}x` : '';
        const each = rates
          .get(row)!
          .map((r) => r.toFixed(0))
          .join(', ');
        const e = errs.get(row);
        const cpu = cpuUs.toFixed(0);
        const mach = median(machine.get(row)!).toFixed(0);
        console.log(
          `${row.label.padEnd(32)} ${rps.toFixed(0).padStart(9)}  ${vs.padEnd(6)} ${cpu.padStart(10)}  ${cpuVs.padEnd(8)} ${mach.padStart(8)}  (${each})${e ? `  (${e})` : ''}`,
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
