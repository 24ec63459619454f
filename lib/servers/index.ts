// The architectures the CLI knows, loaded lazily so that one server never loads another's code,
// and the options each one reads, so that the CLI refuses the others before anything listens
// (without loading a server's module or the addon). Each server module exports one
// `architecture` that `satisfies Architecture`; load() is typed with that module's own type,
// so tsc checks every server against the interface without the registry importing it.
import { COMMAND_LINE, OptionName, Options, takesValue } from '../options';

export interface Architecture {
  /** CPU time of reaped children belongs in the stats (forking, preforked; poll/epoll with --workers). */
  childrenInStats: boolean | ((opts: Options) => boolean);
  /** The listening socket is non-blocking (event-driven servers). */
  nonBlockingListen?: boolean;
  /** Needs the fork-safe re-exec of node (see docs/fork-safety.md). */
  forks?: boolean | ((opts: Options) => boolean);
  /** Node flags that re-exec adds for this architecture, unless given (docs/fork-safety.md). */
  forkSafeNodeFlags?: readonly string[];
  /** Handles SIGINT/SIGTERM itself instead of the native stop handler (the node:http server). */
  ownSignals?: boolean;
  /** What the listening line adds after the name, e.g. `2 workers, listen reuseport` (null: nothing). */
  mode?: (opts: Options) => string | null;
  /** Serve until a stop is requested; the CLI prints the stats afterwards. */
  enterServerLoop(listenFd: number, opts: Options): void | Promise<void>;
}

export interface ArchitectureEntry {
  summary: string;
  /** The options it reads besides COMMON_OPTIONS; the CLI refuses any other. */
  options: readonly OptionName[];
  /** Values of its options it cannot honour, and why (the CLI refuses them too). */
  refuses?: Partial<Record<OptionName, { values: readonly string[]; why: string }>>;
  /** Its own defaults where they differ from DEFAULTS (poll/epoll: one worker). */
  defaults?: Partial<Options>;
  /** Options it refuses while another option has a given value (`--dispatch pass` takes no --accept-lock). */
  excludes?: readonly { when: OptionName; value: string; refuses: OptionName; why: string }[];
  /** Requires the server's module (and with it the addon): only to serve, never to parse or help. */
  load: () => Architecture;
  /** Why it cannot run on this machine (a kernel feature missing or disabled), or null; asked only before serving. */
  unavailable?: () => string | null;
}

/** What every architecture reads: where to listen, what to serve, how long to wait, what to log. */
export const COMMON_OPTIONS: readonly OptionName[] = [
  'port',
  'host',
  'redis',
  'public',
  'backlog',
  'timeout',
  'send-timeout',
  'quiet',
  'log-pid',
];

/** Show the syscalls made through the addon. */
const ADDON = ['syscall-stats', 'trace'] as const;
/** The live view, from the counters every process and thread of a raw server adds into (lib/live.ts). */
const LIVE = ['stats-interval', 'stats-page'] as const;
/** The servers built on raw syscalls also choose how to read a request. */
const RAW = ['reader', ...ADDON, ...LIVE] as const;

