// poll/epoll --workers N: N processes each running the event loop, the three ways to share the
// port, and the herd made visible by --syscall-stats. Not timing-dependent: before each
// connection every worker is asleep (state S: an idle event-loop worker sleeps nowhere but in
// its epoll_wait()/poll()), connections come one at a time, each response read to the end.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import { RunningServer, startServer } from './helpers/server';
import { get } from './helpers/http';
import { childrenOf, waitFor } from './helpers/procs';

const CONNECTIONS = 6;
const WORKERS = 4;

const workersOf = (s: RunningServer) =>
  childrenOf(s.pid)
    .filter((p) => p.state !== 'Z')
    .map((p) => p.pid);

function asleep(pid: number): boolean {
  try {
    const st = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return st.slice(st.lastIndexOf(')') + 2)[0] === 'S';
  } catch {
    return false;
  }
}

interface Herd {
  workers: number;
  listen: string;
  wasted: number;
  perWorker: number[];
}

function parseHerd(out: string): Herd {
  const h = /herd \((\d+) workers, listen (\w+)\): (\d+) wakeups found no connection/.exec(out);
  const w = /connections per worker: min \d+, max \d+ \(([\d ]+)\)/.exec(out);
  assert.ok(h && w, `no herd report in:\n${out}`);
  return { workers: Number(h[1]), listen: h[2], wasted: Number(h[3]), perWorker: w[1].split(' ').map(Number) };
}

/** CONNECTIONS one at a time, every worker asleep before each; then Ctrl-C and the herd report. */
async function herdOf(arch: string, listen: string): Promise<{ herd: Herd; out: string; banner: string }> {
  const s = await startServer([
    arch,
    '--workers',
    String(WORKERS),
    '--listen',
    listen,
    '--syscall-stats',
    '--quiet',
    '--redis',
    '127.0.0.1:1',
  ]);
  try {
    await waitFor(`${WORKERS} workers`, 20_000, () => workersOf(s).length === WORKERS);
    for (let i = 0; i < CONNECTIONS; i++) {
      await waitFor('every worker asleep in its wait', 20_000, () => workersOf(s).every(asleep));
      const r = await get(s.port, '/');
      assert.equal(r.status, 200);
    }
    await waitFor('every worker asleep in its wait', 20_000, () => workersOf(s).every(asleep));
    const exit = await s.stop('SIGINT', 20_000);
    assert.equal(exit.code, 0);
  } finally {
    await s.stop('SIGKILL');
  }
  const out = s.stdout();
  assert.match(out, new RegExp(`\\(${CONNECTIONS} connections accepted\\)`));
  assert.match(out, /user time = [\d.]+ s, sys time = [\d.]+ s/);
  const herd = parseHerd(out);
  assert.equal(herd.workers, WORKERS);
  assert.equal(herd.listen, listen);
  assert.equal(
    herd.perWorker.reduce((a, b) => a + b, 0),
    CONNECTIONS,
    'every connection counted by the worker that took it',
  );
  return { herd, out, banner: s.stderr() };
}

describe('poll/epoll --workers: the herd', function () {
  this.timeout(120_000);

  it('epoll --listen shared: every idle worker wakes for each connection (the thundering herd)', async () => {
    const { herd, banner } = await herdOf('epoll', 'shared');
    assert.match(banner, /zerohttpd epoll \(level-triggered, [^)]*, 4 workers, listen shared\) listening on/);
    // One worker takes the connection; the others were woken for nothing (WORKERS - 1 each time when all sleep).
    assert.ok(herd.wasted >= CONNECTIONS, `only ${herd.wasted} wasted wakeups for ${CONNECTIONS} connections`);
  });

  it('epoll --listen exclusive (EPOLLEXCLUSIVE): one worker wakes per connection', async () => {
    const { herd } = await herdOf('epoll', 'exclusive');
    assert.equal(herd.wasted, 0);
  });

  it('epoll --listen reuseport: one socket per worker, one worker wakes per connection', async () => {
    const { herd } = await herdOf('epoll', 'reuseport');
    assert.equal(herd.wasted, 0);
  });

  it('poll --listen shared: the herd too (poll refuses exclusive: test/cli.test.ts)', async () => {
    const { herd } = await herdOf('poll', 'shared');
    assert.ok(herd.wasted >= CONNECTIONS, `only ${herd.wasted} wasted wakeups for ${CONNECTIONS} connections`);
  });

  it('a worker killed with SIGKILL is replaced, logged, and its reuseport socket is served by the replacement', async () => {
    const s = await startServer([
      'epoll',
      '--workers',
      '2',
      '--listen',
      'reuseport',
      '--quiet',
      '--redis',
      '127.0.0.1:1',
    ]);
    try {
      await waitFor('2 workers', 20_000, () => workersOf(s).length === 2);
      const [victim] = workersOf(s);
      process.kill(victim, 'SIGKILL');
      await waitFor('a replacement', 20_000, () => workersOf(s).length === 2 && !workersOf(s).includes(victim));
      await waitFor('the dead worker logged', 10_000, () =>
        new RegExp(`worker ${victim} killed by signal 9; starting a replacement`).test(s.stderr()),
      );
      // The kernel hashes each connection to one of the two sockets: were the dead worker's
      // socket left without a worker, about half of these would never be answered.
      for (let i = 0; i < 16; i++) assert.equal((await get(s.port, '/')).status, 200);
      assert.equal((await s.stop('SIGINT', 20_000)).code, 0);
      assert.deepEqual(workersOf(s), [], 'every worker reaped');
    } finally {
      await s.stop('SIGKILL');
    }
  });
});
