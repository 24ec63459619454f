// Part I: the iterative server. One process, one client at a time: accept, serve, close.
import { C, native, sleepMs } from '../sys';
import { createApp } from '../app';
import { handleClient, ServeContext } from '../serve';
import { BlockingRedis } from '../redis/blocking';
import { notice } from '../log';
import { Options } from '../options';

export const childrenInStats = false;

export function enterServerLoop(listenFd: number, opts: Options): void {
  const redis = new BlockingRedis(opts.redisHost, opts.redisPort);
  if (!redis.connect()) notice(`zerohttpd: redis ${opts.redisHost}:${opts.redisPort} unreachable (${redis.lastError}); /guestbook answers 503 until it is back`);
  const ctx: ServeContext = { app: createApp(opts), redis, reader: opts.reader, timeoutMs: opts.timeoutMs };
  while (!native.stopRequested()) {
    const client = native.accept4(listenFd, C.SOCK_CLOEXEC);
    if (client < 0) {
      if (-client === C.EMFILE || -client === C.ENFILE) {
        notice(`zerohttpd: accept: ${native.errname(client)}; pausing accept for 100 ms`);
        sleepMs(100);
      }
      continue; // EINTR (stop), ECONNABORTED, ...: the loop condition decides
    }
    handleClient(client, ctx);
  }
  redis.close();
}
