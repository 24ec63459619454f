// Hardening (issue 8), the shared part: every file in test/hardening/ runs one concern (hostile
// input, slowloris, faults, guestbook, leaks, the fd limit) against EVERY architecture in
// ARCHITECTURES (a new one is covered automatically); HARDENING_ARCHS=a,b narrows them.
//
// Each file starts, per architecture, a server under
// `strace -f --seccomp-bpf -e trace=open,openat,openat2 -y` for the file's whole run, so every check
// doubles as a proof that no file outside the public root is ever opened. Real processes, real
// sockets, a private redis-server with an fsync-always AOF (so "acknowledged = stored" survives a
// SIGKILL), no mocks. Bounds are generous upper limits, never timing assumptions. One summary
// line per concern is printed when its block ends.
import { makeTraversalTree } from '../helpers/fixtures';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { archArgs, ARCHITECTURES } from '../../lib/servers/index';
import { ServerProcess, sleep, spawnServer } from '../../lib/bench/spawn';
import { PrivateRedis, startRedis } from '../helpers/redis';
import { parseResponse, RawResponse } from '../helpers/http';
import { childrenOf, waitFor } from '../helpers/procs';
import { isOpen, openedFile, parseTrace } from '../helpers/strace';
import { runnable } from '../helpers/skip';

export { sleep, waitFor };

export const A_TXT = 'hardening a.txt: plain text\n';
const BIG_SIZE = 64 * 1024 * 1024;
export const TIMEOUT_S = 1; // --timeout for every server here: small, so stalls cost little
export const POOL = 4; // --workers / --threads
const MAX_THREADS = 16;

/**
 * Modes of an architecture that the hardening suite runs as if they were architectures of their
 * own (label -> the architecture and the options that select the mode; optIn: only when
 * HARDENING_ARCHS names it or its architecture), e.g.
 * `'preforked --dispatch pass': { arch: 'preforked', args: ['--dispatch', 'pass'] }`.
 */
export const VARIANTS: Record<string, { arch: string; args: string[]; optIn?: boolean }> = {
  // In npm test: one multi-process event loop per backend and --listen mode that differs in code
  // (reuseport for epoll, the shared socket for poll). optIn: run only when named
  // (HARDENING_ARCHS=epoll runs it, or its label), to keep the suite within its time.
  'epoll --workers 2 --listen reuseport': { arch: 'epoll', args: ['--workers', '2', '--listen', 'reuseport'] },
  'epoll --workers 2 --listen exclusive': {
    arch: 'epoll',
    args: ['--workers', '2', '--listen', 'exclusive'],
    optIn: true,
  },
  'poll --workers 2': { arch: 'poll', args: ['--workers', '2'] },
  'preforked --accept-lock lifo': { arch: 'preforked', args: ['--accept-lock', 'lifo'] },
  'preforked --dispatch pass': { arch: 'preforked', args: ['--dispatch', 'pass'] },
  'prethreaded --dispatch main': { arch: 'prethreaded', args: ['--dispatch', 'main'] },
};

/** A label the suite runs: an architecture, or one of its VARIANTS. */
export interface Variant {
  label: string;
  arch: string;
  /** The options that select the mode (empty for the architecture's default). */
  args: string[];
}

/**
 * Every registered architecture, then every variant but the opt-in ones (HARDENING_ARCHS=a,b
 * narrows them: an architecture's name selects it and all its variants, a variant's label only itself).
 */
export const ARCHS: Variant[] = [
  ...Object.keys(ARCHITECTURES).map((arch) => ({ label: arch, arch, args: [] as string[] })),
  ...Object.entries(VARIANTS).map(([label, v]) => ({ label, ...v })),
].filter((v) =>
  process.env.HARDENING_ARCHS
    ? process.env.HARDENING_ARCHS.split(',').some((n) => n === v.arch || n === v.label)
    : !VARIANTS[v.label]?.optIn,
);

/** Counts of one concern's run (one describeEveryArch block), each test adding its part; printed when it ends. */
function emptySummary() {
  return {
    archs: new Set<string>(),
    hostileCases: 0,
    hostileKinds: 0,
    traversals: 0,
    fuzzInputs: 0,
    faults: 0,
    served: 0,
    acked: 0,
    lost: 0,
    doubled: 0,
    crashes: 0,
    opensChecked: 0,
    forbiddenOpens: 0,
    leakRequests: 0,
    fdLimit503: 0,
    rssGrowth: [] as string[],
  };
}
export const summary = emptySummary();

