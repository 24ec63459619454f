// What a threaded-server Worker costs, by phase and by lever (docs/threads.md).
//   node dist/bench/thread-start.js [rounds=30]
// 1. Phases, in a Worker that does what thread-worker.js does, with hrtime marks: new Worker()
//    to its first line (thread + isolate + Node bootstrap), module loading, createApp(), the
//    first request (compiling as it goes), a second request in the same Worker (warm: the
//    difference is compile and inline-cache warm-up), and its end to the parent's 'exit'.
//    Then the default thread (native/isolate.cc): a bare V8 isolate serving one real GET /, wall
//    time from start to its end and the process's CPU per thread, the same way.
// 2. Levers: the real thread-worker.js started each way, serving one real GET / over loopback
//    TCP; wall time new Worker() -> 'exit' and the process's CPU time per Worker (both threads).
//    Variants run round-robin, one Worker at a time, so that machine noise hits them alike.
import * as os from 'node:os';
import * as path from 'node:path';
import { SHARE_ENV, Worker } from 'node:worker_threads';
import { C, native } from '../lib/sys';
import { boundPort, setupListeningSocket } from '../lib/listen-socket';
import { DEFAULTS } from '../lib/options';
import { ClientSlot, startThread, ThreadStart } from '../lib/servers/worker-threads';
import { loadWorkerBundle, WorkerBoot } from '../lib/servers/worker-bundle';
import { IsolateThreads } from '../lib/servers/isolate-threads';

const ROUNDS = Number(process.argv[2] ?? 30);
const LIB = path.join(__dirname, '..', 'lib');
const median = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
const REQUEST = Buffer.from('GET / HTTP/1.0\r\n\r\n');

/** A connected pair over loopback: [client, server]; the request is already sent on the client. */
function connection(listenFd: number, port: number): [number, number] {
  const c = native.socket(C.AF_INET, C.SOCK_STREAM | C.SOCK_CLOEXEC);
  if (native.connect(c, '127.0.0.1', port) < 0) throw new Error('connect failed');
  const s = native.accept4(listenFd, C.SOCK_CLOEXEC);
  if (s < 0) throw new Error('accept failed');
  native.send(c, REQUEST, 0, REQUEST.length);
  return [c, s];
}

/** Read the response to the end; the status line. */
function response(c: number): string {
  const buf = Buffer.alloc(65536);
  let head = '';
  for (;;) {
    const n = native.recv(c, buf, 0, buf.length);
    if (n <= 0) break;
    if (!head) head = buf.subarray(0, Math.min(n, 40)).toString('latin1');
  }
  native.close(c);
  return head.split('\r\n')[0];
}

const PHASE_BODY = (lib: string) => `
  const { workerData, parentPort } = require('node:worker_threads');
  const m = [process.hrtime.bigint()];
  const j = (f) => require(${JSON.stringify(lib)} + '/' + f);
  j('log').setQuiet(true);
  const { native } = j('sys'); const { createApp, closeApp } = j('public-root');
  const { handleClient, serveContext } = j('serve'); const { BlockingRedis } = j('redis/blocking');
  j('listen-socket'); j('log'); j('shared-mutex'); j('servers/worker-threads');
  m.push(process.hrtime.bigint());
  const app = createApp(workerData.opts);
  m.push(process.hrtime.bigint());
  const redis = new BlockingRedis(workerData.opts.redisHost, workerData.opts.redisPort);
  for (const fd of workerData.fds) {
    handleClient(fd, serveContext(app, redis, workerData.opts));
    m.push(process.hrtime.bigint());
  }
  closeApp(app);
  parentPort.postMessage(m);`;

async function phases(listenFd: number, port: number): Promise<void> {
  const names = [
    'to first line (thread, isolate, bootstrap)',
    'module loading',
    'createApp()',
    'first request',
    'second request',
    'end to exit',
  ];
  const rows: number[][] = names.map(() => []);
  const empty: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    const pairs = [connection(listenFd, port), connection(listenFd, port)];
    const t0 = process.hrtime.bigint();
    const w = new Worker(PHASE_BODY(LIB), { eval: true, workerData: { opts: DEFAULTS, fds: pairs.map((p) => p[1]) } });
    w.on('error', (e) => console.error(e));
    const exited = new Promise((r) => w.once('exit', r)); // before the message: both may come in one turn
    const m = await new Promise<bigint[]>((r) => w.once('message', r));
    await exited;
    const t9 = process.hrtime.bigint();
    for (const [c] of pairs) response(c);
    const all = [t0, ...m, t9];
    for (let k = 0; k < names.length; k++) rows[k].push(Number(all[k + 1] - all[k]) / 1e6);
    const e0 = process.hrtime.bigint();
    await new Promise((r) => new Worker('', { eval: true }).once('exit', r));
    empty.push(Number(process.hrtime.bigint() - e0) / 1e6);
  }
  console.log(`Phases of a threaded-server Worker (median of ${ROUNDS}, ms):`);
  for (let k = 0; k < names.length; k++)
    console.log(`  ${names[k].padEnd(44)} ${median(rows[k]).toFixed(2).padStart(7)}`);
  console.log(`  ${'an empty Worker, new Worker() to exit'.padEnd(44)} ${median(empty).toFixed(2).padStart(7)}`);
  const u0 = process.cpuUsage();
  for (let i = 0; i < ROUNDS; i++) await new Promise((r) => new Worker('', { eval: true }).once('exit', r));
  const u = process.cpuUsage(u0);
  const row = (name: string, ms: number) => console.log(`  ${name.padEnd(44)} ${ms.toFixed(2).padStart(7)}`);
  row('an empty Worker, CPU (mean, both threads)', (u.user + u.system) / 1000 / ROUNDS);
  // The default thread: a bare V8 isolate serving one GET / (its code cache taken by the first).
  const threads = new IsolateThreads({ ...DEFAULTS, quiet: true });
  const wall: number[] = [];
  let cpu = 0;
  for (let i = 0; i <= ROUNDS; i++) {
    const [c, s] = connection(listenFd, port);
    const slot = new ClientSlot();
    slot.assign(s);
    const t0 = process.hrtime.bigint();
    const u0 = process.cpuUsage();
    const code = await threads.start(i + 1, slot).exited;
    const u = process.cpuUsage(u0);
    if (i > 0) {
      wall.push(Number(process.hrtime.bigint() - t0) / 1e6);
      cpu += (u.user + u.system) / 1000;
    }
    if (code !== 0 || !response(c).startsWith('HTTP/1.0 200')) throw new Error('an isolate thread failed');
  }
  row('isolate thread serving one GET / (after the first)', median(wall));
  row('  the same, CPU (mean, all threads)', cpu / ROUNDS);
}

