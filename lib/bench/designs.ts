// zerohttpd bench --designs: Stevens' comparison of server designs (UNIX Network Programming
// vol. 1, 3rd ed., chapter 30) on today's kernel. Each design serves N connections (default
// 5,000), each fetching a 4,000-byte file, from a few clients at once; we report the server's
// user+sys CPU time minus the iterative server's (his "process control CPU time"), req/s, the
// herd (wakeups that found no connection, per connection), the spread over workers and the peak
// RSS, as a Markdown table, JSON and an SVG bar chart.
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { ROOT } from '../paths';
import { BenchServer, startServer } from './bench-servers';
import { rssSampler, treeCpuSeconds } from './procfs';
import { escapeXml, PALETTE } from './svg';

export const FILE_BYTES = 4000;
const FILE_NAME = 'stevens-4000.bin';

export interface Design {
  /** A short id for --only. */
  id: string;
  /** Stevens' server program for the same design (serv00 ... serv08), or '' for designs after him. */
  stevens: string;
  what: string;
  /** zerohttpd's command line, after the architecture name's position (pool sizes filled in by argv()). */
  argv: (pool: number) => string[];
}

export const DESIGNS: Design[] = [
  { id: 'iterative', stevens: 'serv00', what: 'iterative (the baseline)', argv: () => ['iterative'] },
  { id: 'forking', stevens: 'serv01', what: 'one fork per connection', argv: () => ['forking'] },
  {
    id: 'prefork-none',
    stevens: 'serv02',
    what: 'preforked, each child in accept(), no lock',
    argv: (n) => ['preforked', '--workers', String(n), '--accept-lock', 'none'],
  },
  {
    id: 'prefork-fcntl',
    stevens: 'serv03',
    what: 'preforked, fcntl() record lock around accept()',
    argv: (n) => ['preforked', '--workers', String(n), '--accept-lock', 'fcntl'],
  },
  {
    id: 'prefork-mutex',
    stevens: 'serv04',
    what: 'preforked, process-shared mutex around accept()',
    argv: (n) => ['preforked', '--workers', String(n), '--accept-lock', 'mutex'],
  },
  {
    id: 'prefork-pass',
    stevens: 'serv05',
    what: 'preforked, the parent accepts and passes the descriptor',
    argv: (n) => ['preforked', '--workers', String(n), '--dispatch', 'pass'],
  },
  { id: 'threaded', stevens: 'serv06', what: 'one thread per connection', argv: () => ['threaded'] },
  {
    id: 'prethread-mutex',
    stevens: 'serv07',
    what: 'prethreaded, mutex around accept()',
    argv: (n) => ['prethreaded', '--threads', String(n), '--accept-lock', 'mutex'],
  },
  {
    id: 'prethread-main',
    stevens: 'serv08',
    what: 'prethreaded, the main thread accepts and hands over the fd',
    argv: (n) => ['prethreaded', '--threads', String(n), '--dispatch', 'main'],
  },
  { id: 'epoll', stevens: '', what: 'epoll, one process', argv: () => ['epoll'] },
  ...(['shared', 'exclusive', 'reuseport'] as const).map((mode) => ({
    id: `epoll2-${mode}`,
    stevens: '',
    what: `epoll, 2 worker processes, listen ${mode}`,
    argv: () => ['epoll', '--workers', '2', '--listen', mode],
  })),
];

export interface DesignOptions {
  connections: number;
  concurrency: number;
  pool: number;
  only: string[] | null;
  outDir: string;
  serverArgs: string[];
}

export interface DesignResult {
  id: string;
  stevens: string;
  what: string;
  command: string;
  skipped: string | null;
  connections: number;
  failures: number;
  seconds: number;
  reqPerSec: number | null;
  /** user+sys of the server (all its processes and threads) over the measured connections. */
  cpuS: number | null;
  /** cpuS minus the iterative server's: Stevens' "process control CPU time". */
  overIterativeS: number | null;
  wastedPerConnection: number | null;
  spread: { min: number; max: number } | null;
  peakRssKb: number | null;
}

