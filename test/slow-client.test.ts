// `zerohttpd client`, the slow client of the demonstrations, against real servers: a paced
// request is answered, a request stopped halfway gets the server's 408, and one such client
// holds up the iterative server (the next client is answered only after its 408) but not epoll.
// No assertion depends on how long anything takes: only on what was answered, and in what order.
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ClientOptions, duration, parseClientArgs, pieces, requestText, runClient } from '../lib/slow-client';
import { freePort } from '../lib/net-probe';
import { CLI, RunningServer, startServer } from './helpers/server';

const ROOT = path.resolve(__dirname, '..', '..');
const INDEX_SIZE = () => fs.statSync(path.join(ROOT, 'public', 'index.html')).size;

function opts(port: number, argv: string[]): ClientOptions {
  const p = parseClientArgs([`http://127.0.0.1:${port}/`, ...argv]);
  if (p.help) throw new Error('unexpected --help');
  return { ...p.opts, quiet: true };
}

describe('zerohttpd client (the slow client)', function () {
  this.timeout(30_000);

  describe('command line', () => {
    const bad: [string[], RegExp][] = [
      [['--pace', 'soon'], /--pace must be a duration such as 1s, 250ms or 0\.5/],
      [['--pace', '-1s'], /--pace/],
      [['--stop-after', 'half'], /--stop-after must be an integer from 0/],
      [['--stop-after', '-3'], /--stop-after must be an integer from 0 to \d+, not '-3'/],
      [['--by', 'word'], /--by must be byte or line, not 'word'/],
      [['--read-bytes', '10'], /--read-bytes needs --read-pace/],
      [['--data', 'x=1'], /--data needs --method POST/],
      [['--method', 'get'], /--method must be upper-case/],
      [['ftp://localhost/'], /only http:\/\/ URLs/],
      [['localhost 8000'], /not a URL/],
      [['http://a/', 'http://b/'], /too many arguments/],
      [['--paec', '1s'], /Unknown option '--paec'/],
    ];
    for (const [argv, why] of bad)
      it(`refuses ${argv.join(' ')}`, () => assert.throws(() => parseClientArgs(argv), why));

    it('reads durations as the help says', () => {
      assert.equal(duration('pace', '1s'), 1000);
      assert.equal(duration('pace', '250ms'), 250);
      assert.equal(duration('pace', '0.5'), 500);
      assert.equal(duration('pace', '0'), 0);
    });

    it('splits a request into lines or bytes that add up to the request', () => {
      const o = opts(8000, ['--method', 'POST', '--data', 'name=a&remark=b']);
      const text = requestText(o);
      assert.match(text, /^POST \/ HTTP\/1\.0\r\n[^]*Content-Length: 15\r\n\r\nname=a&remark=b$/);
      const lines = pieces(text, 'line');
      assert.equal(Buffer.concat(lines).toString(), text);
      assert.ok(lines.slice(0, -1).every((l) => l.at(-1) === 0x0a));
      assert.equal(pieces(text, 'byte').length, Buffer.byteLength(text));
    });

    it('says what is wrong on stderr and exits 2 (the CLI)', () => {
      const r = spawnSync(process.execPath, [CLI, 'client', '--stop-after', 'x'], { encoding: 'utf8' });
      assert.equal(r.status, 2);
      assert.match(r.stderr, /^zerohttpd client: --stop-after must be an integer/);
      assert.match(r.stderr, /Try 'zerohttpd client --help'/);
    });
  });

  describe('against real servers', () => {
    let iterative: RunningServer;
    let epoll: RunningServer;
    before(async () => {
      const redis = ['--redis', `127.0.0.1:${await freePort()}`, '--quiet'];
      [iterative, epoll] = await Promise.all([
        startServer(['iterative', '--timeout', '1', ...redis]),
        startServer(['epoll', '--timeout', '60', ...redis]),
      ]);
    });
    after(async () => {
      await Promise.all([iterative?.stop(), epoll?.stop()]);
    });

    it('a request sent one byte at a time is answered in full', async () => {
      const lines: string[] = [];
      const r = await runClient(opts(iterative.port, ['--by', 'byte', '--pace', '1ms']), (l) => lines.push(l));
      assert.equal(r.status, 200, lines.join('\n'));
      assert.equal(r.sent, Buffer.byteLength(requestText(opts(iterative.port, []))));
      assert.ok(r.received > INDEX_SIZE(), `received ${r.received} bytes, the page has ${INDEX_SIZE()}`);
    });

    it('a request read slowly is received in full, a few bytes per read', async () => {
      const lines: string[] = [];
      const o = { ...opts(epoll.port, ['--read-pace', '1ms', '--read-bytes', '512']), quiet: false };
      const r = await runClient(o, (l) => lines.push(l));
      assert.equal(r.status, 200);
      const chunks = lines.filter((l) => / < /.test(l));
      assert.ok(chunks.length >= Math.ceil(INDEX_SIZE() / 512), lines.join('\n'));
      assert.ok(r.received > INDEX_SIZE());
    });

    it('stopped halfway, it gets the 408 of the server (--timeout 1) and its transcript says so', async () => {
      const lines: string[] = [];
      const o = { ...opts(iterative.port, ['--stop-after', '1']), quiet: false };
      const r = await runClient(o, (l) => lines.push(l));
      assert.equal(r.status, 408, lines.join('\n'));
      assert.equal(r.end, 'closed');
      assert.match(
        lines.join('\n'),
        /> "GET \/ HTTP\/1\.0\\r\\n"\n.*stopped after 1 of 4 pieces; waiting for the server/,
      );
      assert.match(
        lines.at(-1)!,
        /server closed the connection; sent 16 of \d+ bytes, received \d+ \(HTTP\/1\.0 408 Request Timeout\)/,
      );
    });

    /** A client stopped halfway, then a normal one: the order in which they are answered. */
    async function order(srv: RunningServer): Promise<string[]> {
      const done: string[] = [];
      const stop = new AbortController();
      let connected!: () => void;
      const isConnected = new Promise<void>((r) => (connected = r));
      const slow = runClient(
        { ...opts(srv.port, ['--stop-after', '1']), quiet: false },
        (l) => /connected to/.test(l) && connected(),
        stop.signal,
      ).then((r) => done.push(`slow ${r.status ?? r.end}`));
      await isConnected;
      const normal = await runClient(opts(srv.port, []), () => {});
      done.push(`normal ${normal.status}`);
      stop.abort(); // the slow one, if still waiting
      await slow;
      return done;
    }

    it('iterative: a client stopped halfway holds up the next one until its 408', async () => {
      assert.deepEqual(await order(iterative), ['slow 408', 'normal 200']);
    });

    it('epoll: the next client is answered while the slow one still waits', async () => {
      assert.deepEqual(await order(epoll), ['normal 200', 'slow aborted']);
    });
  });
});
