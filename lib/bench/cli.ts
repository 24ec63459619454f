// zerohttpd bench: start each architecture with a private Redis, warm it up, load it at each
// concurrency level, stop it with SIGINT, and write a Markdown/JSON/CSV report and an SVG chart.
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { native, C } from '../sys';
import { ROOT } from '../paths';
import { archArgs, ARCHITECTURES, architectureNames, takesOption } from '../servers/index';
import { COMMAND_LINE } from '../options';
import { autocannonGenerator, Generator, GeneratorError, LoadResult, wrkGenerator } from './load';
import { BenchRedis, BenchServer, findExecutable, startRedis, startServer } from './bench-servers';
import { sleep } from './spawn';
import { clientTimeWaitCount, ephemeralPortRange, readSysctl, rssSampler, treeCpuSeconds } from './procfs';
import {
  BenchResults,
  Cell,
  ChartScales,
  csvReport,
  markdownReport,
  markdownTables,
  seriesName,
  ServerRecord,
  summarizeSyscalls,
  svgReport,
  syscallTable,
} from './report';

export const QUICK_LEVELS = [20, 100, 500];
/** The article's concurrency levels (see docs: ~20, 50, 100, 200 ... 1000, 1500 ... 3000, 5000, 8000, 10000 ... 15000). */
export const ARTICLE_LEVELS = [
  20, 50, 100, 200, 300, 400, 500, 600, 700, 800, 900, 1000, 1500, 2000, 2500, 3000, 5000, 8000, 10000, 11000, 12000,
  13000, 14000, 15000,
];
/** A cell with more than this share of errors or non-2xx answers is marked ⚠; above FAIL_SHARE it failed. */
export const WARN_SHARE = 0.01;
export const FAIL_SHARE = 0.5;
/** Generator CPU above this share of its threads' time: it, not the server, may be the limit. */
export const SATURATED_SHARE = 0.9;

export const BENCH_USAGE = `usage: zerohttpd bench [options]

Starts each architecture (with a private redis-server on a free port), warms it up, drives
load at each concurrency level with wrk (or autocannon when wrk is not installed), stops it
with SIGINT and writes results.md, results.json, results.csv and chart.svg.

options:
  --arch a,b,c          architectures (default: all registered: ${architectureNames().join(',')})
  --concurrency N,N,... concurrency levels (default ${QUICK_LEVELS.join(',')})
  --article             the article's levels: ${ARTICLE_LEVELS.join(',')}
  --duration S          seconds of load per level (default 3)
  --warmup S            seconds of warm-up after each server start (default 1; 0 = none)
  --path P              request path (default /guestbook, as the article; / for the static page)
  --reader R[,R]        byte and/or buffered, passed to the servers (default: theirs, byte);
                        with both, each architecture runs once per reader, as separate
                        columns/lines: \`epoll\` (byte) and \`epoll (buffered)\` (node runs once)
  --no-syscall-stats    do not start the servers with --syscall-stats (by default they count
                        their syscalls, a relaxed atomic increment per call, and the report
                        gives syscalls per request for each architecture and reader)
  --server-args="..."   more arguments for the servers, each getting those that apply to it
                        (e.g. --server-args="--workers 50 --redis-pool 4": preforked; poll and epoll)
  --generator wrk|autocannon  (default wrk if installed)
  --load-threads N      the load generator's threads (wrk -t; default 1, so the server keeps a core)
  --load-timeout S      the load generator counts a response slower than this as a timeout error (default 5)
  --out DIR             where to write the report (default bench/out)
  --log-x               logarithmic concurrency axis in the charts (--log-scale is the same)
  --log-y               logarithmic value axes, so a series 100x below the others is not flat on zero
  --replot FILE         run nothing: redraw the chart and results.md of an earlier results.json
                        (e.g. with --log-y), into --out (default: FILE's directory)
  --inject-crash ARCH@C fault injection, to test the harness: SIGKILL the ARCH server's
                        process group halfway through level C (the cell must be reported failed)
  --designs             Stevens' comparison of accept designs instead (zerohttpd bench --designs --help)
  -h, --help            this help`;

export class BenchUsageError extends Error {}