export const DESIGNS_USAGE = `usage: zerohttpd bench --designs [options]

Stevens' comparison of server designs (UNP vol. 1, ch. 30) on this machine: each design
serves N connections, each fetching a ${FILE_BYTES}-byte file, and the report gives its CPU time
minus the iterative server's, req/s, wasted wakeups per connection, spread over workers
and peak RSS (designs.md, designs.json, designs.svg). Designs this build's CLI refuses
are skipped with the reason.

options:
  --connections N   connections per design (default 5000)
  --concurrency C   clients at once (default 5, as Stevens' client)
  --pool N          preforked workers / prethreaded threads (default 4)
  --only a,b        only these designs: ${DESIGNS.map((d) => d.id).join(', ')}
  --server-args=".." more arguments for every server (e.g. --reader byte)
  --out DIR         where to write the report (default bench/out)`;

export function parseDesignArgs(argv: string[]): DesignOptions | 'help' {
  const { values: v } = parseArgs({
    args: argv.filter((a) => a !== '--designs'),
    strict: true,
    options: {
      connections: { type: 'string' },
      concurrency: { type: 'string' },
      pool: { type: 'string' },
      only: { type: 'string' },
      'server-args': { type: 'string' },
      out: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (v.help) return 'help';
  const int = (name: string, s: string | undefined, def: number, max: number) => {
    if (s === undefined) return def;
    if (!/^\d+$/.test(s) || Number(s) < 1 || Number(s) > max)
      throw new Error(`--${name} must be an integer from 1 to ${max}, not '${s}'`);
    return Number(s);
  };
  const only = v.only ? v.only.split(',').map((s) => s.trim()) : null;
  for (const id of only ?? [])
    if (!DESIGNS.some((d) => d.id === id))
      throw new Error(`--only: unknown design '${id}' (one of: ${DESIGNS.map((d) => d.id).join(', ')})`);
  return {
    connections: int('connections', v.connections, 5000, 1_000_000),
    concurrency: int('concurrency', v.concurrency, 5, 10_000),
    pool: int('pool', v.pool, 4, 1000),
    only,
    outDir: path.resolve(v.out ?? path.join(ROOT, 'bench', 'out')),
    serverArgs: v['server-args'] ? v['server-args'].trim().split(/\s+/) : [],
  };
}

/** One connection: GET the file, read to EOF; true if it was a 200 with the whole body. */
function fetchOnce(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const s = net.connect(port, '127.0.0.1', () => s.end(`GET /${FILE_NAME} HTTP/1.0\r\n\r\n`));
    s.setTimeout(10_000, () => s.destroy());
    s.on('data', (d) => chunks.push(d));
    s.on('error', () => {});
    s.on('close', () => {
      const r = Buffer.concat(chunks);
      const head = r.indexOf('\r\n\r\n');
      resolve(
        /^HTTP\/1\.[01] 200 /.test(r.toString('latin1', 0, 16)) && head >= 0 && r.length - head - 4 === FILE_BYTES,
      );
    });
  });
}

/** `total` connections, `concurrency` clients each making one after another. */
async function drive(port: number, total: number, concurrency: number): Promise<{ failures: number; seconds: number }> {
  let next = 0,
    failures = 0;
  const t0 = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: Math.min(concurrency, total) }, async () => {
      while (next < total) {
        next++;
        if (!(await fetchOnce(port))) failures++;
      }
    }),
  );
  return { failures, seconds: Number(process.hrtime.bigint() - t0) / 1e9 };
}

const HERD_RE = /herd \((\d+) workers, listen \w+\): (\d+) wakeups found no connection/;
const SPREAD_RE = /connections per worker: min (\d+), max (\d+)/;

/** Why the CLI refuses this command line (a design another build does not have yet), or null. */
function refusal(argv: string[]): string | null {
  const cli: typeof import('../cli') = require('../cli');
  try {
    cli.parseCommandLine(argv);
    return null;
  } catch (e) {
    if (e instanceof cli.UsageError) return e.message.replace(/\. To specify a positional .*/, '.');
    throw e;
  }
}

