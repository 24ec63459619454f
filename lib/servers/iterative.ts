// Part I: the iterative server. One process, one client at a time: accept, serve, close.
import { C, native } from '../sys';
import { createApp } from '../app';
import { handleClient, ServeContext } from '../serve';
import { BlockingRedis } from '../redis/blocking';
import { Options } from '../options';
import { pauseIfOutOfFds } from '../listen';

export const childrenInStats = false;

export function enterServerLoop(listenFd: number, opts: Options): void {
  const redis = new BlockingRedis(opts.redisHost, opts.redisPort);
  redis.connectOrWarn();
  const ctx: ServeContext = { app: createApp(opts), redis, reader: opts.reader, timeoutMs: opts.timeoutMs, sendTimeoutMs: opts.sendTimeoutMs };
  while (!native.stopRequested()) {
    const client = native.accept4(listenFd, C.SOCK_CLOEXEC);
    if (client < 0) {
      pauseIfOutOfFds(client);
      continue; // EINTR (stop), ECONNABORTED, ...: the loop condition decides
    }
    handleClient(client, ctx);
  }
  redis.close();
}