/** One line for a concern's run (only what it counted), so it reads the same when files run in parallel workers. */
function printSummary(concern: string, seconds: number): void {
  const s = summary;
  if (s.archs.size === 0) return;
  const parts = [
    s.hostileCases && `${s.hostileCases} hostile requests (${s.hostileKinds} cases + ${s.traversals} traversals)`,
    s.fuzzInputs && `${s.fuzzInputs} fuzzed requests`,
    s.faults && `${s.faults} faults injected`,
    s.served && `${s.served} requests served normally`,
    s.leakRequests && `${s.leakRequests} leak-check requests`,
    s.acked && `${s.acked} acknowledged POSTs across Redis kills: ${s.lost} lost, ${s.doubled} doubled`,
    s.opensChecked && `${s.opensChecked} open() calls traced, ${s.forbiddenOpens} outside the root`,
    s.fdLimit503 && `${s.fdLimit503} 503s at the fd limit`,
    `${s.crashes} crashes`,
    `${seconds.toFixed(0)} s`,
  ].filter(Boolean);
  console.log(
    `      hardening ${concern}: ${s.archs.size} architectures (${[...s.archs].join(', ')}); ${parts.join('; ')}`,
  );
  if (s.rssGrowth.length)
    console.log(
      `      RSS after the leak runs (server and its children, vs. baseline after warm-up): ${s.rssGrowth.join(', ')}`,
    );
}

// ---------- fixtures ----------

export function makeTree(): { root: string; pub: string } {
  const { root, pub } = makeTraversalTree('hard');
  fs.writeFileSync(path.join(pub, 'a.txt'), A_TXT);
  // Sparse: 64 MB to sendfile() without 64 MB of disk.
  const fd = fs.openSync(path.join(pub, 'big.bin'), 'w');
  fs.ftruncateSync(fd, BIG_SIZE);
  fs.closeSync(fd);
  return { root, pub };
}

// ---------- server processes ----------

export interface Srv extends ServerProcess {
  arch: string;
  /** Forked worker processes it runs (preforked; poll/epoll --workers N), else 0. */
  workers: number;
  /** --dispatch's value, if given (preforked pass: the parent accepts, not the workers). */
  dispatch?: string;
  traceFile?: string;
}

/** The worker processes `args` (a server's command line) asks for: preforked, poll/epoll --workers N. */
export function forkedWorkers(args: string[]): number {
  const i = args.lastIndexOf('--workers');
  const n = i >= 0 ? Number(args[i + 1]) : 0;
  return args[0] === 'preforked' || n > 1 ? n : 0;
}

export function serverArgs(arch: string, pub: string, redisPort: number, extra: string[] = []): string[] {
  return [
    arch,
    ...archArgs(arch, [
      '--redis',
      `127.0.0.1:${redisPort}`,
      '--public',
      pub,
      '--timeout',
      String(TIMEOUT_S),
      // poll/epoll take --workers too, as a mode of their own (VARIANTS): not from this list.
      ...(ARCHITECTURES[arch].defaults?.workers ? [] : ['--workers', String(POOL)]),
      '--threads',
      String(POOL),
      '--max-threads',
      String(MAX_THREADS),
      '--backlog',
      '512',
      '--quiet',
      ...extra,
      '--port',
      '0',
    ]),
  ];
}

/** Spawn `prefix... node cli.js args` in its own process group; resolve when it listens. stop(): SIGINT, SIGKILL after 15 s. */
export async function startUnder(arch: string, prefix: string[], args: string[], traceFile?: string): Promise<Srv> {
  const s = await spawnServer(args, { prefix, timeoutMs: 30_000 });
  const d = args.indexOf('--dispatch');
  return {
    ...s,
    arch,
    workers: forkedWorkers(args),
    dispatch: d >= 0 ? args[d + 1] : undefined,
    traceFile,
    stop: (signal = 'SIGINT', ms = 15_000) => s.stop(signal, ms),
  };
}

