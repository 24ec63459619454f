// Child processes of the forking and preforked servers: the child's body, reap, stop, account.
import { C, native, sleepMs, WaitStatus } from '../sys';
import { BlockingRedis } from '../redis/blocking';
import { notice } from '../log';
import { workerEnded } from '../live';
import { Options } from '../options';

const status = new Int32Array(1);

export interface Reaped {
  pid: number;
  how: WaitStatus;
}

/**
 * waitpid(-1, WNOHANG) until nothing more is ready; returns the children reaped. With `block`,
 * the first waitpid() waits for a child to end (a stop signal interrupts it: EINTR, none reaped).
 */
export function reapChildren(children: Set<number>, block = false): Reaped[] {
  const reaped: Reaped[] = [];
  for (let flags = block ? 0 : C.WNOHANG; ; flags = C.WNOHANG) {
    const pid = native.waitpid(-1, flags, status);
    if (pid < 0 && -pid === C.EINTR && flags === C.WNOHANG) continue;
    if (pid < 0 && -pid === C.ECHILD) {
      for (let n = children.size; n > 0; n--) workerEnded();
      children.clear(); // none left at all
    }
    if (pid <= 0) return reaped;
    // Not one of these children (the --stats-interval printer): not this caller's to report.
    if (!children.delete(pid)) continue;
    workerEnded();
    reaped.push({ pid, how: native.waitStatus(status[0]) });
  }
}

/**
 * In a just-forked child: get SIGTERM if the parent dies (even by SIGKILL), so no worker is
 * ever orphaned in accept(). If the parent is already gone, leave at once.
 */
function tieToParent(parentPid: number): void {
  native.prctl(C.PR_SET_PDEATHSIG, C.SIGTERM);
  if (native.getppid() !== parentPid) native._exit(0);
}

/**
 * The body of a just-forked child (`who`: 'child' of forking, 'worker' of preforked): tie it to
 * the parent, serve with its own Redis client (it connects on first use), and _exit(): never
 * back into node's event loop (docs/fork-safety.md). The stop handler (SIGINT/SIGTERM) is
 * inherited from the parent; an exception is logged and exits 1.
 */
export function runChild(parentPid: number, who: string, opts: Options, serve: (redis: BlockingRedis) => void): never {
  tieToParent(parentPid);
  let code = 0;
  try {
    const redis = new BlockingRedis(opts.redisHost, opts.redisPort);
    serve(redis);
    redis.close();
  } catch (e) {
    notice(`zerohttpd: ${who} ${native.getpid()}: ${(e as Error).stack ?? String(e)}`);
    code = 1;
  }
  return native._exit(code);
}

export function describe(how: WaitStatus): string {
  return how.signaled ? `killed by signal ${how.signal}` : `exited with code ${how.code}`;
}

/**
 * Reap every child, so that their CPU time is in RUSAGE_CHILDREN before the stats print.
 * Children get `graceMs` to finish on their own, then SIGTERM (repeated: one may have checked
 * its stop flag just before blocking in accept()), and SIGKILL 1.5 s after the first SIGTERM.
 */
export function stopChildren(children: Set<number>, opts: { graceMs: number }): Reaped[] {
  const reaped: Reaped[] = [];
  const t0 = Date.now();
  let lastTerm = 0;
  let killed = false;
  for (;;) {
    reaped.push(...reapChildren(children));
    if (children.size === 0) return reaped;
    const now = Date.now();
    if (now - t0 >= opts.graceMs && now - lastTerm >= 100) {
      const sig = now - t0 >= opts.graceMs + 1500 ? C.SIGKILL : C.SIGTERM;
      if (sig === C.SIGKILL && killed) {
        /* already sent; wait for the kernel */
      } else {
        for (const pid of children) native.kill(pid, sig);
        killed ||= sig === C.SIGKILL;
      }
      lastTerm = now;
    }
    sleepMs(5);
  }
}

let lastShortfall = '';

/**
 * Say why a pool is short of workers (`what`: a failed fork() or socketpair(), e.g. a pids cgroup
 * or RLIMIT_NOFILE) once, not at every retry: the parent retries many times a second. Called with
 * `what` empty after each worker started: once the pool is whole the next failure is told again.
 */
export function noteShortfall(what: string, have: number, want: number): void {
  if (!what) {
    if (have >= want) lastShortfall = '';
    return;
  }
  const line = `zerohttpd: ${what} with ${have} of ${want} workers; retrying until it succeeds`;
  if (line !== lastShortfall) notice(line);
  lastShortfall = line;
}
