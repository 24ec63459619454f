// The benchmark's results as data, and their Markdown, CSV and SVG renderings.
import { lineChart, Series } from './svg';

export type CellStatus = 'ok' | 'warn' | 'failed';

export interface Cell {
  arch: string;
  concurrency: number;
  status: CellStatus;
  /** Successful (2xx/3xx) responses per second; null when the cell failed. */
  reqPerSec: number | null;
  requests: number;
  non2xx: number;
  durationS: number;
  errors: { connect: number; read: number; write: number; timeout: number };
  errorCodes: Record<string, number>;
  latencyMs: { p50: number | null; p90: number | null; p99: number | null };
  /** Server CPU (user+sys) during the level: its processes, threads and reaped children. */
  serverCpuS: number | null;
  cpuPerRequestUs: number | null;
  redisCpuS: number | null;
  /** Largest sum of VmRSS over the server's process tree seen during the level. */
  peakRssKb: number | null;
  /** Generator CPU as a share of the cores it may use (threads), 0-100. */
  generatorCpuPct: number | null;
  problems: string[];
}

export interface ServerRecord {
  arch: string;
  /** One entry per server process started for this architecture (a crashed one is restarted). */
  runs: { pid: number; exit: { code: number | null; signal: string | null } | null; stats: { user: number; sys: number } | null }[];
  notes: string[];
  /** The first start failed: later levels are not tried again. */
  startFailed?: boolean;
}

export interface BenchResults {
  format: 'zerohttpd-bench/1';
  startedAt: string;
  finishedAt: string;
  command: string;
  machine: { cpus: number; cpuModel: string; kernel: string; node: string; memoryMB: number; somaxconn: string | null; portRange: string | null; nofileHard: number | null };
  settings: {
    path: string; durationS: number; warmupS: number; reader: string | null; serverArgs: string[];
    concurrency: number[]; architectures: string[];
    generator: { name: string; version: string; settings: string };
    redis: string | null;
  };
  cells: Cell[];
  servers: ServerRecord[];
}

const int = (n: number) => Math.round(n).toLocaleString('en-US');
const ms = (n: number | null) => (n === null ? '?' : n < 10 ? n.toFixed(2) : n < 100 ? n.toFixed(1) : int(n));

export function cellAt(r: BenchResults, arch: string, c: number): Cell | undefined {
  return r.cells.find((x) => x.arch === arch && x.concurrency === c);
}

/** The req/s cell: "2,345", "2,345 ⚠" (see notes), "✗ server died". */
export function rateCell(c: Cell | undefined): string {
  if (!c) return '';
  if (c.status === 'failed') return `✗ ${shortFailure(c)}`;
  return int(c.reqPerSec!) + (c.status === 'warn' ? ' ⚠' : '');
}

/** A few words for a table cell; the whole story is in the notes. */
export function shortFailure(c: Cell): string {
  const p = c.problems[0] ?? 'failed';
  const died = /^server died during the run(?: \((.*)\))?/.exec(p);
  if (died) return died[1] ? `died (${died[1].replace(/^signal /, '')})` : 'died';
  if (p.startsWith('server did not start')) return 'did not start';
  if (p.startsWith('load generator failed')) return 'generator failed';
  if (p.startsWith('no response') || p.startsWith('no successful')) return 'no successful response';
  return 'errors';
}

function table(r: BenchResults, title: string, cell: (c: Cell | undefined) => string): string {
  const archs = r.settings.architectures;
  const lines = [`| ${title} | ${archs.join(' | ')} |`, `|---:|${archs.map(() => '---:').join('|')}|`];
  for (const c of r.settings.concurrency) lines.push(`| ${c} | ${archs.map((a) => cell(cellAt(r, a, c))).join(' | ')} |`);
  return lines.join('\n');
}

const measured = (c: Cell | undefined, f: (c: Cell) => string) => (!c ? '' : c.status === 'failed' && c.requests === 0 ? '-' : f(c));

export function markdownTables(r: BenchResults): string {
  return [
    `**Requests per second** (successful responses/s; ✗ = failed cell, ⚠ = see notes)\n\n` + table(r, 'concurrency', rateCell),
    `**Latency p50 / p99** (ms, as measured by ${r.settings.generator.name})\n\n` +
      table(r, 'concurrency', (c) => measured(c, (x) => `${ms(x.latencyMs.p50)} / ${ms(x.latencyMs.p99)}`)),
    `**Errors**: socket errors (connect/read/write/timeout) + non-2xx/3xx responses\n\n` +
      table(r, 'concurrency', (c) => measured(c, (x) => {
        const e = x.errors;
        const sum = e.connect + e.read + e.write + e.timeout;
        return sum + x.non2xx === 0 ? '0' : `${e.connect}/${e.read}/${e.write}/${e.timeout} + ${x.non2xx}`;
      })),
    `**Server CPU per request** (µs of user+sys, processes, threads and children included)\n\n` +
      table(r, 'concurrency', (c) => measured(c, (x) => (x.cpuPerRequestUs === null ? '?' : int(x.cpuPerRequestUs)))),
    `**Peak RSS** (MB, sum of VmRSS over the server's processes, sampled every 100 ms)\n\n` +
      table(r, 'concurrency', (c) => measured(c, (x) => (x.peakRssKb === null ? '?' : (x.peakRssKb / 1024).toFixed(0)))),
    `**Load generator CPU** (% of its ${r.settings.generator.name === 'wrk' ? 'threads' : 'one core'}) **/ Redis CPU** (s)\n\n` +
      table(r, 'concurrency', (c) => measured(c, (x) => `${x.generatorCpuPct === null ? '?' : x.generatorCpuPct.toFixed(0)} % / ${x.redisCpuS === null ? '-' : x.redisCpuS.toFixed(2)}`)),
  ].join('\n\n');
}