/**
 * The bench's own options. The bench hands servers options of their own (--server-args), so
 * none of these may mean something else to a server (lib/options.ts's COMMAND_LINE), except
 * those in PASSED_TO_SERVERS, which are the servers' option given to every server.
 */
export const BENCH_OPTIONS = {
  arch: { type: 'string' },
  concurrency: { type: 'string' },
  article: { type: 'boolean' },
  duration: { type: 'string' },
  warmup: { type: 'string' },
  path: { type: 'string' },
  reader: { type: 'string' },
  'server-args': { type: 'string' },
  generator: { type: 'string' },
  'load-threads': { type: 'string' },
  'load-timeout': { type: 'string' },
  out: { type: 'string' },
  'log-x': { type: 'boolean' },
  'log-scale': { type: 'boolean' },
  'log-y': { type: 'boolean' },
  'no-syscall-stats': { type: 'boolean' },
  'inject-crash': { type: 'string' },
  replot: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** Bench options that are the servers' own, passed on (--reader; --no-syscall-stats turns their --syscall-stats off). */
export const PASSED_TO_SERVERS = ['reader', 'no-syscall-stats'];

/** Old spellings, renamed because the servers have an option of that name meaning something else. */
export const RENAMED_OPTIONS: Record<string, { now: string; why: string }> = {
  threads: { now: 'load-threads', why: "the load generator's threads; prethreaded's --threads goes in --server-args" },
  timeout: { now: 'load-timeout', why: "the load generator's timeout; the servers' --timeout goes in --server-args" },
};

/** A usage error that is one line on its own (no usage after it). */
export class RenamedOptionError extends BenchUsageError {}

/** Refuse an old spelling with the new one, before parseArgs calls it unknown. Skips option values. */
function refuseRenamed(argv: string[]): void {
  for (let k = 0; k < argv.length; k++) {
    const a = argv[k];
    if (a === '--') return;
    const name = /^--([^=]+)/.exec(a)?.[1];
    if (name === undefined) continue;
    const renamed = RENAMED_OPTIONS[name];
    if (renamed) {
      throw new RenamedOptionError(`--${name} is now --${renamed.now} (${renamed.why})`);
    }
    const def = (BENCH_OPTIONS as Record<string, { type: string }>)[name];
    if (def?.type === 'string' && !a.includes('=')) k++; // its value, e.g. --server-args "--threads 8"
  }
}

export interface BenchOptions {
  archs: string[];
  levels: number[];
  durationS: number;
  warmupS: number;
  path: string;
  /** --reader values, in order, no repeats; empty = the servers' default. */
  readers: string[];
  syscallStats: boolean;
  serverArgs: string[];
  generator: 'wrk' | 'autocannon' | null;
  threads: number;
  timeoutS: number;
  outDir: string;
  /** --log-x (or --log-scale): logarithmic concurrency axis. */
  logScale: boolean;
  /** --log-y: logarithmic value axes. */
  logY: boolean;
  injectCrash: { arch: string; concurrency: number } | null;
  /** --replot FILE: no run, only the reports of this results.json. */
  replot: string | null;
}

/** The options --replot goes with (the others are about running). */
const REPLOT_OPTIONS = ['replot', 'out', 'log-x', 'log-scale', 'log-y'];

function posInt(name: string, v: string, min: number, max: number): number {
  if (!/^\d+$/.test(v) || Number(v) < min || Number(v) > max)
    throw new BenchUsageError(`--${name} must be an integer from ${min} to ${max}, not '${v}'`);
  return Number(v);
}

export function parseBenchArgs(argv: string[]): BenchOptions | 'help' {
  refuseRenamed(argv);
  let v;
  try {
    v = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: BENCH_OPTIONS,
    }).values;
  } catch (e) {
    throw new BenchUsageError((e as Error).message);
  }
  if (v.help) return 'help';
  if (v.replot !== undefined) {
    const other = Object.keys(v).find((k) => !REPLOT_OPTIONS.includes(k));
    if (other) throw new BenchUsageError(`--replot runs nothing: --${other} does not go with it`);
  }
  const archs = v.arch
    ? v.arch
        .split(',')
        .map((a) => a.trim())
        .filter(Boolean)
    : architectureNames();
  for (const a of archs)
    if (!ARCHITECTURES[a])
      throw new BenchUsageError(`unknown architecture '${a}' (registered: ${architectureNames().join(', ')})`);
  if (archs.length === 0) throw new BenchUsageError('--arch names no architecture');
  if (v.article && v.concurrency) throw new BenchUsageError('--article and --concurrency exclude each other');
  const levels = v.article
    ? ARTICLE_LEVELS
    : v.concurrency
      ? v.concurrency.split(',').map((c) => posInt('concurrency', c.trim(), 1, 100_000))
      : QUICK_LEVELS;
  const p = v.path ?? '/guestbook';
  if (!p.startsWith('/') || /\s/.test(p))
    throw new BenchUsageError(`--path must start with / and contain no spaces, not '${p}'`);
  const readers = v.reader === undefined ? [] : [...new Set(v.reader.split(',').map((r) => r.trim()))];
  for (const r of readers)
    if (r !== 'byte' && r !== 'buffered')
      throw new BenchUsageError(`--reader must be byte, buffered or byte,buffered, not '${v.reader}'`);
  if (v.generator !== undefined && v.generator !== 'wrk' && v.generator !== 'autocannon')
    throw new BenchUsageError(`--generator must be wrk or autocannon, not '${v.generator}'`);
  const serverArgs = v['server-args'] ? v['server-args'].trim().split(/\s+/).filter(Boolean) : [];
  for (const a of serverArgs) {
    const name = /^--([^=]+)/.exec(a)?.[1];
    if (name && name in COMMAND_LINE && !archs.some((arch) => takesOption(arch, name))) {
      throw new BenchUsageError(`--server-args: --${name} applies to none of ${archs.join(', ')}`);
    }
  }
  let injectCrash: BenchOptions['injectCrash'] = null;
  if (v['inject-crash'] !== undefined) {
    const m = /^([\w-]+)@(\d+)$/.exec(v['inject-crash']);
    if (!m) throw new BenchUsageError(`--inject-crash must be ARCH@CONCURRENCY, not '${v['inject-crash']}'`);
    injectCrash = { arch: m[1], concurrency: Number(m[2]) };
  }
  return {
    archs,
    levels: [...new Set(levels)].sort((a, b) => a - b),
    durationS: v.duration ? posInt('duration', v.duration, 1, 3600) : 3,
    warmupS: v.warmup ? posInt('warmup', v.warmup, 0, 600) : 1,
    path: p,
    readers,
    syscallStats: !v['no-syscall-stats'],
    serverArgs,
    generator: (v.generator as BenchOptions['generator']) ?? null,
    threads: v['load-threads'] ? posInt('load-threads', v['load-threads'], 1, 64) : 1,
    timeoutS: v['load-timeout'] ? posInt('load-timeout', v['load-timeout'], 1, 600) : 5,
    outDir: path.resolve(v.out ?? (v.replot ? path.dirname(v.replot) : path.join(ROOT, 'bench', 'out'))),
    logScale: !!(v['log-x'] || v['log-scale']),
    logY: !!v['log-y'],
    injectCrash,
    replot: v.replot ?? null,
  };
}

