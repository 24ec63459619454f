// The benchmark's results as data, and their Markdown, CSV and SVG renderings.
import { DEFAULTS } from '../options';
import { PanelOptions, Series, smallMultiples } from './svg';
import type { SyscallReport } from './bench-servers';
import type { LoadResult } from './load';

export type CellStatus = 'ok' | 'warn' | 'failed';

/** What the load generator measured, as it reported it. */
type Measured = Pick<LoadResult, 'requests' | 'non2xx' | 'durationS' | 'errors' | 'errorCodes' | 'latencyMs'>;

export interface Cell extends Measured {
  arch: string;
  /** The column/line this cell belongs to: the architecture, `arch (buffered)` when several readers ran. */
  series: string;
  /** The --reader the server ran with (null: the server's default, byte; and always for node). */
  reader: string | null;
  concurrency: number;
  status: CellStatus;
  /** Successful (2xx/3xx) responses per second; null when the cell failed. */
  reqPerSec: number | null;
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

/** Syscalls per request over one architecture+reader's server runs (all levels and the warm-up). */
export interface SyscallSummary {
  /** Server runs whose report was read, of all runs (a killed server prints none). */
  runsCounted: number;
  runs: number;
  accepted: number;
  total: number;
  errors: number;
  /** total / accepted; null (n/a) when no report or no connection went through the addon (node). */
  perRequest: number | null;
  /** recvfrom() calls per request: one per byte of the request with the byte reader. */
  recvfromPerRequest: number | null;
  /** The most frequent syscalls, calls per accepted connection. */
  top: { name: string; calls: number; perRequest: number }[];
}

export interface ServerRecord {
  arch: string;
  series: string;
  reader: string | null;
  /** One entry per server process started for this series (a crashed one is restarted). */
  runs: {
    pid: number;
    exit: { code: number | null; signal: string | null } | null;
    stats: { user: number; sys: number } | null;
    /** The server's whole --syscall-stats table (null: not asked for, or the server was killed). */
    syscalls?: SyscallReport | null;
  }[];
  /** Absent with --no-syscall-stats. */
  syscalls?: SyscallSummary;
  notes: string[];
  /** The first start failed: later levels are not tried again. */
  startFailed?: boolean;
}

export interface BenchResults {
  format: 'zerohttpd-bench/1';
  startedAt: string;
  finishedAt: string;
  command: string;
  machine: {
    cpus: number;
    cpuModel: string;
    kernel: string;
    node: string;
    memoryMB: number;
    somaxconn: string | null;
    portRange: string | null;
    nofileHard: number | null;
  };
  settings: {
    path: string;
    durationS: number;
    warmupS: number;
    /** The one --reader given (null: the servers' default, byte, or several: see readers). */
    reader: string | null;
    /** Every --reader given, in order (empty: the servers' default). */
    readers: string[];
    serverArgs: string[];
    concurrency: number[];
    architectures: string[];
    /** The table columns and chart lines, in order: one per architecture and reader (node: one). */
    series: { name: string; arch: string; reader: string | null }[];
    /** Whether the servers were started with --syscall-stats. */
    syscallStats: boolean;
    generator: { name: string; version: string; settings: string };
    redis: string | null;
  };
  cells: Cell[];
  servers: ServerRecord[];
}

const int = (n: number) => Math.round(n).toLocaleString('en-US');
const ms = (n: number | null) => (n === null ? '?' : n < 10 ? n.toFixed(2) : n < 100 ? n.toFixed(1) : int(n));

/** The series label: the architecture, with the reader in parentheses for all but byte when several readers ran. */
export function seriesName(arch: string, reader: string | null, severalReaders: boolean): string {
  return severalReaders && reader && reader !== 'byte' ? `${arch} (${reader})` : arch;
}

/** Column names (results written before there were series have one per architecture). */
export function seriesNames(r: BenchResults): string[] {
  return r.settings.series ? r.settings.series.map((s) => s.name) : r.settings.architectures;
}

export function cellAt(r: BenchResults, series: string, c: number): Cell | undefined {
  return r.cells.find((x) => (x.series ?? x.arch) === series && x.concurrency === c);
}

/** Add up a series' server runs: total syscalls / accepted connections, and the top few per request. */
export function summarizeSyscalls(runs: ServerRecord['runs'], topN = 5): SyscallSummary {
  const counted = runs.filter((x) => x.syscalls);
  const accepted = counted.reduce((a, x) => a + x.syscalls!.accepted, 0);
  const total = counted.reduce((a, x) => a + x.syscalls!.total, 0);
  const byName = new Map<string, number>();
  for (const x of counted)
    for (const row of x.syscalls!.rows) byName.set(row.name, (byName.get(row.name) ?? 0) + row.calls);
  const top =
    accepted > 0
      ? [...byName]
          .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
          .slice(0, topN)
          .map(([name, calls]) => ({ name, calls, perRequest: calls / accepted }))
      : [];
  return {
    runsCounted: counted.length,
    runs: runs.length,
    accepted,
    total,
    errors: counted.reduce((a, x) => a + x.syscalls!.errors, 0),
    perRequest: accepted > 0 ? total / accepted : null,
    recvfromPerRequest: accepted > 0 ? (byName.get('recvfrom') ?? 0) / accepted : null,
    top,
  };
}

const perReq = (v: number) => (v >= 100 ? v.toFixed(0) : v.toFixed(1));

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
  const archs = seriesNames(r);
  const lines = [`| ${title} | ${archs.join(' | ')} |`, `|---:|${archs.map(() => '---:').join('|')}|`];
  for (const c of r.settings.concurrency)
    lines.push(`| ${c} | ${archs.map((a) => cell(cellAt(r, a, c))).join(' | ')} |`);
  return lines.join('\n');
}

