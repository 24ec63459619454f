// /proc views of a server's children, for the forking and preforked tests.
import * as fs from 'node:fs';
import { sleep } from '../../lib/bench/spawn';

export interface ProcInfo {
  pid: number;
  state: string;
  ppid: number;
}

function stat(pid: number): ProcInfo | undefined {
  try {
    const s = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return { pid, state: f[0], ppid: Number(f[1]) };
  } catch {
    return undefined; // raced with exit
  }
}

/** Direct children of `ppid` (zombies included): a scan of /proc/<pid>/stat. */
export function childrenOf(ppid: number): ProcInfo[] {
  const out: ProcInfo[] = [];
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    const s = stat(Number(d));
    if (s && s.ppid === ppid) out.push(s);
  }
  return out;
}

export { sleep };

/** Polls `cond` until true or `ms` elapsed (a generous upper bound, not a timing assumption). */
export async function waitFor<T>(
  what: string,
  ms: number,
  cond: () => T | undefined | false | Promise<T | undefined | false>,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await cond();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(25);
  }
}

/** Threads of pid blocked right now in a kernel function whose name contains `what` (wchan). */
export function threadsWaitingFor(pid: number, what: string): number {
  let n = 0;
  for (const tid of fs.readdirSync(`/proc/${pid}/task`)) {
    try {
      if (fs.readFileSync(`/proc/${pid}/task/${tid}/wchan`, 'utf8').includes(what)) n++;
    } catch {
      /* thread gone */
    }
  }
  return n;
}
