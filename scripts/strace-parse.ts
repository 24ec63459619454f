// Reading strace -f output: shared by scripts/strace-walkthrough.ts and the tests.

/** Merge strace's `foo(... <unfinished ...>` / `<... foo resumed>...) = r` pairs into one line per call. */
export function joinUnfinished(raw: string[]): string[] {
  const pending = new Map<string, string>();
  const out: string[] = [];
  for (const line of raw) {
    const u = /^(\d+)\s+(.*) <unfinished \.\.\.>$/.exec(line);
    if (u) { pending.set(u[1], `${u[1]} ${u[2]}`); continue; }
    const r = /^(\d+)\s+<\.\.\. \w+ resumed>(.*)$/.exec(line);
    if (r && pending.has(r[1])) { out.push(pending.get(r[1]) + r[2]); pending.delete(r[1]); continue; }
    if (line) out.push(line);
  }
  return out;
}