const round3 = (v: number) => Math.round(v * 1000) / 1000;
const progress = (line: string) => process.stderr.write(line + '\n');

function pickGenerator(o: BenchOptions): Generator {
  const wrk = findExecutable('wrk', [process.env.WRK ?? '', '/usr/bin/wrk', '/usr/local/bin/wrk']);
  if (o.generator === 'wrk' && !wrk)
    throw new BenchUsageError('--generator wrk: wrk is not installed (apt-get install wrk)');
  if (wrk && o.generator !== 'autocannon') return wrkGenerator(wrk);
  return autocannonGenerator();
}

/** One plain GET, to say in the report what the path answers before any load (e.g. 503). */
function preflight(port: number, p: string): Promise<string> {
  return new Promise((resolve) => {
    const req = http.get(
      { host: '127.0.0.1', port, path: p, headers: { Connection: 'close' }, timeout: 5000 },
      (res) => {
        res.resume();
        res.on('end', () => resolve(String(res.statusCode)));
      },
    );
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', (e) => resolve(`error: ${e.message}`));
  });
}

/** Judge one level: a number only when it means something, else say why not. */
export function judgeCell(
  arch: string,
  concurrency: number,
  r: LoadResult | null,
  m: {
    serverDied: string | null;
    generatorError: string | null;
    serverCpuS: number | null;
    redisCpuS: number | null;
    peakRssKb: number | null;
    threads: number;
    timeWait: number;
    portRangeSize: number | null;
  },
): Cell {
  const problems: string[] = [];
  const cell: Cell = {
    arch,
    series: arch,
    reader: null,
    concurrency,
    status: 'ok',
    reqPerSec: null,
    requests: 0,
    non2xx: 0,
    durationS: 0,
    errors: { connect: 0, read: 0, write: 0, timeout: 0 },
    errorCodes: {},
    latencyMs: { p50: null, p90: null, p99: null },
    serverCpuS: m.serverCpuS,
    cpuPerRequestUs: null,
    redisCpuS: m.redisCpuS,
    peakRssKb: m.peakRssKb,
    generatorCpuPct: null,
    problems,
  };
  if (m.serverDied) problems.push(m.serverDied);
  if (m.generatorError) problems.push(`load generator failed: ${m.generatorError}`);
  if (r) {
    Object.assign(cell, {
      requests: r.requests,
      non2xx: r.non2xx,
      durationS: r.durationS,
      errors: r.errors,
      errorCodes: r.errorCodes,
      latencyMs: r.latencyMs,
    });
    const good = r.requests - r.non2xx;
    const e = r.errors;
    const socketErrors = e.connect + e.read + e.write + e.timeout;
    const attempts = r.requests + e.connect + e.write + e.timeout + e.read;
    const bad = socketErrors + r.non2xx;
    if (r.durationS > 0) cell.reqPerSec = good / r.durationS;
    if (good > 0 && m.serverCpuS !== null) cell.cpuPerRequestUs = (m.serverCpuS / r.requests) * 1e6;
    if (r.generatorCpuS !== null && r.wallS > 0)
      cell.generatorCpuPct = (100 * r.generatorCpuS) / (r.wallS * Math.min(m.threads, concurrency));
    if (good === 0)
      problems.push(r.requests === 0 ? 'no response at all' : `no successful response (${r.non2xx} non-2xx/3xx)`);
    if (socketErrors) {
      const codes = Object.entries(r.errorCodes)
        .map(([c, n]) => `${c} ${n}`)
        .join(', ');
      problems.push(
        `socket errors: connect ${e.connect}, read ${e.read}, write ${e.write}, timeout ${e.timeout}${codes ? ` (${codes})` : ''}`,
      );
    }
    if (r.non2xx) problems.push(`${r.non2xx} non-2xx/3xx responses`);
    const addrNotAvail = r.errorCodes.EADDRNOTAVAIL ?? 0;
    if (addrNotAvail || (e.connect > 0 && m.portRangeSize && m.timeWait >= 0.8 * m.portRangeSize)) {
      problems.push(
        `EADDRNOTAVAIL${addrNotAvail ? '' : ' likely'}: ephemeral ports exhausted (${m.timeWait} client sockets to this server in TIME_WAIT, ${m.portRangeSize} ephemeral ports)`,
      );
    }
    if (cell.generatorCpuPct !== null && cell.generatorCpuPct >= SATURATED_SHARE * 100) {
      problems.push(
        `load generator saturated (${cell.generatorCpuPct.toFixed(0)} % CPU): the number may be the generator's limit, not the server's`,
      );
    }
    const share = attempts > 0 ? bad / attempts : 0;
    if (good === 0 || share > FAIL_SHARE) cell.status = 'failed';
    else if (share > WARN_SHARE || problems.length) cell.status = 'warn';
  }
  if (!r || m.serverDied || m.generatorError) cell.status = 'failed';
  if (cell.status === 'failed') {
    cell.reqPerSec = null;
    if (problems.length === 0) problems.push('failed');
  }
  return cell;
}

