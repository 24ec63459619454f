// The architectures the CLI knows, loaded lazily so that one server never loads another's code.
import { Options } from '../options';

export interface Architecture {
  /** CPU time of reaped children belongs in the stats (forking, preforked). */
  childrenInStats: boolean;
  /** The listening socket is non-blocking (event-driven servers). */
  nonBlockingListen?: boolean;
  /** Needs the fork-safe re-exec of node (see docs/fork-safety.md). */
  forks?: boolean;
  /** Handles SIGINT/SIGTERM itself instead of the native stop handler (the node:http server). */
  ownSignals?: boolean;
  /** Serve until a stop is requested; the CLI prints the stats afterwards. */
  enterServerLoop(listenFd: number, opts: Options): void | Promise<void>;
}

export const ARCHITECTURES: Record<string, { summary: string; load: () => Architecture }> = {
  iterative: { summary: 'one client at a time, in one process', load: () => require('./iterative') },
  forking: { summary: 'a new process (fork) per connection', load: () => require('./forking') },
  preforked: { summary: '--workers processes forked up front, each blocking in accept()', load: () => require('./preforked') },
  threaded: { summary: 'a new thread (Worker) per connection, at most --max-threads alive', load: () => require('./threaded') },
  prethreaded: { summary: 'a pool of --threads Workers, each accept()ing under an accept mutex', load: () => require('./prethreaded') },
  poll: { summary: 'one process, poll() over non-blocking sockets', load: () => require('./poll') },
  epoll: { summary: 'one process, epoll (level-triggered; --edge for EPOLLET)', load: () => require('./epoll') },
  node: { summary: 'the yardstick: idiomatic node:http + ioredis, same pages', load: () => require('./node') },
};

export function architectureNames(): string[] {
  return Object.keys(ARCHITECTURES);
}
