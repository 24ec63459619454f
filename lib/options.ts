// Every option of every architecture, with its default and its command-line spelling, in one
// place. Which architecture takes which option is in lib/servers/index.ts.
import { PUBLIC_DIR, TEMPLATES_DIR } from './paths';

export type Reader = 'byte' | 'buffered';
export type AcceptLock = 'none' | 'fcntl' | 'mutex' | 'lifo';
export type WorkerCode = 'isolate' | 'cached' | 'files';
/** poll/epoll --workers N: how the workers share the port (docs/accept-designs.md). */
export type ListenMode = 'shared' | 'exclusive' | 'reuseport';
/** Who accepts: every worker (accept), the parent passing fds (pass: preforked), the main thread (main: prethreaded). */
export type Dispatch = 'accept' | 'pass' | 'main';

export interface Options {
  arch: string;
  host: string; // listen address (IPv4 or IPv6 literal)
  port: number;
  redisHost: string; // IP literal (the CLI resolves names)
  redisPort: number;
  publicDir: string;
  templatesDir: string;
  reader: Reader;
  backlog: number;
  timeoutMs: number; // bounds the whole request read (and each send: a client that stops reading)
  sendTimeoutMs: number; // bounds the whole response write (a client reading very slowly)
  quiet: boolean;
  workers: number; // preforked; poll/epoll (their default is 1: lib/servers/index.ts)
  listen: ListenMode; // poll/epoll with --workers
  threads: number; // prethreaded
  maxThreads: number; // threaded; 0 = unlimited
  workerCode: WorkerCode; // threaded: a bare V8 isolate per thread, or a Worker from the bundle + code cache, or file by file
  acceptLock: AcceptLock; // preforked / prethreaded (prethreaded: mutex unless --accept-lock was given, as the article)
  acceptLockGiven?: boolean; // --accept-lock was on the command line
  dispatch: Dispatch; // preforked (accept | pass) / prethreaded (accept | main)
  edge: boolean; // epoll: EPOLLET
  redisPool: number; // poll/epoll: persistent Redis connections (0 = one per request, as the article)
  syscallStats: 0 | 1 | 2; // 1: counts, 2: counts and time
  trace: boolean;
  logPid: boolean; // request log lines start with the serving [pid/tid] (also with --trace)
  statsInterval: number; // ms between live stats lines; 0 = none
  statsPage: boolean; // serve /_stats and /_stats.json
}

export const DEFAULTS: Options = {
  arch: 'epoll', // npm start
  host: '0.0.0.0',
  port: 8000,
  redisHost: '127.0.0.1',
  redisPort: 6379,
  publicDir: PUBLIC_DIR,
  templatesDir: TEMPLATES_DIR,
  reader: 'byte',
  backlog: 10,
  timeoutMs: 10_000,
  sendTimeoutMs: 60_000,
  quiet: false,
  workers: 100,
  listen: 'shared',
  threads: 100,
  maxThreads: 256,
  workerCode: 'isolate',
  acceptLock: 'none',
  dispatch: 'accept',
  edge: false,
  redisPool: 0,
  syscallStats: 0,
  trace: false,
  logPid: false,
  statsInterval: 0,
  statsPage: false,
};

/** The command-line options of `zerohttpd <architecture>`, in node:util parseArgs' terms. */
export const COMMAND_LINE = {
  port: { type: 'string' },
  host: { type: 'string' },
  redis: { type: 'string' },
  public: { type: 'string' },
  reader: { type: 'string' },
  backlog: { type: 'string' },
  timeout: { type: 'string' },
  'send-timeout': { type: 'string' },
  workers: { type: 'string' },
  listen: { type: 'string' },
  threads: { type: 'string' },
  'max-threads': { type: 'string' },
  'worker-code': { type: 'string' },
  'accept-lock': { type: 'string' },
  dispatch: { type: 'string' },
  edge: { type: 'boolean' },
  'redis-pool': { type: 'string' },
  'syscall-stats': { type: 'string' },
  trace: { type: 'boolean' },
  'log-pid': { type: 'boolean' },
  'stats-interval': { type: 'string' },
  'stats-page': { type: 'boolean' },
  quiet: { type: 'boolean' },
} as const;

export type OptionName = keyof typeof COMMAND_LINE;

/** Whether `--name` takes the next argument as its value (--syscall-stats takes one only as --syscall-stats=time). */
export function takesValue(name: string): boolean {
  return name !== 'syscall-stats' && (COMMAND_LINE as Record<string, { type: string }>)[name]?.type === 'string';
}

/**
 * `--workers -1` as `--workers=-1`: util.parseArgs takes a value starting with '-' for an option
 * and says "argument is ambiguous"; a negative number is a value, judged (and refused) like any other.
 */
export function joinNegativeValues(args: readonly string[], takes: (name: string) => boolean): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const m = /^--([^=]+)$/.exec(args[i]);
    if (m && takes(m[1]) && /^-\d/.test(args[i + 1] ?? '')) out.push(`${args[i]}=${args[++i]}`);
    else out.push(args[i]);
  }
  return out;
}