export async function runDesigns(o: DesignOptions, log: (line: string) => void): Promise<DesignResult[]> {
  const pub = fs.mkdtempSync(path.join(os.tmpdir(), 'zerohttpd-designs-'));
  fs.writeFileSync(path.join(pub, FILE_NAME), Buffer.alloc(FILE_BYTES, 'x'));
  const results: DesignResult[] = [];
  const warmup = Math.min(200, Math.ceil(o.connections / 10));
  try {
    for (const d of DESIGNS.filter((x) => !o.only || o.only.includes(x.id))) {
      const argv = [...d.argv(o.pool), '--reader', 'buffered', ...o.serverArgs];
      const r: DesignResult = {
        id: d.id,
        stevens: d.stevens,
        what: d.what,
        command: `zerohttpd ${argv.join(' ')}`,
        skipped: refusal(argv),
        connections: o.connections,
        failures: 0,
        seconds: 0,
        reqPerSec: null,
        cpuS: null,
        overIterativeS: null,
        wastedPerConnection: null,
        spread: null,
        peakRssKb: null,
      };
      results.push(r);
      if (r.skipped) {
        log(`${d.id}: skipped: ${r.skipped}`);
        continue;
      }
      let server: BenchServer | null = null;
      try {
        server = await startServer(argv[0], [
          ...argv.slice(1),
          '--syscall-stats',
          '--public',
          pub,
          '--redis',
          '127.0.0.1:1',
          '--backlog',
          '128',
        ]);
        await drive(server.port, warmup, o.concurrency);
        const cpu0 = treeCpuSeconds(server.rootPid);
        const rss = rssSampler(server.rootPid);
        const load = await drive(server.port, o.connections, o.concurrency);
        r.peakRssKb = rss.stop();
        const s = server;
        server = null;
        const exit = await s.stop();
        const out = s.stdout();
        Object.assign(r, load);
        r.reqPerSec = (o.connections - load.failures) / load.seconds;
        if (exit.stats && cpu0) r.cpuS = exit.stats.user + exit.stats.sys - cpu0.user - cpu0.sys;
        const h = HERD_RE.exec(out),
          sp = SPREAD_RE.exec(out);
        const accepted = exit.syscalls?.accepted ?? 0;
        if (h && accepted) r.wastedPerConnection = Number(h[2]) / accepted;
        if (sp) r.spread = { min: Number(sp[1]), max: Number(sp[2]) };
        log(
          `${d.id}: ${Math.round(r.reqPerSec)} req/s, cpu ${r.cpuS?.toFixed(2) ?? '?'} s` +
            `${r.failures ? `, ${r.failures} failed` : ''}`,
        );
      } catch (e) {
        r.skipped = `failed: ${(e as Error).message.split('\n')[0]}`;
        log(`${d.id}: ${r.skipped}`);
      } finally {
        if (server) await server.stop();
      }
    }
  } finally {
    fs.rmSync(pub, { recursive: true, force: true });
  }
  const base = results.find((r) => r.id === 'iterative')?.cpuS ?? null;
  for (const r of results) if (r.cpuS !== null && base !== null) r.overIterativeS = r.cpuS - base;
  return results;
}

const f2 = (v: number | null) => (v === null ? '-' : v.toFixed(2));

