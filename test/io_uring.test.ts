// The io_uring server (issue 15) against what really happened: --trace and the operations
// table count exactly the connections made (N requests -> N accept completions, N closes), and
// strace, which cannot see inside the ring, counts io_uring_enter and none of accept4, recvfrom
// or sendto. The hardening suite covers it like every other architecture (it is registered).
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnServer } from '../lib/bench/spawn';
import { C } from '../lib/sys';
import { unavailableReason, uringUnavailable } from '../lib/uring/ring';
import { get } from './helpers/http';
import { skipBecause } from './helpers/skip';
import { heldConnections } from './helpers/server';
import { waitFor } from './helpers/procs';
import { STRACE } from './helpers/strace';

const N = 5;

describe('io_uring server', function () {
  this.timeout(30_000);
  let dir: string;
  before(function () {
    const why = uringUnavailable();
    if (why) skipBecause(this, why);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zerohttpd-uring-'));
  });
  after(() => {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('says what is missing when io_uring is not available, and which sysctl or kernel is needed', () => {
    assert.match(unavailableReason(-C.ENOSYS), /ENOSYS.*needs Linux >= 6\.1/);
    assert.match(unavailableReason(-C.EPERM), /EPERM.*seccomp/);
  });

  it('--trace and --syscall-stats count what happened: N accepts, N client closes, no accept4/recv/send syscalls', async () => {
    const srv = await spawnServer([
      'io_uring',
      '--reader',
      'buffered',
      '--trace',
      '--syscall-stats',
      '--quiet',
      '--port',
      '0',
    ]);
    for (let i = 0; i < N; i++) assert.equal((await get(srv.port, '/')).status, 200);
    await waitFor('the lingering closes to end', 10_000, () => heldConnections(srv.pid, srv.port) === 0);
    assert.equal((await srv.stop()).code, 0);
    await srv.drained();
    const err = srv.stderr(),
      out = srv.stdout();
    const pid = srv.pid;
    const accept = new RegExp(`^\\[${pid}\\] sqe ACCEPT fd=(\\d+) multishot ud=(\\d+)$`, 'gm');
    const arms = [...err.matchAll(accept)];
    assert.equal(arms.length, 1, 'one multishot ACCEPT for every connection');
    const ud = arms[0][2];
    const fds = [...err.matchAll(new RegExp(`^\\[${pid}\\] cqe ud=${ud} res=(\\d+) F_MORE$`, 'gm'))].map((m) => m[1]);
    assert.equal(fds.length, N, 'one accept completion per request');
    // In trace order: every accepted fd gets its CLOSE (a served file's fd is closed with CLOSE too).
    const open = new Set<string>();
    let clientCloses = 0;
    const line = new RegExp(`^\\[${pid}\\] (?:cqe ud=${ud} res=(\\d+) F_MORE|sqe CLOSE fd=(\\d+) ud=\\d+)$`, 'gm');
    for (const m of err.matchAll(line)) {
      if (m[1]) open.add(m[1]);
      else if (open.delete(m[2])) clientCloses++;
    }
    assert.equal(clientCloses, N, 'each accepted connection closed once');
    assert.equal(open.size, 0, 'none left open');
    assert.match(out, new RegExp(`\\(${N} connections accepted\\)`));
    assert.match(out, new RegExp(`io_uring operations \\(${N} client connections closed\\)`));
    // Each GET / closes the client socket and the file served: 2N CLOSEs, all completed.
    assert.match(out, new RegExp(`^ACCEPT +1 +${N}$`, 'm'));
    assert.match(out, new RegExp(`^CLOSE +${2 * N} +${2 * N}$`, 'm'));
    assert.match(out, /^io_uring_enter +\d+/m);
    assert.doesNotMatch(out, /^(accept4|recvfrom|sendto|sendfile) /m, 'the addon made no socket I/O syscall');
  });

  it('strace -f -c sees io_uring_enter and no accept4, recvfrom or sendto', async function () {
    if (!fs.existsSync(STRACE)) skipBecause(this, `${STRACE} is not installed`);
    const file = path.join(dir, 'strace-c.txt');
    const srv = await spawnServer(['io_uring', '--reader', 'buffered', '--quiet', '--port', '0'], {
      prefix: [STRACE, '-f', '-c', '-o', file],
    });
    for (let i = 0; i < N; i++) assert.equal((await get(srv.port, '/')).status, 200);
    assert.equal((await srv.stop()).code, 0);
    await srv.drained();
    const rows = new Map<string, number>();
    for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
      const f = line.trim().split(/\s+/);
      // % time, seconds, usecs/call, calls, [errors], syscall
      if (f.length >= 5 && /^\d+$/.test(f[3])) rows.set(f[f.length - 1], Number(f[3]));
    }
    assert.ok((rows.get('io_uring_enter') ?? 0) >= 1, 'io_uring_enter is called');
    for (const name of ['accept4', 'accept', 'recvfrom', 'sendto', 'sendfile'])
      assert.equal(rows.get(name), undefined, `${name} is not called`);
  });
});
