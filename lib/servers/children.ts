// Child-process bookkeeping shared by the forking and preforked servers: reap, stop, account.
import { C, native, sleepMs, WaitStatus } from '../sys';

const status = new Int32Array(1);

export interface Reaped { pid: number; how: WaitStatus }

/** waitpid(-1, WNOHANG) until nothing more is ready; returns the children reaped. */
export function reapChildren(children: Set<number>): Reaped[] {
  const reaped: Reaped[] = [];
  for (;;) {
    const pid = native.waitpid(-1, C.WNOHANG, status);
    if (pid < 0 && -pid === C.EINTR) continue;
    if (pid < 0 && -pid === C.ECHILD) children.clear(); // none left at all
    if (pid <= 0) return reaped;
    children.delete(pid);
    reaped.push({ pid, how: native.waitStatus(status[0]) });
  }
}

/**
 * In a just-forked child: get SIGTERM if the parent dies (even by SIGKILL), so no worker is
 * ever orphaned in accept(). If the parent is already gone, leave at once.
 */
export function tieToParent(parentPid: number): void {
  native.prctl(C.PR_SET_PDEATHSIG, C.SIGTERM);
  if (native.getppid() !== parentPid) native._exit(0);
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
      if (sig === C.SIGKILL && killed) { /* already sent; wait for the kernel */ } else {
        for (const pid of children) native.kill(pid, sig);
        killed ||= sig === C.SIGKILL;
      }
      lastTerm = now;
    }
    sleepMs(5);
  }
}