const measured = (c: Cell | undefined, f: (c: Cell) => string) =>
  !c ? '' : c.status === 'failed' && c.requests === 0 ? '-' : f(c);

/**
 * Syscalls per request, one row per series: counted by the server over its whole run (warm-up,
 * the preflight GET and every level), so one number per architecture+reader, not per cell.
 */
export function syscallTable(r: BenchResults): string | null {
  const servers = r.servers.filter((s) => s.syscalls);
  if (!r.settings.syscallStats || servers.length === 0) return null;
  const lines = [
    '| series | syscalls / request | recvfrom / request | connections accepted | syscalls | top syscalls per request |',
    '|---|---:|---:|---:|---:|---|',
  ];
  for (const sv of servers) {
    const s = sv.syscalls!;
    const partial = s.runsCounted < s.runs ? ` (${s.runsCounted} of ${s.runs} server runs)` : '';
    if (s.perRequest === null) {
      const why =
        s.runs === 0
          ? 'the server did not start'
          : s.runsCounted === 0
            ? 'no report (the server was killed)'
            : sv.arch === 'node'
              ? 'node:http and ioredis: no addon syscalls'
              : 'no connection accepted through the addon';
      lines.push(
        `| ${sv.series} | n/a | n/a | ${s.runsCounted ? int(s.accepted) : '-'} | ${s.runsCounted ? int(s.total) : '-'} | ${why}${partial} |`,
      );
      continue;
    }
    lines.push(
      `| ${sv.series} | ${perReq(s.perRequest)}${partial ? ' ⚠' : ''} | ${perReq(s.recvfromPerRequest!)} | ${int(s.accepted)} | ${int(s.total)} | ` +
        `${s.top.map((t) => `${t.name} ${perReq(t.perRequest)}`).join(', ')}${partial} |`,
    );
  }
  return lines.join('\n');
}