function machineInfo(): BenchResults['machine'] {
  const cpus = os.cpus();
  const lim = native.getrlimit(C.RLIMIT_NOFILE);
  const range = ephemeralPortRange();
  return {
    cpus: cpus.length,
    cpuModel: cpus[0]?.model.trim() ?? '?',
    kernel: os.release(),
    node: process.version,
    memoryMB: Math.round(os.totalmem() / 2 ** 20),
    somaxconn: readSysctl('net.core.somaxconn'),
    portRange: range ? `${range[0]}-${range[1]}` : null,
    nofileHard: typeof lim === 'number' ? null : lim.hard,
  };
}

export async function runBench(o: BenchOptions, command: string): Promise<BenchResults> {
  const gen = pickGenerator(o);
  const range = ephemeralPortRange();
  const portRangeSize = range ? range[1] - range[0] + 1 : null;
  const genSettings = gen.describe({ path: o.path, durationS: o.durationS, threads: o.threads, timeoutS: o.timeoutS });
  const results: BenchResults = {
    format: 'zerohttpd-bench/1',
    startedAt: new Date().toISOString(),
    finishedAt: '',
    command,
    machine: machineInfo(),
    settings: {
      path: o.path,
      durationS: o.durationS,
      warmupS: o.warmupS,
      reader: o.readers.length === 1 ? o.readers[0] : null,
      readers: o.readers,
      serverArgs: o.serverArgs,
      concurrency: o.levels,
      architectures: o.archs,
      series: benchSeries(o),
      syscallStats: o.syscallStats,
      generator: { name: gen.name, version: gen.version, settings: genSettings },
      redis: null,
    },
    cells: [],
    servers: [],
  };
  const series = results.settings.series;
  progress(
    `zerohttpd bench: ${series.map((s) => s.name).join(', ')} at c=${o.levels.join(',')}, GET ${o.path}, ${o.durationS} s each`,
  );
  progress(`  generator: ${genSettings}`);

  let redis: BenchRedis | null = null;
  const redisBin = findExecutable('redis-server', [
    process.env.REDIS_SERVER ?? '',
    '/usr/bin/redis-server',
    '/usr/local/bin/redis-server',
  ]);
  if (redisBin) {
    redis = await startRedis(redisBin);
    results.settings.redis = `redis-server ${redis.version} on 127.0.0.1:${redis.port}`;
    progress(`  ${results.settings.redis}`);
  } else if (o.path === '/guestbook') {
    throw new BenchUsageError(
      'redis-server is not installed (apt-get install redis-server); the guestbook needs it (or bench --path /)',
    );
  }
  // With no Redis, point the servers at a port nobody listens on: the static pages do not care.
  const redisArg = ['--redis', `127.0.0.1:${redis ? redis.port : 1}`];
  // Counting is on unless turned off, or the user already chose a mode (--syscall-stats=time).
  const statsArg =
    o.syscallStats && !o.serverArgs.some((a) => a.startsWith('--syscall-stats')) ? ['--syscall-stats'] : [];
  const total = series.length * o.levels.length;
  let n = 0;
  try {
    for (const { name, arch, reader } of series) {
      const serverArgs = archArgs(arch, [
        ...redisArg,
        ...(reader ? ['--reader', reader] : []),
        ...statsArg,
        ...o.serverArgs,
      ]);
      const record: ServerRecord = { arch, series: name, reader, runs: [], notes: [] };
      results.servers.push(record);
      let server: BenchServer | null = null;
      const stopServer = async () => {
        if (!server) return;
        const s = server;
        server = null;
        const exit = await s.stop();
        const run = record.runs.find((x) => x.pid === s.rootPid)!;
        run.exit = { code: exit.code, signal: exit.signal };
        run.stats = exit.stats;
        if (o.syscallStats) run.syscalls = exit.syscalls;
      };
      for (const c of o.levels) {
        n++;
        let startError: string | null = null;
        if (server && !server.alive()) await stopServer();
        if (!server && record.startFailed) {
          startError = `server did not start (see c=${o.levels[0]})`;
        } else if (!server) {
          try {
            server = await startServer(arch, serverArgs);
            record.runs.push({ pid: server.rootPid, exit: null, stats: null });
            if (record.runs.length > 1)
              record.notes.push(`restarted before c=${c} (the previous server process had exited)`);
            const answer = await preflight(server.port, o.path);
            if (answer !== '200') record.notes.push(`GET ${o.path} before the load answered ${answer}`);
            if (o.warmupS > 0) {
              await gen
                .run({
                  port: server.port,
                  path: o.path,
                  concurrency: Math.min(10, c),
                  durationS: o.warmupS,
                  threads: o.threads,
                  timeoutS: o.timeoutS,
                })
                .catch(() => undefined);
            }
          } catch (e) {
            startError = `server did not start: ${(e as Error).message}`;
            server = null;
            // A server that cannot start will not start at the next level either: do not wait again.
            if (record.runs.length === 0) record.startFailed = true;
          }
        }
        let cell: Cell;
        if (!server) {
          cell = judgeCell(arch, c, null, {
            serverDied: startError,
            generatorError: null,
            serverCpuS: null,
            redisCpuS: null,
            peakRssKb: null,
            threads: o.threads,
            timeWait: 0,
            portRangeSize,
          });
        } else {
          const s: BenchServer = server;
          const cpu0 = treeCpuSeconds(s.rootPid);
          const rcpu0 = redis ? treeCpuSeconds(redis.pid) : null;
          const rss = rssSampler(s.rootPid);
          let died: string | null = null;
          void s.exited.then(
            (x) => (died ??= `server died during the run (${x.signal ? `signal ${x.signal}` : `exit code ${x.code}`})`),
          );
          const crash =
            o.injectCrash && o.injectCrash.arch === arch && o.injectCrash.concurrency === c
              ? setTimeout(() => s.kill(), o.durationS * 500)
              : null;
          let load: LoadResult | null = null;
          let genError: string | null = null;
          try {
            load = await gen.run({
              port: s.port,
              path: o.path,
              concurrency: c,
              durationS: o.durationS,
              threads: o.threads,
              timeoutS: o.timeoutS,
            });
          } catch (e) {
            genError = e instanceof GeneratorError ? e.message : String(e);
          }
          if (crash) clearTimeout(crash);
          const tw = load && load.errors.connect > 0 ? clientTimeWaitCount(s.port) : 0;
          const peak = rss.stop();
          const cpu1 = treeCpuSeconds(s.rootPid);
          const rcpu1 = redis ? treeCpuSeconds(redis.pid) : null;
          await sleep(50); // let an exit that raced with the end of the load be seen
          if (!s.alive()) died ??= 'server died during the run';
          cell = judgeCell(arch, c, load, {
            serverDied: died,
            generatorError: genError,
            serverCpuS: cpu0 && cpu1 ? round3(cpu1.user + cpu1.sys - cpu0.user - cpu0.sys) : null,
            redisCpuS: rcpu0 && rcpu1 ? round3(rcpu1.user + rcpu1.sys - rcpu0.user - rcpu0.sys) : null,
            peakRssKb: peak || null,
            threads: o.threads,
            timeWait: tw,
            portRangeSize,
          });
        }
        cell.series = name;
        cell.reader = reader;
        results.cells.push(cell);
        progress(progressLine(n, total, cell));
      }
      await stopServer();
      if (o.syscallStats) record.syscalls = summarizeSyscalls(record.runs);
      const last = record.runs[record.runs.length - 1];
      const sys = record.syscalls;
      const sysText = !sys
        ? ''
        : sys.perRequest === null
          ? ', syscalls per request n/a'
          : `, ${sys.perRequest.toFixed(1)} syscalls/request (${sys.top
              .slice(0, 3)
              .map((t) => `${t.name} ${t.perRequest.toFixed(1)}`)
              .join(', ')})`;
      if (last?.stats)
        progress(
          `  ${name} stopped: user time = ${last.stats.user.toFixed(2)} s, sys time = ${last.stats.sys.toFixed(2)} s${sysText}`,
        );
      else if (last)
        progress(`  ${name} stopped without a stats line (exit ${last.exit?.signal ?? last.exit?.code})${sysText}`);
    }
  } finally {
    await redis?.stop();
  }
  results.finishedAt = new Date().toISOString();
  return results;
}

