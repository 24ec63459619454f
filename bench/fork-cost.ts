// What one connection costs the forking server, by phase, and what each lever changes.
//
// A probe (this file with --probe, in the fork-safe node: --single-threaded + forksafe.so) loads
// the server's modules, opens the app, then runs the forking server's per-connection cycle on
// loopback: it connects to itself, queues the request, accept()s, fork()s; the child runs the
// forking server's own child body (runChild, lib/servers/children.ts: it compiles, or not, what a
// real child does), serves with handleClient(), and _exit()s; the parent reaps it and reads the
// answer. Per connection:
//   fork      the fork() call in the parent, CPU (page tables copied, pages marked copy-on-write)
//   start     fork() called -> the child's first JS instruction runs
//   work      the child's body up to the end of handleClient(), and its minor faults
//   exit      what follows: closing the Redis client, _exit(), the address space torn down
//   child flt every minor fault the child takes from fork to _exit (getrusage: /proc/PID/stat's minflt)
//   parent    the parent's CPU for the connection: fork(), close, waitpid
//   parent flt the parent's own faults in fork() and until the child is reaped and answered
//   conn/s    connections per second of this sequential cycle (one connection at a time)
// Levers, each a probe of its own, run interleaved (A B C.. A B C..) in one run. A lever is one
// part or several joined by '+' (warm+semi1+largepages); the parts:
//   baseline  nothing (as the forking server was before any lever): the CLI's modules loaded
//   gc        global.gc() just before the loop (--expose-gc): compacted heap, empty young gen
//   semi1     --max-semi-space-size=1: a 1 MB young generation (the re-exec's default)
//   thp-off   prctl(PR_SET_THP_DISABLE): no transparent huge pages in this process
//   slim      only the modules a child needs (a fork parent forked before the CLI loads the rest)
//   warm      lib/servers/warm-up.ts as the servers call it: the parent serves a few requests to
//             itself before the loop, so every child inherits the request path compiled
//   warmN     the warm-up's requests N times over (N = 1..999): hotter functions, Sparkplug code
//             made before fork instead of in every child
//   largepages --use-largepages=silent: node's .text remapped into anonymous 2 MB pages
//   nolazy    --no-lazy: every function compiled with its script (nothing left for a child)
//   nosparkplug --no-sparkplug: no baseline compiler (no batch compile in the child)
//   noflush   --no-flush-bytecode: bytecode never dropped by the parent's mark-compacts
//   noopt     --no-opt: no TurboFan
//   litemode  --lite-mode: no feedback vectors (fewer heap pages written per call), no optimizing tiers
//   jitless   --jitless: the interpreter only, no executable memory allocated at run time
//   alwayssp  --always-sparkplug: baseline code for every function as it is compiled (in the parent)
//   eagerfb   --no-lazy-feedback-allocation: feedback vectors (inline caches) from a function's
//             first call, so the warm-up leaves them filled for every child
//   noshortbuiltins --no-short-builtin-calls: V8 does not copy its builtins (~1.6 MB) into the
//             code range; calls go to node's text instead
//   bindnow   LD_BIND_NOW=1: every dynamic symbol bound at start-up, not on first call in each child
//   hints     ZH_FORKSAFE_KEEP_HINTS=1: forksafe.so leaves V8's random mmap() hints alone (its heap
//             pages scattered, each with page tables of its own: the behaviour before 2 December's afternoon)
//   minorgc   a scavenge just before the loop (--expose-gc): an empty young generation at fork
//   X=Y       any other node/V8 flag, given as --X=Y (e.g. interrupt-budget=1000)
// (--single-threaded, which every probe runs with, already implies --single-threaded-gc and
// --no-concurrent-recompilation: those are no levers here.)
// Usage: node dist/bench/fork-cost.js [--iterations 300] [--rounds 3] [--path /] [--levers a,b]
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { FORKSAFE_SO } from '../lib/paths';