export function markdownTables(r: BenchResults): string {
  const sys = syscallTable(r);
  return [
    `**Requests per second** (successful responses/s; ✗ = failed cell, ⚠ = see notes)\n\n` +
      table(r, 'concurrency', rateCell),
    ...(sys
      ? [
          `**Syscalls per request** (per architecture and reader, not per cell: the servers' \`--syscall-stats\` counts over their whole run, ` +
            `warm-up and every level, divided by the connections they accepted; one request per connection. Only calls through the addon: ` +
            `node:http makes none, hence n/a)\n\n` +
            sys,
        ]
      : []),
    `**Latency p50 / p99** (ms, as measured by ${r.settings.generator.name})\n\n` +
      table(r, 'concurrency', (c) => measured(c, (x) => `${ms(x.latencyMs.p50)} / ${ms(x.latencyMs.p99)}`)),
    `**Errors**: socket errors (connect/read/write/timeout) + non-2xx/3xx responses\n\n` +
      table(r, 'concurrency', (c) =>
        measured(c, (x) => {
          const e = x.errors;
          const sum = e.connect + e.read + e.write + e.timeout;
          return sum + x.non2xx === 0 ? '0' : `${e.connect}/${e.read}/${e.write}/${e.timeout} + ${x.non2xx}`;
        }),
      ),
    `**Server CPU per request** (µs of user+sys, processes, threads and children included)\n\n` +
      table(r, 'concurrency', (c) => measured(c, (x) => (x.cpuPerRequestUs === null ? '?' : int(x.cpuPerRequestUs)))),
    `**Peak RSS** (MB, sum of VmRSS over the server's processes, sampled every 100 ms)\n\n` +
      table(r, 'concurrency', (c) =>
        measured(c, (x) => (x.peakRssKb === null ? '?' : (x.peakRssKb / 1024).toFixed(0))),
      ),
    `**Load generator CPU** (% of its ${r.settings.generator.name === 'wrk' ? 'threads' : 'one core'}) **/ Redis CPU** (s)\n\n` +
      table(r, 'concurrency', (c) =>
        measured(
          c,
          (x) =>
            `${x.generatorCpuPct === null ? '?' : x.generatorCpuPct.toFixed(0)} % / ${x.redisCpuS === null ? '-' : x.redisCpuS.toFixed(2)}`,
        ),
      ),
  ].join('\n\n');
}

function readerText(s: BenchResults['settings']): string {
  const readers = s.readers ?? (s.reader ? [s.reader] : []);
  if (readers.length <= 1) return readers[0] ?? 'default (byte)';
  const named = readers.filter((x) => x !== 'byte').map((x) => `\`arch (${x})\``);
  return `${readers.join(' and ')}, one server run each (${readers.includes('byte') ? 'a plain architecture name is the byte reader, ' : ''}${named.join(', ')} the other; node ignores the reader and ran once)`;
}

/** Which chart axes are logarithmic (the bench's --log-x and --log-y). */
export interface ChartScales {
  logX?: boolean;
  logY?: boolean;
}

/** A boolean is the older logX-only argument. */
const scalesOf = (s: ChartScales | boolean | undefined): ChartScales =>
  typeof s === 'boolean' ? { logX: s } : (s ?? {});

/** The listen backlog the servers ran with: --backlog from --server-args, else the default, capped by somaxconn. */
export function effectiveBacklog(r: BenchResults): { backlog: number; given: boolean; somaxconn: number | null } {
  const args = r.settings.serverArgs;
  let given: string | undefined;
  args.forEach((a, k) => {
    if (a === '--backlog') given = args[k + 1];
    else if (a.startsWith('--backlog=')) given = a.slice('--backlog='.length);
  });
  const somaxconn =
    r.machine.somaxconn !== null && /^\d+$/.test(r.machine.somaxconn) ? Number(r.machine.somaxconn) : null;
  const asked = given !== undefined && /^\d+$/.test(given) ? Number(given) : DEFAULTS.backlog;
  return { backlog: somaxconn === null ? asked : Math.min(asked, somaxconn), given: given !== undefined, somaxconn };
}

