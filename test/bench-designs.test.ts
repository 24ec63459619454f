// `zerohttpd bench --designs` end to end with a tiny N: real servers, real connections, the
// report's files checked against each other.
import * as assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CLI } from './helpers/server';
import { DESIGNS, designsSvg, DesignResult, parseDesignArgs } from '../lib/bench/designs';

function bench(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, 'bench', '--designs', ...args], { timeout: 90_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? Number((err as { code?: unknown }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

describe('bench --designs', function () {
  this.timeout(120_000);
  let out: string;
  before(() => (out = fs.mkdtempSync(path.join(os.tmpdir(), 'zerohttpd-designs-test-'))));
  after(() => fs.rmSync(out, { recursive: true, force: true }));

  it('parses its options and refuses unknown designs', () => {
    const o = parseDesignArgs(['--designs']);
    assert.ok(o !== 'help');
    assert.equal(o.connections, 5000);
    assert.equal(o.concurrency, 5);
    assert.throws(() => parseDesignArgs(['--designs', '--only', 'nope']), /unknown design 'nope'/);
    assert.throws(() => parseDesignArgs(['--designs', '--connections', '0']), /--connections must be/);
  });

  it('runs each design over N connections and writes a table, JSON and an SVG that agree', async () => {
    const N = 30;
    const only = ['iterative', 'prefork-pass', 'epoll2-shared', 'epoll2-reuseport']; // in DESIGNS' order
    const r = await bench(['--connections', String(N), '--only', only.join(','), '--out', out]);
    assert.equal(r.code, 0, r.stderr);
    const json = JSON.parse(fs.readFileSync(path.join(out, 'designs.json'), 'utf8')) as { results: DesignResult[] };
    assert.deepEqual(
      json.results.map((x) => x.id),
      only,
    );
    for (const x of json.results) {
      if (x.skipped) {
        // A design this build's CLI does not have yet: skipped with the CLI's own reason.
        assert.equal(x.id, 'prefork-pass', `${x.id}: ${x.skipped}`);
        assert.match(r.stderr, new RegExp(`${x.id}: skipped: `));
        continue;
      }
      assert.equal(x.failures, 0, x.id);
      assert.ok(x.reqPerSec! > 0 && x.cpuS! > 0 && x.peakRssKb! > 0, x.id);
      assert.equal(x.overIterativeS!.toFixed(6), (x.cpuS! - json.results[0].cpuS!).toFixed(6));
    }
    const [, , shared, reuseport] = json.results;
    assert.equal(
      shared.spread!.min + shared.spread!.max,
      N + Math.min(200, Math.ceil(N / 10)),
      'every connection in the spread',
    );
    assert.equal(reuseport.wastedPerConnection, 0, "reuseport: no worker woken for another one's connection");
    const md = fs.readFileSync(path.join(out, 'designs.md'), 'utf8');
    for (const x of json.results) assert.ok(md.includes(`\`${x.command}\``), x.command);
    assert.equal(r.stdout.split('\n| ').length - 1, 1 + only.length, 'the header and a row per design on stdout');
    const svg = fs.readFileSync(path.join(out, 'designs.svg'), 'utf8');
    assert.equal(svg, designsSvg(json.results));
    assert.equal((svg.match(/<rect /g) ?? []).length, 1 + json.results.filter((x) => !x.skipped).length);
  });

  it('lists every design of the issue, each with a command line the registry knows', () => {
    const ids = DESIGNS.map((d) => d.id);
    for (const id of [
      'iterative',
      'forking',
      'prefork-none',
      'prefork-fcntl',
      'prefork-mutex',
      'prethread-mutex',
      'epoll',
    ])
      assert.ok(ids.includes(id), id);
  });
});
