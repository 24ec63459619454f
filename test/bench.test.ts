// `zerohttpd bench` end to end: real servers, a real private redis-server, real load from wrk
// (or autocannon), and the files it writes checked against each other.
import * as assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { CLI } from './helpers/server';
import { parseWrkOutput, parseBashTimes } from '../lib/bench/load';
import {
  BENCH_OPTIONS,
  BENCH_USAGE,
  benchSeries,
  judgeCell,
  parseBenchArgs,
  PASSED_TO_SERVERS,
} from '../lib/bench/cli';
import { COMMAND_LINE } from '../lib/options';
import { parseSyscallReport } from '../lib/bench/bench-servers';
import { CHART_METRICS, markdownReport, readingGuide, svgReport, type BenchResults } from '../lib/bench/report';
import { escapeXml, logTicks } from '../lib/bench/svg';
import { finishSyscallReport } from '../lib/syscall-report';
import { C, native } from '../lib/sys';

function runBench(args: string[], timeoutMs = 60_000): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [CLI, 'bench', ...args],
      { timeout: timeoutMs, maxBuffer: 16 << 20 },
      (err, stdout, stderr) => {
        resolve({ code: err ? Number((err as { code?: unknown }).code ?? 1) : 0, stdout, stderr });
      },
    );
  });
}

/** A strict little XML well-formedness check: tags nest and close, attributes are quoted, text has no raw < or stray &. */
function assertWellFormedXml(xml: string): void {
  const stack: string[] = [];
  let i = 0;
  let rootSeen = false;
  const text = (s: string) => {
    assert.ok(!/&(?!(amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);)/.test(s), `stray & in text: ${s.slice(0, 60)}`);
    if (stack.length === 0) assert.ok(/^\s*$/.test(s), `text outside the root element: ${s.slice(0, 60)}`);
  };
  while (i < xml.length) {
    const lt = xml.indexOf('<', i);
    if (lt < 0) {
      text(xml.slice(i));
      break;
    }
    text(xml.slice(i, lt));
    const gt = xml.indexOf('>', lt);
    assert.ok(gt > lt, 'unterminated tag');
    const tag = xml.slice(lt + 1, gt);
    i = gt + 1;
    if (tag.startsWith('?')) {
      assert.ok(lt === 0 && /^\?xml version="1\.0"( encoding="[\w-]+")?\?$/.test(tag), `bad declaration <${tag}>`);
      continue;
    }
    if (tag.startsWith('/')) {
      assert.equal(tag.slice(1), stack.pop(), `mismatched </${tag.slice(1)}>`);
      continue;
    }
    const selfClosing = tag.endsWith('/');
    const m = /^([A-Za-z][\w:-]*)((?:\s+[A-Za-z_][\w:.-]*="[^"<]*")*)\s*\/?$/.exec(tag);
    assert.ok(m, `malformed tag <${tag.slice(0, 80)}>`);
    const names = [...m[2].matchAll(/([A-Za-z_][\w:.-]*)=/g)].map((a) => a[1]);
    assert.equal(new Set(names).size, names.length, `duplicate attribute in <${m[1]}>`);
    if (stack.length === 0) {
      assert.ok(!rootSeen, 'more than one root element');
      rootSeen = true;
      assert.equal(m[1], 'svg');
    }
    if (!selfClosing) stack.push(m[1]);
  }
  assert.deepEqual(stack, [], 'unclosed elements');
  assert.ok(rootSeen);
}

function attrs(tag: string): Record<string, string> {
  return Object.fromEntries([...tag.matchAll(/([\w:-]+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
}

/** The panels of a chart, by data-metric, each with its text. */
function panels(svg: string): Map<string, string> {
  const out = new Map<string, string>();
  const parts = svg.split('<g class="panel" ').slice(1);
  for (const part of parts)
    out.set(/^data-metric="([^"]+)"/.exec(part)![1], part.slice(0, part.indexOf('<g id="legend">')));
  return out;
}

/** A panel's plot geometry, as written in the SVG, and the data -> pixel mapping it implies. */
function plotOf(panel: string) {
  const plot = attrs(/<g class="plot"[^>]*>/.exec(panel)![0]);
  const [left, top, right, bottom, xMin, xMax, yMin, yMax] = [
    'data-left',
    'data-top',
    'data-right',
    'data-bottom',
    'data-x-min',
    'data-x-max',
    'data-y-min',
    'data-y-max',
  ].map((k) => Number(plot[k]));
  const logX = plot['data-x-scale'] === 'log',
    logY = plot['data-y-scale'] === 'log';
  const t = (v: number, lo: number, hi: number, log: boolean) =>
    log ? Math.log10(v / lo) / Math.log10(hi / lo) : (v - lo) / (hi - lo);
  return {
    logX,
    logY,
    yMin,
    yMax,
    xOf: (c: number) => left + t(c, xMin, xMax, logX) * (right - left),
    yOf: (v: number) => bottom - t(v, yMin, yMax, logY) * (bottom - top),
  };
}

/**
 * One panel per metric, in order; in each, every polyline's points map back, through the plot
 * geometry written in the SVG, to the JSON's values; a cross per failed cell; the legend names
 * every series, and has the failed-cell key iff some cell failed.
 */
function assertChartMatches(svg: string, r: BenchResults, scales: { logX?: boolean; logY?: boolean } = {}): void {
  const byMetric = panels(svg);
  assert.deepEqual(
    [...byMetric.keys()],
    CHART_METRICS.map((m) => m.id),
    'one panel per metric, in order',
  );
  const names = r.settings.series.map((s) => s.name);
  const failed = r.cells.filter((c) => c.status === 'failed').length;
  for (const m of CHART_METRICS) {
    const panel = byMetric.get(m.id)!;
    const g = plotOf(panel);
    assert.equal(g.logX, !!scales.logX, `${m.id}: x scale`);
    assert.equal(g.logY, !!scales.logY, `${m.id}: y scale`);
    assert.match(panel, new RegExp(`class="y-label"[^>]*>[^<]*\\(${m.unit}\\)`), `${m.id}: the y axis says its unit`);
    assert.match(panel, /class="x-label"[^>]*>concurrent connections/);
    const lines = new Map(
      [...panel.matchAll(/<polyline [^>]*>/g)].map((x) => {
        const a = attrs(x[0]);
        return [
          a['data-series'],
          a.points
            .trim()
            .split(/\s+/)
            .map((p) => p.split(',').map(Number)),
        ];
      }),
    );
    for (const name of names) {
      const ok = r.settings.concurrency
        .map((c) => r.cells.find((x) => x.series === name && x.concurrency === c)!)
        .filter((c) => c.status !== 'failed' && m.value(c) !== null && (!g.logY || m.value(c)! > 0));
      for (const c of ok) {
        assert.ok(g.yMax >= m.value(c)!, `${m.id}: the y axis covers ${name} c=${c.concurrency}`);
        if (g.logY) assert.ok(g.yMin <= m.value(c)!);
      }
      if (ok.length === 0) {
        assert.ok(!lines.has(name));
        continue;
      }
      const pts = lines.get(name);
      assert.ok(pts, `${m.id}: a line for ${name}`);
      assert.equal(pts.length, ok.length, `${m.id} ${name}: one point per measured cell`);
      ok.forEach((c, k) => {
        const [x, y] = [g.xOf(c.concurrency), g.yOf(m.value(c)!)];
        assert.ok(Math.abs(pts[k][0] - x) < 0.02, `${m.id} ${name} c=${c.concurrency}: x ${pts[k][0]} vs ${x}`);
        assert.ok(Math.abs(pts[k][1] - y) < 0.02, `${m.id} ${name} c=${c.concurrency}: y ${pts[k][1]} vs ${y}`);
      });
    }
    assert.equal((panel.match(/<path class="failed"/g) ?? []).length, failed, `${m.id}: a cross per failed cell`);
  }
  const legend = svg.slice(svg.indexOf('<g id="legend">'));
  for (const name of names) assert.ok(legend.includes(`>${escapeXml(name)}</text>`), `legend names ${name}`);
  assert.equal(legend.includes('>failed cell</text>'), failed > 0, 'the failed-cell key iff a cell failed');
}

function portClosed(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(false);
    });
    s.once('error', () => resolve(true));
  });
}

