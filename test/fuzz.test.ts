// Property-based fuzzing of the two parsers that read untrusted bytes: the HTTP request parser
// (from clients) and the RESP decoder (from Redis). What test/http-request.test.ts and
// test/resp.test.ts already cover (split invariance on generated inputs, fixed malformed cases)
// is not repeated; this adds arbitrary and mutated bytes, model round trips, limits, smuggling
// and the "only documented errors, never a hang" contract. Bounded run counts (see SECURITY.md).
import { encodeReply } from './helpers/resp';
import * as assert from 'node:assert/strict';
import fc from 'fast-check';
import { HttpError, LIMITS, RequestParser } from '../lib/http/request';
import { RespDecoder, RespValue } from '../lib/redis/resp';
import { escapeHtml, renderGuestbook, Templates } from '../lib/guestbook/guestbook';
import * as path from 'node:path';

const RUNS = Number(process.env.FUZZ_RUNS) || 400;
const HTTP_STATUSES = new Set([400, 411, 413, 414, 431, 501, 505]);

// ---------- HTTP request parser ----------

interface Outcome {
  state: string;
  used: number;
  status?: number;
  request?: unknown;
}

function outcomeOf(p: RequestParser, used: number): Outcome {
  const r = p.request;
  return {
    state: p.state,
    used,
    status: p.error?.status,
    request: r && { ...r, headers: [...r.headers], body: r.body.toString('latin1') },
  };
}

/** Feed `data` cut at `cuts`, re-feeding what was not consumed, as a reader would. */
function feed(data: Buffer, cuts: number[]): Outcome {
  const p = new RequestParser();
  let used = 0,
    prev = 0;
  for (const cut of [...cuts, data.length]) {
    if (cut < prev) continue;
    if (!p.wantsMore) break;
    const n = p.push(data, prev, cut);
    assert.ok(n >= 0 && n <= cut - prev, `push() consumed ${n} of ${cut - prev}`);
    used += n;
    if (n < cut - prev) break; // done or error: nothing more is consumed
    prev = cut;
  }
  return outcomeOf(p, used);
}

const token = fc.stringMatching(/^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,12}$/);
const pathArb = fc.stringMatching(/^\/[A-Za-z0-9._~%/?=&-]{0,40}$/);
const valueArb = fc.stringMatching(/^[\x21-\x7e\x80-\xff]([\x20-\x7e\x80-\xff]{0,30}[\x21-\x7e\x80-\xff])?$/);
const headerArb = fc.tuple(
  token.filter((n) => !/^(content-length|transfer-encoding|host)$/i.test(n)),
  valueArb,
);

/** A valid request and the values the parser must give back. */
const validRequest = fc
  .record({
    method: fc.constantFrom('GET', 'HEAD', 'POST', 'PUT', 'BREW', 'get'),
    target: pathArb,
    minor: fc.constantFrom('0', '1'),
    headers: fc.array(headerArb, { maxLength: 8 }),
    body: fc.uint8Array({ maxLength: 300 }),
    eol: fc.constantFrom('\r\n', '\n'),
  })
  .map((r) => {
    const withCl = r.body.length > 0 || r.method === 'POST';
    const head =
      `${r.method} ${r.target} HTTP/1.${r.minor}${r.eol}` +
      `Host: x${r.eol}` +
      r.headers.map(([n, v]) => `${n}: ${v}${r.eol}`).join('') +
      (withCl ? `Content-Length: ${r.body.length}${r.eol}` : '') +
      r.eol;
    return { ...r, bytes: Buffer.concat([Buffer.from(head, 'latin1'), Buffer.from(r.body)]) };
  });

/** Valid requests with a few random byte mutations. */
const mutated = fc
  .tuple(
    validRequest,
    fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 }), fc.constantFrom('set', 'insert', 'delete')), {
      minLength: 1,
      maxLength: 6,
    }),
  )
  .map(([r, muts]) => {
    let b = Buffer.from(r.bytes);
    for (const [pos, byte, op] of muts) {
      const at = pos % (b.length + 1);
      if (op === 'set' && at < b.length) b[at] = byte;
      else if (op === 'insert') b = Buffer.concat([b.subarray(0, at), Buffer.of(byte), b.subarray(at)]);
      else if (op === 'delete') b = Buffer.concat([b.subarray(0, at), b.subarray(at + 1)]);
    }
    return b;
  });

