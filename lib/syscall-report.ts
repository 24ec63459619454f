// --syscall-stats: a table in the spirit of `strace -c`, from the native counters (which
// every forked child and Worker adds into, through one shared mapping).
import { native } from './sys';
import { herdReport } from './loop/herd';

export function syscallReport(withTime: boolean, requests?: number): string {
  const rows = native.syscallStats().sort((a, b) => b.calls - a.calls);
  const total = rows.reduce((s, r) => s + r.calls, 0);
  const head = [
    'syscall',
    'calls',
    ...(requests ? ['per req'] : []),
    'errors',
    ...(withTime ? ['total ms', 'mean ns'] : []),
    'errors by code',
  ];
  const lines = rows.map((r) => [
    r.name,
    String(r.calls),
    ...(requests ? [(r.calls / requests).toFixed(2)] : []),
    String(r.errors),
    ...(withTime ? [(r.ns / 1e6).toFixed(3), r.calls ? String(Math.round(r.ns / r.calls)) : '0'] : []),
    Object.entries(r.errnos)
      .map(([k, v]) => `${k}=${v}`)
      .join(' '),
  ]);
  lines.push([
    'total',
    String(total),
    ...(requests ? [(total / requests).toFixed(2)] : []),
    String(rows.reduce((s, r) => s + r.errors, 0)),
    ...(withTime ? [(rows.reduce((s, r) => s + r.ns, 0) / 1e6).toFixed(3), ''] : []),
    '',
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
  const fmt = (cols: string[]) =>
    cols
      .map((c, i) => (i === 0 || i === cols.length - 1 ? c.padEnd(widths[i]) : c.padStart(widths[i])))
      .join('  ')
      .trimEnd();
  const text = [fmt(head), widths.map((w) => '-'.repeat(w)).join('  '), ...lines.map(fmt)];
  if (withTime) text.push(waitingNote(rows));
  return text.join('\n');
}

/** Calls that wait for something outside the server (a client, a child, a lock): their time is mostly idle. */
export const WAITING_CALLS = ['accept4', 'epoll_wait', 'poll', 'wait4', 'futex'];

/** --syscall-stats=time: the time above includes the time blocked waiting; say how much of it that is. */
function waitingNote(rows: { name: string; ns: number }[]): string {
  const ms = (ns: number) => (ns / 1e6).toFixed(3);
  const waiting = rows.filter((r) => WAITING_CALLS.includes(r.name));
  const waited = waiting.reduce((s, r) => s + r.ns, 0);
  const all = rows.reduce((s, r) => s + r.ns, 0);
  return (
    `\ntime is wall-clock time inside each call, including the time it was blocked: ${ms(waited)} ms of the total is\n` +
    `in calls that wait for a client, a child or a lock (${WAITING_CALLS.join(', ')}); the other calls took ${ms(all - waited)} ms\n` +
    `(blocking reads and writes on a slow client's socket wait too).`
  );
}

/** A server that accepts without accept4() (io_uring) reports its connections and its own table here. */
let operations: (() => { accepted: number; table: string }) | null = null;
export function setOperationsReport(fn: typeof operations): void {
  operations = fn;
}

/** Connections accepted (one request each, HTTP/1.0): successful accept4() calls in every process and thread. */
export function acceptedConnections(): number {
  const a = native.syscallStats().find((r) => r.name === 'accept4');
  return (a ? a.calls - a.errors : 0) + (operations ? operations().accepted : 0);
}

/** Snapshot the counters and stop counting and tracing, so the report covers the server's work exactly. */
export function finishSyscallReport(withTime: boolean): string {
  const requests = acceptedConnections();
  let text = `\nsyscalls made through the addon (${requests} connections accepted):\n${syscallReport(withTime, requests || undefined)}${herdReport()}`;
  if (operations) text += `\n\n${operations().table}`;
  native.setSyscallStats(0, false);
  return text;
}