const PARTS: Record<string, string[]> = {
  baseline: [],
  gc: ['--expose-gc'],
  semi1: ['--max-semi-space-size=1'],
  'thp-off': [],
  slim: [],
  warm: [],
  largepages: ['--use-largepages=silent'],
  nolazy: ['--no-lazy'],
  nosparkplug: ['--no-sparkplug'],
  noflush: ['--no-flush-bytecode'],
  noopt: ['--no-opt'],
  litemode: ['--lite-mode'],
  jitless: ['--jitless'],
  alwayssp: ['--always-sparkplug'],
  noshortbuiltins: ['--no-short-builtin-calls'],
  hints: [],
  bindnow: [],
  minorgc: ['--expose-gc'],
  eagerfb: ['--no-lazy-feedback-allocation'],
};
/** The forking server's own setting (lib/servers/forking.ts, lib/forksafe.ts), and that with V8's hints kept. */
const SERVER = 'warm+semi1+largepages+nolazy+nosparkplug+eagerfb+bindnow';
const DEFAULT_LEVERS = `${SERVER},${SERVER}+hints,baseline`;

/** The node flags of a lever (its parts' flags); throws on an unknown part. */
function leverFlags(lever: string): string[] {
  return lever.split('+').flatMap((part) => {
    if (/^warm\d{1,3}$/.test(part)) return [];
    if (/^[a-z][a-z0-9-]*=\S+$/.test(part)) return [`--${part}`];
    const f = PARTS[part];
    if (!f) throw new Error(`unknown lever part ${part}: ${Object.keys(PARTS).join(', ')}, warmN, flag=value`);
    return f;
  });
}
const has = (lever: string, part: string) => lever.split('+').includes(part);
/** How many times the warm-up's requests run before the loop (0: no warm-up). */
function warmRounds(lever: string): number {
  const w = lever.split('+').find((p) => /^warm\d{0,3}$/.test(p));
  return w === undefined ? 0 : w === 'warm' ? 1 : Number(w.slice(4));
}

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : def;
}

/** CPU times in microseconds (getrusage), faults counted (minflt, as /proc/PID/stat's field 10). */
interface Sample {
  forkWall: number; // the parent's fork() call, wall clock
  fork: number; // ... its CPU time (page tables copied)
  start: number; // the child's CPU before its first JS statement (the return from fork)
  work: number; // the child's body to the end of handleClient()
  exit: number; // the rest: Redis client closed, _exit(), its address space torn down
  child: number; // all of the child's CPU
  parent: number; // the parent's CPU for this connection: fork(), close, waitpid
  total: number; // parent + child: the server's CPU per connection
  workFlt: number;
  childFlt: number;
  parentFlt: number; // the parent's faults from just before fork() to the child reaped
}
interface ProbeResult {
  lever: string;
  samples: Sample[];
  connPerSec: number;
  anonKb: number;
  ptesKb: number;
}

