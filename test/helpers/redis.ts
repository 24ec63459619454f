// A private, throwaway redis-server per test suite (never the default port 6379).
import { freePort, pingRedis } from '../../lib/net-probe';
import { ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import Redis from 'ioredis';

const REDIS_SERVER = process.env.REDIS_SERVER ?? '/usr/bin/redis-server';
const READY_TIMEOUT_MS = 10_000;

export interface PrivateRedis {
  port: number;
  host: '127.0.0.1';
  /** Kills the server (the port stays reserved for start()). */
  stop(): Promise<void>;
  /** Restarts on the same port after stop(). */
  start(): Promise<void>;
  flush(): Promise<void>;
  /** Lazily created ioredis client, closed by stop(). */
  client(): Redis;
}

// Every live server, killed synchronously when the process exits (also under mocha --exit).
const live = new Set<ChildProcess>();
const tempDirs = new Set<string>();
let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const p of live) p.kill('SIGKILL');
    for (const d of tempDirs) fs.rmSync(d, { recursive: true, force: true });
  });
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => process.exit(130));
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function startRedis(): Promise<PrivateRedis> {
  installExitHook();
  const port = await freePort();
  if (port === 6379) throw new Error('refusing to use the default redis port 6379');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zerohttpd-redis-'));
  tempDirs.add(dir);
  let proc: ChildProcess | undefined;
  let redisClient: Redis | undefined;
  let stderr = '';

  async function start(): Promise<void> {
    if (proc) throw new Error('private redis is already running');
    stderr = '';
    const p = spawn(
      REDIS_SERVER,
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no', '--dir', dir],
      { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] },
    );
    proc = p;
    live.add(p);
    let exited: string | undefined;
    let spawnError: Error | undefined;
    p.stderr!.on('data', (d) => (stderr += d));
    p.once('error', (e) => (spawnError = e));
    p.once('exit', (code, signal) => {
      live.delete(p);
      exited = `exited with ${signal ?? code}`;
    });
    const deadline = Date.now() + READY_TIMEOUT_MS;
    for (;;) {
      if (spawnError) throw new Error(`could not start ${REDIS_SERVER}: ${spawnError.message}`);
      if (exited) {
        proc = undefined;
        throw new Error(`redis-server on port ${port} ${exited}${stderr ? `: ${stderr.trim()}` : ''}`);
      }
      if (await pingRedis(port)) return;
      if (Date.now() > deadline) {
        await stop();
        throw new Error(`redis-server on port ${port} did not answer PING within ${READY_TIMEOUT_MS} ms`);
      }
      await sleep(25);
    }
  }

  async function stop(): Promise<void> {
    if (redisClient) {
      const c = redisClient;
      redisClient = undefined;
      c.disconnect();
    }
    const p = proc;
    proc = undefined;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      p.once('exit', () => resolve());
      p.kill('SIGKILL');
    });
  }

  const handle: PrivateRedis = {
    port,
    host: '127.0.0.1',
    start,
    stop,
    async flush() {
      await handle.client().flushall();
    },
    client() {
      if (!redisClient) {
        // No automatic retries, so tests that stop the server see failures promptly.
        redisClient = new Redis({ port, host: '127.0.0.1', maxRetriesPerRequest: 1 });
        redisClient.on('error', () => {}); // surfaced through rejected commands instead
      }
      return redisClient;
    },
  };
  await start();
  return handle;
}

/** Registers before()/after() hooks in the current describe and returns a getter for the server. */
export function withRedis(): () => PrivateRedis {
  let redis: PrivateRedis | undefined;
  before(async function () {
    this.timeout(READY_TIMEOUT_MS + 5_000);
    redis = await startRedis();
  });
  after(async () => {
    await redis?.stop();
  });
  return () => {
    if (!redis) throw new Error('private redis not started (use the getter inside tests/hooks)');
    return redis;
  };
}