export function designsMarkdown(results: DesignResult[], o: DesignOptions): string {
  const rows = results.map((r) =>
    r.skipped
      ? `| ${r.stevens || '-'} | ${r.what} | \`${r.command}\` | skipped: ${r.skipped.replace(/\|/g, '\\|')} ||||||`
      : `| ${r.stevens || '-'} | ${r.what} | \`${r.command}\` | ${f2(r.cpuS)} | ${f2(r.overIterativeS)} | ` +
        `${r.reqPerSec === null ? '-' : Math.round(r.reqPerSec)}${r.failures ? ` (${r.failures} failed)` : ''} | ` +
        `${f2(r.wastedPerConnection)} | ${r.spread ? `${r.spread.min}-${r.spread.max}` : '-'} | ` +
        `${r.peakRssKb === null ? '-' : Math.round(r.peakRssKb / 1024)} |`,
  );
  return [
    `${o.connections} connections per design, ${o.concurrency} at a time, each \`GET\` of a ${FILE_BYTES}-byte file ` +
      `(HTTP/1.0, one connection per request), \`--reader buffered\`; pool ${o.pool}; ${os.cpus().length} CPUs, ` +
      `Linux ${os.release()}, node ${process.version}; the client runs on the same machine.`,
    '',
    '| Stevens | design | command | CPU s | CPU s over iterative | req/s | wasted wakeups / conn. | conn. per worker (min-max) | peak RSS MB |',
    '|---|---|---|---|---|---|---|---|---|',
    ...rows,
    '',
    "CPU: user+sys of all the server's processes and threads over the measured connections (after a warm-up), " +
      'from its own `user time = ..., sys time = ...` line. Wasted wakeups and the spread come from the ' +
      '`--syscall-stats` herd report (poll/epoll `--workers`); "-" where the design has no such accounting.',
  ].join('\n');
}

/** Horizontal bars: CPU seconds over the iterative server's, one per design that ran. */
export function designsSvg(results: DesignResult[]): string {
  const ran = results.filter((r) => r.overIterativeS !== null);
  const W = 760,
    left = 300,
    bar = 22,
    gap = 8,
    top = 40;
  const H = top + ran.length * (bar + gap) + 40;
  const max = Math.max(0.001, ...ran.map((r) => Math.abs(r.overIterativeS!)));
  const scale = (W - left - 140) / max;
  const zero = left + (ran.some((r) => r.overIterativeS! < 0) ? 60 : 0);
  const parts = ran.map((r, i) => {
    const y = top + i * (bar + gap);
    const w = r.overIterativeS! * scale;
    const x = w >= 0 ? zero : zero + w;
    const label = `${r.overIterativeS!.toFixed(2)} s, ${Math.round(r.reqPerSec ?? 0)} req/s`;
    return (
      `<text x="${left - 8}" y="${y + bar * 0.7}" text-anchor="end" font-size="12">${escapeXml(r.what)}</text>` +
      `<rect x="${x.toFixed(1)}" y="${y}" width="${Math.abs(w).toFixed(1)}" height="${bar}" fill="${PALETTE[i % PALETTE.length]}"/>` +
      `<text x="${(zero + Math.max(w, 0) + 6).toFixed(1)}" y="${y + bar * 0.7}" font-size="11">${escapeXml(label)}</text>`
    );
  });
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="22" text-anchor="middle" font-size="15">CPU seconds beyond the iterative server (Stevens' process control time)</text>`,
    ...parts,
    `<line x1="${zero}" y1="${top - 4}" x2="${zero}" y2="${H - 36}" stroke="black"/>`,
    '</svg>',
    '',
  ].join('\n');
}

export async function mainDesigns(argv: string[]): Promise<number> {
  let o: DesignOptions | 'help';
  try {
    o = parseDesignArgs(argv);
  } catch (e) {
    process.stderr.write(`zerohttpd bench --designs: ${(e as Error).message}\n\n${DESIGNS_USAGE}\n`);
    return 2;
  }
  if (o === 'help') {
    process.stdout.write(DESIGNS_USAGE + '\n');
    return 0;
  }
  const results = await runDesigns(o, (line) => process.stderr.write(line + '\n'));
  fs.mkdirSync(o.outDir, { recursive: true });
  const md = designsMarkdown(results, o);
  fs.writeFileSync(path.join(o.outDir, 'designs.md'), md + '\n');
  fs.writeFileSync(path.join(o.outDir, 'designs.json'), JSON.stringify({ options: o, results }, null, 2) + '\n');
  fs.writeFileSync(path.join(o.outDir, 'designs.svg'), designsSvg(results));
  process.stdout.write(`${md}\n\nreport: ${path.join(o.outDir, 'designs.md')}, designs.json, designs.svg\n`);
  return 0;
}
