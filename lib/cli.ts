#!/usr/bin/env node
// zerohttpd <architecture> [port] [redis-host] [flags]: mirrors the article's binaries
// (`./iterative 8000 127.0.0.1`) and adds flags. Parses, sets up, enters the server loop,
// prints the stats on Ctrl-C.
import * as dns from 'node:dns/promises';
import * as net from 'node:net';
import { parseArgs } from 'node:util';
import { COMMAND_LINE, DEFAULTS, Options, joinNegativeValues, takesValue } from './options';
import { ARCHITECTURES, architectureNames, exclusion, flag, refusal } from './servers/index';

const VERSION: string = require('../../package.json').version;

export class UsageError extends Error {}

/** The line after a usage error's, instead of the whole usage. */
export const HINT = "Try 'zerohttpd --help' for the options.";

export const USAGE = `usage: zerohttpd <architecture> [port] [redis-host] [options]
       zerohttpd bench [options]        (see zerohttpd bench --help)
       zerohttpd client [URL] [options] a slow client for demonstrations (see zerohttpd client --help)

  port and redis-host, as the article's binaries take them: the port to listen on (as --port)
  and the Redis server's host (as --redis HOST; not an address to listen on, that is --host).
  An option that does not apply to the architecture is refused.

architectures:
${Object.entries(ARCHITECTURES)
  .map(([n, a]) => `  ${n.padEnd(12)} ${a.summary}`)
  .join('\n')}

options:
  --port N              port to listen on (default ${DEFAULTS.port}; 0 picks a free one)
  --host ADDR           address to listen on (default ${DEFAULTS.host}, all IPv4 interfaces; :: for IPv6)
  --redis HOST[:PORT]   Redis server (default ${DEFAULTS.redisHost}:${DEFAULTS.redisPort})
  --public DIR          directory of static files (default public/)
  --reader byte|buffered  all but node: byte: one recv() per byte, as the article (default); buffered: large recv()s
  --backlog N           listen() backlog (default ${DEFAULTS.backlog}, as the article)
  --timeout SECONDS     the whole request must arrive within this (else 408), and no send may stall longer (default ${DEFAULTS.timeoutMs / 1000})
  --send-timeout SECONDS  the whole response must be sent within this, else the connection is closed (default ${DEFAULTS.sendTimeoutMs / 1000})
  --workers N           preforked: number of worker processes (default ${DEFAULTS.workers});
                        poll/epoll: number of processes, each running the event loop (default 1)
  --listen shared|exclusive|reuseport  poll/epoll with --workers: one listening socket in every worker's
                        poll set/epoll (default: shared, the herd); epoll only: EPOLLEXCLUSIVE; or one
                        SO_REUSEPORT socket per worker
  --threads N           prethreaded: number of worker threads (default ${DEFAULTS.threads})
  --max-threads N       threaded: stop accepting while N threads are alive (default ${DEFAULTS.maxThreads}; 0 = unlimited)
  --worker-code isolate|cached|files  threaded: each thread runs a bare V8 isolate made by the addon (default); or
                        is a Node Worker, started from one bundled script and a V8 code cache (cached), or
                        loading lib/ module by module as plain Node does (files) (docs/threads.md)
  --accept-lock none|fcntl|mutex|lifo  preforked/prethreaded: serialize accept() (default: preforked none, prethreaded mutex)
  --dispatch accept|pass|main  preforked/prethreaded: who accepts (default accept: every worker); pass: the preforked
                        parent accepts and passes each fd to an idle child; main: the main thread accepts for the Workers
  --edge                epoll: edge-triggered (EPOLLET) instead of level-triggered
  --redis-pool N        poll/epoll: keep N Redis connections open instead of one per request
  --syscall-stats[=time]  on exit, print a table of the syscalls made through the addon (with time: their duration,
                        time blocked waiting included and shown apart; node makes none but the listening socket's)
  --trace               print every syscall made through the addon to stderr, decoded as strace prints it
                        (each line starts with [pid/tid]; so do the request log lines)
  --log-pid             start each request log line with the [pid/tid] that served it
  --stats-interval SECONDS  all but node: every SECONDS, print one line to stderr: requests/s, open
                        connections, live workers/threads, syscalls/s and recvfrom/s (all processes and threads)
  --stats-page          all but node: serve a live chart of the same numbers at /_stats (JSON at /_stats.json)
  --quiet               no per-request log lines
  -h, --help            this help
  -v, --version         print the version`;