const anyBytes = fc.oneof(
  fc.uint8Array({ maxLength: 2000 }).map((a) => Buffer.from(a)),
  mutated,
  validRequest.map((r) => r.bytes),
);

describe('fuzz: HTTP request parser (properties)', () => {
  it('never throws on any bytes; ends in done, an HttpError with a documented status, or wanting more', () => {
    fc.assert(
      fc.property(anyBytes, fc.array(fc.nat(), { maxLength: 8 }), (data, raw) => {
        const cuts = raw.map((c) => c % (data.length + 1)).sort((a, b) => a - b);
        const o = feed(data, cuts);
        assert.ok(['done', 'error', 'line', 'headers', 'body'].includes(o.state));
        if (o.state === 'error') assert.ok(HTTP_STATUSES.has(o.status!), `status ${o.status}`);
        assert.ok(o.used <= data.length);
      }),
      { numRuns: RUNS * 2 },
    );
  });

  it('mutated requests: the same outcome however the bytes are split (whole, random cuts, one byte at a time)', () => {
    fc.assert(
      fc.property(mutated, fc.array(fc.nat(), { maxLength: 8 }), (data, raw) => {
        const whole = feed(data, []);
        assert.deepEqual(
          feed(
            data,
            raw.map((c) => c % (data.length + 1)).sort((a, b) => a - b),
          ),
          whole,
        );
        assert.deepEqual(
          feed(
            data,
            Array.from({ length: data.length }, (_, i) => i),
          ),
          whole,
        );
      }),
      { numRuns: RUNS },
    );
  });

  it('a valid request parses back to exactly what was sent (model round trip)', () => {
    fc.assert(
      fc.property(validRequest, (r) => {
        const p = new RequestParser();
        const used = p.push(r.bytes);
        assert.equal(p.state, 'done', `${p.error?.message} for ${JSON.stringify(r.bytes.toString('latin1'))}`);
        assert.equal(used, r.bytes.length);
        const q = p.request!;
        assert.equal(q.method, r.method);
        assert.equal(q.target, r.target);
        assert.equal(q.version, `HTTP/1.${r.minor}`);
        const qi = r.target.indexOf('?');
        assert.equal(q.path, qi < 0 ? r.target : r.target.slice(0, qi));
        assert.deepEqual([...q.body], [...r.body]);
        // Repeated names combine in order with ", " (RFC 9110 §5.3); a value may itself contain ", ".
        const expected = new Map<string, string>();
        for (const [n, v] of r.headers) {
          const k = n.toLowerCase(),
            prev = expected.get(k);
          expected.set(k, prev === undefined ? v : `${prev}, ${v}`);
        }
        for (const [k, v] of expected) assert.equal(q.headers.get(k), v, `header ${k}`);
      }),
      { numRuns: RUNS },
    );
  });

  it('bytes after a complete request are never consumed and never change it (no smuggling)', () => {
    fc.assert(
      fc.property(validRequest, fc.uint8Array({ minLength: 1, maxLength: 300 }), (r, tail) => {
        const alone = feed(r.bytes, []);
        const withTail = feed(Buffer.concat([r.bytes, Buffer.from(tail)]), []);
        assert.deepEqual(withTail, alone);
      }),
      { numRuns: RUNS },
    );
  });

  it('a completed request never exceeds the limits; an over-limit one fails with 413/414/431, not "done"', () => {
    const big = fc.record({
      line: fc.integer({ min: 0, max: LIMITS.requestLine + 50 }),
      headers: fc.integer({ min: 0, max: LIMITS.headerLines + 5 }),
      valueLen: fc.integer({ min: 0, max: 300 }),
      body: fc.integer({ min: 0, max: LIMITS.body + 50 }),
    });
    fc.assert(
      fc.property(big, (b) => {
        const target = '/' + 'a'.repeat(b.line);
        const head =
          `POST ${target} HTTP/1.0\r\n` +
          `X-A: ${'v'.repeat(b.valueLen)}\r\n`.repeat(b.headers) +
          `Content-Length: ${b.body}\r\n\r\n`;
        const data = Buffer.concat([Buffer.from(head), Buffer.alloc(b.body, 0x62)]);
        const p = new RequestParser();
        p.push(data);
        const lineLen = `POST ${target} HTTP/1.0`.length;
        const headerBytes = head.length - lineLen - 2;
        if (p.state === 'done') {
          assert.ok(lineLen <= LIMITS.requestLine);
          assert.ok(headerBytes <= LIMITS.headerBytes);
          assert.ok(p.request!.headers.size <= LIMITS.headerLines);
          assert.equal(p.request!.body.length, b.body);
          assert.ok(b.body <= LIMITS.body);
        } else {
          assert.equal(p.state, 'error');
          assert.ok([413, 414, 431].includes(p.error!.status), `status ${p.error!.status}`);
          if (lineLen > LIMITS.requestLine) assert.equal(p.error!.status, 414);
          else if (b.body > LIMITS.body && headerBytes <= LIMITS.headerBytes - 200 && b.headers < LIMITS.headerLines)
            assert.equal(p.error!.status, 413);
        }
      }),
      { numRuns: 150 },
    );
  });

  it('a megabyte of hostile input is rejected in linear time (no re-scanning)', function () {
    this.timeout(30_000);
    const cases = [
      Buffer.alloc(1 << 20, 0x41), // a method that never ends
      Buffer.concat([Buffer.from('GET / HTTP/1.1\r\n'), Buffer.alloc(1 << 20, 0x78)]), // a header line that never ends
      Buffer.from('GET / HTTP/1.1\r\n' + 'X: y\r\n'.repeat(150_000)), // endless header lines
      Buffer.from('\r\n'.repeat(500_000)), // endless empty lines
    ];
    for (const data of cases) {
      for (const step of [1, 7, 4096]) {
        const p = new RequestParser();
        const t0 = process.hrtime.bigint();
        for (let i = 0; i < data.length && p.wantsMore; i += step) p.push(data, i, Math.min(data.length, i + step));
        const ms = Number(process.hrtime.bigint() - t0) / 1e6;
        assert.equal(p.state, 'error');
        assert.ok(ms < 5000, `${ms} ms`);
      }
    }
  });

  it('errors are HttpError instances with a status and message', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 200 }), (a) => {
        const p = new RequestParser();
        p.push(Buffer.from(a));
        if (p.state === 'error') {
          assert.ok(p.error instanceof HttpError);
          assert.ok(p.error.message.length > 0);
          assert.equal(p.push(Buffer.from('GET / HTTP/1.0\r\n\r\n')), 0, 'a failed parser consumes nothing more');
        }
      }),
      { numRuns: RUNS },
    );
  });
});

