// Hardening: RLIMIT_NOFILE exhaustion against every architecture (common.ts); its own server under
// prlimit, not the traced one.
import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as net from 'node:net';
import { heldConnections } from '../helpers/server';
import {
  acceptors,
  alive,
  assertServesNormally,
  describeEveryArch,
  exchange,
  fds,
  kids,
  lowestFreeFd,
  serverArgs,
  sleep,
  startUnder,
  steady,
  summary,
  totalCpu,
  unexpectedStderr,
  waitFor,
} from './common';

describeEveryArch(
  'fd limit',
  (env) => {
    const { arch, isNode } = env;
    it('RLIMIT_NOFILE 64: exhaustion neither crashes nor spins it, a failed thread/fork answers 503, and it recovers', async function () {
      const { redis, tree } = env;
      this.timeout(90_000);
      const lim = await startUnder(
        arch,
        ['prlimit', '--nofile=64:64'],
        serverArgs(arch, tree.pub, redis.port, [...env.mode, '--reader', 'buffered']),
      );
      const cpuWindow = async (ms: number) => {
        const c0 = totalCpu(lim);
        await sleep(ms);
        return totalCpu(lim) - c0;
      };
      const socks: net.Socket[] = [];
      try {
        await assertServesNormally(lim.port, 'start-up under RLIMIT_NOFILE 64');
        if (lim.workers) await waitFor('workers', 20_000, () => kids(lim.pid).live.length === lim.workers);
        const base = (await steady(lim)).perAcceptor;
        // 1. A flood of 100 stalled connections: more than the limit.
        for (let i = 0; i < 100; i++) {
          const s = net.connect(lim.port, '127.0.0.1');
          s.on('error', () => {});
          s.on('connect', () => s.write('GET /a.txt HTTP/1.0\r\n'));
          socks.push(s);
        }
        await sleep(300);
        const ticks = await cpuWindow(1000);
        assert.ok(ticks < 50, `CPU while flooded: ${ticks} ticks in 1 s`);
        assert.ok(alive(lim.pid), 'alive while flooded');
        for (const s of socks) s.destroy();
        await waitFor('fds back after the flood', 20_000, () =>
          acceptors(lim)
            .map(fds)
            .every((n, i) => n <= (base[i] ?? n) + 2),
        );
        // Every flooding connection closed, lingering closes included: threaded needs spare fds for a Worker.
        await waitFor('the flood closed', 20_000, () =>
          [lim.pid, ...acceptors(lim)].every((p) => heldConnections(p, lim.port) === 0),
        );
        await assertServesNormally(lim.port, 'the flood');
        summary.faults++;
        // 2. Pinned at the limit: soft limit = the lowest free fd; requests wait (node sheds them); no spinning.
        const pins = acceptors(lim);
        // The last GET's connection may still be in its lingering close: its fd, about to be freed,
        // would be free again under the new limit and accept() would not hit EMFILE. Wait until none is held.
        await waitFor('no client connection held', 20_000, () => pins.every((p) => heldConnections(p, lim.port) === 0));
        for (const p of pins) execFileSync('prlimit', ['--pid', String(p), `--nofile=${lowestFreeFd(p)}:64`]);
        const pending = Array.from({ length: 5 }, () =>
          exchange(lim.port, 'GET /a.txt HTTP/1.0\r\n\r\n', { timeoutMs: 30_000 }),
        );
        await sleep(300);
        const pinned = await cpuWindow(1000);
        assert.ok(pinned < 50, `CPU while at the fd limit: ${pinned} ticks in 1 s`);
        assert.ok(alive(lim.pid), 'alive at the limit');
        // The limit was really reached: accept() failed with EMFILE (node:http sheds silently, libuv's reserve-fd trick).
        if (!isNode) await waitFor('accept() hit EMFILE', 20_000, () => /accept: EMFILE/.test(lim.stderr()));
        // Lifted: the waiting requests are served.
        for (const p of pins) execFileSync('prlimit', ['--pid', String(p), '--nofile=64:64']);
        const results = await Promise.all(pending);
        // 503 too: at the limit a lower fd may free up, so accept() succeeds and the file's open() fails.
        for (const r of results)
          assert.ok(
            (isNode ? [0, 200, 503] : [200, 503]).includes(r.status),
            `pending request after the limit: ${r.status}`,
          );
        summary.faults++;
        // 3. One fd to spare: accept() works, the next fd (file, Redis, a Worker's) fails: 503, not 403 or a crash.
        for (const p of pins) execFileSync('prlimit', ['--pid', String(p), `--nofile=${lowestFreeFd(p) + 1}:64`]);
        const one = await exchange(lim.port, 'GET /a.txt HTTP/1.0\r\n\r\n', { timeoutMs: 30_000 });
        assert.ok(
          [200, 503].includes(one.status) || (isNode && one.status === 0),
          `with one fd to spare: ${one.status} ${one.raw.toString().slice(0, 100)}`,
        );
        const gb = await exchange(lim.port, 'GET /guestbook HTTP/1.0\r\n\r\n', { timeoutMs: 30_000 });
        assert.ok(
          [200, 503].includes(gb.status) || (isNode && gb.status === 0),
          `guestbook with one fd to spare: ${gb.status}`,
        );
        summary.faults += 2;
        summary.fdLimit503 += [one, gb].filter((r) => r.status === 503).length;
        for (const p of pins) execFileSync('prlimit', ['--pid', String(p), '--nofile=64:64']);
        // 4. Recovered: normal service, and the fds of the failed attempts were released.
        await assertServesNormally(lim.port, 'the fd limit');
        await waitFor('fds back after the limit', 20_000, () =>
          acceptors(lim)
            .map(fds)
            .every((n, i) => n <= (base[i] ?? n) + 2),
        ).catch(() => assert.fail(`fds after the limit: ${acceptors(lim).map(fds).join()} vs ${base.join()}`));
        assert.ok(alive(lim.pid));
      } finally {
        for (const s of socks) s.destroy();
        const { code } = await lim.stop();
        const bad = unexpectedStderr(lim.stderr());
        assert.equal(code, 0, `exit under RLIMIT_NOFILE 64: ${lim.stderr().slice(-500)}`);
        assert.deepEqual(bad, [], lim.stderr().slice(-3000));
      }
    });
  },
  { traced: false },
);
