// Part I: the iterative server. One process, one client at a time: accept, serve, close.
import { native } from '../sys';
import { createApp } from '../public-root';
import { handleClient, serveContext } from '../serve';
import { BlockingRedis } from '../redis/blocking';
import { Options } from '../options';
import { acceptClient } from '../listen-socket';
import type { Architecture } from './index';

export const architecture = { childrenInStats: false, enterServerLoop } satisfies Architecture;

function enterServerLoop(listenFd: number, opts: Options): void {
  const redis = new BlockingRedis(opts.redisHost, opts.redisPort);
  redis.connectOrWarn();
  const ctx = serveContext(createApp(opts), redis, opts);
  while (!native.stopRequested()) {
    const client = acceptClient(listenFd);
    if (client < 0) continue; // EINTR (stop), ECONNABORTED, ...: the loop condition decides
    handleClient(client, ctx);
  }
  redis.close();
}