// ---- the probe ----
function probe(lever: string, iterations: number, urlPath: string, redisPort: number): void {
  const { C, native } = require('../lib/sys') as typeof import('../lib/sys');
  const { createApp } = require('../lib/public-root') as typeof import('../lib/public-root');
  const { handleClient, serveContext } = require('../lib/serve') as typeof import('../lib/serve');
  const { runChild } = require('../lib/servers/children') as typeof import('../lib/servers/children');
  const { DEFAULTS } = require('../lib/options') as typeof import('../lib/options');
  const { setQuiet } = require('../lib/log') as typeof import('../lib/log');
  const { setupListeningSocket, boundPort } = require('../lib/listen-socket') as typeof import('../lib/listen-socket');
  const { warmUpRequestPath } = require('../lib/servers/warm-up') as typeof import('../lib/servers/warm-up');
  if (!has(lever, 'slim')) {
    // What the CLI has loaded when the forking server starts its loop.
    for (const m of ['run', 'cli-args', 'stats', 'banner', 'syscall-report', 'servers/index', 'servers/forking'])
      if (fs.existsSync(path.join(__dirname, '..', 'lib', `${m}.js`))) require(`../lib/${m}`);
  }
  setQuiet(true);
  const opts = { ...DEFAULTS, redisPort, redisHost: '127.0.0.1', quiet: true };
  const app = createApp(opts);
  const listenFd = setupListeningSocket('127.0.0.1', 0, 128);
  const port = boundPort(listenFd);
  const request = Buffer.from(`GET ${urlPath} HTTP/1.0\r\nHost: x\r\n\r\n`);
  const answer = Buffer.alloc(64 * 1024);
  const status = new Int32Array(1);
  const ns = () => Number(process.hrtime.bigint());
  const minflt = () => (native.getrusage(C.RUSAGE_SELF) as { minflt: number }).minflt;
  // RUSAGE_SELF, not RUSAGE_THREAD: the kernel brings the running thread's CPU time up to date
  // only for the former (RUSAGE_THREAD lags to the last tick or switch).
  const cpu = (who: number) => {
    const u = native.getrusage(who) as { user: number; system: number };
    return Math.round((u.user + u.system) * 1e6);
  };

  /** One client connection, its request already queued, accepted: [client fd, server fd]. */
  function connection(): [number, number] {
    const cfd = native.socket(C.AF_INET, C.SOCK_STREAM | C.SOCK_CLOEXEC);
    if (native.connect(cfd, '127.0.0.1', port) < 0) throw new Error('connect failed');
    native.send(cfd, request, 0, request.length);
    return [cfd, native.accept4(listenFd, C.SOCK_CLOEXEC)];
  }
  function readAnswer(cfd: number): void {
    let got = 0;
    for (let n; (n = native.recv(cfd, answer, got, answer.length - got)) > 0;) got += n;
    native.close(cfd);
    if (!answer.subarray(0, got).toString('latin1').startsWith('HTTP/1.0 200'))
      throw new Error(`bad answer: ${answer.subarray(0, Math.min(got, 80)).toString('latin1')}`);
  }

  for (let i = warmRounds(lever); i > 0; i--) warmUpRequestPath(app, opts);
  if (has(lever, 'gc')) (globalThis as { gc?: () => void }).gc!();
  if (has(lever, 'minorgc')) (globalThis as { gc?: (o: object) => void }).gc!({ type: 'minor' });
  if (has(lever, 'thp-off')) native.prctl(C.PR_SET_THP_DISABLE, 1);

  const samples: Sample[] = [];
  // Each child write()s one line of numbers (as float64s) to an unlinked file the parent opened:
  // the file offset is shared, so line i is at i * LINE; the parent pread()s it.
  const LINE = 4 * 8;
  const line = new Float64Array(4);
  const lineBytes = new Uint8Array(line.buffer);
  const reportFile = path.join(os.tmpdir(), `zh-fork-cost-${process.pid}`);
  const reportFd = fs.openSync(reportFile, 'w+');
  fs.unlinkSync(reportFile);
  const report = Buffer.alloc(LINE);
  const got = new Float64Array(report.buffer, report.byteOffset, 4);
  const parentPid = native.getpid();
  const t0 = ns();
  for (let i = 0; i < iterations; i++) {
    const [cfd, sfd] = connection();
    const before = minflt();
    const k0 = cpu(C.RUSAGE_CHILDREN);
    const p0 = cpu(C.RUSAGE_SELF);
    const f0 = ns();
    const pid = native.fork();
    if (pid === 0) {
      const c0 = cpu(C.RUSAGE_SELF);
      const flt0 = minflt();
      runChild(parentPid, 'child', opts, (redis) => {
        native.close(listenFd);
        native.close(cfd);
        handleClient(sfd, serveContext(app, redis, opts));
        line[0] = c0;
        line[1] = minflt() - flt0;
        line[2] = minflt();
        line[3] = cpu(C.RUSAGE_SELF) - c0; // stamped last
        native.write(reportFd, lineBytes, 0, LINE);
      });
    }
    const f1 = ns();
    const p1 = cpu(C.RUSAGE_SELF);
    native.close(sfd);
    if (pid < 0) throw new Error(`fork: ${native.errname(pid)}`);
    native.waitpid(pid, 0, status);
    const p2 = cpu(C.RUSAGE_SELF);
    const childCpu = cpu(C.RUSAGE_CHILDREN) - k0;
    const parentFlt = minflt() - before;
    readAnswer(cfd);
    if (fs.readSync(reportFd, report, 0, LINE, i * LINE) !== LINE) throw new Error(`child ${pid} did not report`);
    const [start, workFlt, childFlt, work] = got;
    samples.push({
      forkWall: (f1 - f0) / 1e3,
      fork: p1 - p0,
      start,
      work,
      exit: childCpu - start - work,
      child: childCpu,
      parent: p2 - p0,
      total: p2 - p0 + childCpu,
      workFlt,
      childFlt,
      parentFlt,
    });
  }
  const seconds = (ns() - t0) / 1e9;
  const rollup = fs.readFileSync('/proc/self/smaps_rollup', 'utf8');
  const status_ = fs.readFileSync('/proc/self/status', 'utf8');
  const kb = (re: RegExp, s: string) => Number(re.exec(s)?.[1] ?? NaN);
  const result: ProbeResult = {
    lever,
    samples,
    connPerSec: iterations / seconds,
    anonKb: kb(/^Anonymous:\s+(\d+)/m, rollup),
    ptesKb: kb(/^VmPTE:\s+(\d+)/m, status_),
  };
  process.stdout.write(JSON.stringify(result) + '\n');
  native._exit(0);
}

