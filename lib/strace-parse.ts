// Reading `strace -f` output: one parser for the tests and scripts/strace-walkthrough.ts.
// What varies between machines and strace versions, and is tolerated here:
// - strace pads `name(args)` to a column before ` = result`: the number of spaces depends on
//   the widths of the pid, the fds and the inodes `-y` prints (`3<socket:[1234567890]>`);
// - the pid prefix: `1234  ` with `-f -o FILE`, `[pid  1234] ` on stderr, none for one process;
// - a call another thread or process interrupts comes as `name(args <unfinished ...>` and, later
//   and possibly after other pids' lines, `<... name resumed>rest) = result`;
// - `--- SIGCHLD {...} ---`, `+++ exited with 0 +++`, `= ? <unavailable>`, `-T`'s `<0.000012>`;
// - trailing arguments some versions print and others omit (`recvfrom(..., NULL, NULL)`): read
//   arguments by position with splitArgs(), never by matching the end of the line.
// No imports: the scripts use it without loading the addon.

export interface Call {
  /** The thread id strace printed; 0 when it printed none (one process, no -f). */
  pid: number;
  name: string;
  /** The text between the parentheses, as printed. */
  args: string;
  /** The arguments one by one (splitArgs): `argv[0]` of `recvfrom(4<socket:[9]>, "G", 1, 0, NULL, NULL)` is `4<socket:[9]>`. */
  argv: string[];
  /** Everything after ` = `, e.g. `3<socket:[123]>`, `-1 EAGAIN (Resource temporarily unavailable)`, `?`. */
  result: string;
  /** The number the call returned (-1 on error); null for `?` (the call never returned). */
  ret: number | null;
  /** `EAGAIN`, `ERESTARTSYS`... when the call failed, else null. */
  errno: string | null;
  /** The whole call on one line (an unfinished/resumed pair joined). */
  line: string;
}

export type TraceLine =
  | { kind: 'call'; call: Call }
  | { kind: 'unfinished'; pid: number; head: string }
  | { kind: 'resumed'; pid: number; name: string; rest: string }
  | { kind: 'signal' | 'exit' | 'other'; pid: number; text: string };

