// --syscall-stats for the io_uring server: the operations submitted and completed through the
// ring (what strace cannot see), next to the addon's syscall table.
import { OP_NAME, Ring } from './ring';
import { UringLoop } from './loop';

export function operationsTable(ring: Ring, loop: UringLoop): string {
  const head = ['operation', 'submitted', 'completed', 'errors by code'];
  const rows = [...ring.ops.entries()]
    .sort((a, b) => b[1].submitted - a[1].submitted)
    .map(([op, c]) => [
      OP_NAME[op] ?? String(op),
      String(c.submitted),
      String(c.completed),
      Object.entries(c.errors)
        .map(([k, v]) => `${k}=${v}`)
        .join(' '),
    ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const fmt = (cols: string[]) =>
    cols
      .map((c, i) => (i === 0 || i === cols.length - 1 ? c.padEnd(widths[i]) : c.padStart(widths[i])))
      .join('  ')
      .trimEnd();
  return [
    `io_uring operations (${loop.closes.http} client connections closed):`,
    fmt(head),
    widths.map((w) => '-'.repeat(w)).join('  '),
    ...rows.map(fmt),
  ].join('\n');
}
