import assert from 'node:assert/strict';
import fc from 'fast-check';
import { HttpError, LIMITS, RequestParser } from '../lib/http/request';

const buf = (s: string | Buffer) => (typeof s === 'string' ? Buffer.from(s, 'latin1') : s);

/** Feed everything at once. */
function parse(input: string | Buffer, limits = LIMITS) {
  const p = new RequestParser(limits);
  const used = p.push(buf(input));
  return { p, used };
}

/** Feed one byte at a time, like the article's getLine() reader. */
function parseBytewise(input: string | Buffer) {
  const b = buf(input),
    p = new RequestParser();
  let used = 0;
  for (let i = 0; i < b.length && p.wantsMore; i++) used += p.push(b, i, i + 1);
  return { p, used };
}

function status(input: string | Buffer, limits = LIMITS): number | 'done' | 'more' {
  const { p } = parse(input, limits);
  if (p.state === 'done') return 'done';
  if (p.state === 'error') return p.error!.status;
  return 'more';
}

function assertStatus(input: string | Buffer, expected: number | 'done' | 'more') {
  assert.equal(status(input), expected, JSON.stringify(buf(input).toString('latin1').slice(0, 200)));
  const { p } = parseBytewise(input);
  assert.equal(p.state === 'error' ? p.error!.status : p.state === 'done' ? 'done' : 'more', expected);
}