/** When one series' best req/s is this many times below another's, its line lies flat on a linear axis. */
export const FLAT_RATIO = 20;

/** The series with the highest and the lowest best req/s, and the ratio between them (null: fewer than two measured). */
export function throughputSpread(
  r: BenchResults,
): { top: string; topRate: number; bottom: string; bottomRate: number } | null {
  const best = seriesNames(r)
    .map((name) => ({
      name,
      rate: Math.max(
        0,
        ...r.cells.filter((c) => (c.series ?? c.arch) === name && c.status !== 'failed').map((c) => c.reqPerSec!),
      ),
    }))
    .filter((b) => b.rate > 0)
    .sort((a, b) => b.rate - a.rate);
  if (best.length < 2) return null;
  const top = best[0],
    bottom = best[best.length - 1];
  return { top: top.name, topRate: top.rate, bottom: bottom.name, bottomRate: bottom.rate };
}

/** The few paragraphs at the top of results.md that say what the numbers mean, with this run's figures. */
export function readingGuide(r: BenchResults, scales: ChartScales | boolean = {}): string {
  const sc = scalesOf(scales);
  const b = effectiveBacklog(r);
  const failed = r.cells.some((c) => c.status === 'failed');
  const spread = throughputSpread(r);
  let chart =
    `- **The chart** has one small panel per quantity (req/s, CPU per request, peak RSS, p99), concurrency on the x axis, ` +
    `one colour per architecture in every panel${failed ? '; a cross on the x axis is a failed cell' : ''}.`;
  if (sc.logY)
    chart += ' The y axes are logarithmic (`--log-y`): equal steps up are equal ratios, not equal differences.';
  else if (spread && spread.topRate / spread.bottomRate >= FLAT_RATIO)
    chart +=
      ` The slowest, ${spread.bottom}, peaks at ${int(spread.bottomRate)} req/s, ${int(spread.topRate / spread.bottomRate)}x below ` +
      `${spread.top}'s ${int(spread.topRate)}: its line lies flat on zero; \`zerohttpd bench --replot results.json --log-y\` redraws the chart with logarithmic y axes.`;
  const backlogFrom = b.given ? '`--backlog` from `--server-args`' : "the servers' default, the article's";
  return `## How to read this

- **One connection per request.** Each request opens a TCP connection, sends \`GET ${r.settings.path}\`, reads the answer and closes, as the article's clients do. So every request pays for a connect, an accept and a close, and handing a new connection to a process, a thread or an event loop is exactly where the architectures differ; keep-alive would hide it.
- **Requests per second** counts successful (2xx/3xx) answers only. The load generator, the servers and Redis share this machine's ${r.machine.cpus} cores: compare the columns of one run with each other, and read differences under about 30 % between runs as noise.
- **CPU per request** is the server's user+sys CPU time during the level (its processes and threads, reaped children included) divided by the responses: what one request costs, however busy the machine was. Forking pays for a \`fork()\` in it, threaded for starting a Worker, an event loop for little more than its syscalls. A server waiting for Redis or for the generator can show a low req/s at a low cost per request.
- **p99 and the listen backlog of ${b.backlog}** (${backlogFrom}${b.somaxconn !== null ? `, at most net.core.somaxconn = ${b.somaxconn}` : ''}). 99 % of the requests took less than p99. When more than ${b.backlog} connections wait to be accepted, the kernel drops new SYNs and the client sends its SYN again 1 s later (then at 3 s, 7 s): p99 jumps to a second or more while p50 stays at a few ms. That tail is the accept queue overflowing, not slow code; compare a run with \`--server-args="--backlog 4096"\`.
- **Peak RSS** adds up VmRSS over the server's processes: pages that preforked's children share are counted once per child, so the process-based servers look bigger than they are.
- **✗** is a failed cell: the server died or did not start, nothing succeeded, or more than half the attempts failed; it gets no number. **⚠** is a number to doubt: see the notes (over 1 % errors, the generator at its CPU limit, ephemeral ports exhausted).
${r.settings.series.some((x) => x.arch === 'node') ? "- **node** is the yardstick, not one of the article's architectures: the same pages written the usual Node way (node:http, ioredis), on the same listen backlog.\n" : ''}${chart}
`;
}