function pidGone(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return false;
  } catch {
    return true;
  }
}

async function assertCleanedUp(r: BenchResults): Promise<void> {
  const redisPort = Number(/127\.0\.0\.1:(\d+)/.exec(r.settings.redis ?? '')?.[1]);
  assert.ok(redisPort > 0 && redisPort !== 6379, 'a private Redis on its own port');
  assert.ok(await portClosed(redisPort), 'the private Redis is gone');
  for (const s of r.servers)
    for (const run of s.runs) assert.ok(pidGone(run.pid), `${s.arch} server ${run.pid} is gone`);
}

/** The series' syscall summary agrees with the servers' own reports, and covers every request the generator got. */
function assertSyscallSummary(r: BenchResults, series: string): NonNullable<BenchResults['servers'][0]['syscalls']> {
  const sv = r.servers.find((s) => s.series === series)!;
  const s = sv.syscalls!;
  assert.ok(s, `${series} has a syscall summary`);
  const counted = sv.runs.filter((x) => x.syscalls);
  assert.equal(s.runsCounted, counted.length);
  assert.equal(
    s.accepted,
    counted.reduce((a, x) => a + x.syscalls!.accepted, 0),
  );
  assert.equal(
    s.total,
    counted.reduce((a, x) => a + x.syscalls!.total, 0),
  );
  for (const x of counted) {
    assert.equal(
      x.syscalls!.total,
      x.syscalls!.rows.reduce((a, row) => a + row.calls, 0),
      'the total row is the sum of the rows',
    );
    const acc = x.syscalls!.rows.find((row) => row.name === 'accept4');
    if (x.syscalls!.accepted > 0)
      assert.equal(x.syscalls!.accepted, acc!.calls - acc!.errors, 'connections accepted = successful accept4 calls');
  }
  if (s.accepted > 0) {
    assert.equal(s.perRequest, s.total / s.accepted);
    // Every response the generator counted came over a connection the server accepted (plus the warm-up and the preflight GET).
    const done = r.cells.filter((c) => c.series === series).reduce((a, c) => a + c.requests, 0);
    if (s.runsCounted === s.runs)
      assert.ok(s.accepted >= done, `${series}: accepted ${s.accepted} >= requests ${done}`);
    assert.ok(
      s.top.length > 0 && s.top.every((t, k) => k === 0 || t.calls <= s.top[k - 1].calls),
      'top syscalls, most frequent first',
    );
  }
  return s;
}