export function markdownReport(r: BenchResults, chartFile = 'chart.svg'): string {
  const m = r.machine, s = r.settings;
  const notes: string[] = [];
  for (const c of r.cells) if (c.problems.length) notes.push(`- ${c.arch} c=${c.concurrency} (${c.status}): ${c.problems.join('; ')}`);
  for (const sv of r.servers) for (const n of sv.notes) notes.push(`- ${sv.arch}: ${n}`);
  const totals = r.servers.map((sv) => {
    const parts = sv.runs.map((run) => (run.stats ? `user ${run.stats.user.toFixed(2)} s, sys ${run.stats.sys.toFixed(2)} s` : `no stats line (exit ${run.exit?.signal ?? run.exit?.code ?? '?'})`));
    return `| ${sv.arch} | ${parts.join('; ')} |`;
  });
  return `# zerohttpd benchmark

${r.startedAt} — \`${r.command}\`

- Machine: ${m.cpus} × ${m.cpuModel}, ${m.memoryMB} MB, Linux ${m.kernel}, Node ${m.node}; somaxconn ${m.somaxconn ?? '?'}, ephemeral ports ${m.portRange ?? '?'}, open-files hard limit ${m.nofileHard ?? '?'}
- Workload: \`GET ${s.path}\`, one connection per request (\`Connection: close\`), ${s.durationS} s per level after a ${s.warmupS} s warm-up per server start; server reader ${s.reader ?? 'default (byte)'}${s.serverArgs.length ? `; server args \`${s.serverArgs.join(' ')}\`` : ''}
- Load generator: ${s.generator.settings}
- Redis: ${s.redis ?? 'none'} (private instance on a free port, no persistence)
- Generator, servers and Redis share the machine's cores; compare architectures within one run.

![requests per second against concurrency](${chartFile})

${markdownTables(r)}

**Server CPU at SIGINT** (the servers' own \`user time = …, sys time = …\` line)

| architecture | stats |
|---|---|
${totals.join('\n')}

${notes.length ? `**Notes**\n\n${notes.join('\n')}\n` : ''}`;
}

const CSV_COLUMNS = [
  'arch', 'concurrency', 'status', 'req_per_s', 'requests', 'non2xx', 'duration_s', 'err_connect', 'err_read', 'err_write', 'err_timeout',
  'p50_ms', 'p90_ms', 'p99_ms', 'server_cpu_s', 'cpu_per_request_us', 'redis_cpu_s', 'peak_rss_kb', 'generator_cpu_pct', 'problems',
] as const;

function csvField(v: unknown): string {
  const s = v === null || v === undefined ? '' : String(v);
  return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function csvReport(r: BenchResults): string {
  const rows = r.cells.map((c) => [
    c.arch, c.concurrency, c.status, c.reqPerSec === null ? '' : c.reqPerSec.toFixed(1), c.requests, c.non2xx, c.durationS,
    c.errors.connect, c.errors.read, c.errors.write, c.errors.timeout, c.latencyMs.p50, c.latencyMs.p90, c.latencyMs.p99,
    c.serverCpuS, c.cpuPerRequestUs === null ? '' : c.cpuPerRequestUs.toFixed(1), c.redisCpuS, c.peakRssKb,
    c.generatorCpuPct === null ? '' : c.generatorCpuPct.toFixed(1), c.problems.join('; '),
  ].map(csvField).join(','));
  return [CSV_COLUMNS.join(','), ...rows].join('\n') + '\n';
}

export function chartSeries(r: BenchResults): Series[] {
  return r.settings.architectures.map((a) => ({
    name: a,
    points: r.settings.concurrency
      .map((c) => cellAt(r, a, c))
      .filter((c): c is Cell => !!c)
      .map((c) => ({ x: c.concurrency, y: c.status === 'failed' ? null : c.reqPerSec })),
  }));
}

export function svgReport(r: BenchResults, logX: boolean): string {
  return lineChart(chartSeries(r), {
    title: `zerohttpd: GET ${r.settings.path}, one connection per request (${r.settings.generator.name})`,
    xLabel: 'concurrent connections',
    yLabel: 'requests per second',
    logX,
  });
}
