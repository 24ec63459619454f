// node:fs for the bare-isolate threads (lib/servers/thread-isolate.ts), which have no Node:
// the few calls their request path makes, over the same syscalls as everything else. esbuild
// puts this in place of node:fs in thread-isolate.bundle.js (scripts/bundle-worker.ts).
import type { IsolateBoot } from '../sys';

// Like Node's own fs in a Worker, these calls are not the server's: native.uncounted's bindings
// are not counted in the syscall table (--syscall-stats), and are not those --trace wraps
// (lib/trace.ts), whose own output goes through writeSync and would trace itself.
const boot = (globalThis as { __zerohttpd?: IsolateBoot }).__zerohttpd;
const native = boot?.native.uncounted ?? ({} as IsolateBoot['native']);

function fail(syscall: string, r: number, p: string): never {
  const e = new Error(`${native.errname(r)}: ${native.strerror(r)}, ${syscall} '${p}'`) as Error & { code: string };
  e.code = native.errname(r);
  throw e;
}

/** The whole file, as utf8 text (the guestbook's templates). */
export function readFileSync(p: string, encoding: 'utf8'): string {
  const { O_RDONLY, O_CLOEXEC } = boot?.native.constants ?? {};
  const fd = native.open(p, O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail('open', fd, p);
  try {
    const st = new Float64Array(3);
    const r = native.fstat(fd, st);
    if (r < 0) fail('fstat', r, p);
    const buf = Buffer.allocUnsafe(st[1]);
    let off = 0;
    while (off < buf.length) {
      const n = native.read(fd, buf, off, buf.length - off);
      if (n < 0) fail('read', n, p);
      if (n === 0) break;
      off += n;
    }
    return buf.toString(encoding, 0, off);
  } finally {
    native.close(fd);
  }
}

/** The main thread resolved --public before handing it over (thread-isolate.ts): nothing to do. */
export function realpathSync(p: string): string {
  return p;
}

let threadSelf = '';
/** Only /proc/thread-self (lib/log.ts's [pid/tid]): this thread's pid and tid, asked once. */
export function readlinkSync(p: string): string {
  if (p !== '/proc/thread-self') throw new Error(`readlinkSync(${p}) is not available in an isolate thread`);
  return (threadSelf ||= `${native.getpid()}/task/${native.gettid()}`);
}

/** As fs.writeSync(fd, buffer, offset[, length]): one write(2). */
export function writeSync(fd: number, buf: Uint8Array, off = 0, len = buf.length - off): number {
  const n = native.write(fd, buf, off, len);
  if (n < 0) fail('write', n, `fd ${fd}`);
  return n;
}
