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
import { benchSeries, judgeCell, parseBenchArgs } from '../lib/bench/cli';
import { parseSyscallReport } from '../lib/bench/bench-servers';
import type { BenchResults } from '../lib/bench/report';
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

/** Every polyline's points map back, through the plot geometry written in the SVG, to the JSON's req/s. */
function assertChartMatches(svg: string, r: BenchResults): void {
  const plot = attrs(/<g id="plot"[^>]*>/.exec(svg)![0]);
  const [left, top, right, bottom] = ['data-left', 'data-top', 'data-right', 'data-bottom'].map((k) => Number(plot[k]));
  const xMin = Number(plot['data-x-min']),
    xMax = Number(plot['data-x-max']),
    yMax = Number(plot['data-y-max']);
  const log = plot['data-x-scale'] === 'log';
  const xOf = (c: number) =>
    left + (log ? Math.log10(c / xMin) / Math.log10(xMax / xMin) : (c - xMin) / (xMax - xMin)) * (right - left);
  const yOf = (v: number) => bottom - (v / yMax) * (bottom - top);
  const lines = new Map(
    [...svg.matchAll(/<polyline [^>]*>/g)].map((m) => {
      const a = attrs(m[0]);
      return [
        a['data-series'],
        a.points
          .trim()
          .split(/\s+/)
          .map((p) => p.split(',').map(Number)),
      ];
    }),
  );
  const names = r.settings.series.map((s) => s.name);
  for (const arch of names) {
    const ok = r.settings.concurrency
      .map((c) => r.cells.find((x) => x.series === arch && x.concurrency === c)!)
      .filter((c) => c.status !== 'failed');
    assert.ok(yMax >= Math.max(...ok.map((c) => c.reqPerSec!)), 'the y axis covers every value');
    if (ok.length === 0) {
      assert.ok(!lines.has(arch));
      continue;
    }
    const pts = lines.get(arch);
    assert.ok(pts, `a line for ${arch}`);
    assert.equal(pts.length, ok.length, `${arch}: one point per successful cell`);
    ok.forEach((c, k) => {
      assert.ok(
        Math.abs(pts[k][0] - xOf(c.concurrency)) < 0.02,
        `${arch} c=${c.concurrency}: x ${pts[k][0]} vs ${xOf(c.concurrency)}`,
      );
      assert.ok(
        Math.abs(pts[k][1] - yOf(c.reqPerSec!)) < 0.02,
        `${arch} c=${c.concurrency}: y ${pts[k][1]} vs ${yOf(c.reqPerSec!)}`,
      );
    });
  }
  assert.equal((svg.match(/<path class="failed"/g) ?? []).length, r.cells.filter((c) => c.status === 'failed').length);
  for (const arch of names) assert.ok(svg.includes(`>${arch}</text>`), `legend names ${arch}`);
  assert.equal(
    lines.size,
    names.filter((n) => r.cells.some((c) => c.series === n && c.status !== 'failed')).length,
    'one line per series',
  );
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
      '--log-scale',
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
    assert.match(svg, /data-x-scale="log"/);
    assertWellFormedXml(svg);
    assertChartMatches(svg, json);
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
      () => parseBenchArgs(['--arch', 'epoll,node', '--server-args=--workers 50']),
      /--server-args: --workers applies to none of epoll, node/,
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
