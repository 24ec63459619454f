// The two kinds of process the bench, the test helpers and the hardening suite start: a zerohttpd
// server (the CLI, as a user runs it) and a private redis-server. Written once here, in lib/ (the
// bench ships in lib and must not import from test/); the test helpers are thin wrappers.
import { ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseListening } from '../banner';
import { freePort, pingRedis } from '../net-probe';

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The CLI a server process runs. */
export const CLI = path.resolve(__dirname, '..', 'cli.js');

// Everything we started, killed (with its process group when it has its own) and every temporary
// directory removed when this process exits, also under mocha --exit or a failed bench.
const live = new Map<ChildProcess, boolean>();
const tempDirs = new Set<string>();
let hooked = false;
function track(p: ChildProcess, group: boolean): void {
  live.set(p, group);
  p.once('exit', () => live.delete(p));
  if (hooked) return;
  hooked = true;
  process.on('exit', () => {
    for (const [c, g] of live) {
      try {
        process.kill(g ? -c.pid! : c.pid!, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    for (const d of tempDirs) fs.rmSync(d, { recursive: true, force: true });
  });
}

/** Keeps what a process writes; past maxBytes only the last 64 KiB (a chatty server must not grow us without bound). */
function capture(stream: NodeJS.ReadableStream, maxBytes: number): () => string {
  let text = '';
  stream.on('data', (d) => {
    text += d;
    if (text.length > maxBytes) text = text.slice(-65536);
  });
  return () => text;
}

export interface ServerSpawnOptions {
  /** A command the server runs under, e.g. ['strace', '-f', ...] or ['prlimit', '--nofile=64:64']. */
  prefix?: string[];
  /** Arguments for node itself, before the CLI. */
  nodeArgs?: string[];
  /** Added to this process's environment. */
  env?: NodeJS.ProcessEnv;
  /** Its own process group (default): kill() and the exit hook reach forked children too. */
  detached?: boolean;
  /** How long it may take to print "listening on" (default 20 s). */
  timeoutMs?: number;
  /** stdout/stderr kept whole up to this many bytes (default 1 MiB), then only their tail. */
  maxCapture?: number;
}

export interface ExitStatus {
  code: number | null;
  signal: string | null;
}

export interface ServerProcess {
  port: number;
  /** The server's pid from its listening line (under a prefix, not the prefix command's). */
  pid: number;
  /** The process we spawned (the prefix command's, if any): the root of its tree. */
  proc: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  alive: () => boolean;
  /** Resolves when the spawned process exits, for whatever reason. */
  exited: Promise<ExitStatus>;
  /** After exit: resolves once its pipes are closed (all its output read), or 2 s after exit (a child that outlived it may hold them). */
  drained: () => Promise<ExitStatus>;
  /** Sends `signal` (default SIGINT) to the server, SIGKILL to the group after timeoutMs; resolves on exit with how long it took. */
  stop: (signal?: NodeJS.Signals, timeoutMs?: number) => Promise<ExitStatus & { ms: number }>;
  /** SIGKILL to the whole process group (or the process, if not detached). */
  kill: () => void;
}

/** Spawns `[prefix...] node [nodeArgs] cli.js <args>` and resolves once it prints "listening on ...:PORT (pid N)". */
export function spawnServer(args: string[], opts: ServerSpawnOptions = {}): Promise<ServerProcess> {
  const { prefix = [], nodeArgs = [], detached = true, timeoutMs = 20_000, maxCapture = 1 << 20 } = opts;
  const cmd = [...prefix, process.execPath, ...nodeArgs, CLI, ...args];
  const proc = spawn(cmd[0], cmd.slice(1), {
    stdio: ['ignore', 'pipe', 'pipe'],
    detached,
    env: { ...process.env, ...opts.env },
  });
  track(proc, detached);
  const stdout = capture(proc.stdout, maxCapture);
  const stderr = capture(proc.stderr, maxCapture);
  const exited = new Promise<ExitStatus>((resolve) => proc.once('exit', (code, signal) => resolve({ code, signal })));
  const closed = new Promise<void>((resolve) => proc.once('close', () => resolve()));
  const drained = async () => {
    const r = await exited;
    let t: NodeJS.Timeout | undefined;
    await Promise.race([closed, new Promise((res) => (t = setTimeout(res, 2000)))]);
    clearTimeout(t);
    return r;
  };
  const alive = () => proc.exitCode === null && proc.signalCode === null;
  const kill = () => {
    try {
      process.kill(detached ? -proc.pid! : proc.pid!, 'SIGKILL');
    } catch {
      /* gone */
    }
  };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      kill();
      reject(new Error(`server did not print "listening on" within ${timeoutMs} ms: ${stderr().trim().slice(-300)}`));
    }, timeoutMs);
    const onData = () => {
      const m = parseListening(stderr());
      if (!m) return;
      clearTimeout(timer);
      proc.stderr.off('data', onData);
      resolve({
        port: m.port,
        pid: m.pid,
        proc,
        stdout,
        stderr,
        alive,
        exited,
        drained,
        kill,
        async stop(signal = 'SIGINT', stopTimeoutMs = 10_000) {
          const t0 = Date.now();
          if (alive()) {
            try {
              process.kill(m.pid, signal);
            } catch {
              /* gone */
            }
          }
          const t = setTimeout(kill, stopTimeoutMs);
          const r = await exited;
          clearTimeout(t);
          return { ...r, ms: Date.now() - t0 };
        },
      });
    };
    proc.stderr.on('data', onData);
    proc.once('error', (e) => {
      clearTimeout(timer);
      reject(new Error(`could not start ${cmd[0]}: ${e.message}`));
    });
    void exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`server exited at start-up (code ${code}, signal ${signal}): ${stderr().trim().slice(-300)}`));
    });
  });
}

