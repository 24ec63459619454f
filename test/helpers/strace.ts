// Run a zerohttpd server under `strace -f` and read the trace back, one line per call.
import { ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CLI } from './server';
import { parseListening } from '../../lib/listening';
import { joinUnfinished } from '../../scripts/strace-parse';

export { joinUnfinished };

export const STRACE = '/usr/bin/strace';

export interface Traced {
  proc: ChildProcess;
  pid: number;         // the server (node) pid: the main thread's tid
  port: number;
  traceFile: string;
  stderr(): string;
  stdout(): string;
  /** SIGINT to the server; waits for strace to exit; returns the server's exit line and the trace. */
  stop(): Promise<{ code: number | null; lines: string[] }>;
}

const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const p of live) {
    try { process.kill(-p.pid!, 'SIGKILL'); } catch { /* gone */ }
  }
});

export async function startTraced(trace: string, args: string[], dir: string): Promise<Traced> {
  const traceFile = path.join(dir, 'strace.out');
  const proc = spawn(STRACE, ['-f', '-y', '-s', '256', '-e', `trace=${trace}`, '-o', traceFile, process.execPath, CLI, ...args, '--port', '0'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  live.add(proc);
  let err = '';
  proc.stderr!.on('data', (d) => (err += d));
  let out = '';
  proc.stdout!.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => { live.delete(proc); resolve(code); }));
  const { pid, port } = await new Promise<{ pid: number; port: number }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`traced server did not start in 30 s: ${err}`)), 30_000);
    proc.stderr!.on('data', () => {
      const m = parseListening(err);
      if (m) { clearTimeout(timer); resolve(m); }
    });
    exited.then((code) => { clearTimeout(timer); reject(new Error(`strace exited early (${code}): ${err}`)); });
  });
  return {
    proc, pid, port, traceFile,
    stderr: () => err,
    stdout: () => out,
    async stop() {
      process.kill(pid, 'SIGINT');
      const t = setTimeout(() => { try { process.kill(-proc.pid!, 'SIGKILL'); } catch { /* gone */ } }, 20_000);
      const code = await exited;
      clearTimeout(t);
      return { code, lines: joinUnfinished(fs.readFileSync(traceFile, 'utf8').split('\n')) };
    },
  };
}

/** Calls made by thread `tid`: {name, args, result}. */
export function callsOf(lines: string[], tid: number): { name: string; args: string; result: string; line: string }[] {
  const calls = [];
  for (const line of lines) {
    const m = /^(\d+)\s+(\w+)\((.*)\)\s+=\s+(.*)$/.exec(line);
    if (m && Number(m[1]) === tid) calls.push({ name: m[2], args: m[3], result: m[4], line });
  }
  return calls;
}

// strace -y prints fds as N<socket:[inode]> or N</path>; this strips the decoration.
export const fdNum = (s: string) => Number(/^(\d+)/.exec(s.trim())?.[1] ?? NaN);