function int(name: string, v: string, min: number, max: number): number {
  if (!/^\d+$/.test(v) || Number(v) < min || Number(v) > max)
    throw new UsageError(`--${name} must be an integer from ${min} to ${max}, not '${v}'`);
  return Number(v);
}

/** A timeout in seconds, as whole milliseconds: at least 1 ms (0 would mean "no timeout" to the kernel and to node). */
function seconds(name: string, v: string): number {
  const ms = Math.round(Number(v) * 1000);
  if (!(ms >= 1 && ms <= 86_400_000))
    throw new UsageError(`--${name} must be a number of seconds from 0.001 to 86400, not '${v}'`);
  return ms;
}

function hostPort(v: string, defPort: number): { host: string; port: number } {
  const m = /^\[([^\]]+)\](?::(\d+))?$/.exec(v) ?? /^([^:]+)(?::(\d+))?$/.exec(v);
  if (m) return { host: m[1], port: m[2] ? int('redis', m[2], 1, 65535) : defPort };
  if (net.isIPv6(v)) return { host: v, port: defPort };
  throw new UsageError(`--redis must be HOST[:PORT], not '${v}'`);
}

export type Parsed =
  | { kind: 'help' }
  | { kind: 'version' }
  | { kind: 'bench'; argv: string[] }
  | { kind: 'client'; argv: string[] }
  | { kind: 'serve'; opts: Options };

export function parseCommandLine(argv: string[]): Parsed {
  if (argv[0] === 'bench') return { kind: 'bench', argv: argv.slice(1) };
  if (argv[0] === 'client') return { kind: 'client', argv: argv.slice(1) };
  const args = joinNegativeValues(argv, takesValue).map((a) => (a === '--syscall-stats' ? '--syscall-stats=count' : a));
  let parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      strict: true,
      options: { ...COMMAND_LINE, help: { type: 'boolean', short: 'h' }, version: { type: 'boolean', short: 'v' } },
    });
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const { values: v, positionals: pos } = parsed;
  if (v.help) return { kind: 'help' };
  if (v.version) return { kind: 'version' };
  if (pos.length > 3) throw new UsageError(`too many arguments: ${pos.slice(3).join(' ')}`);
  const o: Options = { ...DEFAULTS };
  if (pos[0] !== undefined) {
    if (!ARCHITECTURES[pos[0]])
      throw new UsageError(`unknown architecture '${pos[0]}' (one of: ${architectureNames().join(', ')})`);
    o.arch = pos[0];
  }
  Object.assign(o, ARCHITECTURES[o.arch].defaults);
  // Only what was given counts (defaults are not options the user chose), before any value is judged.
  for (const [name, value] of Object.entries(v)) {
    const why = refusal(o.arch, name, typeof value === 'string' ? value : undefined);
    if (why)
      throw new UsageError(
        pos[0] === undefined ? `${why}; no architecture was named, and ${o.arch} is the default` : why,
      );
  }
  const excluded = exclusion(o.arch, v);
  if (excluded) throw new UsageError(excluded);
  if (pos[1] !== undefined) o.port = int('port', pos[1], 0, 65535);
  if (pos[2] !== undefined) o.redisHost = pos[2];
  if (v.port !== undefined) o.port = int('port', v.port, 0, 65535);
  if (v.host !== undefined) {
    if (!net.isIP(v.host)) throw new UsageError(`--host must be an IPv4 or IPv6 address, not '${v.host}'`);
    o.host = v.host;
  }
  if (v.redis !== undefined) ({ host: o.redisHost, port: o.redisPort } = hostPort(v.redis, DEFAULTS.redisPort));
  if (v.public !== undefined) o.publicDir = v.public;
  if (v.reader !== undefined) {
    if (v.reader !== 'byte' && v.reader !== 'buffered')
      throw new UsageError(`--reader must be byte or buffered, not '${v.reader}'`);
    o.reader = v.reader;
  }
  if (v.backlog !== undefined) o.backlog = int('backlog', v.backlog, 1, 1 << 20);
  if (v.timeout !== undefined) o.timeoutMs = seconds('timeout', v.timeout);
  if (v['send-timeout'] !== undefined) o.sendTimeoutMs = seconds('send-timeout', v['send-timeout']);
  if (v.workers !== undefined) o.workers = int('workers', v.workers, 1, 10000);
  if (v.threads !== undefined) o.threads = int('threads', v.threads, 1, 10000);
  if (v['max-threads'] !== undefined) o.maxThreads = int('max-threads', v['max-threads'], 0, 100000);
  if (v['worker-code'] !== undefined) {
    const w = v['worker-code'];
    if (w !== 'isolate' && w !== 'cached' && w !== 'files')
      throw new UsageError(`--worker-code must be isolate, cached or files, not '${w}'`);
    o.workerCode = w;
  }
  if (v.listen !== undefined) {
    const l = v.listen;
    if (l !== 'shared' && l !== 'exclusive' && l !== 'reuseport')
      throw new UsageError(`--listen must be shared, exclusive or reuseport, not '${l}'`);
    o.listen = l;
    // One process: nothing shares the port, the mode would be silently ignored.
    if (o.workers === 1)
      throw new UsageError(
        `--listen ${l} takes --workers N with N > 1: a single ${o.arch} process shares its port with none`,
      );
  }
  if (v['accept-lock'] !== undefined) {
    const l = v['accept-lock'];
    if (l !== 'none' && l !== 'fcntl' && l !== 'mutex' && l !== 'lifo')
      throw new UsageError(`--accept-lock must be none, fcntl, mutex or lifo, not '${l}'`);
    o.acceptLock = l;
    o.acceptLockGiven = true;
  }
  if (v.dispatch !== undefined) {
    const d = v.dispatch;
    if (d !== 'accept' && d !== 'pass' && d !== 'main')
      throw new UsageError(`--dispatch must be accept, pass (preforked) or main (prethreaded), not '${d}'`);
    o.dispatch = d;
  }
  if (v.edge) o.edge = true;
  if (v['redis-pool'] !== undefined) o.redisPool = int('redis-pool', v['redis-pool'], 0, 10000);
  if (v['syscall-stats'] !== undefined) {
    const s = v['syscall-stats'];
    if (s !== 'count' && s !== 'time') throw new UsageError(`--syscall-stats takes no value or =time, not '${s}'`);
    o.syscallStats = s === 'time' ? 2 : 1;
  }
  if (v.trace) o.trace = true;
  if (v['log-pid']) o.logPid = true;
  if (v['stats-interval'] !== undefined) {
    o.statsInterval = seconds('stats-interval', v['stats-interval']);
    if (o.statsInterval < 100)
      throw new UsageError(`--stats-interval must be at least 0.1 seconds, not '${v['stats-interval']}'`);
  }
  if (v['stats-page']) o.statsPage = true;
  if (v.quiet) o.quiet = true;
  return { kind: 'serve', opts: o };
}

