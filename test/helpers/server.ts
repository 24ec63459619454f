// Start a real zerohttpd process (the CLI, as a user would) on a free port and stop it with a signal.
import { ChildProcess } from 'node:child_process';
import { CLI, ExitStatus, spawnServer } from '../../lib/bench/spawn';

export { CLI };

export interface RunningServer {
  port: number;
  pid: number;
  proc: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Send a signal (default SIGINT) and wait for exit; resolves with code/signal and how long it took. */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<ExitStatus & { ms: number }>;
}

export interface StartOptions {
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
  nodeArgs?: string[];
}

/** Spawns `node dist/lib/cli.js <args> --port 0` in its own process group, waits for "listening on". */
export function startServer(args: string[], opts: StartOptions = {}): Promise<RunningServer> {
  // Its own process group: stop() can check that nothing of ours is left.
  return spawnServer([...args, '--port', '0'], opts);
}

/** pids still alive in a process group (to prove nothing of ours is left). */
export function processGroupMembers(pgid: number): number[] {
  const fs = require('node:fs') as typeof import('node:fs');
  const pids: number[] = [];
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${d}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[2]) === pgid && fields[0] !== 'Z') pids.push(Number(d));
    } catch {
      /* raced with exit */
    }
  }
  return pids;
}

/**
 * Client connections a server process still holds on `port` (its socket fds whose TCP entry is
 * not the listener), or has yet to accept. Every response ends with a lingering close that waits for the client's EOF,
 * so right after a client has read its answer the server may still hold the socket for a moment:
 * tests that snapshot a server's fds wait for this to be 0 first.
 */
export function heldConnections(pid: number, port: number): number {
  const fs = require('node:fs') as typeof import('node:fs');
  const inodes = new Set<string>();
  for (const target of fdTargets(pid)) {
    const m = /^socket:\[(\d+)\]$/.exec(target);
    if (m) inodes.add(m[1]);
  }
  let held = 0;
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try {
      text = fs.readFileSync(table, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10) continue;
      const localPort = parseInt(f[1].split(':')[1], 16);
      // Its own sockets but the listener (0A: LISTEN), and connections still waiting in the
      // accept queue (no inode yet; 01: ESTABLISHED, 08: CLOSE_WAIT, the client already gone).
      if (
        localPort === port &&
        f[3] !== '0A' &&
        (inodes.has(f[9]) || (f[9] === '0' && (f[3] === '01' || f[3] === '08')))
      )
        held++;
    }
  }
  return held;
}

/** What the fds of a process point to (readlink of /proc/PID/fd/*; '?' for one closed meanwhile; [] once it is gone). */
export function fdTargets(pid: number): string[] {
  const fs = require('node:fs') as typeof import('node:fs');
  let names: string[];
  try {
    names = fs.readdirSync(`/proc/${pid}/fd`);
  } catch {
    return [];
  }
  return names.map((f) => {
    try {
      return fs.readlinkSync(`/proc/${pid}/fd/${f}`);
    } catch {
      return '?';
    }
  });
}

/** Number of open fds of a process. */
export function fdCount(pid: number): number {
  return require('node:fs').readdirSync(`/proc/${pid}/fd`).length;
}

/**
 * For a describe() block: the returned start(args) runs a quiet server against the block's
 * private Redis (`--quiet --redis 127.0.0.1:port` added), and after each test every server it
 * started is stopped with SIGKILL (a no-op for one the test already stopped).
 */
export function withServer(
  redis: () => { port: number },
): (args: string[], opts?: StartOptions) => Promise<RunningServer> {
  const started: RunningServer[] = [];
  afterEach(async () => {
    await Promise.all(started.splice(0).map((s) => s.stop('SIGKILL')));
  });
  return async (args, opts) => {
    const s = await startServer([...args, '--quiet', '--redis', `127.0.0.1:${redis().port}`], opts);
    started.push(s);
    return s;
  };
}

/** `arch` with a small pool where it has one, so a suite that starts every architecture stays quick. */
export function smallPool(arch: string): string[] {
  if (arch === 'preforked') return [arch, '--workers', '2'];
  if (arch === 'prethreaded') return [arch, '--threads', '2'];
  return [arch];
}