/** One series per architecture and reader; node ignores --reader and runs once. */
export function benchSeries(o: Pick<BenchOptions, 'archs' | 'readers'>): BenchResults['settings']['series'] {
  const several = o.readers.length > 1;
  return o.archs.flatMap((arch) => {
    const readers: (string | null)[] = arch === 'node' ? [null] : o.readers.length ? o.readers : [null];
    return readers.map((reader) => ({ name: seriesName(arch, reader, several), arch, reader }));
  });
}

function progressLine(n: number, total: number, c: Cell): string {
  const head = `[${n}/${total}] ${c.series.padEnd(11)} c=${String(c.concurrency).padEnd(6)}`;
  if (c.status === 'failed') return `${head} FAILED: ${c.problems.join('; ')}`;
  const f = (v: number | null) => (v === null ? '?' : v.toFixed(1));
  return (
    `${head} ${Math.round(c.reqPerSec!).toLocaleString('en-US').padStart(7)} req/s  p50 ${f(c.latencyMs.p50)} ms  p99 ${f(c.latencyMs.p99)} ms  ` +
    `cpu ${c.cpuPerRequestUs === null ? '?' : Math.round(c.cpuPerRequestUs)} µs/req  rss ${c.peakRssKb === null ? '?' : Math.round(c.peakRssKb / 1024)} MB  ` +
    `gen ${c.generatorCpuPct === null ? '?' : c.generatorCpuPct.toFixed(0)} %${c.status === 'warn' ? `  ⚠ ${c.problems.join('; ')}` : ''}`
  );
}

