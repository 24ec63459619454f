// HTTP rules every architecture must keep the same way, over real sockets: the Host header
// (RFC 9112 §3.2).
import * as assert from 'node:assert/strict';
import { runnableArchitectures } from '../helpers/skip';
import { withRedis } from '../helpers/redis';
import { RunningServer, smallPool, startServer } from '../helpers/server';
import { rawRequest } from '../helpers/http';

describe('HTTP rules on every architecture', function () {
  this.timeout(60_000);
  const redis = withRedis();
  for (const arch of runnableArchitectures()) {
    describe(arch, () => {
      let srv: RunningServer;
      const status = async (request: string) => (await rawRequest(srv.port, request)).status;
      before(async () => {
        srv = await startServer([...smallPool(arch), '--redis', `127.0.0.1:${redis().port}`, '--quiet']);
      });
      after(async () => {
        assert.equal((await srv?.stop())?.code, 0);
      });

      it('Host: 400 for HTTP/1.1 without it and for two of them; HTTP/1.0 may omit it', async () => {
        const none = await rawRequest(srv.port, 'GET / HTTP/1.1\r\n\r\n');
        assert.equal(none.status, 400, 'HTTP/1.1 without Host');
        assert.match(none.body.toString(), /<title>400 Bad Request<\/title>/, 'the same error page everywhere');
        assert.equal(await status('GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n'), 400, 'two Host lines');
        assert.equal(await status('GET / HTTP/1.0\r\nHost: a\r\nhost: a\r\n\r\n'), 400, 'two Host lines in HTTP/1.0');
        assert.equal(await status('GET / HTTP/1.1\r\nHost: a\r\n\r\n'), 200);
        assert.equal(await status('GET / HTTP/1.0\r\n\r\n'), 200);
      });
    });
  }
});
