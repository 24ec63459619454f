// The servers a benchmark runs: a private redis-server and the zerohttpd server under test (over spawn.ts), and their reports.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnServer, startRedis as spawnRedis } from './spawn';

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
  const r = await spawnRedis({ binary, maxclients: 10000, detached: true });
  return { port: r.port, pid: r.pid()!, version: r.version(), stop: r.remove };
}

/** One row of a server's --syscall-stats table. */
export interface SyscallRow {
  name: string;
  calls: number;
  errors: number;
}

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
  /** What it printed on stdout (the stats, the --syscall-stats report). */
  stdout(): string;
  /** SIGINT, wait (SIGKILL to the group after timeoutMs), parse the stats line. */
  stop(timeoutMs?: number): Promise<ServerExit>;
  /** SIGKILL to the whole process group (fault injection). */
  kill(): void;
}

export const STATS_RE = /user time = ([\d.]+) s, sys time = ([\d.]+) s/;
const SYSCALLS_RE =
  /^syscalls made through the addon \((\d+) connections accepted\):\n(.*)\n-[- ]*\n((?:.*\S.*(?:\n|$))*)/m;

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
  const callsAt = head.indexOf('calls'),
    errorsAt = head.indexOf('errors');
  if (head[0] !== 'syscall' || callsAt < 0 || errorsAt < 0) return null;
  const rows: SyscallRow[] = [];
  let total: SyscallRow | null = null;
  for (const line of m[3].split('\n')) {
    if (!line.trim()) break;
    const f = line.trim().split(/\s{2,}/);
    const calls = Number(f[callsAt]),
      errors = Number(f[errorsAt]);
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
export async function startServer(arch: string, args: string[], timeoutMs = 20_000): Promise<BenchServer> {
  const s = await spawnServer([arch, '--port', '0', '--quiet', ...args], { timeoutMs });
  // 'exit' can come before the last of stdout has been read: drained() waits for the pipes too.
  const exited = s.drained().then(({ code, signal }): ServerExit => {
    const m = STATS_RE.exec(s.stdout()) ?? STATS_RE.exec(s.stderr());
    return {
      code,
      signal,
      stats: m ? { user: Number(m[1]), sys: Number(m[2]) } : null,
      syscalls: parseSyscallReport(s.stdout()),
    };
  });
  return {
    arch,
    port: s.port,
    rootPid: s.proc.pid!,
    alive: s.alive,
    exited,
    stderr: s.stderr,
    stdout: s.stdout,
    kill: s.kill,
    async stop(stopTimeoutMs = 15_000) {
      await s.stop('SIGINT', stopTimeoutMs);
      const r = await exited;
      s.kill(); // anything left in the group (a stuck child) goes too
      return r;
    },
  };
}