export function writeReports(
  r: BenchResults,
  outDir: string,
  scales: ChartScales | boolean,
): Record<'md' | 'json' | 'csv' | 'svg', string> {
  fs.mkdirSync(outDir, { recursive: true });
  const files = {
    md: path.join(outDir, 'results.md'),
    json: path.join(outDir, 'results.json'),
    csv: path.join(outDir, 'results.csv'),
    svg: path.join(outDir, 'chart.svg'),
  };
  fs.writeFileSync(files.json, JSON.stringify(r, null, 2) + '\n');
  fs.writeFileSync(files.csv, csvReport(r));
  fs.writeFileSync(files.svg, svgReport(r, scales));
  fs.writeFileSync(files.md, markdownReport(r, 'chart.svg', scales));
  return files;
}

export async function main(argv: string[]): Promise<number> {
  if (argv.includes('--designs')) return (require('./designs') as typeof import('./designs')).mainDesigns(argv);
  let o: BenchOptions | 'help';
  try {
    o = parseBenchArgs(argv);
  } catch (e) {
    if (!(e instanceof BenchUsageError)) throw e;
    process.stderr.write(
      `zerohttpd bench: ${e.message}\n${e instanceof RenamedOptionError ? '' : `\n${BENCH_USAGE}\n`}`,
    );
    return 2;
  }
  if (o === 'help') {
    process.stdout.write(BENCH_USAGE + '\n');
    return 0;
  }
  let results: BenchResults;
  if (o.replot) {
    try {
      results = JSON.parse(fs.readFileSync(o.replot, 'utf8')) as BenchResults;
      if (!String(results.format).startsWith('zerohttpd-bench/')) throw new Error('not a zerohttpd bench results.json');
    } catch (e) {
      process.stderr.write(`zerohttpd bench: --replot ${o.replot}: ${(e as Error).message}\n`);
      return 1;
    }
    const files = writeReports(results, o.outDir, { logX: o.logScale, logY: o.logY });
    process.stdout.write(`report: ${Object.values(files).join('\n        ')}\n`);
    return 0;
  }
  try {
    results = await runBench(o, ['zerohttpd', 'bench', ...argv].join(' '));
  } catch (e) {
    process.stderr.write(`zerohttpd bench: ${(e as Error).message}\n`);
    return 1;
  }
  const files = writeReports(results, o.outDir, { logX: o.logScale, logY: o.logY });
  process.stdout.write(
    markdownTables(results)
      .split('\n\n')
      .slice(0, syscallTable(results) ? 4 : 2)
      .join('\n\n') + '\n\n',
  );
  process.stdout.write(`report: ${files.md}\n        ${files.json}\n        ${files.csv}\n        ${files.svg}\n`);
  return 0;
}
