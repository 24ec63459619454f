// What one thread of the threaded server does, whichever kind of thread it is (a Worker,
// thread-worker.ts, or a bare V8 isolate, thread-isolate.ts): serve the client fd held in its
// slot with its own Redis connection, and end. Prethreaded's threads use serveClient() in a loop.
import { native } from '../sys';
import { closeApp, createApp } from '../public-root';
import { handleClient, ServeContext, serveContext } from '../serve';
import { BlockingRedis } from '../redis/blocking';
import { Options } from '../options';
import { ClientSlot } from './client-slot';

/** Serve the fd held in the slot; whatever happens, it is closed exactly once. */
export function serveClient(fd: number, ctx: ServeContext, slot: ClientSlot): void {
  try {
    handleClient(fd, ctx); // calls ctx.beforeClose = slot.release() just before close()
  } finally {
    if (slot.busy) {
      slot.release();
      native.close(fd);
    }
  }
}

/** Threaded: one connection, with this thread's own Redis connection, then the thread ends. */
export function serveOneClient(slot: ClientSlot, opts: Options): void {
  slot.take();
  const fd = Atomics.load(slot.a, 1);
  const redis = new BlockingRedis(opts.redisHost, opts.redisPort); // connects on first use
  let app;
  try {
    app = createApp(opts);
    serveClient(
      fd,
      serveContext(app, redis, opts, () => slot.release()),
      slot,
    );
  } finally {
    if (slot.busy) {
      // createApp() failed: nothing was sent yet
      slot.release();
      native.close(fd);
    }
    redis.close();
    if (app) closeApp(app);
  }
}