// `[pid  1234] ` or `1234  `, then an optional -t/-tt/-ttt timestamp.
const PREFIX = /^(?:\[pid\s+(\d+)\]\s*|(\d+)\s+)?(?:\d+(?::\d\d){0,2}(?:\.\d+)?\s+)?/;
// Greedy args: the last `) = ` of the line is the result's (strings in the args may contain one).
const CALL = /^(\w+)\((.*)\)\s+=\s+(\S.*?)\s*$/;
const UNFINISHED = /^(\w+\(.*?)\s*<unfinished \.\.\.>\s*$/;
const RESUMED = /^<\.\.\. (\w+) resumed>\s*(.*)$/;

/** One line of strace output, classified. */
export function parseLine(raw: string): TraceLine {
  const p = PREFIX.exec(raw)!;
  const pid = Number(p[1] ?? p[2] ?? 0);
  const text = raw.slice(p[0].length);
  if (/^---.*---\s*$/.test(text)) return { kind: 'signal', pid, text };
  if (/^\+\+\+.*\+\+\+\s*$/.test(text)) return { kind: 'exit', pid, text };
  const r = RESUMED.exec(text);
  if (r) return { kind: 'resumed', pid, name: r[1], rest: r[2] };
  const u = UNFINISHED.exec(text);
  // `recvfrom(3, <unfinished ...>`: the space after the comma belongs to the arguments.
  if (u) return { kind: 'unfinished', pid, head: /,$/.test(u[1]) ? `${u[1]} ` : u[1] };
  const c = callFrom(pid, text, raw);
  return c ? { kind: 'call', call: c } : { kind: 'other', pid, text };
}

function callFrom(pid: number, text: string, line: string): Call | null {
  const m = CALL.exec(text);
  if (!m) return null;
  // `-T` appends `<0.000012>`; `= ? <unavailable>` has no errno.
  const result = m[3].replace(/\s+<\d+\.\d+>$/, '');
  const r = /^(-?\d+|0x[0-9a-f]+|\?)(?:<[^>]*>)?(?:\s+(E[A-Z0-9]+)\b)?/.exec(result);
  return {
    pid,
    name: m[1],
    args: m[2],
    argv: splitArgs(m[2]),
    result,
    ret: !r || r[1] === '?' ? null : Number(r[1]),
    errno: r?.[2] ?? null,
    line,
  };
}

/**
 * The calls of a trace in the order they returned, an `<unfinished ...>` line joined with its
 * pid's `<... resumed>` one (other pids' lines may come between). A call still unfinished when
 * its process exited (or the trace ends) is kept, with result `?`.
 */
export function parseTrace(text: string | string[]): Call[] {
  const lines = typeof text === 'string' ? text.split('\n') : text;
  const pending = new Map<number, { head: string; prefix: string }>();
  const calls: Call[] = [];
  const flush = (pid: number) => {
    const p = pending.get(pid);
    if (!p) return;
    pending.delete(pid);
    const c = callFrom(pid, `${p.head}) = ?`, `${p.prefix}${p.head}) = ?`);
    if (c) calls.push(c);
  };
  for (const raw of lines) {
    if (!raw.trim()) continue;
    const l = parseLine(raw);
    if (l.kind === 'call') calls.push(l.call);
    else if (l.kind === 'unfinished') {
      flush(l.pid);
      pending.set(l.pid, { head: l.head, prefix: PREFIX.exec(raw)![0] });
    } else if (l.kind === 'resumed') {
      const p = pending.get(l.pid);
      pending.delete(l.pid);
      // `<... read resumed> <unfinished ...>) = ?`: a thread ended by exit_group while in read().
      const rest = l.rest.replace(/^<unfinished \.\.\.>\s*/, '');
      // Without its start (the trace began mid-call) only the name and the tail are known.
      const head = p && p.head.startsWith(`${l.name}(`) ? p.head : `${l.name}(`;
      const c = callFrom(l.pid, head + rest, '');
      if (c) calls.push({ ...c, line: `${p?.prefix ?? ''}${c.name}(${c.args}) = ${c.result}` });
    } else if (l.kind === 'exit') flush(l.pid);
  }
  for (const pid of [...pending.keys()]) flush(pid);
  return calls;
}

/**
 * Top-level arguments: `3<socket:[1]>, "a, b", [{fd=4, events=POLLIN}], 1` -> four strings.
 * Commas inside strings, (), [], {} and -y's `N<...>` decorations do not split.
 */
export function splitArgs(args: string): string[] {
  const out: string[] = [];
  const closers: string[] = [];
  const OPEN: Record<string, string> = { '(': ')', '[': ']', '{': '}' };
  let start = 0,
    inString = false;
  for (let i = 0; i < args.length; i++) {
    const ch = args[i];
    if (inString) {
      if (ch === '\\') i++;
      else if (ch === '"') inString = false;
    } else if (ch === '"') inString = true;
    else if (OPEN[ch]) closers.push(OPEN[ch]);
    else if (ch === '<' && /\d/.test(args[i - 1] ?? '')) closers.push('>');
    else if (ch === closers[closers.length - 1]) closers.pop();
    else if (ch === ',' && closers.length === 0) {
      out.push(args.slice(start, i).trim());
      start = i + 1;
    }
  }
  const last = args.slice(start).trim();
  if (last || out.length) out.push(last);
  return out;
}

/** The fd number of an argument or result, without -y's decoration: `17<socket:[385171]>` -> 17. */
export const fdNum = (s: string): number => Number(/^\s*(-?\d+)/.exec(s)?.[1] ?? NaN);

/** What -y printed for an fd: `5</srv/public/a.txt>` -> `/srv/public/a.txt`; undefined without. */
export function fdPath(s: string): string | undefined {
  return /^\s*\d+<(.*)>/.exec(s)?.[1];
}
