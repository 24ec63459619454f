// The request limits of lib/http/request.ts (LIMITS) end to end, against EVERY registered
// architecture: each answers an over-limit head with the same status and page, node:http (whose
// own limits differ) included, and refuses an over-limit Content-Length at once instead of
// waiting --timeout for a body that will never come. Exactly at a limit is still served.
import * as assert from 'node:assert/strict';
import { LIMITS } from '../../lib/http/request';
import { errorResponse } from '../../lib/http/response';
import { runnableArchitectures } from '../helpers/skip';
import { rawRequest, RawResponse } from '../helpers/http';
import { withRedis } from '../helpers/redis';
import { RunningServer, smallPool, startServer } from '../helpers/server';

/** Far above the time any answer here takes; a server that waits for the body answers 408 after it. */
const TIMEOUT_S = 30;
/** Generous bound for an answer that should come at once, well under TIMEOUT_S. */
const PROMPT_MS = 15_000;

function assertRefused(r: RawResponse, status: number, message?: string): void {
  const whole = errorResponse(status, { message });
  assert.equal(r.status, status, `status (body: ${r.body.toString().slice(0, 200)})`);
  assert.equal(r.body.toString(), whole.subarray(whole.indexOf('\r\n\r\n') + 4).toString());
}

/** A head whose header section (header lines and the empty line) is exactly `bytes` long. */
function headerSectionOf(bytes: number): string {
  return `X: ${'v'.repeat(bytes - 'X: \r\n\r\n'.length)}\r\n\r\n`;
}

describe('request limits on every architecture (end to end)', function () {
  this.timeout(90_000);
  const redis = withRedis();
  for (const arch of runnableArchitectures()) {
    describe(arch, () => {
      let srv: RunningServer;
      before(async () => {
        srv = await startServer([
          ...smallPool(arch),
          '--redis',
          `127.0.0.1:${redis().port}`,
          '--timeout',
          String(TIMEOUT_S),
          '--quiet',
        ]);
      });
      after(async () => {
        assert.equal((await srv?.stop())?.code, 0);
      });
      const send = (head: string) => rawRequest(srv.port, head, { timeoutMs: PROMPT_MS });

      it('1,000 small header lines: 431', async () => {
        const many = Array.from({ length: 1000 }, (_, i) => `X-H${i}: v\r\n`).join('');
        assertRefused(await send(`GET / HTTP/1.0\r\n${many}\r\n`), 431, 'too many header lines');
        const limit = Array.from({ length: LIMITS.headerLines }, (_, i) => `X-H${i}: v\r\n`).join('');
        assert.equal(
          (await send(`GET / HTTP/1.0\r\n${limit}\r\n`)).status,
          200,
          `${LIMITS.headerLines} lines are allowed`,
        );
      });

      it('a header section over LIMITS.headerBytes: 431; exactly at it: served', async () => {
        assertRefused(
          await send(`GET / HTTP/1.0\r\n${headerSectionOf(LIMITS.headerBytes + 1)}`),
          431,
          'header section too large',
        );
        assert.equal((await send(`GET / HTTP/1.0\r\n${headerSectionOf(LIMITS.headerBytes)}`)).status, 200);
        const big = Array.from({ length: 20 }, (_, i) => `X-Big-${i}: ${'v'.repeat(1000)}\r\n`).join('');
        assertRefused(await send(`GET / HTTP/1.0\r\n${big}\r\n`), 431, 'header section too large');
      });

      it('a request line over LIMITS.requestLine: 414; exactly at it: parsed', async () => {
        assertRefused(await send(`GET /${'a'.repeat(20_000)} HTTP/1.0\r\n\r\n`), 414, 'request line too long');
        const target = '/' + 'b'.repeat(LIMITS.requestLine - 'GET  HTTP/1.0'.length - 1);
        assertRefused(await send(`GET ${target} HTTP/1.0\r\n\r\n`), 404); // at the limit: parsed (no such file)
      });

      it(`a Content-Length over the body limit: 413 at once, not 408 after --timeout ${TIMEOUT_S}`, async () => {
        for (const head of ['GET / HTTP/1.0\r\n', 'POST /guestbook HTTP/1.0\r\n']) {
          assertRefused(await send(`${head}Content-Length: 99999999999\r\n\r\n`), 413, 'request body too large');
          assertRefused(
            await send(`${head}Content-Length: 10000000000000000000000000\r\n\r\n`),
            413,
            'request body too large',
          );
        }
      });
    });
  }
});
