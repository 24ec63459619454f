// The body of one thread (a Worker) of the threaded and prethreaded servers. The fds belong
// to the whole process, so the Worker serves the client fd it was given (threaded) or the
// ones it accepts on the shared listening fd (prethreaded) with the same handleClient().
import { workerData } from 'node:worker_threads';
import { C, native } from '../sys';
import { closeApp, createApp } from '../public-root';
import { serveClient, serveOneClient } from './serve-thread';
import { acceptClient } from '../listen-socket';
import { serveContext } from '../serve';
import { BlockingRedis } from '../redis/blocking';
import { setLogPid, setQuiet } from '../log';
import { installTrace } from '../trace';
import { countLive } from '../live';
import { SharedMutex } from '../shared-mutex';
import { FdQueue } from '../fd-queue';
import { ClientSlot, ThreadWorkerData } from './worker-threads';

const d = workerData as ThreadWorkerData;
const { opts } = d;
const slot = new ClientSlot(d.slot);
// Test-only fault: a prethreaded Worker throws after serving this many connections.
const THROW_AFTER = Number(process.env.ZEROHTTPD_TEST_THROW_AFTER ?? 0);
setQuiet(opts.quiet);
setLogPid(opts.logPid || opts.trace);
countLive(opts);
if (opts.trace) installTrace();

/** Prethreaded: the article's thread loop, accept() under the accept mutex (or, with --dispatch
 *  main, take the fd the main thread accepted from the queue), until stopped. */
function poolThreadMain(): void {
  const mutex = d.mutex ? new SharedMutex(d.mutex) : null;
  const queue = d.queue ? new FdQueue(d.queue) : null;
  const redis = new BlockingRedis(opts.redisHost, opts.redisPort);
  if (d.id === 1) redis.connectOrWarn();
  else redis.connect();
  const app = createApp(opts);
  const ctx = serveContext(app, redis, opts, () => slot.release());
  const lock = mutex && { acquire: () => mutex.lock(d.id), release: () => mutex.unlock(d.id) };
  let served = 0;
  try {
    while (!native.stopRequested()) {
      const client = queue ? queue.take() : acceptClient(d.listenFd, lock, `thread ${d.id}`);
      if (client < 0) {
        if (queue) break; // closed: stopping
        if (-client === C.EINVAL || mutex?.closed) break; // the listening socket shut down, the mutex closed: stopping
        continue; // EINTR (stop), ECONNABORTED, ...: the loop condition decides
      }
      slot.assign(client);
      slot.take();
      serveClient(client, ctx, slot);
      if (THROW_AFTER > 0 && ++served >= THROW_AFTER)
        throw new Error(`ZEROHTTPD_TEST_THROW_AFTER=${THROW_AFTER}: thread ${d.id} throws`);
    }
  } finally {
    mutex?.unlock(d.id);
    redis.close();
    closeApp(app);
  }
}

if (d.kind === 'threaded') serveOneClient(slot, opts);
else poolThreadMain();