describe('RequestParser', () => {
  describe('valid requests', () => {
    it('parses a simple GET', () => {
      const input = 'GET /index.html HTTP/1.1\r\nHost: localhost\r\nUser-Agent: curl/8\r\n\r\n';
      const { p, used } = parse(input);
      assert.equal(p.state, 'done');
      assert.equal(p.wantsMore, false);
      assert.equal(used, input.length);
      const r = p.request!;
      assert.equal(r.method, 'GET');
      assert.equal(r.target, '/index.html');
      assert.equal(r.path, '/index.html');
      assert.equal(r.query, '');
      assert.equal(r.version, 'HTTP/1.1');
      assert.deepEqual(
        [...r.headers],
        [
          ['host', 'localhost'],
          ['user-agent', 'curl/8'],
        ],
      );
      assert.equal(r.contentLength, -1);
      assert.equal(r.body.length, 0);
    });

    it('splits path and query', () => {
      const r = parse('GET /a/b?x=1&y=?2 HTTP/1.0\r\n\r\n').p.request!;
      assert.equal(r.path, '/a/b');
      assert.equal(r.query, 'x=1&y=?2');
      assert.equal(r.version, 'HTTP/1.0');
    });

    it('handles absolute-form targets', () => {
      let r = parse('GET http://example.com:8000/x?y HTTP/1.1\r\nHost: example.com:8000\r\n\r\n').p.request!;
      assert.equal(r.target, 'http://example.com:8000/x?y');
      assert.equal(r.path, '/x');
      assert.equal(r.query, 'y');
      r = parse('GET HTTP://example.com HTTP/1.1\r\nHost: example.com\r\n\r\n').p.request!;
      assert.equal(r.path, '/');
      r = parse('GET http://example.com?q HTTP/1.1\r\nHost: example.com\r\n\r\n').p.request!;
      assert.equal(r.path, '/');
      assert.equal(r.query, 'q');
    });

    it('accepts bare LF line ends', () => {
      const r = parse('GET / HTTP/1.1\nHost: a\n\n').p.request!;
      assert.equal(r.headers.get('host'), 'a');
    });

    it('ignores a few empty lines before the request line', () => {
      assert.equal(parse('\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n').p.request!.path, '/');
      assertStatus('\r\n'.repeat(20) + 'GET / HTTP/1.1\r\n\r\n', 400);
    });

    it('lower-cases header names, trims OWS, joins duplicates', () => {
      const r = parse('GET / HTTP/1.1\r\nHost: x\r\nAccept:  text/html \t\r\nACCEPT:\timage/png\r\nX-Empty:\r\n\r\n').p
        .request!;
      assert.equal(r.headers.get('accept'), 'text/html, image/png');
      assert.equal(r.headers.get('x-empty'), '');
    });

    it('keeps method case as sent', () => {
      assert.equal(parse('get / HTTP/1.1\r\nHost: x\r\n\r\n').p.request!.method, 'get');
    });

    it('decodes non-UTF-8 header values as latin1', () => {
      const head = Buffer.concat([
        Buffer.from('GET / HTTP/1.1\r\nHost: x\r\nX-Name: caf'),
        Buffer.from([0xe9, 0xff]),
        Buffer.from('\r\n\r\n'),
      ]);
      assert.equal(parse(head).p.request!.headers.get('x-name'), 'caf\u00e9\u00ff');
    });

    it('reads a POST body of exactly Content-Length bytes', () => {
      const { p, used } = parse('POST /guestbook HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\nname=hello!EXTRA');
      assert.equal(p.state, 'done');
      assert.equal(p.request!.body.toString(), 'name=hello!');
      assert.equal(p.request!.contentLength, 11);
      assert.equal(used, 'POST /guestbook HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\nname=hello!'.length);
    });

    it('reports bodyRemaining while in the body', () => {
      const p = new RequestParser();
      assert.equal(p.bodyRemaining, 0);
      p.push(buf('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc'));
      assert.equal(p.state, 'body');
      assert.equal(p.bodyRemaining, 7);
      assert.equal(p.wantsMore, true);
      p.push(buf('defghij'));
      assert.equal(p.bodyRemaining, 0);
      assert.equal(p.state, 'done');
      assert.equal(p.request!.body.toString(), 'abcdefghij');
    });

    it('POST with Content-Length: 0 completes without body', () => {
      const { p } = parse('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n');
      assert.equal(p.state, 'done');
      assert.equal(p.request!.body.length, 0);
    });

    it('GET/HEAD may carry a body, which is read', () => {
      const { p, used } = parse('GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabcGET');
      assert.equal(p.state, 'done');
      assert.equal(p.request!.body.toString(), 'abc');
      assert.equal(used, 'GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc'.length);
      assertStatus(`HEAD / HTTP/1.1\r\nHost: x\r\nContent-Length: ${LIMITS.body + 1}\r\n\r\n`, 413);
    });

    it('accepts repeated identical Content-Length values', () => {
      const r = parse('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2, 2\r\ncontent-length: 02\r\n\r\nhi').p.request!;
      assert.equal(r.contentLength, 2);
      assert.equal(r.headers.get('content-length'), '2');
      assert.equal(r.body.toString(), 'hi');
    });

    it('accepts a request line of exactly LIMITS.requestLine bytes', () => {
      const line = 'GET /' + 'a'.repeat(LIMITS.requestLine - 'GET / HTTP/1.1'.length) + ' HTTP/1.1';
      assert.equal(line.length, LIMITS.requestLine);
      assertStatus(line + '\r\nHost: x\r\n\r\n', 'done');
      assertStatus(line + '\nHost: x\n\n', 'done');
    });

    it('accepts exactly LIMITS.headerLines header lines', () => {
      assertStatus('GET / HTTP/1.0\r\n' + 'X-A: b\r\n'.repeat(LIMITS.headerLines) + '\r\n', 'done');
    });

    it('wants more until the head is complete', () => {
      for (const partial of ['', 'GET', 'GET / HTTP/1.1', 'GET / HTTP/1.1\r\n', 'GET / HTTP/1.1\r\nHost: x\r\n\r']) {
        const { p, used } = parse(partial);
        assert.equal(p.wantsMore, true, partial);
        assert.equal(used, partial.length);
      }
    });
  });

  describe('Host (RFC 9112 §3.2)', () => {
    it('400 for an HTTP/1.1 request without Host, whatever the target form', () => {
      for (const input of [
        'GET / HTTP/1.1\r\n\r\n',
        'GET http://example.com/ HTTP/1.1\r\n\r\n',
        'GET / HTTP/1.1\r\nX-Host: a\r\n\r\n',
      ]) {
        assertStatus(input, 400);
        assert.match(parse(input).p.error!.message, /Host/);
      }
    });

    it('400 for more than one Host header line, in HTTP/1.1 and HTTP/1.0, even if they agree', () => {
      assertStatus('GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n', 400);
      assertStatus('GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n', 400);
      assertStatus('GET / HTTP/1.0\r\nHOST: a\r\nX: y\r\nHost: b\r\n\r\n', 400);
      assertStatus('POST / HTTP/1.1\r\nHost: a\r\nHost: b\r\nContent-Length: 1\r\n\r\nx', 400);
    });

    it('one Host (even an empty one) is enough; HTTP/1.0 may omit it', () => {
      assertStatus('GET / HTTP/1.1\r\nHost: a\r\n\r\n', 'done');
      assertStatus('GET / HTTP/1.1\r\nhost:\r\n\r\n', 'done');
      assertStatus('GET / HTTP/1.0\r\n\r\n', 'done');
    });
  });

  describe('pipelining', () => {
    it('leaves the next request unconsumed', () => {
      const first = 'GET /a HTTP/1.1\r\nHost: x\r\n\r\n',
        second = 'GET /b HTTP/1.1\r\nHost: x\r\n\r\n';
      const data = buf(first + second);
      const p1 = new RequestParser();
      const n = p1.push(data);
      assert.equal(n, first.length);
      assert.equal(p1.request!.path, '/a');
      assert.equal(p1.push(data, n), 0, 'a done parser consumes nothing');
      const p2 = new RequestParser();
      assert.equal(p2.push(data, n), second.length);
      assert.equal(p2.request!.path, '/b');
    });

    it('respects start/end bounds', () => {
      const data = buf('xxGET / HTTP/1.0\r\n\r\nyy');
      const p = new RequestParser();
      assert.equal(p.push(data, 2, data.length - 2), data.length - 4);
      assert.equal(p.state, 'done');
    });

    it('stops consuming at an error', () => {
      const { p, used } = parse('GET / HTTP/1.1\r\nBad Header: x\r\nmore stuff');
      assert.equal(p.state, 'error');
      assert.equal(used, 'GET / HTTP/1.1\r\nBad Header: x\r\n'.length);
      assert.equal(p.push(buf('more')), 0);
    });
  });

  describe('errors', () => {
    const bad400 = [
      'GET / HTTP/1.1 extra\r\n\r\n',
      'GET  / HTTP/1.1\r\n\r\n',
      'GET /\r\n\r\n',
      'GET\r\n\r\n',
      ' GET / HTTP/1.1\r\n\r\n',
      'GET / HTTP/1.1 \r\n\r\n',
      'G(T / HTTP/1.1\r\n\r\n',
      'GET / http/1.1\r\n\r\n',
      'GET / HTTP/1\r\n\r\n',
      'GET / HTTP/1.10\r\n\r\n',
      'GET / HTTPS/1.1\r\n\r\n',
      'GET index.html HTTP/1.1\r\n\r\n',
      'GET * HTTP/1.1\r\n\r\n',
      'GET ftp://x/ HTTP/1.1\r\n\r\n',
      'GET http:/// HTTP/1.1\r\n\r\n',
      'GET /a\tb HTTP/1.1\r\n\r\n',
      'GET /a\x7fb HTTP/1.1\r\n\r\n',
      'GET /caf\xe9 HTTP/1.1\r\n\r\n',
      'GET /\r HTTP/1.1\r\n\r\n',
      'GET / HTTP/1.1\r\r\n\r\n',
      '\rGET / HTTP/1.1\r\n\r\n',
      'GET / HTTP/1.1\r\nHost : x\r\n\r\n',
      'GET / HTTP/1.1\r\nHost x\r\n\r\n',
      'GET / HTTP/1.1\r\n: x\r\n\r\n',
      'GET / HTTP/1.1\r\nX(y): z\r\n\r\n',
      'GET / HTTP/1.1\r\nX: a\r\n folded\r\n\r\n',
      'GET / HTTP/1.1\r\nX: a\rb\r\n\r\n',
      'GET / HTTP/1.1\r\nX: a\x01b\r\n\r\n',
      'GET / HTTP/1.1\r\nX: a\r\n\r\r\n',
      'GET / HTTP/1.1\r\nX: a\0b\r\n\r\n',
      'GET /\0 HTTP/1.1\r\n\r\n',
      'POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n',
      'POST / HTTP/1.1\r\nContent-Length: +1\r\n\r\n',
      'POST / HTTP/1.1\r\nContent-Length: 1.0\r\n\r\n',
      'POST / HTTP/1.1\r\nContent-Length: 0x10\r\n\r\n',
      'POST / HTTP/1.1\r\nContent-Length: \r\n\r\n',
      'POST / HTTP/1.1\r\nContent-Length: 1 2\r\n\r\n',
      'POST / HTTP/1.1\r\nContent-Length: 1,\r\n\r\n',
      'POST / HTTP/1.1\r\nContent-Length: 1, 2\r\n\r\n',
      'POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n',
    ];
    for (const input of bad400) it(`400 for ${JSON.stringify(input)}`, () => assertStatus(input, 400));

    it('400 for non-HTTP input such as a TLS ClientHello, at the first byte', () => {
      const hello = Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03]);
      const { p, used } = parse(hello);
      assert.equal(p.state, 'error');
      assert.equal(p.error!.status, 400);
      assert.equal(used, 1);
      assertStatus('\x80\x81binary', 400);
      assertStatus('SSH-2.0-OpenSSH_9.6\r\n', 400);
    });

    it('505 for well-formed but unsupported HTTP versions', () => {
      assertStatus('GET / HTTP/2.0\r\n\r\n', 505);
      assertStatus('GET / HTTP/1.2\r\n\r\n', 505);
      assertStatus('GET / HTTP/0.9\r\n\r\n', 505);
    });

    it('414 as soon as the request line exceeds the limit', () => {
      const max = LIMITS.requestLine;
      const long = 'GET /' + 'a'.repeat(max);
      const { p, used } = parse(long + ' HTTP/1.1\r\n\r\n');
      assert.equal(p.error!.status, 414);
      assert.equal(used, max + 1);
      // No newline needed:
      assertStatus('GET /' + 'a'.repeat(max), 414);
      assertStatus('GET /' + 'a'.repeat(max - 5), 'more');
      const exact = 'GET /' + 'a'.repeat(max - 'GET / HTTP/1.1'.length) + ' HTTP/1.1';
      assertStatus(exact + '\r', 'more');
      assertStatus(exact + '\rX', 414);
      assertStatus(exact + 'X', 414);
    });

    it('431 when the header section is too large, without waiting for a newline', () => {
      assertStatus('GET / HTTP/1.1\r\nX: ' + 'a'.repeat(LIMITS.headerBytes), 431);
      const line = 'X-Filler: ' + 'b'.repeat(990) + '\r\n'; // 1002 bytes
      assertStatus('GET / HTTP/1.0\r\n' + line.repeat(16) + '\r\n', 'done');
      assertStatus('GET / HTTP/1.1\r\n' + line.repeat(17) + '\r\n', 431);
    });

    it('431 for too many header lines', () => {
      assertStatus('GET / HTTP/1.1\r\n' + 'X-A: b\r\n'.repeat(LIMITS.headerLines + 1) + '\r\n', 431);
      assertStatus('GET / HTTP/1.1\r\n' + 'X-A: b\r\n'.repeat(LIMITS.headerLines) + 'X', 431);
    });

    it('honours custom limits', () => {
      const limits = { requestLine: 20, headerBytes: 30, headerLines: 2, body: 5 };
      assert.equal(status('GET /0123456789012345 HTTP/1.1\r\n\r\n', limits), 414);
      assert.equal(status('GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n', limits), 431);
      assert.equal(status('GET / HTTP/1.1\r\nA: 12345678901234567890123456\r\n\r\n', limits), 431);
      assert.equal(status('POST / HTTP/1.0\r\nContent-Length: 6\r\n\r\n', limits), 413);
      assert.equal(status('POST / HTTP/1.0\r\nContent-Length: 5\r\n\r\n12345', limits), 'done');
    });

    it('413 for a Content-Length over the body limit', () => {
      assertStatus(`POST / HTTP/1.1\r\nHost: x\r\nContent-Length: ${LIMITS.body + 1}\r\n\r\n`, 413);
      assertStatus('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999999\r\n\r\n', 413);
      assertStatus(
        `POST / HTTP/1.1\r\nHost: x\r\nContent-Length: ${LIMITS.body}\r\n\r\n` + 'x'.repeat(LIMITS.body),
        'done',
      );
    });

    it('411 for POST without Content-Length', () => {
      assertStatus('POST / HTTP/1.1\r\nHost: x\r\n\r\n', 411);
      assertStatus('GET / HTTP/1.1\r\nHost: x\r\n\r\n', 'done');
      assertStatus('post / HTTP/1.1\r\nHost: x\r\n\r\n', 'done'); // not POST: a 405/501 is the caller's business
    });

    it('501 for Transfer-Encoding', () => {
      assertStatus('POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n', 501);
      assertStatus('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n', 501);
      assertStatus('GET / HTTP/1.1\r\nHost: x\r\ntransfer-encoding: identity\r\n\r\n', 501);
    });

    it('errors are HttpError instances', () => {
      const e = parse('BAD\r\n\r\n').p.error!;
      assert.ok(e instanceof HttpError);
      assert.ok(e instanceof Error);
      assert.equal(e.status, 400);
      assert.equal(e.name, 'HttpError');
    });
  });

  describe('end()', () => {
    it('is quiet for EOF before or in the middle of a request', () => {
      for (const partial of [
        '',
        'GE',
        'GET / HTTP/1.1\r\n',
        'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nab',
      ]) {
        assert.equal(parse(partial).p.end(), null, partial);
      }
    });
    it('is null after a complete request', () => {
      assert.equal(parse('GET / HTTP/1.1\r\nHost: x\r\n\r\n').p.end(), null);
    });
    it('returns the pending error', () => {
      const { p } = parse('GET / HTTP/9.9\r\n');
      assert.equal(p.end()!.status, 505);
    });
  });

  describe('chunking invariance', () => {
    const samples = [
      'GET /index.html?x=1 HTTP/1.1\r\nHost: localhost:8000\r\nAccept: */*\r\nAccept: text/html\r\n\r\n',
      'POST /guestbook HTTP/1.1\r\nContent-Length: 23\r\nContent-Type: application/x-www-form-urlencoded\r\n\r\nname=J&message=hi+there',
      'GET / HTTP/1.0\nX: y\n\nGET /next HTTP/1.0\r\n\r\n',
      '\r\nHEAD http://h/a%20b HTTP/1.1\r\nX: \xe9\r\n\r\n',
      'GET / HTTP/1.1\r\nBad Header: x\r\n\r\n',
      'POST / HTTP/1.1\r\n\r\n',
      'POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab',
      'GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n',
      'GET /' + 'a'.repeat(LIMITS.requestLine) + ' HTTP/1.1\r\n\r\n',
      'GET / HTTP/1.1\r\n' + 'X: y\r\n'.repeat(LIMITS.headerLines + 3) + '\r\n',
      '\x16\x03\x01\x00\xa5\x01\x00\x00',
      'GET /\0 HTTP/1.1\r\n\r\n',
    ];

    function outcome(p: RequestParser, used: number) {
      return {
        state: p.state,
        used,
        status: p.error?.status,
        request: p.request && { ...p.request, headers: [...p.request.headers] },
      };
    }

    function feedSplit(data: Buffer, cuts: number[]) {
      const p = new RequestParser();
      let used = 0,
        prev = 0;
      for (const cut of [...cuts.sort((a, b) => a - b), data.length]) {
        if (!p.wantsMore) break;
        // A reader re-feeds whatever was not consumed; here that only happens at the end.
        used += p.push(data, prev, cut);
        prev = cut;
      }
      return outcome(p, used);
    }

    const arbInput = fc.oneof(
      fc.constantFrom(...samples).map((s) => buf(s)),
      fc
        .tuple(
          fc.constantFrom('GET', 'POST', 'HEAD', 'get', 'BAD(', ''),
          fc.stringMatching(/^\/[a-z0-9%.?=&/]{0,20}$/),
          fc.constantFrom('HTTP/1.0', 'HTTP/1.1', 'HTTP/2.0', 'HTP'),
          fc.array(fc.tuple(fc.stringMatching(/^[A-Za-z-]{0,8}$/), fc.string({ maxLength: 12 })), { maxLength: 5 }),
          fc.constantFrom('\r\n', '\n'),
          fc.string({ maxLength: 20 }),
          fc.option(fc.nat(25)),
        )
        .map(([m, t, v, hs, eol, body, cl]) => {
          const head =
            `${m} ${t} ${v}${eol}` +
            hs.map(([n, val]) => `${n}: ${val}${eol}`).join('') +
            (cl === null ? '' : `Content-Length: ${cl}${eol}`) +
            eol;
          return Buffer.concat([buf(head), Buffer.from(body)]);
        }),
      fc.uint8Array({ maxLength: 60 }).map((a) => Buffer.from(a)),
    );

    it('gives the same result whatever the split points', () => {
      fc.assert(
        fc.property(arbInput, fc.array(fc.nat(), { maxLength: 10 }), (data, rawCuts) => {
          const whole = new RequestParser();
          const expected = outcome(whole, whole.push(data));
          const cuts = rawCuts.map((c) => c % (data.length + 1));
          assert.deepEqual(feedSplit(data, cuts), expected);
          const bytewise = parseBytewise(data);
          assert.deepEqual(outcome(bytewise.p, bytewise.used), expected);
        }),
        { numRuns: 1000 },
      );
    });
  });
});