/** Lines a healthy server may print on stderr; anything else (a stack, "exited", "killed") is a crash or a bug. */
const EXPECTED_STDERR = [
  /listening on /,
  /redis .*(unreachable|answers 503 until it is back)/,
  /accept: E[MN]FILE; .*paus/,
  /cannot start a (thread|process)|could not start a thread|fork: E\w+; answering 503|answering 503/,
];
/** A Worker that failed for want of fds logs its stack: those frames belong to the allowed line before them. */
const STACK_AFTER = /worker \d+ failed: .*(EMFILE|ERR_WORKER_INIT_FAILED|too many open files)/i;
export function unexpectedStderr(s: string): string[] {
  const bad: string[] = [];
  let inStack = false;
  for (const l of s.split('\n')) {
    if (!l.trim()) continue;
    if (inStack && /^\s+at /.test(l)) continue;
    inStack = STACK_AFTER.test(l);
    if (!inStack && !EXPECTED_STDERR.some((re) => re.test(l))) bad.push(l);
  }
  return bad;
}

// ---------- /proc ----------

function procStat(pid: number): string[] | undefined {
  try {
    const s = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return s.slice(s.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}
/** utime + stime of pid (all its threads) in clock ticks; children not included. */
export function cpuTicks(pid: number): number {
  const f = procStat(pid);
  return f ? Number(f[11]) + Number(f[12]) : 0;
}
export function fds(pid: number): number {
  try {
    return fs.readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return 0;
  }
}
/** RLIMIT_NOFILE limits fd *numbers*: with the soft limit at the lowest free number, the next open fails. */
export function lowestFreeFd(pid: number): number {
  const used = new Set(fs.readdirSync(`/proc/${pid}/fd`).map(Number));
  let n = 0;
  while (used.has(n)) n++;
  return n;
}
export function threads(pid: number): number {
  try {
    return fs.readdirSync(`/proc/${pid}/task`).length;
  } catch {
    return 0;
  }
}
export function rssKb(pid: number): number {
  try {
    return Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);
  } catch {
    return 0;
  }
}
export function alive(pid: number): boolean {
  const f = procStat(pid);
  return !!f && f[0] !== 'Z';
}
/** The server's live children (forked workers/children) and its zombies. */
export function kids(pid: number): { live: number[]; zombies: number[] } {
  const c = childrenOf(pid);
  return {
    live: c
      .filter((k) => k.state !== 'Z')
      .map((k) => k.pid)
      .sort(),
    zombies: c.filter((k) => k.state === 'Z').map((k) => k.pid),
  };
}
/** The processes that accept(): the forked workers (preforked, poll/epoll --workers), else the server itself
 *  (also preforked --dispatch pass: its parent accepts and passes the fds). */
export function acceptors(s: Srv): number[] {
  const k = kids(s.pid).live;
  return s.workers && s.dispatch !== 'pass' && k.length ? k : [s.pid];
}
export interface Usage {
  fds: number;
  threads: number;
  procs: number;
  rss: number;
  perAcceptor: number[];
}
/** fds, threads, live processes and RSS (kB) of the server and its children, summed. */
export function usage(s: Srv): Usage {
  const ps = [s.pid, ...kids(s.pid).live];
  const sum = (f: (pid: number) => number) => ps.reduce((a, p) => a + f(p), 0);
  return {
    fds: sum(fds),
    threads: sum(threads),
    procs: ps.length,
    rss: sum(rssKb),
    perAcceptor: acceptors(s).map(fds),
  };
}
/** usage(), once two readings 300 ms apart agree on fds, threads and processes. */
export async function steady(s: Srv): Promise<Usage> {
  const read = () => usage(s);
  let prev = read();
  for (let i = 0; i < 50; i++) {
    await sleep(300);
    const cur = read();
    if (
      cur.fds === prev.fds &&
      cur.threads === prev.threads &&
      cur.procs === prev.procs &&
      kids(s.pid).zombies.length === 0
    )
      return cur;
    prev = cur;
  }
  return prev;
}

export function totalCpu(s: Srv): number {
  return [s.pid, ...kids(s.pid).live].reduce((a, p) => a + cpuTicks(p), 0);
}

// ---------- a raw client ----------

export interface Exchange extends RawResponse {
  ms: number;
  reset: boolean;
}
export interface ExOpts {
  delayMs?: number;
  end?: 'fin' | 'keep' | 'rst';
  timeoutMs?: number;
}

/**
 * Connect, write the segments (TCP_NODELAY, delayMs apart), then keep the socket open (default:
 * node:http drops a request whose client half-closed), FIN, or RST. Resolves with whatever came back when the server closes; rejects if
 * it does not within timeoutMs: that is a hang.
 */
export function exchange(port: number, data: Buffer | string | (Buffer | string)[], o: ExOpts = {}): Promise<Exchange> {
  const segs = (Array.isArray(data) ? data : [data]).map((d) => (typeof d === 'string' ? Buffer.from(d, 'latin1') : d));
  const { delayMs = 0, end = 'keep', timeoutMs = 15_000 } = o;
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    const got: Buffer[] = [];
    let settled = false,
      reset = false;
    const sock = net.connect(port, '127.0.0.1');
    sock.setNoDelay(true);
    const timer = setTimeout(
      () =>
        finish(
          new Error(`no close from the server within ${timeoutMs} ms (${Buffer.concat(got).length} bytes received)`),
        ),
      timeoutMs,
    );
    function finish(err?: Error): void {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      sock.destroy();
      if (err) reject(err);
      else resolve({ ...parseResponse(Buffer.concat(got)), ms: Date.now() - t0, reset });
    }
    sock.on('data', (d) => got.push(d));
    sock.on('close', () => finish());
    sock.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'ECONNRESET' || e.code === 'EPIPE') {
        reset = true;
        finish();
      } else finish(new Error(`${e.code}: ${e.message}`));
    });
    async function sendSegments(): Promise<void> {
      for (let i = 0; i < segs.length && !settled; i++) {
        if (i > 0) await (delayMs > 0 ? sleep(delayMs) : new Promise(setImmediate)); // one write per turn at least
        if (!sock.destroyed) sock.write(segs[i]);
      }
      if (sock.destroyed) return;
      if (end === 'fin') sock.end();
      else if (end === 'rst') {
        sock.resetAndDestroy();
        finish();
      }
    }
    sock.once('connect', () => void sendSegments());
  });
}

