// The processes a benchmark starts: a private redis-server and the zerohttpd server under test.
import { ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseListening } from '../banner';
import { freePort, pingRedis } from '../net-probe';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Everything we started, killed with its process group if the bench itself goes away. */
const live = new Set<ChildProcess>();
let hooked = false;
function track(p: ChildProcess): void {
  live.add(p);
  p.once('exit', () => live.delete(p));
  if (hooked) return;
  hooked = true;
  process.on('exit', () => {
    for (const c of live) {
      try { process.kill(-c.pid!, 'SIGKILL'); } catch { /* gone */ }
    }
  });
}

export function findExecutable(name: string, candidates: string[] = []): string | null {
  for (const c of candidates) if (c && isExecutable(c)) return c;
  for (const dir of (process.env.PATH ?? '').split(':')) {
    if (dir && isExecutable(path.join(dir, name))) return path.join(dir, name);
  }
  return null;
}

function isExecutable(p: string): boolean {
  try {
    fs.accessSync(p, fs.constants.X_OK);
    return fs.statSync(p).isFile();
  } catch {
    return false;
  }
}

export interface BenchRedis {
  port: number;
  pid: number;
  version: string;
  stop(): Promise<void>;
}

/** A throwaway redis-server on a free port (never 6379), no persistence, in its own process group. */
export async function startRedis(binary: string): Promise<BenchRedis> {
  let port = await freePort();
  while (port === 6379) port = await freePort();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zerohttpd-bench-redis-'));
  const p = spawn(binary, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no', '--dir', dir, '--maxclients', '10000'], {
    cwd: dir, stdio: ['ignore', 'pipe', 'pipe'], detached: true,
  });
  track(p);
  let log = '';
  p.stdout!.on('data', (d) => (log += d));
  p.stderr!.on('data', (d) => (log += d));
  let exited = false;
  p.once('exit', () => (exited = true));
  const stop = async () => {
    if (p.exitCode === null && p.signalCode === null) {
      const gone = new Promise((r) => p.once('exit', r));
      p.kill('SIGKILL');
      await gone;
    }
    fs.rmSync(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 10_000;
  while (!(await pingRedis(port))) {
    if (exited || Date.now() > deadline) {
      await stop();
      throw new Error(`redis-server on port ${port} did not start: ${log.trim().split('\n').slice(-3).join(' | ')}`);
    }
    await sleep(25);
  }
  const version = /\bv=([\d.]+)/.exec(log)?.[1] ?? /Redis version=([\d.]+)/.exec(log)?.[1] ?? '?';
  return { port, pid: p.pid!, version, stop };
}

/** One row of a server's --syscall-stats table. */
export interface SyscallRow { name: string; calls: number; errors: number }

/** A server's --syscall-stats report: every process, thread and child of the run counted. */
export interface SyscallReport {
  /** Successful accept4() calls: one connection, one request (HTTP/1.0, Connection: close). */
  accepted: number;
  /** Calls and errors over all syscalls (the table's `total` row). */
  total: number;
  errors: number;
  rows: SyscallRow[];
}

export interface ServerExit {
  code: number | null;
  signal: string | null;
  stats: { user: number; sys: number } | null;
  /** Parsed from the `syscalls made through the addon` block; null without --syscall-stats or when the server was killed. */
  syscalls: SyscallReport | null;
}

export interface BenchServer {
  arch: string;
  port: number;
  /** The process we spawned: the root of the tree whose CPU and memory we measure. */
  rootPid: number;
  alive(): boolean;
  /** Resolves when the server exits, for whatever reason. */
  exited: Promise<ServerExit>;
  stderr(): string;
  /** SIGINT, wait (SIGKILL to the group after timeoutMs), parse the stats line. */
  stop(timeoutMs?: number): Promise<ServerExit>;
  /** SIGKILL to the whole process group (fault injection). */
  kill(): void;
}

export const STATS_RE = /user time = ([\d.]+) s, sys time = ([\d.]+) s/;
const SYSCALLS_RE = /^syscalls made through the addon \((\d+) connections accepted\):\n(.*)\n-[- ]*\n((?:.*\S.*(?:\n|$))*)/m;

/**
 * The block lib/syscall-report.ts prints at SIGINT after the stats line:
 *   syscalls made through the addon (N connections accepted):
 *   syscall   calls  per req  errors  [total ms  mean ns]  errors by code
 *   -------   -----  ...
 *   recvfrom    252    84.00       0
 *   ...
 *   total       294    98.00       2
 * Columns are separated by at least two spaces (a header may hold one, `per req`; so may the
 * codes, `EINTR=1 EAGAIN=3`), so the header names the columns. Null if the block is missing or
 * malformed (the counts would then be wrong, so none are better).
 */
export function parseSyscallReport(text: string): SyscallReport | null {
  const m = SYSCALLS_RE.exec(text);
  if (!m) return null;
  const head = m[2].trim().split(/\s{2,}/);
  const callsAt = head.indexOf('calls'), errorsAt = head.indexOf('errors');
  if (head[0] !== 'syscall' || callsAt < 0 || errorsAt < 0) return null;
  const rows: SyscallRow[] = [];
  let total: SyscallRow | null = null;
  for (const line of m[3].split('\n')) {
    if (!line.trim()) break;
    const f = line.trim().split(/\s{2,}/);
    const calls = Number(f[callsAt]), errors = Number(f[errorsAt]);
    if (!/^\w+$/.test(f[0]) || !Number.isInteger(calls) || !Number.isInteger(errors)) return null;
    if (f[0] === 'total') {
      total = { name: 'total', calls, errors };
      break;
    }
    rows.push({ name: f[0], calls, errors });
  }
  if (!total || rows.reduce((a, r) => a + r.calls, 0) !== total.calls) return null;
  return { accepted: Number(m[1]), total: total.calls, errors: total.errors, rows };
}

/** `node dist/lib/cli.js <arch> --port 0 --quiet --redis ...`; waits for "listening on ...:PORT (pid N)". */
export function startServer(cli: string, arch: string, args: string[], timeoutMs = 20_000): Promise<BenchServer> {
  const proc = spawn(process.execPath, [cli, arch, '--port', '0', '--quiet', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true, // its own process group: kill() reaches forked children too
  });
  track(proc);
  let out = '';
  let err = '';
  proc.stdout!.on('data', (d) => {
    out += d;
    if (out.length > 1 << 20) out = out.slice(-65536); // a chatty server must not grow us without bound
  });
  proc.stderr!.on('data', (d) => {
    err += d;
    if (err.length > 1 << 20) err = err.slice(-65536);
  });
  // 'exit' can come before the last of stdout has been read: wait for the pipes to close too,
  // but not for ever (a forked child that outlived the parent may hold them; stop() kills it).
  const closed = new Promise<void>((resolve) => proc.once('close', () => resolve()));
  const exited = new Promise<ServerExit>((resolve) =>
    proc.once('exit', async (code, signal) => {
      let t: NodeJS.Timeout | undefined;
      await Promise.race([closed, new Promise((r) => (t = setTimeout(r, 2000)))]);
      clearTimeout(t);
      const m = STATS_RE.exec(out) ?? STATS_RE.exec(err);
      resolve({ code, signal, stats: m ? { user: Number(m[1]), sys: Number(m[2]) } : null, syscalls: parseSyscallReport(out) });
    }),
  );
  const alive = () => proc.exitCode === null && proc.signalCode === null;
  const kill = () => {
    try { process.kill(-proc.pid!, 'SIGKILL'); } catch { /* gone */ }
  };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      kill();
      reject(new Error(`did not print "listening on" within ${timeoutMs} ms: ${err.trim().slice(-300)}`));
    }, timeoutMs);
    const onData = () => {
      const m = parseListening(err);
      if (!m) return;
      clearTimeout(timer);
      proc.stderr!.off('data', onData);
      resolve({
        arch,
        port: m.port,
        rootPid: proc.pid!,
        alive,
        exited,
        stderr: () => err,
        kill,
        async stop(stopTimeoutMs = 15_000) {
          if (alive()) proc.kill('SIGINT');
          const t = setTimeout(kill, stopTimeoutMs);
          const r = await exited;
          clearTimeout(t);
          kill(); // anything left in the group (a stuck child) goes too
          return r;
        },
      });
    };
    proc.stderr!.on('data', onData);
    exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`exited at start-up (code ${code}, signal ${signal}): ${err.trim().slice(-300)}`));
    });
  });
}