export const ARCHITECTURES: Record<string, ArchitectureEntry> = {
  iterative: {
    summary: 'one client at a time, in one process',
    options: RAW,
    load: () => (require('./iterative') as typeof import('./iterative')).architecture,
  },
  forking: {
    summary: 'a new process (fork) per connection',
    options: RAW,
    load: () => (require('./forking') as typeof import('./forking')).architecture,
  },
  preforked: {
    summary: '--workers processes forked up front, each blocking in accept() (--dispatch pass: the parent accepts)',
    options: [...RAW, 'workers', 'accept-lock', 'dispatch'],
    refuses: {
      dispatch: { values: ['main'], why: "main is prethreaded's; preforked takes accept or pass" },
    },
    excludes: [
      {
        when: 'dispatch',
        value: 'pass',
        refuses: 'accept-lock',
        why: 'the parent is the only process that accepts, there is nothing to serialize',
      },
    ],
    load: () => (require('./preforked') as typeof import('./preforked')).architecture,
  },
  threaded: {
    summary: 'a new thread (Worker) per connection, at most --max-threads alive',
    options: [...RAW, 'max-threads', 'worker-code'],
    load: () => (require('./threaded') as typeof import('./threaded')).architecture,
  },
  prethreaded: {
    summary:
      'a pool of --threads Workers, each accept()ing under an accept mutex (--dispatch main: the main thread accepts)',
    options: [...RAW, 'threads', 'accept-lock', 'dispatch'],
    refuses: {
      'accept-lock': {
        values: ['fcntl'],
        why: 'record locks belong to a process and cannot serialize its threads; use mutex or none',
      },
      dispatch: { values: ['pass'], why: "pass is preforked's; prethreaded takes accept or main" },
    },
    excludes: [
      {
        when: 'dispatch',
        value: 'main',
        refuses: 'accept-lock',
        why: 'the main thread is the only one that accepts, there is nothing to serialize',
      },
    ],
    load: () => (require('./prethreaded') as typeof import('./prethreaded')).architecture,
  },
  poll: {
    summary: 'one process, poll() over non-blocking sockets (--workers N: N processes)',
    options: [...RAW, 'redis-pool', 'workers', 'listen'],
    refuses: {
      listen: {
        values: ['exclusive'],
        why: 'EPOLLEXCLUSIVE is an epoll flag; poll() has no exclusive wake-up (use shared or reuseport)',
      },
    },
    defaults: { workers: 1 },
    load: () => (require('./poll') as typeof import('./poll')).architecture,
  },
  epoll: {
    summary: 'one process, epoll (level-triggered; --edge for EPOLLET; --workers N: N processes)',
    options: [...RAW, 'edge', 'redis-pool', 'workers', 'listen'],
    defaults: { workers: 1 },
    load: () => (require('./epoll') as typeof import('./epoll')).architecture,
  },
  io_uring: {
    summary: 'one process, one io_uring: multishot accept, provided buffers, batched submission',
    options: [...RAW, 'redis-pool'],
    load: () => (require('./io_uring') as typeof import('./io_uring')).architecture,
    unavailable: () => (require('../uring/ring') as typeof import('../uring/ring')).uringUnavailable(),
  },
  // node:http reads requests itself, ioredis keeps its own connection, and their syscalls go
  // through libuv: --trace and --syscall-stats show only the listening socket's, which run.ts
  // sets up through the addon for every architecture ("0 connections accepted" says the rest).
  node: {
    summary: 'the yardstick: idiomatic node:http + ioredis, same pages',
    options: ADDON,
    load: () => (require('./node') as typeof import('./node')).architecture,
  },
};

export function architectureNames(): string[] {
  return Object.keys(ARCHITECTURES);
}

/** Whether `--name` is an option of `arch`. */
export function takesOption(arch: string, name: string): boolean {
  return [...COMMON_OPTIONS, ...ARCHITECTURES[arch].options].includes(name as OptionName);
}

/** Why `arch` refuses `--name [value]` (one line for the user), or null if it takes it. */
export function refusal(arch: string, name: string, value?: string): string | null {
  if (!takesOption(arch, name)) {
    return `--${name} does not apply to ${arch} (it is an option of: ${architectureNames()
      .filter((a) => takesOption(a, name))
      .join(', ')})`;
  }
  const r = ARCHITECTURES[arch].refuses?.[name as OptionName];
  return r && value !== undefined && r.values.includes(value)
    ? `--${name} ${value} does not apply to ${arch}: ${r.why}`
    : null;
}

/** Why `arch` refuses one of the `given` options because of another's value (one line), or null. */
export function exclusion(arch: string, given: Readonly<Record<string, unknown>>): string | null {
  for (const x of ARCHITECTURES[arch].excludes ?? []) {
    if (given[x.when] === x.value && given[x.refuses] !== undefined)
      return `--${x.refuses} does not apply to ${arch} --${x.when} ${x.value}: ${x.why}`;
  }
  return null;
}

/**
 * The arguments among `args` that apply to `arch`, for a caller that starts every architecture
 * with one set of options (the tests, the bench): `--workers 4` is kept for preforked only.
 * Positional arguments and unknown options are kept (the CLI judges them).
 */
export function archArgs(arch: string, args: readonly string[]): string[] {
  const kept: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const m = /^--([^=]+)(=.*)?$/.exec(args[i]);
    const n = m && !m[2] && takesValue(m[1]) ? 2 : 1;
    if (!m || !(m[1] in COMMAND_LINE) || takesOption(arch, m[1])) kept.push(...args.slice(i, i + n));
    i += n - 1;
  }
  return kept;
}

/** A flag of the architecture that may depend on the options (forks, childrenInStats). */
export function flag(v: boolean | ((opts: Options) => boolean) | undefined, opts: Options): boolean {
  return typeof v === 'function' ? v(opts) : !!v;
}