export const getA = (port: number) => exchange(port, 'GET /a.txt HTTP/1.0\r\nHost: x\r\n\r\n');
export async function assertServesNormally(port: number, what: string): Promise<void> {
  const r = await getA(port);
  assert.equal(r.status, 200, `after ${what}: a normal GET got ${r.status}: ${r.raw.toString('latin1').slice(0, 200)}`);
  assert.equal(r.body.toString(), A_TXT, `after ${what}: body`);
  summary.served++;
}

export function form(fields: Record<string, string>): string {
  return new URLSearchParams(fields).toString();
}
export function postReq(body: string | Buffer, extraHead = ''): Buffer {
  const b = typeof body === 'string' ? Buffer.from(body) : body;
  return Buffer.concat([
    Buffer.from(
      `POST /guestbook HTTP/1.0\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n` +
        `Content-Length: ${b.length}\r\n${extraHead}\r\n`,
    ),
    b,
  ]);
}

// ---------- the suite ----------

/** What a file's tests run against: assigned by describeEveryArch's hooks before the tests run. */
export interface ArchEnv {
  arch: string;
  /** What the describe() says: the architecture, or `arch --option value` for a variant. */
  label: string;
  /** The options that select the variant (pass them to serverArgs()). */
  mode: string[];
  isNode: boolean;
  /** The server under strace (not started where `traced` is false). */
  srv: Srv;
  redis: PrivateRedis;
  tree: { root: string; pub: string };
}

/**
 * `describe('hardening: <concern>')` with a fixture tree and a private AOF Redis, and per
 * architecture a `describe(arch)` whose tests `body` registers; with `traced` (the default) each
 * architecture's server runs under strace for the block's life, and its after() hook fails the
 * block if the server crashed, logged anything unexpected, or opened a file outside the public root.
 */
export function describeEveryArch(concern: string, body: (env: ArchEnv) => void, { traced = true } = {}): void {
  describe(`hardening: ${concern}`, function () {
    this.timeout(120_000);
    const shared = {} as Pick<ArchEnv, 'redis' | 'tree'>;

    let t0 = 0;
    before(async () => {
      Object.assign(summary, emptySummary());
      t0 = Date.now();
      shared.tree = makeTree();
      shared.redis = await startRedis({ aof: true });
    });
    after(async () => {
      printSummary(concern, (Date.now() - t0) / 1000);
      await shared.redis?.remove();
      if (shared.tree) fs.rmSync(shared.tree.root, { recursive: true, force: true });
    });

    for (const { label, arch, args } of runnable(ARCHS)) {
      describe(label, function () {
        const env = { arch, label, mode: args, isNode: arch === 'node' } as ArchEnv;
        let workerPids: number[] = [];
        before(() => {
          env.redis = shared.redis;
          env.tree = shared.tree;
          summary.archs.add(label);
        });
        if (traced) {
          before(async function () {
            this.timeout(60_000);
            env.srv = await startTraced(env, env.tree, env.redis.port);
            if (env.srv.workers) workerPids = await waitForTracedWorkers(env.srv);
          });
          after(async function () {
            this.timeout(60_000);
            if (env.srv) await checkTraced(env.srv, env.tree, workerPids);
          });
        }
        body(env);
      });
    }
  });
}