// ---------- RESP decoder ----------

type Decoded = { values: RespValue[]; error?: string };

/** Decode until incomplete or a protocol error; anything else thrown fails the test. */
function decodeChunks(chunks: Uint8Array[]): Decoded {
  const d = new RespDecoder();
  const values: RespValue[] = [];
  for (const c of chunks) {
    d.push(c);
    for (let guard = 0; ; guard++) {
      assert.ok(guard < 1e6, 'next() keeps returning values: a hang');
      let r;
      try {
        r = d.next();
      } catch (e) {
        assert.ok(
          e instanceof Error && e.message.startsWith('RESP protocol error'),
          `undocumented throw: ${(e as Error)?.stack ?? String(e)}`,
        );
        return { values, error: e.message };
      }
      if (!r) break;
      values.push(r.value);
    }
  }
  return { values };
}

function split(bytes: Buffer, raw: number[]): Buffer[] {
  const points = [...new Set(raw.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let prev = 0;
  for (const p of [...points, bytes.length]) {
    chunks.push(bytes.subarray(prev, p));
    prev = p;
  }
  return chunks;
}

const replyArb: fc.Arbitrary<RespValue> = fc.letrec<{ v: RespValue }>((tie) => ({
  v: fc.oneof(
    { depthSize: 'small' },
    fc.string(),
    fc.integer(),
    fc.constant(null),
    fc.array(tie('v'), { maxLength: 4 }),
  ),
})).v;

const respBytes = fc.oneof(
  fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a)),
  // RESP-looking junk: type bytes, lengths (negative, huge, not numbers), CR/LF in odd places
  fc
    .array(
      fc.oneof(
        fc.constantFrom(
          '+',
          '-',
          ':',
          '$',
          '*',
          '\r\n',
          '\r',
          '\n',
          '-1',
          '0',
          '3',
          '99999999999',
          '-2',
          'x',
          'OK',
          '$3\r\nabc\r\n',
          '*2\r\n',
        ),
        fc.string({ maxLength: 4 }),
      ),
      { maxLength: 30 },
    )
    .map((a) => Buffer.from(a.join(''), 'latin1')),
  // valid reply streams with mutations
  fc
    .tuple(
      fc.array(replyArb, { minLength: 1, maxLength: 4 }),
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }),
    )
    .map(([vs, muts]) => {
      const b = Buffer.from(vs.map(encodeReply).join(''));
      for (const [pos, byte] of muts) if (b.length) b[pos % b.length] = byte;
      return b;
    }),
);

