// What /proc says about a process tree: its members, their CPU time and their resident memory.
import * as fs from 'node:fs';
import { execFileSync } from 'node:child_process';

let clkTck = 0;
function ticksPerSecond(): number {
  if (!clkTck) {
    try {
      clkTck = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
    } catch {
      clkTck = 100;
    }
  }
  return clkTck;
}

interface Stat {
  pid: number;
  ppid: number;
  state: string;
  utime: number;
  stime: number;
  cutime: number;
  cstime: number;
}

function readStat(pid: number): Stat | null {
  try {
    const s = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    // fields after the comm: state(3) ppid(4) ... utime(14) stime(15) cutime(16) cstime(17)
    return {
      pid,
      state: f[0],
      ppid: Number(f[1]),
      utime: Number(f[11]),
      stime: Number(f[12]),
      cutime: Number(f[13]),
      cstime: Number(f[14]),
    };
  } catch {
    return null;
  }
}

/** rootPid and all its live descendants (threads are part of their process). */
export function processTree(rootPid: number): Stat[] {
  const all: Stat[] = [];
  for (const d of fs.readdirSync('/proc')) {
    if (d.charCodeAt(0) < 48 || d.charCodeAt(0) > 57) continue;
    const st = readStat(Number(d));
    if (st) all.push(st);
  }
  const children = new Map<number, Stat[]>();
  for (const st of all) {
    const list = children.get(st.ppid);
    if (list) list.push(st);
    else children.set(st.ppid, [st]);
  }
  const root = all.find((s) => s.pid === rootPid);
  if (!root) return [];
  const out: Stat[] = [root];
  for (let i = 0; i < out.length; i++) for (const c of children.get(out[i].pid) ?? []) out.push(c);
  return out;
}

/**
 * CPU seconds (user+sys) used so far by a process tree: every live member's own time plus the
 * time of the children each has reaped. A child that exits between two readings moves from
 * its own utime into its parent's cutime, so differences between readings stay right.
 */
export function treeCpuSeconds(rootPid: number): { user: number; sys: number } | null {
  const tree = processTree(rootPid);
  if (tree.length === 0) return null;
  let user = 0,
    sys = 0;
  for (const s of tree) {
    user += s.utime + s.cutime;
    sys += s.stime + s.cstime;
  }
  const hz = ticksPerSecond();
  return { user: user / hz, sys: sys / hz };
}

/** Sum of VmRSS (kB) over the tree; shared pages count once per process, as `ps` does. */
export function treeRssKb(rootPid: number): number {
  let kb = 0;
  for (const s of processTree(rootPid)) {
    try {
      const m = /^VmRSS:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${s.pid}/status`, 'utf8'));
      if (m) kb += Number(m[1]);
    } catch {
      /* exited meanwhile */
    }
  }
  return kb;
}

/** Samples treeRssKb every intervalMs; stop() returns the largest sum seen. */
export function rssSampler(rootPid: number, intervalMs = 100): { stop(): number } {
  let peak = treeRssKb(rootPid);
  const t = setInterval(() => {
    peak = Math.max(peak, treeRssKb(rootPid));
  }, intervalMs);
  return {
    stop() {
      clearInterval(t);
      peak = Math.max(peak, treeRssKb(rootPid));
      return peak;
    },
  };
}

/**
 * Client-side sockets to 127.0.0.1:serverPort in TIME_WAIT: each holds an ephemeral port, and
 * when they use up the range connect() fails with EADDRNOTAVAIL (wrk only says "connect error").
 */
export function clientTimeWaitCount(serverPort: number): number {
  const want = ':' + serverPort.toString(16).toUpperCase().padStart(4, '0');
  let n = 0;
  for (const f of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = fs.readFileSync(f, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n')) {
      const cols = line.trim().split(/\s+/);
      if (cols[3] === '06' && cols[2]?.endsWith(want)) n++; // st 06 = TIME_WAIT, rem_address ends with :PORT
    }
  }
  return n;
}

export function ephemeralPortRange(): [number, number] | null {
  try {
    const [a, b] = fs.readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    return [a, b];
  } catch {
    return null;
  }
}

export function readSysctl(name: string): string | null {
  try {
    return fs.readFileSync(`/proc/sys/${name.replace(/\./g, '/')}`, 'utf8').trim();
  } catch {
    return null;
  }
}
