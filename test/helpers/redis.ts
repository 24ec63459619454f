// A private, throwaway redis-server per test suite (never the default port 6379).
import { freePort } from '../../lib/net-probe';
import { RedisSpawnOptions, startRedis as spawnRedis } from '../../lib/bench/spawn';
import Redis from 'ioredis';

const READY_TIMEOUT_MS = 10_000;

export interface PrivateRedis {
  port: number;
  host: '127.0.0.1';
  /** Kills the server (the port stays reserved for start()). */
  stop(): Promise<void>;
  /** Restarts on the same port after stop(). */
  start(): Promise<void>;
  /** stop(), and its temporary directory removed. */
  remove(): Promise<void>;
  flush(): Promise<void>;
  /** Lazily created ioredis client, closed by stop(). */
  client(): Redis;
}

// A ^C still runs the exit hooks that kill every server we started.
let signalsHooked = false;
function exitOnSignals(): void {
  if (signalsHooked) return;
  signalsHooked = true;
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => process.exit(130));
}

export { freePort };

/** Options: `aof` (fsync always, so an acknowledged write survives a SIGKILL), `dir`, `port`. */
export async function startRedis(opts: Pick<RedisSpawnOptions, 'aof' | 'dir' | 'port'> = {}): Promise<PrivateRedis> {
  exitOnSignals();
  const r = await spawnRedis({ ...opts, readyTimeoutMs: READY_TIMEOUT_MS });
  let redisClient: Redis | undefined;
  const handle: PrivateRedis = {
    port: r.port,
    host: '127.0.0.1',
    start: r.start,
    async stop() {
      if (redisClient) {
        const c = redisClient;
        redisClient = undefined;
        c.disconnect();
      }
      await r.stop();
    },
    async remove() {
      await handle.stop();
      await r.remove();
    },
    async flush() {
      await handle.client().flushall();
    },
    client() {
      if (!redisClient) {
        // No automatic retries, so tests that stop the server see failures promptly.
        redisClient = new Redis({ port: r.port, host: '127.0.0.1', maxRetriesPerRequest: 1 });
        redisClient.on('error', () => {}); // surfaced through rejected commands instead
      }
      return redisClient;
    },
  };
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
    await redis?.remove();
  });
  return () => {
    if (!redis) throw new Error('private redis not started (use the getter inside tests/hooks)');
    return redis;
  };
}
