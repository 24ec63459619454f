// refuseClient() (lib/serve.ts): every refused client gets its 503, but the log gets at most one
// line a second, with the count of those not logged, so a flood at the fd limit cannot flood it.
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';

describe('refuseClient: the 503 always, the log line at most once a second', () => {
  it('logs the first refusal, counts the next ones within the second, names them in the next line', () => {
    const dist = path.join(__dirname, '..', 'lib');
    // In a child process: its stderr is the log. Five refusals at t = 0, 10, 20, 1500 and 1510 ms.
    const script = `
      const { C, native } = require(${JSON.stringify(path.join(dist, 'sys'))});
      const { refuseClient } = require(${JSON.stringify(path.join(dist, 'serve'))});
      const answers = [];
      for (const t of [0, 10, 20, 1500, 1510]) {
        const fds = new Int32Array(2);
        native.socketpair(C.AF_UNIX, C.SOCK_STREAM | C.SOCK_CLOEXEC, 0, fds);
        native.shutdown(fds[1], C.SHUT_WR); // the client has nothing more to send: no linger wait
        refuseClient(fds[0], 'out of threads', 'busy', t);
        const buf = Buffer.alloc(4096);
        const n = native.recv(fds[1], buf, 0, buf.length);
        answers.push(buf.subarray(0, Math.max(n, 0)).toString('latin1').split('\\r\\n')[0]);
        native.close(fds[1]);
      }
      process.stdout.write(JSON.stringify(answers));`;
    const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 20_000 });
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), Array(5).fill('HTTP/1.0 503 Service Unavailable'));
    assert.deepEqual(r.stderr.trim().split('\n'), [
      'zerohttpd: out of threads; answering 503',
      'zerohttpd: out of threads; answering 503 (and 2 more refused since the last such line)',
    ]);
  });
});