export interface RedisSpawnOptions {
  /** Default: $REDIS_SERVER, else redis-server from PATH. */
  binary?: string;
  /** Default: a free port (never the default 6379). */
  port?: number;
  /** Its working directory (AOF files); default a fresh temporary one, removed by remove() or at exit. */
  dir?: string;
  /** Append-only file with fsync on every write, so an acknowledged write survives a SIGKILL. */
  aof?: boolean;
  maxclients?: number;
  /** Its own process group (default: no). */
  detached?: boolean;
  /** How long it may take to answer PING (default 10 s). */
  readyTimeoutMs?: number;
}

export interface RedisProcess {
  port: number;
  dir: string;
  /** The running server's pid (undefined while stopped). */
  pid: () => number | undefined;
  /** From its start-up log, once started ('?' if it did not say). */
  version: () => string;
  /** Starts it (again, on the same port and dir) and waits until it answers PING. */
  start: () => Promise<void>;
  /** SIGKILL, and wait for the exit; the port and dir stay for start(). */
  stop: () => Promise<void>;
  /** stop(), then remove the dir if we created it. */
  remove: () => Promise<void>;
}

/** A private, throwaway redis-server on 127.0.0.1, started and answering PING. */
export async function startRedis(opts: RedisSpawnOptions = {}): Promise<RedisProcess> {
  const binary = opts.binary ?? process.env.REDIS_SERVER ?? 'redis-server';
  const { detached = false, readyTimeoutMs = 10_000 } = opts;
  let port = opts.port ?? (await freePort());
  while (port === 6379 && opts.port === undefined) port = await freePort();
  if (port === 6379) throw new Error('refusing to use the default redis port 6379');
  const ownDir = opts.dir === undefined;
  const dir = opts.dir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'zerohttpd-redis-'));
  if (ownDir) tempDirs.add(dir);
  const args = [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--save',
    '',
    '--daemonize',
    'no',
    '--dir',
    dir,
    ...(opts.aof ? ['--appendonly', 'yes', '--appendfsync', 'always'] : ['--appendonly', 'no']),
    ...(opts.maxclients ? ['--maxclients', String(opts.maxclients)] : []),
  ];
  let proc: ChildProcess | undefined;
  let version = '?';

  async function start(): Promise<void> {
    if (proc) throw new Error('private redis is already running');
    const p = spawn(binary, args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'], detached });
    proc = p;
    track(p, detached);
    let log = '';
    p.stdout.on('data', (d) => (log += d));
    p.stderr.on('data', (d) => (log += d));
    let exited: string | undefined;
    let spawnError: Error | undefined;
    p.once('error', (e) => (spawnError = e));
    p.once('exit', (code, signal) => (exited = `exited with ${signal ?? code}`));
    const deadline = Date.now() + readyTimeoutMs;
    for (;;) {
      if (spawnError) {
        proc = undefined;
        throw new Error(`could not start ${binary}: ${spawnError.message}`);
      }
      if (exited) {
        proc = undefined;
        throw new Error(`redis-server on port ${port} ${exited}: ${log.trim().split('\n').slice(-3).join(' | ')}`);
      }
      if (await pingRedis(port)) break;
      if (Date.now() > deadline) {
        await stop();
        throw new Error(`redis-server on port ${port} did not answer PING within ${readyTimeoutMs} ms`);
      }
      await sleep(25);
    }
    version = /\bv=([\d.]+)/.exec(log)?.[1] ?? /Redis version=([\d.]+)/.exec(log)?.[1] ?? '?';
  }

  async function stop(): Promise<void> {
    const p = proc;
    proc = undefined;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      p.once('exit', () => resolve());
      p.kill('SIGKILL');
    });
  }

  await start();
  return {
    port,
    dir,
    start,
    stop,
    pid: () => proc?.pid,
    version: () => version,
    async remove() {
      await stop();
      if (!ownDir) return;
      fs.rmSync(dir, { recursive: true, force: true });
      tempDirs.delete(dir);
    },
  };
}