/** The code cache a Worker hands back after serving one request (boot.giveCache). */
async function cacheAfterARequest(listenFd: number, port: number, boot: WorkerBoot): Promise<Uint8Array> {
  const [c, s] = connection(listenFd, port);
  const slot = new ClientSlot();
  slot.assign(s);
  const t = startThread({ kind: 'threaded', id: 1, opts: { ...DEFAULTS, quiet: true }, listenFd, mutex: null }, slot, {
    boot: { ...boot, giveCache: true },
    options: {},
  });
  const got = new Promise<Uint8Array>((r) =>
    t.worker.once('message', (m: { codeCache: Uint8Array }) => r(m.codeCache)),
  );
  await t.exited;
  response(c);
  return got;
}

async function levers(listenFd: number, port: number): Promise<void> {
  const cached = loadWorkerBundle();
  const uncached = { ...cached, cache: null };
  const warm = { ...cached, cache: await cacheAfterARequest(listenFd, port, cached) };
  const small = { maxYoungGenerationSizeMb: 1, maxOldGenerationSizeMb: 16, codeRangeSizeMb: 8, stackSizeMb: 1 };
  const variants: [string, ThreadStart][] = [
    ['thread-worker.js (today)', { boot: null, options: {} }],
    ['bundled, no code cache', { boot: uncached, options: {} }],
    ['bundled + code cache (top level)', { boot: cached, options: {} }],
    ['bundled + code cache taken after a request', { boot: warm, options: {} }],
    ['  + small resourceLimits', { boot: warm, options: { resourceLimits: small } }],
    ['  + env: SHARE_ENV', { boot: warm, options: { env: SHARE_ENV } }],
    ['  + stdout/stderr not piped', { boot: warm, options: { stdout: true, stderr: true } }],
    ['  + trackUnmanagedFds: false', { boot: warm, options: { trackUnmanagedFds: false } }],
    ['  + execArgv: []', { boot: warm, options: { execArgv: [] } }],
    [
      'file, SHARE_ENV + not piped + no fd tracking',
      { boot: null, options: { env: SHARE_ENV, stdout: true, stderr: true, trackUnmanagedFds: false } },
    ],
    [
      'bundled + warm cache + those three',
      { boot: warm, options: { env: SHARE_ENV, stdout: true, stderr: true, trackUnmanagedFds: false } },
    ],
  ];
  // The '+' rows each add one option to the warm-cache row above them.
  const wall = variants.map((): number[] => []);
  const cpu = variants.map((): number[] => []);
  const opts = { ...DEFAULTS, quiet: true };
  for (let i = 0; i < ROUNDS + 2; i++) {
    for (let v = 0; v < variants.length; v++) {
      const [c, s] = connection(listenFd, port);
      const slot = new ClientSlot();
      slot.assign(s);
      const u0 = process.cpuUsage();
      const t0 = process.hrtime.bigint();
      const t = startThread({ kind: 'threaded', id: 1, opts, listenFd, mutex: null }, slot, variants[v][1]);
      await t.exited;
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      const u = process.cpuUsage(u0);
      t.slot.reclaim();
      const status = response(c);
      if (status !== 'HTTP/1.0 200 OK') throw new Error(`${variants[v][0]}: ${status || 'no response'}`);
      if (i < 2) continue; // warm-up rounds
      wall[v].push(ms);
      cpu[v].push((u.user + u.system) / 1000);
    }
  }
  console.log(`Levers: one Worker serving GET / (round-robin, median of ${ROUNDS}; CPU = both threads):`);
  const base = median(cpu[0]);
  for (let v = 0; v < variants.length; v++)
    console.log(
      `  ${variants[v][0].padEnd(46)} wall ${median(wall[v]).toFixed(2).padStart(6)} ms  CPU ${median(cpu[v]).toFixed(2).padStart(6)} ms  (${(median(cpu[v]) / base).toFixed(2)}x)`,
    );
}

async function main(): Promise<void> {
  console.log(`node ${process.version}, ${os.cpus().length} CPUs, load ${os.loadavg()[0].toFixed(1)}`);
  const listenFd = setupListeningSocket('127.0.0.1', 0, 64);
  const port = boundPort(listenFd);
  const what = process.env.THREAD_START ?? 'phases,levers';
  if (what.includes('phases')) await phases(listenFd, port);
  if (what.includes('levers')) await levers(listenFd, port);
  native.close(listenFd);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