/** The Markdown syscall table row of a series: [syscalls/req, recvfrom/req, accepted, syscalls, top]. */
function syscallRow(md: string, series: string): string[] {
  const esc = series.replace(/[()]/g, '\\$&');
  const m = new RegExp(`^\\| ${esc} \\| ([^|]+) \\| ([^|]+) \\| ([^|]+) \\| ([^|]+) \\| ([^|]+) \\|$`, 'm').exec(
    md.slice(md.indexOf('**Syscalls per request**')),
  );
  assert.ok(m, `a syscall row for ${series}`);
  return m.slice(1).map((x) => x.trim());
}

describe('zerohttpd bench', function () {
  this.timeout(90_000);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'zerohttpd-bench-test-'));
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('runs iterative and node at two levels and writes a table, JSON, CSV and a chart that agree', async () => {
    const out = path.join(tmp, 'run1');
    const r = await runBench(['--arch', 'iterative,node', '--concurrency', '2,8', '--duration', '1', '--out', out]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /\[1\/4\] iterative\s+c=2 /);
    assert.match(r.stderr, /\[4\/4\] node\s+c=8 /);
    const json = JSON.parse(fs.readFileSync(path.join(out, 'results.json'), 'utf8')) as BenchResults;
    assert.equal(json.format, 'zerohttpd-bench/1');
    assert.deepEqual(json.settings.architectures, ['iterative', 'node']);
    assert.deepEqual(
      json.settings.series.map((s) => s.name),
      ['iterative', 'node'],
      'one reader: the columns are the architectures',
    );
    assert.equal(json.settings.syscallStats, true, 'servers count their syscalls by default');
    assert.deepEqual(json.settings.concurrency, [2, 8]);
    assert.equal(json.settings.path, '/guestbook');
    assert.equal(json.cells.length, 4);
    for (const c of json.cells) {
      assert.notEqual(c.status, 'failed', `${c.arch} c=${c.concurrency}: ${c.problems.join('; ')}`);
      assert.ok(c.reqPerSec! > 0 && c.requests > 0);
      assert.equal(c.non2xx, 0, 'the guestbook answered 200 (Redis is up)');
      assert.ok(c.latencyMs.p50! > 0 && c.latencyMs.p99! >= c.latencyMs.p50!);
      assert.ok(c.serverCpuS! > 0 && c.cpuPerRequestUs! > 0);
      assert.ok(c.peakRssKb! > 10_000, 'a node process is more than 10 MB');
      assert.ok(c.redisCpuS !== null && c.generatorCpuPct !== null);
    }
    for (const s of json.servers) {
      assert.equal(s.runs.length, 1);
      assert.equal(s.runs[0].exit?.code, 0, `${s.arch} exited 0 on SIGINT`);
      assert.ok(s.runs[0].stats && s.runs[0].stats.user + s.runs[0].stats.sys > 0, `${s.arch} printed its stats line`);
      const cellCpu = json.cells.filter((c) => c.arch === s.arch).reduce((a, c) => a + c.serverCpuS!, 0);
      assert.ok(s.runs[0].stats.user + s.runs[0].stats.sys >= cellCpu - 0.05, 'the stats line covers the levels');
    }
    // Syscalls per request: a number for iterative, n/a for node (node:http makes no addon syscalls).
    const it = assertSyscallSummary(json, 'iterative');
    assert.ok(it.perRequest! > 0 && it.accepted > 0);
    assert.ok(it.recvfromPerRequest! >= 40, 'the default byte reader: a recvfrom per byte of the request head');
    const nd = assertSyscallSummary(json, 'node');
    assert.equal(nd.accepted, 0);
    assert.equal(nd.perRequest, null);
    assert.match(r.stderr, /iterative stopped: .*, [\d.]+ syscalls\/request \(recvfrom [\d.]+/);
    assert.match(r.stderr, /node stopped: .*, syscalls per request n\/a/);
    // Markdown: the req/s table holds the JSON's numbers.
    const md = fs.readFileSync(path.join(out, 'results.md'), 'utf8');
    assert.ok(md.startsWith('# zerohttpd benchmark') && md.includes('## How to read this'));
    assert.ok(md.includes('| concurrency | iterative | node |'));
    for (const c of [2, 8]) {
      const row = new RegExp(`^\\| ${c} \\| ([^|]+) \\| ([^|]+) \\|$`, 'm').exec(md)!;
      ['iterative', 'node'].forEach((a, k) => {
        const cell = json.cells.find((x) => x.arch === a && x.concurrency === c)!;
        assert.equal(row[k + 1].trim().replace(' ⚠', ''), Math.round(cell.reqPerSec!).toLocaleString('en-US'));
      });
    }
    assert.match(md, new RegExp(`wrk|autocannon`));
    assert.match(md, /\*\*Syscalls per request\*\* \(per architecture and reader, not per cell/);
    const itRow = syscallRow(md, 'iterative');
    assert.equal(itRow[0], it.perRequest!.toFixed(1));
    assert.equal(itRow[1], it.recvfromPerRequest!.toFixed(1));
    assert.equal(itRow[2], it.accepted.toLocaleString('en-US'));
    assert.match(itRow[4], /^recvfrom [\d.]+, /);
    assert.deepEqual(syscallRow(md, 'node').slice(0, 2), ['n/a', 'n/a']);
    assert.ok(r.stdout.includes('**Syscalls per request**'), 'printed with the req/s table');
    assert.ok(md.includes(json.settings.generator.settings), 'the report names the generator and its settings');
    // CSV: one row per cell, same numbers.
    const csv = fs.readFileSync(path.join(out, 'results.csv'), 'utf8').trim().split('\n');
    const head = csv[0].split(',');
    assert.equal(csv.length, 5);
    for (const line of csv.slice(1)) {
      const f = Object.fromEntries(line.split(',').map((v, k) => [head[k], v]));
      const cell = json.cells.find((x) => x.arch === f.arch && x.concurrency === Number(f.concurrency))!;
      assert.equal(Number(f.req_per_s), Number(cell.reqPerSec!.toFixed(1)));
      assert.equal(Number(f.requests), cell.requests);
      assert.equal(f.series, f.arch);
      const sys = json.servers.find((s) => s.series === f.series)!.syscalls!;
      assert.equal(f.run_syscalls_per_request, sys.perRequest === null ? '' : sys.perRequest.toFixed(2));
    }
    // SVG: well-formed, and its lines are the JSON's numbers.
    const svg = fs.readFileSync(path.join(out, 'chart.svg'), 'utf8');
    assertWellFormedXml(svg);
    assertChartMatches(svg, json);
    await assertCleanedUp(json);
  });

  it('reports a server that dies mid-level as a failed cell, restarts it and goes on', async () => {
    // --inject-crash is a fault-injection knob for exactly this test: the harness SIGKILLs the
    // server's whole process group halfway through the level, as an OOM kill or a crash would.
    const out = path.join(tmp, 'run2');
    const r = await runBench([
      '--arch',
      'iterative,node',
      '--concurrency',
      '2,4,8',
      '--duration',
      '1',
      '--path',
      '/',
      '--inject-crash',
      'iterative@4',
      '--log-x',
      '--log-y',
      '--out',
      out,
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /iterative\s+c=4\s+FAILED: server died during the run \(signal SIGKILL\)/);
    const json = JSON.parse(fs.readFileSync(path.join(out, 'results.json'), 'utf8')) as BenchResults;
    const cell = (a: string, c: number) => json.cells.find((x) => x.arch === a && x.concurrency === c)!;
    assert.equal(cell('iterative', 4).status, 'failed');
    assert.equal(cell('iterative', 4).reqPerSec, null);
    assert.match(cell('iterative', 4).problems[0], /server died/);
    assert.notEqual(cell('iterative', 2).status, 'failed');
    assert.notEqual(cell('iterative', 8).status, 'failed', 'the level after the crash ran on a restarted server');
    for (const c of [2, 4, 8])
      assert.notEqual(cell('node', c).status, 'failed', 'the other architecture is unaffected');
    const it = json.servers.find((s) => s.arch === 'iterative')!;
    assert.equal(it.runs.length, 2);
    assert.equal(it.runs[0].exit?.signal, 'SIGKILL');
    assert.equal(it.runs[0].stats, null);
    assert.equal(it.runs[1].exit?.code, 0);
    assert.ok(it.notes.some((n) => /restarted before c=8/.test(n)));
    // The killed server printed no syscall report: the summary says it counts one run of two.
    assert.equal(it.runs[0].syscalls, null);
    const sys = assertSyscallSummary(json, 'iterative');
    assert.deepEqual([sys.runsCounted, sys.runs], [1, 2]);
    assert.ok(sys.perRequest! > 0);
    const md = fs.readFileSync(path.join(out, 'results.md'), 'utf8');
    assert.match(syscallRow(md, 'iterative')[4], /\(1 of 2 server runs\)$/);
    assert.match(md, /^\| 4 \| ✗ died \(SIGKILL\) \| [\d,]+( ⚠)? \|$/m);
    assert.match(md, /iterative c=4 \(failed\): server died during the run \(signal SIGKILL\)/);
    const svg = fs.readFileSync(path.join(out, 'chart.svg'), 'utf8');
    assertWellFormedXml(svg);
    assertChartMatches(svg, json, { logX: true, logY: true });
    assert.match(md, /The y axes are logarithmic \(`--log-y`\)/);
    assert.match(md, /a cross on the x axis is a failed cell/);
    await assertCleanedUp(json);
  });

  it('falls back to autocannon (the npm dependency) with the same report', async () => {
    const out = path.join(tmp, 'run3');
    const r = await runBench([
      '--arch',
      'node',
      '--concurrency',
      '4',
      '--duration',
      '1',
      '--warmup',
      '0',
      '--path',
      '/',
      '--generator',
      'autocannon',
      '--no-syscall-stats',
      '--out',
      out,
    ]);
    assert.equal(r.code, 0, r.stderr);
    const json = JSON.parse(fs.readFileSync(path.join(out, 'results.json'), 'utf8')) as BenchResults;
    assert.equal(json.settings.generator.name, 'autocannon');
    assert.notEqual(json.cells[0].status, 'failed', json.cells[0].problems.join('; '));
    assert.ok(json.cells[0].reqPerSec! > 0 && json.cells[0].generatorCpuPct! > 0);
    // --no-syscall-stats: the server was not asked to count, so no summary and no table.
    assert.equal(json.settings.syscallStats, false);
    assert.equal(json.servers[0].syscalls, undefined);
    assert.equal(json.servers[0].runs[0].syscalls, undefined);
    assert.ok(!fs.readFileSync(path.join(out, 'results.md'), 'utf8').includes('Syscalls per request'));
    await assertCleanedUp(json);
  });

  it('--reader byte,buffered runs each architecture once per reader (node once) and shows what one-byte reads cost', async () => {
    const out = path.join(tmp, 'run4');
    const r = await runBench([
      '--arch',
      'iterative,node',
      '--reader',
      'byte,buffered',
      '--concurrency',
      '2,8',
      '--duration',
      '1',
      '--warmup',
      '0',
      '--out',
      out,
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /\[1\/6\] iterative\s+c=2 /);
    assert.match(r.stderr, /\[3\/6\] iterative \(buffered\) c=2 /);
    assert.match(r.stderr, /\[6\/6\] node\s+c=8 /);
    const json = JSON.parse(fs.readFileSync(path.join(out, 'results.json'), 'utf8')) as BenchResults;
    assert.deepEqual(json.settings.readers, ['byte', 'buffered']);
    assert.equal(json.settings.reader, null);
    assert.deepEqual(json.settings.series, [
      { name: 'iterative', arch: 'iterative', reader: 'byte' },
      { name: 'iterative (buffered)', arch: 'iterative', reader: 'buffered' },
      { name: 'node', arch: 'node', reader: null },
    ]);
    assert.deepEqual(
      json.servers.map((s) => [s.series, s.runs.length]),
      [
        ['iterative', 1],
        ['iterative (buffered)', 1],
        ['node', 1],
      ],
    );
    assert.equal(json.cells.length, 6);
    for (const c of json.cells) {
      assert.notEqual(c.status, 'failed', `${c.series} c=${c.concurrency}: ${c.problems.join('; ')}`);
      assert.equal(c.non2xx, 0);
    }
    const byte = assertSyscallSummary(json, 'iterative');
    const buffered = assertSyscallSummary(json, 'iterative (buffered)');
    const nd = assertSyscallSummary(json, 'node');
    assert.ok(byte.perRequest! > 0 && buffered.perRequest! > 0);
    assert.ok(
      byte.recvfromPerRequest! > buffered.recvfromPerRequest!,
      `recvfrom/request: byte ${byte.recvfromPerRequest} > buffered ${buffered.recvfromPerRequest}`,
    );
    assert.ok(byte.perRequest! > buffered.perRequest!);
    assert.equal(nd.perRequest, null);
    // Markdown: a column per series in every table, and the syscall table.
    const md = fs.readFileSync(path.join(out, 'results.md'), 'utf8');
    assert.ok(md.includes('| concurrency | iterative | iterative (buffered) | node |'));
    for (const c of [2, 8]) {
      const row = new RegExp(`^\\| ${c} \\| ([^|]+) \\| ([^|]+) \\| ([^|]+) \\|$`, 'm').exec(md)!;
      json.settings.series.forEach((s, k) => {
        const cell = json.cells.find((x) => x.series === s.name && x.concurrency === c)!;
        assert.equal(row[k + 1].trim().replace(' ⚠', ''), Math.round(cell.reqPerSec!).toLocaleString('en-US'));
      });
    }
    assert.equal(syscallRow(md, 'iterative')[1], byte.recvfromPerRequest!.toFixed(1));
    assert.equal(syscallRow(md, 'iterative (buffered)')[1], buffered.recvfromPerRequest!.toFixed(1));
    assert.deepEqual(syscallRow(md, 'node').slice(0, 2), ['n/a', 'n/a']);
    assert.match(md, /server reader byte and buffered, one server run each/);
    // CSV: series and reader per row, the run's figures repeated on its rows.
    const csv = fs.readFileSync(path.join(out, 'results.csv'), 'utf8').trim().split('\n');
    const head = csv[0].split(',');
    assert.equal(csv.length, 7);
    const rows = csv.slice(1).map((line) => Object.fromEntries(line.split(',').map((v, k) => [head[k], v])));
    assert.deepEqual(
      rows.map((f) => `${f.series}/${f.reader}`),
      [
        'iterative/byte',
        'iterative/byte',
        'iterative (buffered)/buffered',
        'iterative (buffered)/buffered',
        'node/',
        'node/',
      ],
    );
    assert.equal(rows[0].run_recvfrom_per_request, byte.recvfromPerRequest!.toFixed(2));
    assert.equal(rows[2].run_recvfrom_per_request, buffered.recvfromPerRequest!.toFixed(2));
    assert.equal(rows[4].run_syscalls_per_request, '');
    // SVG: a line per series.
    const svg = fs.readFileSync(path.join(out, 'chart.svg'), 'utf8');
    assertWellFormedXml(svg);
    assertChartMatches(svg, json);
    assert.ok(svg.includes('>iterative (buffered)</text>'));
    await assertCleanedUp(json);
  });

  it('refuses bad arguments with usage and exit 2', async () => {
    const r = await runBench(['--arch', 'nosuch']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /unknown architecture 'nosuch'/);
    assert.equal((await runBench(['--concurrency', '10,x'])).code, 2);
    assert.equal((await runBench(['--inject-crash', 'iterative'])).code, 2);
    assert.deepEqual((parseBenchArgs(['--article']) as { levels: number[] }).levels.slice(-1), [15000]);
    assert.match(
      (await runBench(['--reader', 'byte,bytes'])).stderr,
      /--reader must be byte, buffered or byte,buffered/,
    );
    const o = parseBenchArgs([
      '--arch',
      'epoll,node,poll',
      '--reader',
      'byte,buffered,byte',
      '--no-syscall-stats',
    ]) as Exclude<ReturnType<typeof parseBenchArgs>, 'help'>;
    assert.deepEqual(o.readers, ['byte', 'buffered']);
    assert.equal(o.syscallStats, false);
    assert.deepEqual(
      benchSeries(o).map((s) => s.name),
      ['epoll', 'epoll (buffered)', 'node', 'poll', 'poll (buffered)'],
    );
    assert.deepEqual(
      benchSeries({ archs: ['epoll', 'node'], readers: ['buffered'] }).map((s) => [s.name, s.reader]),
      [
        ['epoll', 'buffered'],
        ['node', null],
      ],
    );
    assert.equal((parseBenchArgs([]) as { syscallStats: boolean }).syscallStats, true);
    // --server-args go to the servers they apply to; one that applies to none is a mistake.
    assert.throws(
      () => parseBenchArgs(['--arch', 'epoll,node', '--server-args=--threads 50']),
      /--server-args: --threads applies to none of epoll, node/,
    );
    assert.deepEqual(
      (parseBenchArgs(['--arch', 'preforked,epoll', '--server-args=--workers 50']) as { serverArgs: string[] })
        .serverArgs,
      ['--workers', '50'],
    );
  });

  it('parses the syscall table a server prints (here: this process, counting with =time)', () => {
    native.resetSyscallStats();
    native.setSyscallStats(2, false);
    const fd = native.socket(C.AF_INET, C.SOCK_STREAM, 0);
    native.close(fd);
    native.close(-1); // EBADF
    native.close(-1);
    const text = finishSyscallReport(true); // stops counting
    const rows = native.syscallStats();
    native.resetSyscallStats();
    const r = parseSyscallReport(`user time = 0.1 s, sys time = 0.2 s\n${text}\n`)!;
    assert.ok(r, text);
    assert.equal(r.accepted, 0);
    assert.equal(
      r.total,
      rows.reduce((a, x) => a + x.calls, 0),
    );
    assert.equal(
      r.errors,
      rows.reduce((a, x) => a + x.errors, 0),
    );
    assert.deepEqual(
      new Map(r.rows.map((x) => [x.name, [x.calls, x.errors]])),
      new Map(rows.map((x) => [x.name, [x.calls, x.errors]])),
    );
    assert.deepEqual(
      r.rows.find((x) => x.name === 'close'),
      { name: 'close', calls: 3, errors: 2 },
    );
    assert.equal(parseSyscallReport('user time = 0.1 s, sys time = 0.2 s\n'), null);
    assert.equal(parseSyscallReport(text.replace(/^total .*$/m, '')), null, 'a truncated table is not half-counted');
  });

  describe('judging a cell', () => {
    const base = {
      serverDied: null,
      generatorError: null,
      serverCpuS: 1,
      redisCpuS: 0.1,
      peakRssKb: 50_000,
      threads: 1,
      timeWait: 0,
      portRangeSize: 28232,
    };
    const load = (over: object) => ({
      requests: 10_000,
      non2xx: 0,
      durationS: 2,
      errors: { connect: 0, read: 0, write: 0, timeout: 0 },
      errorCodes: {},
      latencyMs: { p50: 1, p90: 2, p99: 3 },
      generatorCpuS: 0.5,
      wallS: 2,
      ...over,
    });
    it('a clean level is ok, with successful responses per second and CPU per request', () => {
      const c = judgeCell('x', 10, load({}), base);
      assert.equal(c.status, 'ok');
      assert.equal(c.reqPerSec, 5000);
      assert.equal(c.cpuPerRequestUs, 100);
      assert.equal(c.generatorCpuPct, 25);
    });
    it('non-2xx answers do not count as throughput; most of them fail the cell', () => {
      const some = judgeCell('x', 10, load({ non2xx: 500 }), base);
      assert.equal(some.status, 'warn');
      assert.equal(some.reqPerSec, 4750);
      assert.equal(judgeCell('x', 10, load({ non2xx: 9000 }), base).status, 'failed');
    });
    it('a saturated generator and exhausted ephemeral ports are called out', () => {
      const sat = judgeCell('x', 10, load({ generatorCpuS: 1.95 }), base);
      assert.equal(sat.status, 'warn');
      assert.match(sat.problems.join(), /load generator saturated/);
      const ports = judgeCell('x', 10, load({ errors: { connect: 300, read: 0, write: 0, timeout: 0 } }), {
        ...base,
        timeWait: 27_000,
      });
      assert.match(ports.problems.join(), /EADDRNOTAVAIL likely/);
    });
    it('a dead server or a failed generator fails the cell whatever the numbers', () => {
      assert.equal(judgeCell('x', 10, load({}), { ...base, serverDied: 'server died' }).status, 'failed');
      assert.equal(judgeCell('x', 10, null, { ...base, generatorError: 'boom' }).reqPerSec, null);
    });
  });

  describe('the report for learners (on the recorded run behind docs/benchmarks.md)', () => {
    const docs = path.join(__dirname, '..', '..', 'docs');
    const recorded = () =>
      JSON.parse(fs.readFileSync(path.join(docs, 'benchmark-results.json'), 'utf8')) as BenchResults;
    /** The same run with one more failed cell, or with none. */
    const withFailure = (failed: boolean) => {
      const r = recorded();
      for (const c of r.cells) {
        if (c.status === 'failed' && !failed) Object.assign(c, { status: 'ok', reqPerSec: 1, problems: [] });
      }
      if (failed)
        Object.assign(r.cells[1], { status: 'failed', reqPerSec: null, problems: ['server died during the run'] });
      return r;
    };

    it('docs/benchmark-chart.svg is the chart of docs/benchmark-results.json, drawn as its command asked', () => {
      const r = recorded();
      const o = parseBenchArgs(r.command.split(' ').slice(2)) as Exclude<ReturnType<typeof parseBenchArgs>, 'help'>;
      const scales = { logX: o.logScale, logY: o.logY };
      const svg = svgReport(r, scales);
      assert.equal(
        fs.readFileSync(path.join(docs, 'benchmark-chart.svg'), 'utf8'),
        svg,
        'regenerate it, do not edit it',
      );
      assertWellFormedXml(svg);
      assertChartMatches(svg, r, scales);
    });

    it('small multiples: one panel per metric, units on the axes, and lines that match the data on either scale', () => {
      for (const scales of [{}, { logY: true }, { logX: true, logY: true }]) {
        for (const failed of [false, true]) {
          const r = withFailure(failed);
          const svg = svgReport(r, scales);
          assertWellFormedXml(svg);
          assertChartMatches(svg, r, scales); // includes: the failed-cell key iff a cell failed
          assert.equal(svg.includes('failed cell'), failed);
        }
      }
    });

    it('a log y axis has 1-2-5 ticks spaced by ratio, from a power of ten below the data to one above', () => {
      const r = withFailure(false);
      const svg = svgReport(r, { logY: true });
      for (const [id, panel] of panels(svg)) {
        const axis = /<g class="y-axis" data-scale="log"[^]*?<\/g>/.exec(panel)?.[0];
        assert.ok(axis, `${id}: a log y axis`);
        const ticks = [...axis.matchAll(/<text class="tick" data-value="([^"]+)" x="[^"]+" y="([^"]+)"/g)].map((m) => ({
          v: Number(m[1]),
          y: Number(m[2]) - 4,
        }));
        assert.ok(ticks.length >= 2, `${id}: ticks`);
        const g = plotOf(panel);
        for (const e of [g.yMin, g.yMax]) assert.ok(Number.isInteger(Math.log10(e)), `${id}: ${e} is a power of ten`);
        assert.deepEqual([ticks[0].v, ticks[ticks.length - 1].v], [g.yMin, g.yMax]);
        for (const t of ticks) {
          assert.match(t.v.toExponential(), /^[125]e[-+]\d+$/, `${id}: tick ${t.v} is 1, 2 or 5 x 10^k`);
          assert.ok(Math.abs(t.y - g.yOf(t.v)) < 0.02, `${id}: tick ${t.v} where the log scale puts it`);
        }
        const decades = ticks.filter((t) => t.v.toExponential().startsWith('1e'));
        for (let k = 2; k < decades.length; k++) {
          const a = decades[k - 2].y - decades[k - 1].y,
            b = decades[k - 1].y - decades[k].y;
          assert.ok(Math.abs(a - b) < 0.05, `${id}: every decade is as tall as the last (${a} vs ${b})`);
        }
      }
      assert.deepEqual(logTicks(3, 700), [5, 10, 20, 50, 100, 200, 500]);
      assert.deepEqual(
        logTicks(1, 1e6),
        [1, 10, 100, 1000, 10_000, 100_000, 1_000_000],
        'only decades over > 3 decades',
      );
      assert.deepEqual(logTicks(0.01, 1), [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1]);
    });

    it("results.md starts with a reading guide that uses the run's own backlog, cores and slowest series", () => {
      const r = withFailure(false);
      const md = markdownReport(r, 'chart.svg', {});
      assert.ok(md.indexOf('## How to read this') < md.indexOf('**Requests per second**'), 'the guide comes first');
      const guide = readingGuide(r, {});
      assert.match(guide, /\*\*One connection per request\.\*\*/);
      assert.match(guide, /\*\*CPU per request\*\*/);
      assert.match(guide, /\*\*p99 and the listen backlog of 10\*\* \(the servers' default/);
      assert.match(guide, new RegExp(`share this machine's ${r.machine.cpus} cores`));
      assert.ok(!guide.includes('a cross on the x axis'), 'no failed cell: no word about crosses');
      assert.match(readingGuide(withFailure(true), {}), /a cross on the x axis is a failed cell/);
      // The slowest series' best against the fastest's: on a linear axis, say how to see it.
      const rates = r.settings.series.map((s) =>
        Math.max(...r.cells.filter((c) => c.series === s.name && c.status !== 'failed').map((c) => c.reqPerSec!)),
      );
      const slowest = r.settings.series[rates.indexOf(Math.min(...rates))].name;
      if (Math.max(...rates) / Math.min(...rates) >= 20) {
        assert.match(
          guide,
          new RegExp(`The slowest, ${slowest}, peaks at .* \`zerohttpd bench --replot results.json --log-y\``),
        );
        assert.ok(!readingGuide(r, { logY: true }).includes('peaks at'));
      }
      const flat = recorded();
      flat.cells.forEach((c) => c.status !== 'failed' && (c.reqPerSec = 1000 + c.concurrency));
      assert.ok(!readingGuide(flat, {}).includes('--log-y'), 'no hint when every line is visible');
      // --backlog from --server-args, capped by somaxconn.
      const b = recorded();
      b.settings.serverArgs = ['--backlog', '4096'];
      b.machine.somaxconn = '1024';
      assert.match(
        readingGuide(b, {}),
        /listen backlog of 1024\*\* \(`--backlog` from `--server-args`, at most net\.core\.somaxconn = 1024\)/,
      );
      b.settings.serverArgs = ['--backlog=64'];
      assert.match(readingGuide(b, {}), /listen backlog of 64\*\*/);
    });
  });

  it('its own options mean nothing else to a server, renamed ones name their new spelling, --replot redraws a recorded run', async () => {
    const servers = new Set(Object.keys(COMMAND_LINE));
    for (const name of Object.keys(BENCH_OPTIONS)) {
      const as = name.replace(/^no-/, '');
      if (PASSED_TO_SERVERS.includes(name)) assert.ok(servers.has(as), `${name} is passed to the servers: theirs`);
      else assert.ok(!servers.has(as), `bench --${name} collides with the servers' --${as}`);
    }
    // The command line: exit 2 and exactly one line, no usage after it.
    const r = await runBench(['--arch', 'prethreaded', '--threads', '2']);
    assert.equal(r.code, 2);
    assert.equal(
      r.stderr,
      "zerohttpd bench: --threads is now --load-threads (the load generator's threads; prethreaded's --threads goes in --server-args)\n",
    );
    assert.throws(
      () => parseBenchArgs(['--timeout=2']),
      /: --timeout is now --load-timeout \(the load generator's timeout; the servers' --timeout goes in --server-args\)$/,
    );
    assert.throws(() => parseBenchArgs(['--out', 'x', '--threads', '2']), /--threads is now --load-threads/);
    assert.doesNotThrow(() => parseBenchArgs(['--arch', 'prethreaded', '--server-args=--threads 8']));
    const o = parseBenchArgs([
      '--arch',
      'prethreaded',
      '--load-threads',
      '2',
      '--load-timeout',
      '9',
      '--server-args=--threads 8 --timeout 3',
      '--log-scale',
    ]) as Exclude<ReturnType<typeof parseBenchArgs>, 'help'>;
    assert.deepEqual(
      [o.threads, o.timeoutS, o.serverArgs, o.logScale, o.logY],
      [2, 9, ['--threads', '8', '--timeout', '3'], true, false],
    );
    assert.equal((parseBenchArgs(['--log-x', '--log-y']) as { logY: boolean }).logY, true);
    // --replot redraws an earlier run's reports without running anything.
    const out = path.join(tmp, 'replot');
    fs.mkdirSync(out);
    const replot = await runBench([
      '--replot',
      path.join(__dirname, '..', '..', 'docs', 'benchmark-results.json'),
      '--log-y',
      '--out',
      out,
    ]);
    assert.equal(replot.code, 0, replot.stderr);
    const recorded = JSON.parse(fs.readFileSync(path.join(out, 'results.json'), 'utf8')) as BenchResults;
    assert.equal(fs.readFileSync(path.join(out, 'chart.svg'), 'utf8'), svgReport(recorded, { logY: true }));
    assert.match(fs.readFileSync(path.join(out, 'results.md'), 'utf8'), /The y axes are logarithmic/);
    assert.throws(
      () => parseBenchArgs(['--replot', 'x.json', '--arch', 'epoll']),
      /--replot runs nothing: --arch does not go with it/,
    );
    assert.match(BENCH_USAGE, /^ {2}--load-threads N /m);
    assert.match(BENCH_USAGE, /^ {2}--log-y /m);
    assert.doesNotMatch(BENCH_USAGE, /^ {2}--(threads|timeout) /m);
  });

  it('parses wrk reports and bash times', () => {
    const report = `Running 1s test @ http://127.0.0.1:1/guestbook
  1 threads and 500 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   150.12ms  300.50ms   1.90s    90.00%
    Req/Sec     2.10k   300.00     2.50k    70.00%
  Latency Distribution
     50%  750.00us
     75%    3.00ms
     90%  400.00ms
     99%    1.50s
  2100 requests in 1.01s, 5.00MB read
  Socket errors: connect 12, read 3, write 0, timeout 7
  Non-2xx or 3xx responses: 40
Requests/sec:   2079.21
Transfer/sec:      4.95MB
`;
    const r = parseWrkOutput(report);
    assert.equal(r.requests, 2100);
    assert.equal(r.durationS, 1.01);
    assert.equal(r.non2xx, 40);
    assert.deepEqual(r.errors, { connect: 12, read: 3, write: 0, timeout: 7 });
    assert.deepEqual(r.latencyMs, { p50: 0.75, p90: 400, p99: 1500 });
    assert.equal(parseBashTimes('0m0.001s 0m0.002s\n0m1.250s 0m0.500s\n'), 1.75);
    assert.throws(() => parseWrkOutput('unable to connect to 127.0.0.1:1 Connection refused'));
  });
});