async function startTraced(
  { arch, label, mode }: ArchEnv,
  tree: { root: string; pub: string },
  redisPort: number,
): Promise<Srv> {
  const traceFile = path.join(tree.root, `strace-${label.replace(/\W+/g, '-')}.out`);
  // The article's byte reader everywhere, except forking: under strace a freshly forked child
  // needs > 1 s (the --timeout) for the 16,000 one-byte recv()s of an over-long header.
  const reader = arch === 'forking' ? ['--reader', 'buffered'] : [];
  const srv = await startUnder(
    arch,
    ['strace', '-f', '--seccomp-bpf', '-qq', '-y', '-e', 'trace=open,openat,openat2', '-o', traceFile],
    serverArgs(arch, tree.pub, redisPort, [...mode, ...reader]),
    traceFile,
  );
  await assertServesNormally(srv.port, 'start-up');
  return srv;
}

/** The forked workers (preforked, poll/epoll --workers), once each has served a file. */
async function waitForTracedWorkers(srv: Srv): Promise<number[]> {
  const workerPids = await waitFor('all forked workers', 20_000, () => {
    const k = kids(srv.pid).live;
    return k.length === srv.workers && k;
  });
  // Under `strace -f --seccomp-bpf` a forked child stops at every syscall until its first
  // traced one (an open): 16,000 one-byte recv()s then take > 1 s (the --timeout) instead
  // of ~15 ms, and an over-long header gets 408, not 431. Serve a file from every worker first:
  // POOL at a time, so that with a LIFO accept lock (which keeps handing the next connection to
  // the most recently idle worker) the others get one too.
  await waitFor('an open() traced in every forked worker', 20_000, async () => {
    await Promise.all(Array.from({ length: POOL }, () => getA(srv.port)));
    const opens = parseTrace(fs.readFileSync(srv.traceFile!, 'utf8')).filter(isOpen);
    return workerPids.every((pid) => opens.some((c) => c.pid === pid));
  });
  return workerPids;
}

/** Stops a traced server; fails if it crashed, logged anything unexpected, or opened a file outside the public root. */
async function checkTraced(srv: Srv, tree: { root: string; pub: string }, workerPids: number[]): Promise<void> {
  const crashed: string[] = [];
  if (!alive(srv.pid)) crashed.push('the server process died');
  if (srv.workers) {
    const now = kids(srv.pid).live;
    if (now.join() !== workerPids.join())
      crashed.push(`${srv.arch} workers were replaced: ${workerPids.join()} -> ${now.join()}`);
  }
  const { code, signal } = await srv.stop();
  if (code !== 0) crashed.push(`exit code ${code}, signal ${signal}`);
  const bad = unexpectedStderr(srv.stderr());
  if (bad.length) crashed.push(`unexpected stderr: ${bad.slice(0, 5).join(' | ')}`);
  // Every open*() of the server's whole life: nothing outside the public root succeeded.
  // (An open another thread interrupts is split in two lines; parseTrace joins them.)
  const opened: string[] = [];
  let underPub = 0;
  for (const c of parseTrace(fs.readFileSync(srv.traceFile!, 'utf8')).filter(isOpen)) {
    summary.opensChecked++;
    const p = openedFile(c);
    if (p === undefined) continue;
    if (p.startsWith(tree.pub + '/') || p === tree.pub) underPub++;
    else if (p.startsWith(tree.root) || /^\/etc\/(passwd|shadow)$/.test(p)) opened.push(c.line);
  }
  summary.forbiddenOpens += opened.length;
  summary.crashes += crashed.length ? 1 : 0;
  assert.deepEqual(opened, [], 'files outside the public root were opened');
  assert.ok(underPub > 0, 'the trace saw the server open files in the public root (strace works)');
  assert.deepEqual(crashed, [], crashed.join('\n'));
}
