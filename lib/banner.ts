// The line a server prints once it listens, written here and read back by the tests and the
// bench (which wait for it to learn the port of a --port 0 server). No imports: the bench
// harness and the test helpers use it without loading the addon.
import type { Options } from './options';

/** The architecture with its mode, as the banner shows it: `epoll (edge-triggered, redis pool 8)`. */
export function modeOf(o: Options, extra?: string | null): string {
  const pool = o.redisPool ? `redis pool ${o.redisPool}` : 'a redis connection per request';
  const reader = o.reader === 'buffered' ? ['buffered reader'] : [];
  const modes: Record<string, string[]> = {
    iterative: ['one client at a time', ...reader],
    forking: ['a process per connection', ...reader],
    preforked: [`${o.workers} workers`, ...reader], // dispatch and accept lock: the architecture's own mode
    threaded: [
      o.maxThreads ? `a thread per connection, at most ${o.maxThreads}` : 'a thread per connection',
      ...reader,
    ],
    prethreaded: [`${o.threads} threads`, ...reader],
    poll: [pool, ...reader],
    epoll: [o.edge ? 'edge-triggered' : 'level-triggered', pool, ...reader],
    node: ['node:http and ioredis'],
  };
  // extra: what the architecture itself adds (Architecture.mode, e.g. `2 workers, listen reuseport`).
  const m = [...(modes[o.arch] ?? []), ...(extra ? [extra] : [])];
  return m.length ? `${o.arch} (${m.join(', ')})` : o.arch;
}

export function listeningLine(arch: string, where: string, port: number, pid: number): string {
  return `zerohttpd ${arch} listening on ${where}:${port} (pid ${pid})`;
}
/** Port and pid from a server's stderr once its listening line is there, else null. */
export function parseListening(text: string): { port: number; pid: number } | null {
  const m = /listening on \S+:(\d+) \(pid (\d+)\)/.exec(text);
  return m ? { port: Number(m[1]), pid: Number(m[2]) } : null;
}