async function resolveRedisHost(o: Options): Promise<void> {
  if (net.isIP(o.redisHost)) return;
  try {
    o.redisHost = (await dns.lookup(o.redisHost)).address;
  } catch {
    throw new UsageError(`cannot resolve redis host '${o.redisHost}'`);
  }
}

export async function main(argv: string[]): Promise<number> {
  let parsed: Parsed;
  try {
    parsed = parseCommandLine(argv);
    if (parsed.kind === 'serve') await resolveRedisHost(parsed.opts);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    process.stderr.write(`zerohttpd: ${e.message}\n${HINT}\n`);
    return 2;
  }
  if (parsed.kind === 'help') {
    process.stdout.write(USAGE + '\n');
    return 0;
  }
  if (parsed.kind === 'version') {
    process.stdout.write(`zerohttpd ${VERSION}\n`);
    return 0;
  }
  if (parsed.kind === 'bench') return require('./bench/cli').main(parsed.argv);
  if (parsed.kind === 'client') return require('./slow-client').main(parsed.argv);
  const arch = ARCHITECTURES[parsed.opts.arch].load();
  if (flag(arch.forks, parsed.opts)) {
    const forksafe: typeof import('./forksafe') = require('./forksafe');
    if (!forksafe.isForkSafe()) {
      const why = forksafe.reexecForkSafe(__filename, argv, arch.forkSafeNodeFlags);
      process.stderr.write(`zerohttpd: cannot start ${parsed.opts.arch} fork-safe: ${why}\n`);
      return 1;
    }
  }
  return require('./run').run(parsed.opts);
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e) => {
      process.stderr.write(`zerohttpd: ${e instanceof Error ? e.message : String(e)}\n`);
      process.exit(1);
    },
  );
}
