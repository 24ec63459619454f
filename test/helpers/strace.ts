// Run a zerohttpd server under `strace -f` and read the trace back, one line per call.
import { ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CLI } from './server';
import { parseListening } from '../../lib/banner';
import { Call, fdPath, parseTrace } from '../../lib/strace-parse';

export type { Call };
export { fdNum, fdPath, parseLine, parseTrace, splitArgs } from '../../lib/strace-parse';

export const STRACE = '/usr/bin/strace';

export interface Traced {
  proc: ChildProcess;
  pid: number; // the server (node) pid: the main thread's tid
  port: number;
  traceFile: string;
  stderr(): string;
  stdout(): string;
  /** SIGINT to the server; waits for strace to exit; returns its exit code and the traced calls. */
  stop(): Promise<{ code: number | null; calls: Call[] }>;
}

const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const p of live) {
    try {
      process.kill(-p.pid!, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
});

/** `straceFlags`: how strace prints (default: fds with their paths, strings up to 256 bytes). */
export async function startTraced(
  trace: string,
  args: string[],
  dir: string,
  straceFlags = ['-y', '-s', '256'],
): Promise<Traced> {
  const traceFile = path.join(dir, 'strace.out');
  const proc = spawn(
    STRACE,
    ['-f', ...straceFlags, '-e', `trace=${trace}`, '-o', traceFile, process.execPath, CLI, ...args, '--port', '0'],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    },
  );
  live.add(proc);
  let err = '';
  proc.stderr.on('data', (d) => (err += d));
  let out = '';
  proc.stdout.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((resolve) =>
    proc.on('exit', (code) => {
      live.delete(proc);
      resolve(code);
    }),
  );
  const { pid, port } = await new Promise<{ pid: number; port: number }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`traced server did not start in 30 s: ${err}`)), 30_000);
    proc.stderr.on('data', () => {
      const m = parseListening(err);
      if (m) {
        clearTimeout(timer);
        resolve(m);
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`strace exited early (${code}): ${err}`));
    });
  });
  return {
    proc,
    pid,
    port,
    traceFile,
    stderr: () => err,
    stdout: () => out,
    async stop() {
      process.kill(pid, 'SIGINT');
      const t = setTimeout(() => {
        try {
          process.kill(-proc.pid!, 'SIGKILL');
        } catch {
          /* gone */
        }
      }, 20_000);
      const code = await exited;
      clearTimeout(t);
      return { code, calls: parseTrace(fs.readFileSync(traceFile, 'utf8')) };
    },
  };
}

/** Calls made by thread `tid`, in order. */
export const callsOf = (calls: Call[], tid: number): Call[] => calls.filter((c) => c.pid === tid);

// What the tests look for in a trace, by argument position (never by the spacing or the end of
// the line, which vary with strace's version and the widths of pids, fds and inodes).

/** `recvfrom(fd, buf, 1, 0, ...)`: the article's one-byte read. */
export const isOneByteRecv = (c: Call): boolean => c.name === 'recvfrom' && c.argv[2] === '1' && c.argv[3] === '0';
/** `recvfrom(fd, buf, 1, MSG_PEEK, ...)`: the look-ahead after a '\r'. */
export const isPeek = (c: Call): boolean => c.name === 'recvfrom' && /\bMSG_PEEK\b/.test(c.argv[3] ?? '');
/** listen(fd, backlog) that returned 0. */
export const listenedWith = (c: Call, backlog: number): boolean =>
  c.name === 'listen' && c.argv[1] === String(backlog) && c.ret === 0;

export const isOpen = (c: Call): boolean => /^open(at2?)?$/.test(c.name);
/** The path an open*() was asked for: `"a.txt"` -> `a.txt`. */
export function openTarget(c: Call): string | undefined {
  const arg = c.name === 'open' ? c.argv[0] : c.argv[1];
  return arg && /^"(.*)"(\.\.\.)?$/.exec(arg)?.[1];
}
/** The file a successful open*() opened, as -y printed the returned fd (`= 5</srv/a.txt>`). */
export const openedFile = (c: Call): string | undefined =>
  isOpen(c) && c.ret !== null && c.ret >= 0 ? fdPath(c.result) : undefined;
