// Part II: the forking server. The parent accepts; per connection it fork()s, and the child
// connects to Redis, serves that one client with handleClient(), and _exit()s. The parent
// closes its copy of the client fd, reaps whatever children have finished, and accepts again.
import { C, native } from '../sys';
import { createApp } from '../app';
import { handleClient, refuseClient, serveContext, ServeContext } from '../serve';
import { BlockingRedis } from '../redis/blocking';
import { notice } from '../log';
import { Options } from '../options';
import { acceptClient } from '../listen';
import { reapChildren, stopChildren, tieToParent } from './children';

export const childrenInStats = true;
export const forks = true;

/** accept() gives up after this long so finished children are reaped even when no client comes. */
const REAP_INTERVAL_MS = 200;

export function enterServerLoop(listenFd: number, opts: Options): void {
  const app = createApp(opts); // opened once: every child inherits the fds and templates
  const children = new Set<number>();
  const parentPid = native.getpid();
  native.setsockopt(listenFd, C.SOL_SOCKET, C.SO_RCVTIMEO, REAP_INTERVAL_MS);
  while (!native.stopRequested()) {
    const client = acceptClient(listenFd);
    reapChildren(children);
    if (client < 0) continue; // EAGAIN (reap tick), EINTR (stop), ECONNABORTED: the loop condition decides
    const pid = native.fork();
    if (pid === 0) {
      tieToParent(parentPid);
      serveInChild(listenFd, client, app, opts);
    }
    if (pid < 0) {
      refuseClient(client, `fork: ${native.errname(pid)}`, 'The server cannot start a process for this request; try again later.');
      continue;
    }
    children.add(pid);
    native.close(client);
  }
  stopChildren(children, { graceMs: 1000 });
}

function serveInChild(listenFd: number, client: number, app: ServeContext['app'], opts: Options): never {
  native.close(listenFd);
  let code = 0;
  try {
    const redis = new BlockingRedis(opts.redisHost, opts.redisPort);
    handleClient(client, serveContext(app, redis, opts));
    redis.close();
  } catch (e) {
    notice(`zerohttpd: child ${native.getpid()}: ${(e as Error).stack ?? e}`);
    code = 1;
  }
  return native._exit(code); // never back into node's event loop (docs/fork-safety.md)
}