// ---- the driver ----
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.floor(s.length / 2)] : NaN;
};

async function main(): Promise<void> {
  if (process.argv.includes('--probe')) {
    probe(arg('probe', 'baseline'), Number(arg('iterations', '300')), arg('path', '/'), Number(arg('redis-port', '0')));
    return;
  }
  const iterations = Number(arg('iterations', '300'));
  const rounds = Number(arg('rounds', '3'));
  const urlPath = arg('path', '/');
  const levers = arg('levers', DEFAULT_LEVERS).split(',');
  const flags = new Map(levers.map((l) => [l, leverFlags(l)]));
  if (!fs.existsSync(FORKSAFE_SO)) throw new Error(`${FORKSAFE_SO} is not built (npm run build)`);
  const { findExecutable, startRedis } = await import('../lib/bench/bench-servers');
  const redisBin = findExecutable('redis-server');
  if (!redisBin) throw new Error('redis-server not found');
  const redis = await startRedis(redisBin);
  const results: Record<string, ProbeResult[]> = {};
  try {
    for (let r = 0; r < rounds; r++) {
      for (const lever of levers) {
        const res = spawnSync(
          process.execPath,
          [
            ...flags.get(lever)!,
            '--single-threaded',
            __filename,
            '--probe',
            lever,
            '--iterations',
            String(iterations),
            '--path',
            urlPath,
            '--redis-port',
            String(redis.port),
          ],
          {
            encoding: 'utf8',
            env: {
              ...process.env,
              LD_PRELOAD: FORKSAFE_SO,
              ...(has(lever, 'hints') ? { ZH_FORKSAFE_KEEP_HINTS: '1' } : {}),
              ...(has(lever, 'bindnow') ? { LD_BIND_NOW: '1' } : {}),
            },
            timeout: 300_000,
          },
        );
        if (res.status !== 0) throw new Error(`probe ${lever} failed (${res.status}): ${res.stderr}`);
        (results[lever] ??= []).push(JSON.parse(res.stdout.trim().split('\n').pop()!) as ProbeResult);
      }
    }
  } finally {
    await redis.stop();
  }
  console.log(
    `fork-cost: GET ${urlPath}, ${iterations} connections x ${rounds} rounds per lever, one at a time; medians per connection:` +
      `\nCPU in us (getrusage), forkWall in us, faults (minflt); 'CPU x' = the first lever's total CPU / this one's` +
      ` (what bounds a CPU-saturated server); conn/s is wall-clock (one at a time, load-dependent)` +
      `\nload average: ${os
        .loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}`,
  );
  const cols = ['forkWall', 'fork', 'start', 'work', 'exit', 'child', 'parent', 'total'] as const;
  const flts = ['workFlt', 'childFlt', 'parentFlt'] as const;
  const width = Math.max(13, ...levers.map((l) => l.length + 1));
  const w = (x: number | string, n: number) => String(typeof x === 'number' ? x.toFixed(0) : x).padStart(n);
  console.log(
    'lever'.padEnd(width) +
      [...cols, ...flts].map((c) => w(c, 9)).join('') +
      w('CPU x', 7) +
      w('conn/s', 8) +
      w('anon kB', 9) +
      w('PTE kB', 8),
  );
  const med = (lever: string, c: keyof Sample) => median(results[lever].flatMap((p) => p.samples.map((x) => x[c])));
  const base = med(levers[0], 'total');
  for (const lever of levers) {
    const rs = results[lever];
    console.log(
      lever.padEnd(width) +
        [...cols, ...flts].map((c) => w(med(lever, c), 9)).join('') +
        w((base / med(lever, 'total')).toFixed(2), 7) +
        w(median(rs.map((p) => p.connPerSec)), 8) +
        w(median(rs.map((p) => p.anonKb)), 9) +
        w(median(rs.map((p) => p.ptesKb)), 8),
    );
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
