// Hardening: slowloris (tricklers and stallers) against every architecture (common.ts).
import * as assert from 'node:assert/strict';
import * as net from 'node:net';
import { parseResponse } from '../helpers/http';
import { POOL, TIMEOUT_S, describeEveryArch, getA, sleep, summary, waitFor } from './common';

/** How many clients an architecture serves at once, if bounded (others: one per connection / event-driven). */
const CONCURRENCY: Record<string, number> = { iterative: 1, preforked: POOL, prethreaded: POOL };

describeEveryArch('slowloris', (env) => {
  const { arch, isNode } = env;
  it('slowloris: tricklers and stallers delay others at most by the read timeout, and are all closed', async () => {
    const { srv } = env;
    const conc = CONCURRENCY[arch];
    const nSlow = conc ? conc + 2 : 6;
    type Slow = { kind: 'trickle' | 'stall' | 'bad-trickle'; sock: net.Socket; got: Buffer[]; closedAt?: number };
    const slow: Slow[] = [];
    const timers: NodeJS.Timeout[] = [];
    for (let i = 0; i < nSlow; i++) {
      const kind = (['trickle', 'stall', 'bad-trickle'] as const)[i % 3];
      const sock = net.connect(srv.port, '127.0.0.1');
      sock.setNoDelay(true);
      const entry: Slow = { kind, sock, got: [] };
      sock.on('data', (d) => entry.got.push(d));
      sock.on('error', () => {});
      sock.on('close', () => (entry.closedAt = Date.now()));
      await new Promise((r) => sock.once('connect', r));
      // bad-trickle: an invalid request (answered 400 at once), then bytes forever into the lingering close.
      sock.write(kind === 'bad-trickle' ? 'GET /a.txt HTTP/9.9\r\n' : 'GET /a.txt HTTP/1.0\r\nX-Slow: ');
      if (kind !== 'stall')
        timers.push(
          setInterval(() => {
            if (!sock.destroyed) sock.write('a');
          }, 150),
        );
      slow.push(entry);
    }
    await sleep(100); // let them be accepted first
    const t1 = Date.now();
    try {
      const r = await getA(srv.port);
      const waited = Date.now() - t1;
      assert.equal(r.status, 200);
      summary.served++;
      const want = { trickle: [408, 0], stall: [408, 0], 'bad-trickle': isNode ? [400, 505] : [505] };
      if (conc) {
        // Blocking: a slow client holds a server for at most --timeout (the whole request, not
        // per recv()), or 2 x 1 s of lingering after an early answer; the normal client waits
        // for at most ceil(slow / concurrency) of those.
        const bound = Math.ceil(nSlow / conc) * (TIMEOUT_S * 1000 * 1.1 + 2000) + 3000;
        assert.ok(waited < bound, `normal client waited ${waited} ms (bound ${bound} ms)`);
        await waitFor('every slow client closed by the server', 20_000, () => slow.every((s) => s.closedAt));
      } else {
        // Concurrent: served while every slow client is still connected and unanswered.
        const early = slow.filter((s) => s.kind !== 'bad-trickle' && s.closedAt && s.closedAt <= t1 + waited);
        assert.deepEqual(
          early.map((s) => s.kind),
          [],
          'slow clients were answered before the normal one',
        );
        // And then every one of them is closed: --timeout bounds the whole request here too, so
        // a trickler that never stops sending gets its 408 like a staller.
        await waitFor('every slow client closed by the server', 20_000, () => slow.every((s) => s.closedAt));
      }
      for (const s of slow) {
        if (!s.closedAt) continue;
        const st = parseResponse(Buffer.concat(s.got)).status;
        assert.ok(want[s.kind].includes(st), `${s.kind} got ${st}`);
      }
    } finally {
      for (const t of timers) clearInterval(t);
      for (const s of slow) s.sock.destroy();
    }
  });
});
