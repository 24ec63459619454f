// The live view: counters that every process and thread of a server adds into (they live in the
// addon's MAP_SHARED stats mapping, so forked children and Workers add into the parent's), read
// back as one snapshot for --stats-interval's lines and the /_stats page's JSON.
import { native } from './sys';

/** Slots of the shared counters (native liveAdd/liveCounters). */
const REQUESTS = 0; // responses logged (the /_stats page's own requests are not counted)
const CLOSED = 1; // client connections closed
const WORKERS = 2; // live worker processes or threads, as their parent counts them

// Off unless --stats-interval or --stats-page asked for them: then a server pays nothing for them.
// Set in the main thread before anything is forked (children inherit it) and in each Worker.
let on = false;
export function countLive(opts: { statsInterval: number; statsPage: boolean }): void {
  on = opts.statsInterval > 0 || opts.statsPage;
}

export function requestDone(target: string): void {
  if (on && !target.startsWith('/_stats')) native.liveAdd(REQUESTS, 1);
}
export function connectionClosed(): void {
  if (on) native.liveAdd(CLOSED, 1);
}
export function workerStarted(): void {
  if (on) native.liveAdd(WORKERS, 1);
}
export function workerEnded(): void {
  if (on) native.liveAdd(WORKERS, -1);
}

export interface Snapshot {
  /** When it was taken (ms since the epoch: snapshots from different processes and threads compare). */
  t: number;
  requests: number;
  /** accepted (successful accept4 calls) minus closed. */
  open: number;
  workers: number;
  syscalls: number;
  recvfrom: number;
}

/** The counters now (the syscall counts need --syscall-stats or the live view's counting on). */
export function snapshot(): Snapshot {
  const live = native.liveCounters();
  let syscalls = 0,
    recvfrom = 0,
    accepted = 0;
  for (const s of native.syscallStats()) {
    syscalls += s.calls;
    if (s.name === 'recvfrom') recvfrom = s.calls;
    if (s.name === 'accept4') accepted = s.calls - s.errors;
  }
  return {
    t: Date.now(),
    requests: live[REQUESTS],
    open: Math.max(0, accepted - live[CLOSED]),
    workers: live[WORKERS],
    syscalls,
    recvfrom,
  };
}

/** What the workers are called in `arch`'s stats line, or null where there are none. */
export function workersLabel(arch: string): string | null {
  return (
    (
      { forking: 'children', preforked: 'workers', threaded: 'threads', prethreaded: 'threads' } as Record<
        string,
        string
      >
    )[arch] ?? null
  );
}

/** One --stats-interval line: the rates between two snapshots, and the gauges at the second. */
export function statsLine(prev: Snapshot, cur: Snapshot, label: string | null): string {
  const s = Math.max(cur.t - prev.t, 1) / 1000;
  const rate = (a: number, b: number) => ((b - a) / s).toFixed(1);
  return (
    `stats: ${rate(prev.requests, cur.requests)} req/s, ${cur.open} open connections` +
    `${label ? `, ${cur.workers} ${label}` : ''}, ${rate(prev.syscalls, cur.syscalls)} syscalls/s, ` +
    `${rate(prev.recvfrom, cur.recvfrom)} recvfrom/s (${cur.requests} requests in all)`
  );
}
