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
import { judgeCell, parseBenchArgs } from '../lib/bench/cli';
import type { BenchResults } from '../lib/bench/report';

function runBench(args: string[], timeoutMs = 60_000): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, 'bench', ...args], { timeout: timeoutMs, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      resolve({ code: err ? Number((err as { code?: unknown }).code ?? 1) : 0, stdout, stderr });
    });
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
    const names = [...m![2].matchAll(/([A-Za-z_][\w:.-]*)=/g)].map((a) => a[1]);
    assert.equal(new Set(names).size, names.length, `duplicate attribute in <${m![1]}>`);
    if (stack.length === 0) {
      assert.ok(!rootSeen, 'more than one root element');
      rootSeen = true;
      assert.equal(m![1], 'svg');
    }
    if (!selfClosing) stack.push(m![1]);
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
  const xMin = Number(plot['data-x-min']), xMax = Number(plot['data-x-max']), yMax = Number(plot['data-y-max']);
  const log = plot['data-x-scale'] === 'log';
  const xOf = (c: number) => left + (log ? Math.log10(c / xMin) / Math.log10(xMax / xMin) : (c - xMin) / (xMax - xMin)) * (right - left);
  const yOf = (v: number) => bottom - (v / yMax) * (bottom - top);
  const lines = new Map([...svg.matchAll(/<polyline [^>]*>/g)].map((m) => {
    const a = attrs(m[0]);
    return [a['data-series'], a.points.trim().split(/\s+/).map((p) => p.split(',').map(Number))];
  }));
  for (const arch of r.settings.architectures) {
    const ok = r.settings.concurrency.map((c) => r.cells.find((x) => x.arch === arch && x.concurrency === c)!).filter((c) => c.status !== 'failed');
    assert.ok(yMax >= Math.max(...ok.map((c) => c.reqPerSec!)), 'the y axis covers every value');
    if (ok.length === 0) {
      assert.ok(!lines.has(arch));
      continue;
    }
    const pts = lines.get(arch);
    assert.ok(pts, `a line for ${arch}`);
    assert.equal(pts!.length, ok.length, `${arch}: one point per successful cell`);
    ok.forEach((c, k) => {
      assert.ok(Math.abs(pts![k][0] - xOf(c.concurrency)) < 0.02, `${arch} c=${c.concurrency}: x ${pts![k][0]} vs ${xOf(c.concurrency)}`);
      assert.ok(Math.abs(pts![k][1] - yOf(c.reqPerSec!)) < 0.02, `${arch} c=${c.concurrency}: y ${pts![k][1]} vs ${yOf(c.reqPerSec!)}`);
    });
  }
  assert.equal((svg.match(/<path class="failed"/g) ?? []).length, r.cells.filter((c) => c.status === 'failed').length);
  for (const arch of r.settings.architectures) assert.ok(svg.includes(`>${arch}</text>`), `legend names ${arch}`);
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
  for (const s of r.servers) for (const run of s.runs) assert.ok(pidGone(run.pid), `${s.arch} server ${run.pid} is gone`);
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
      assert.ok(s.runs[0].stats!.user + s.runs[0].stats!.sys >= cellCpu - 0.05, 'the stats line covers the levels');
    }
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
    const r = await runBench(['--arch', 'iterative,node', '--concurrency', '2,4,8', '--duration', '1', '--path', '/', '--inject-crash', 'iterative@4', '--log-scale', '--out', out]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /iterative\s+c=4\s+FAILED: server died during the run \(signal SIGKILL\)/);
    const json = JSON.parse(fs.readFileSync(path.join(out, 'results.json'), 'utf8')) as BenchResults;
    const cell = (a: string, c: number) => json.cells.find((x) => x.arch === a && x.concurrency === c)!;
    assert.equal(cell('iterative', 4).status, 'failed');
    assert.equal(cell('iterative', 4).reqPerSec, null);
    assert.match(cell('iterative', 4).problems[0], /server died/);
    assert.notEqual(cell('iterative', 2).status, 'failed');
    assert.notEqual(cell('iterative', 8).status, 'failed', 'the level after the crash ran on a restarted server');
    for (const c of [2, 4, 8]) assert.notEqual(cell('node', c).status, 'failed', 'the other architecture is unaffected');
    const it = json.servers.find((s) => s.arch === 'iterative')!;
    assert.equal(it.runs.length, 2);
    assert.equal(it.runs[0].exit?.signal, 'SIGKILL');
    assert.equal(it.runs[0].stats, null);
    assert.equal(it.runs[1].exit?.code, 0);
    assert.ok(it.notes.some((n) => /restarted before c=8/.test(n)));
    const md = fs.readFileSync(path.join(out, 'results.md'), 'utf8');
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
    const r = await runBench(['--arch', 'node', '--concurrency', '4', '--duration', '1', '--warmup', '0', '--path', '/', '--generator', 'autocannon', '--out', out]);
    assert.equal(r.code, 0, r.stderr);
    const json = JSON.parse(fs.readFileSync(path.join(out, 'results.json'), 'utf8')) as BenchResults;
    assert.equal(json.settings.generator.name, 'autocannon');
    assert.notEqual(json.cells[0].status, 'failed', json.cells[0].problems.join('; '));
    assert.ok(json.cells[0].reqPerSec! > 0 && json.cells[0].generatorCpuPct! > 0);
    await assertCleanedUp(json);
  });

  it('refuses bad arguments with usage and exit 2', async () => {
    const r = await runBench(['--arch', 'nosuch']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /unknown architecture 'nosuch'/);
    assert.equal((await runBench(['--concurrency', '10,x'])).code, 2);
    assert.equal((await runBench(['--inject-crash', 'iterative'])).code, 2);
    assert.deepEqual((parseBenchArgs(['--article']) as { levels: number[] }).levels.slice(-1), [15000]);
  });

  describe('judging a cell', () => {
    const base = { serverDied: null, generatorError: null, serverCpuS: 1, redisCpuS: 0.1, peakRssKb: 50_000, threads: 1, timeWait: 0, portRangeSize: 28232 };
    const load = (over: object) => ({
      requests: 10_000, non2xx: 0, durationS: 2, errors: { connect: 0, read: 0, write: 0, timeout: 0 }, errorCodes: {},
      latencyMs: { p50: 1, p90: 2, p99: 3 }, generatorCpuS: 0.5, wallS: 2, ...over,
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
      const ports = judgeCell('x', 10, load({ errors: { connect: 300, read: 0, write: 0, timeout: 0 } }), { ...base, timeWait: 27_000 });
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