describe('fuzz: RESP decoder (properties)', () => {
  it('arbitrary and mutated bytes: values, "incomplete", or a documented RESP protocol error; never another exception or a hang', () => {
    fc.assert(
      fc.property(respBytes, (bytes) => {
        decodeChunks([bytes]);
      }),
      { numRuns: RUNS * 2 },
    );
  });

  it('the outcome (values decoded, then the protocol error if any) does not depend on how the bytes are split', () => {
    fc.assert(
      fc.property(respBytes, fc.array(fc.nat(), { maxLength: 12 }), (bytes, cuts) => {
        const whole = decodeChunks([bytes]);
        const pieces = decodeChunks(split(bytes, cuts));
        const bytewise = decodeChunks([...bytes].map((b) => Uint8Array.of(b)));
        // A protocol error may be noticed at a later chunk than in one piece, but values and the error agree.
        assert.deepEqual(pieces, whole);
        assert.deepEqual(bytewise, whole);
      }),
      { numRuns: RUNS },
    );
  });

  it('after a complete reply, trailing junk never changes the values already decoded', () => {
    fc.assert(
      fc.property(fc.array(replyArb, { minLength: 1, maxLength: 4 }), fc.uint8Array({ maxLength: 50 }), (vs, junk) => {
        const good = Buffer.from(vs.map(encodeReply).join(''));
        const r = decodeChunks([good, Buffer.from(junk)]);
        assert.deepEqual(r.values.slice(0, vs.length), vs);
      }),
      { numRuns: RUNS },
    );
  });

  it('a length that claims gigabytes waits for the bytes without allocating them', () => {
    for (const head of ['$536870912\r\n', '*4294967295\r\n', '*2147483647\r\n:1\r\n']) {
      const r = decodeChunks([Buffer.from(head), Buffer.from('abc')]);
      assert.deepEqual(r.values, []);
      assert.equal(r.error, undefined);
    }
    assert.match(decodeChunks([Buffer.from('$536870913\r\n')]).error ?? '', /bad bulk length/);
    assert.match(decodeChunks([Buffer.from('*4294967296\r\n')]).error ?? '', /bad array length/);
  });

  it('100,000 nested arrays decode without recursion (no stack overflow)', () => {
    const depth = 100_000;
    const bytes = Buffer.from('*1\r\n'.repeat(depth) + ':7\r\n');
    const r = decodeChunks([bytes]);
    assert.equal(r.error, undefined);
    let v = r.values[0];
    for (let i = 0; i < depth; i++) {
      assert.ok(Array.isArray(v) && v.length === 1);
      v = v[0];
    }
    assert.equal(v, 7);
  });
});

// ---------- guestbook rendering ----------

describe('fuzz: guestbook escaping (property)', () => {
  const templates = new Templates(path.resolve(__dirname, '..', '..', 'templates'));
  it('any remark renders escaped: no markup character of it reaches the page, and unescaping gives it back', () => {
    fc.assert(
      fc.property(fc.array(fc.string({ unit: 'binary', maxLength: 40 }), { minLength: 1, maxLength: 5 }), (remarks) => {
        const page = renderGuestbook(templates, [remarks, 1, '1']);
        for (const r of remarks) {
          const e = escapeHtml(r);
          assert.ok(!/[<>"']/.test(e));
          assert.ok(page.includes(`<li>${e}</li>`));
          assert.equal(
            e.replace(
              /&lt;|&gt;|&quot;|&#39;|&amp;/g,
              (m) => ({ '&lt;': '<', '&gt;': '>', '&quot;': '"', '&#39;': "'", '&amp;': '&' })[m]!,
            ),
            r,
          );
        }
        assert.equal(page.match(/<li>/g)?.length, remarks.length);
      }),
      { numRuns: 200 },
    );
  });
});