export function markdownReport(r: BenchResults, chartFile = 'chart.svg', scales: ChartScales | boolean = {}): string {
  const m = r.machine,
    s = r.settings;
  const notes: string[] = [];
  for (const c of r.cells)
    if (c.problems.length)
      notes.push(`- ${c.series ?? c.arch} c=${c.concurrency} (${c.status}): ${c.problems.join('; ')}`);
  for (const sv of r.servers) for (const n of sv.notes) notes.push(`- ${sv.series ?? sv.arch}: ${n}`);
  const totals = r.servers.map((sv) => {
    const name = sv.series ?? sv.arch;
    const parts = sv.runs.map((run) =>
      run.stats
        ? `user ${run.stats.user.toFixed(2)} s, sys ${run.stats.sys.toFixed(2)} s`
        : `no stats line (exit ${run.exit?.signal ?? run.exit?.code ?? '?'})`,
    );
    return `| ${name} | ${parts.join('; ')} |`;
  });
  return `# zerohttpd benchmark

${r.startedAt} — \`${r.command}\`

${readingGuide(r, scales)}
## This run

- Machine: ${m.cpus} × ${m.cpuModel}, ${m.memoryMB} MB, Linux ${m.kernel}, Node ${m.node}; somaxconn ${m.somaxconn ?? '?'}, ephemeral ports ${m.portRange ?? '?'}, open-files hard limit ${m.nofileHard ?? '?'}
- Workload: \`GET ${s.path}\`, one connection per request (\`Connection: close\`), ${s.durationS} s per level after a ${s.warmupS} s warm-up per server start; server reader ${readerText(s)}${s.serverArgs.length ? `; server args \`${s.serverArgs.join(' ')}\`` : ''}
- Load generator: ${s.generator.settings}
- Redis: ${s.redis ?? 'none'} (private instance on a free port, no persistence)
- Generator, servers and Redis share the machine's cores; compare architectures within one run.

![requests per second, server CPU per request, peak RSS and p99 latency against concurrency, one panel each](${chartFile})

${markdownTables(r)}

