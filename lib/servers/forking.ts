// Part II: the forking server. The parent accepts; per connection it fork()s, and the child
// connects to Redis, serves that one client with handleClient(), and _exit()s. The parent
// closes its copy of the client fd, reaps whatever children have finished, and accepts again.
import { C, native } from '../sys';
import { createApp } from '../public-root';
import { handleClient, refuseClient, serveContext } from '../serve';
import { Options } from '../options';
import { acceptClient } from '../listen-socket';
import { reapChildren, runChild, stopChildren } from './children';
import { warmUpRequestPath } from './warm-up';
import type { Architecture } from './index';
import { workerStarted } from '../live';

/**
 * Node flags for the parent (docs/fork-safety.md, "What a connection costs"): nothing left for a
 * child to compile, so no child runs a compiler (whose code and memory it would fault in):
 * --no-lazy compiles every function with its module, --no-sparkplug leaves the baseline
 * compiler's batches (due in every child at the same call counts) out; and node's text in
 * anonymous huge pages (--use-largepages; silently not where THP is off), which a child maps
 * from the parent's page tables instead of faulting it in page by page from the file.
 * --no-lazy-feedback-allocation: every function the warm-up calls gets its feedback vector
 * there, so children inherit the inline caches warmed instead of each looking every property
 * up the slow way (LoadIC_NoFeedback) until its own vectors are due.
 */
const NODE_FLAGS = ['--use-largepages=silent', '--no-lazy', '--no-sparkplug', '--no-lazy-feedback-allocation'];

export const architecture = {
  childrenInStats: true,
  forks: true,
  forkSafeNodeFlags: NODE_FLAGS,
  enterServerLoop,
} satisfies Architecture;

/** accept() gives up after this long so finished children are reaped even when no client comes. */
const REAP_INTERVAL_MS = 200;

function enterServerLoop(listenFd: number, opts: Options): void {
  const app = createApp(opts); // opened once: every child inherits the fds and templates
  warmUpRequestPath(app, opts); // ... and the request path compiled
  const children = new Set<number>();
  const parentPid = native.getpid();
  native.setsockopt(listenFd, C.SOL_SOCKET, C.SO_RCVTIMEO, REAP_INTERVAL_MS);
  while (!native.stopRequested()) {
    const client = acceptClient(listenFd);
    reapChildren(children);
    if (client < 0) continue; // EAGAIN (reap tick), EINTR (stop), ECONNABORTED: the loop condition decides
    const pid = native.fork();
    if (pid === 0) {
      runChild(parentPid, 'child', opts, (redis) => {
        native.close(listenFd);
        handleClient(client, serveContext(app, redis, opts));
      });
    }
    if (pid < 0) {
      refuseClient(
        client,
        `fork: ${native.errname(pid)}`,
        'The server cannot start a process for this request; try again later.',
      );
      continue;
    }
    children.add(pid);
    workerStarted();
    native.close(client);
  }
  stopChildren(children, { graceMs: 1000 });
}
