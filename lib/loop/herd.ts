// The herd made visible: per-worker counters of the poll/epoll servers run with --workers N, in
// memory shared with the parent (MAP_SHARED), so each worker's numbers survive its exit and the
// parent adds them up for the --syscall-stats report.
//
// A wakeup that found no connection is either seen by user space (the wait returned, the
// listener was readable, accept4() said EAGAIN: another worker took the connection) or not:
// epoll_wait() and poll() re-check readiness after a wakeup and go back to sleep inside the
// kernel when the event is gone. The second kind shows only as a voluntary context switch:
// a worker that slept S times inside W wait calls was woken S - W times for nothing (every
// return consumes at most one wakeup). Exact for idle workers; a lower bound under load, where
// some waits return without sleeping at all.
import { C, native, rusage } from '../sys';
import { ListenMode } from '../options';

export const ACCEPTED = 0, // connections accepted
  EMPTY = 1, // the listener fired, accept4() found nothing (EAGAIN at once)
  WAITS = 2, // wait calls that returned (events, timeout or a signal)
  SLEEPS = 3, // voluntary context switches over the worker's loop (written when it leaves)
  FIELDS = 4;

let table: { counts: Float64Array; workers: number; listen: ListenMode; backend: string } | null = null;

/**
 * Called in the parent before the first fork: one slot of FIELDS counters per worker position
 * (a replacement for a worker that died goes on counting in its predecessor's slot).
 */
export function createHerdTable(workers: number, listen: ListenMode, backend: string): void {
  const mem = native.mmapSharedAnon(workers * FIELDS * 8);
  if (typeof mem === 'number') throw new Error(`cannot map the herd counters: ${native.errname(mem)}`);
  table = { counts: new Float64Array(mem), workers, listen, backend };
}

/** The counters of worker slot `i` (a view into the shared table). */
export function herdSlot(i: number): Float64Array {
  return table!.counts.subarray(i * FIELDS, (i + 1) * FIELDS);
}

/** Voluntary context switches of the calling thread so far. */
export function sleepsSoFar(): number {
  return rusage(C.RUSAGE_THREAD).nvcsw;
}

export interface HerdTotals {
  workers: number;
  accepted: number;
  /** accept4() -> EAGAIN with nothing accepted: the wait returned for a connection another worker took. */
  emptyAccepts: number;
  /** Woken, found nothing, back to sleep inside the kernel. */
  inKernel: number;
  perWorker: number[];
}

export function herdTotals(): HerdTotals | null {
  if (!table) return null;
  const t: HerdTotals = { workers: table.workers, accepted: 0, emptyAccepts: 0, inKernel: 0, perWorker: [] };
  for (let i = 0; i < table.workers; i++) {
    const s = herdSlot(i);
    t.accepted += s[ACCEPTED];
    t.emptyAccepts += s[EMPTY];
    t.inKernel += Math.max(0, s[SLEEPS] - s[WAITS]);
    t.perWorker.push(s[ACCEPTED]);
  }
  return t;
}

/** The lines --syscall-stats adds for --workers N, or '' for a single process. */
export function herdReport(): string {
  const t = herdTotals();
  if (!t || !table) return '';
  const wasted = t.emptyAccepts + t.inKernel;
  const per = t.accepted ? (wasted / t.accepted).toFixed(2) : '-';
  return (
    `\nherd (${t.workers} workers, listen ${table.listen}): ${wasted} wakeups found no connection, ` +
    `${per} per accepted connection\n` +
    `  ${t.emptyAccepts} returned from ${table.backend} to an accept4() -> EAGAIN, ` +
    `${t.inKernel} slept again inside ${table.backend}\n` +
    `connections per worker: min ${Math.min(...t.perWorker)}, max ${Math.max(...t.perWorker)} ` +
    `(${t.perWorker.join(' ')})`
  );
}