**Server CPU at SIGINT** (the servers' own \`user time = …, sys time = …\` line)

| architecture | stats |
|---|---|
${totals.join('\n')}

${notes.length ? `**Notes**\n\n${notes.join('\n')}\n` : ''}`;
}

const CSV_COLUMNS = [
  'arch',
  'concurrency',
  'status',
  'req_per_s',
  'requests',
  'non2xx',
  'duration_s',
  'err_connect',
  'err_read',
  'err_write',
  'err_timeout',
  'p50_ms',
  'p90_ms',
  'p99_ms',
  'server_cpu_s',
  'cpu_per_request_us',
  'redis_cpu_s',
  'peak_rss_kb',
  'generator_cpu_pct',
  'problems',
  // Appended, so older readers of the file keep their columns. The syscall figures are per
  // series (the server's whole run), repeated on each of its rows; empty = n/a.
  'series',
  'reader',
  'run_syscalls_per_request',
  'run_recvfrom_per_request',
] as const;

function csvField(v: string | number | boolean | null | undefined): string {
  const s = v === null || v === undefined ? '' : String(v);
  return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function csvReport(r: BenchResults): string {
  const sysOf = (series: string) => r.servers.find((s) => (s.series ?? s.arch) === series)?.syscalls;
  const rows = r.cells.map((c) =>
    [
      c.arch,
      c.concurrency,
      c.status,
      c.reqPerSec === null ? '' : c.reqPerSec.toFixed(1),
      c.requests,
      c.non2xx,
      c.durationS,
      c.errors.connect,
      c.errors.read,
      c.errors.write,
      c.errors.timeout,
      c.latencyMs.p50,
      c.latencyMs.p90,
      c.latencyMs.p99,
      c.serverCpuS,
      c.cpuPerRequestUs === null ? '' : c.cpuPerRequestUs.toFixed(1),
      c.redisCpuS,
      c.peakRssKb,
      c.generatorCpuPct === null ? '' : c.generatorCpuPct.toFixed(1),
      c.problems.join('; '),
      c.series ?? c.arch,
      c.reader ?? '',
      ...((s) => {
        if (!s || s.perRequest === null) return ['', ''];
        return [s.perRequest.toFixed(2), s.recvfromPerRequest!.toFixed(2)];
      })(sysOf(c.series ?? c.arch)),
    ]
      .map(csvField)
      .join(','),
  );
  return [CSV_COLUMNS.join(','), ...rows].join('\n') + '\n';
}

/** A chart panel: one measured quantity per cell, with its label and unit. */
export interface Metric {
  /** As in the CSV's columns. */
  id: string;
  title: string;
  yLabel: string;
  unit: string;
  /** The value of a cell that did not fail; null = not measured (left out of the chart). */
  value: (c: Cell) => number | null;
}

/** The chart's panels, in order: what a learner compares the architectures by. */
export const CHART_METRICS: Metric[] = [
  {
    id: 'req_per_s',
    title: 'Requests per second',
    yLabel: 'throughput (req/s)',
    unit: 'req/s',
    value: (c) => c.reqPerSec,
  },
  {
    id: 'cpu_per_request_us',
    title: 'Server CPU per request',
    yLabel: 'CPU per request (µs)',
    unit: 'µs',
    value: (c) => c.cpuPerRequestUs,
  },
  {
    id: 'peak_rss_mb',
    title: 'Server memory (peak RSS)',
    yLabel: 'peak RSS (MB)',
    unit: 'MB',
    value: (c) => (c.peakRssKb === null ? null : c.peakRssKb / 1024),
  },
  {
    id: 'p99_ms',
    title: 'Latency p99',
    yLabel: 'p99 latency (ms)',
    unit: 'ms',
    value: (c) => c.latencyMs.p99,
  },
];

/** The x axis of every bench chart. */
export const X_LABEL = 'concurrent connections';

/** One line per series for a metric (default req/s): a failed cell is y null (a cross), an unmeasured value is left out. */
export function chartSeries(r: BenchResults, metric: Metric = CHART_METRICS[0]): Series[] {
  return seriesNames(r).map((a) => ({
    name: a,
    points: r.settings.concurrency
      .map((c) => cellAt(r, a, c))
      .filter((c): c is Cell => !!c)
      .flatMap((c): Series['points'] => {
        if (c.status === 'failed') return [{ x: c.concurrency, y: null }];
        const y = metric.value(c);
        return y === null ? [] : [{ x: c.concurrency, y }];
      }),
  }));
}

/** A panel's options for a metric. */
export function metricPanel(m: Metric, scales: ChartScales): PanelOptions {
  return { title: m.title, xLabel: X_LABEL, yLabel: m.yLabel, unit: m.unit, metric: m.id, ...scales };
}

/** The chart: small multiples, one panel per metric (req/s, CPU per request, RSS, p99), one legend. */
export function svgReport(
  r: BenchResults,
  scales: ChartScales | boolean = {},
  metrics: Metric[] = CHART_METRICS,
): string {
  const sc = scalesOf(scales);
  return smallMultiples(
    metrics.map((m) => ({ options: metricPanel(m, sc), series: chartSeries(r, m) })),
    {
      title: `zerohttpd: GET ${r.settings.path}, one connection per request (${r.settings.generator.name})`,
    },
  );
}
