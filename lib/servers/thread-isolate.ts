// The body of the threaded server's bare-isolate threads (native/isolate.cc): bundled by esbuild
// with what it requires into thread-isolate.bundle.js (scripts/bundle-worker.ts), which each
// connection's thread compiles from a code cache; its top level loads the modules and sets
// __zerohttpd.serve, which the thread then calls. There is no Node here: lib/sys.ts takes the syscalls from
// __zerohttpd.native; Buffer, URLSearchParams, fs and path are the stand-ins bundled for it
// (scripts/bundle-worker.ts). The request path is the code every other architecture runs.
import { isolateBoot } from '../sys';
import { setLogPid, setQuiet } from '../log';
import { countLive } from '../live';
import { Options } from '../options';
import { ClientSlot } from './client-slot';
import { serveOneClient } from './serve-thread';

/** What the main thread hands a new isolate thread (as JSON). */
export interface IsolateThreadData {
  id: number;
  opts: Options; // publicDir already resolved by the main thread (lib/isolate/fs.ts has no realpath)
}

if (!isolateBoot) throw new Error('thread-isolate.js runs only in an isolate made by native/isolate.cc');
const boot = isolateBoot;
boot.serve = () => {
  const d = JSON.parse(boot.data) as IsolateThreadData;
  setQuiet(d.opts.quiet);
  setLogPid(d.opts.logPid || d.opts.trace);
  countLive(d.opts);
  if (d.opts.trace) (require('../trace') as typeof import('../trace')).installTrace();
  serveOneClient(new ClientSlot(boot.slot), d.opts);
};
