import * as assert from 'node:assert/strict';
import { encodeReply } from './helpers/resp';
import fc from 'fast-check';
import { encodeCommand, RespDecoder, RespError, RespValue } from '../lib/redis/resp';

function decodeAll(chunks: Uint8Array[]): RespValue[] {
  const d = new RespDecoder();
  const out: RespValue[] = [];
  for (const c of chunks) {
    d.push(c);
    for (let r = d.next(); r; r = d.next()) out.push(r.value);
  }
  return out;
}

const replyArb: fc.Arbitrary<RespValue> = fc.letrec<{ v: RespValue }>((tie) => ({
  v: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.string({ unit: 'binary' }),
    fc.integer(),
    fc.constant(null),
    fc.stringMatching(/^ERR [a-z ]{0,20}$/).map((m) => new RespError(m)),
    fc.array(tie('v'), { maxLength: 5 }),
  ),
})).v;

describe('RESP', () => {
  describe('encodeCommand', () => {
    it('encodes an array of bulk strings with utf8 byte lengths', () => {
      assert.equal(encodeCommand(['GET', 'k']).toString(), '*2\r\n$3\r\nGET\r\n$1\r\nk\r\n');
      assert.equal(encodeCommand(['SET', 'é', '']).toString(), '*3\r\n$3\r\nSET\r\n$2\r\né\r\n$0\r\n\r\n');
      assert.equal(encodeCommand([]).toString(), '*0\r\n');
    });
  });

  describe('RespDecoder', () => {
    it('decodes every reply type', () => {
      const input =
        '+OK\r\n-ERR wrong type\r\n:42\r\n:-7\r\n$5\r\nhello\r\n$0\r\n\r\n$-1\r\n*-1\r\n*0\r\n' +
        '*3\r\n:1\r\n*2\r\n$1\r\na\r\n$-1\r\n+x\r\n$5\r\né€\r\n';
      assert.deepEqual(decodeAll([Buffer.from(input)]), [
        'OK',
        new RespError('ERR wrong type'),
        42,
        -7,
        'hello',
        '',
        null,
        null,
        [],
        [1, ['a', null], 'x'],
        'é€',
      ]);
    });

    it('returns error replies as RespError values', () => {
      const [v] = decodeAll([Buffer.from('-WRONGTYPE Operation against a key\r\n')]);
      assert.ok(v instanceof RespError);
      assert.equal(v.message, 'WRONGTYPE Operation against a key');
    });

    it('waits for more bytes instead of guessing', () => {
      const d = new RespDecoder();
      assert.equal(d.next(), undefined);
      d.push(Buffer.from('$5\r\nhel'));
      assert.equal(d.next(), undefined);
      d.push(Buffer.from('lo\r'));
      assert.equal(d.next(), undefined);
      d.push(Buffer.from('\n*2\r\n:1\r\n'));
      assert.deepEqual(d.next(), { value: 'hello' });
      assert.equal(d.next(), undefined);
      d.push(Buffer.from(':2\r\n'));
      assert.deepEqual(d.next(), { value: [1, 2] });
      assert.equal(d.next(), undefined);
    });

    it('copies pushed bytes (caller may reuse its buffer)', () => {
      const d = new RespDecoder();
      const buf = Buffer.from('$3\r\nab');
      d.push(buf);
      buf.fill(0x21);
      d.push(Buffer.from('c\r\n'));
      assert.deepEqual(d.next(), { value: 'abc' });
    });

    it('throws a protocol error on malformed input', () => {
      for (const bad of ['?x\r\n', '$abc\r\n', '*-2\r\n', '$-5\r\n', ':1x\r\n', '$3\r\nabcde\r\n', '+a\rb\n']) {
        const d = new RespDecoder();
        d.push(Buffer.from(bad));
        assert.throws(() => d.next(), /^Error: RESP protocol error/, JSON.stringify(bad));
      }
    });

    it('decodes any split of a multi-reply stream identically (property)', () => {
      fc.assert(
        fc.property(
          fc.array(replyArb, { minLength: 1, maxLength: 6 }),
          fc.array(fc.nat(), { maxLength: 20 }),
          (replies, cuts) => {
            const bytes = Buffer.from(replies.map(encodeReply).join(''));
            const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
            const chunks: Buffer[] = [];
            let prev = 0;
            for (const p of [...points, bytes.length]) {
              chunks.push(bytes.subarray(prev, p));
              prev = p;
            }
            assert.deepEqual(decodeAll(chunks), replies);
          },
        ),
        { numRuns: 500 },
      );
    });

    it('decodes one byte at a time', () => {
      const replies: RespValue[] = ['OK', [1, [null, 'x', []], new RespError('ERR e')], 'naïve'];
      const bytes = Buffer.from(replies.map(encodeReply).join(''));
      assert.deepEqual(decodeAll([...bytes].map((b) => Uint8Array.of(b))), replies);
    });

    it('decodes a 10,000-element array', () => {
      const arr = Array.from({ length: 10_000 }, (_, i) => `remark ${i} - guest`);
      assert.deepEqual(decodeAll([Buffer.from(encodeReply(arr))]), [arr]);
    });

    it('decodes a 100,000-element array fed in socket-sized chunks in linear time', function () {
      this.timeout(20_000);
      const decodeTimed = (n: number) => {
        const arr = Array.from({ length: n }, (_, i) => `remark number ${i} - some guest`);
        const bytes = Buffer.from(encodeReply(arr));
        const t0 = process.hrtime.bigint();
        const d = new RespDecoder();
        let result: { value: RespValue } | undefined;
        for (let i = 0; i < bytes.length; i += 1024) {
          d.push(bytes.subarray(i, i + 1024));
          result = d.next() ?? result;
        }
        const ms = Number(process.hrtime.bigint() - t0) / 1e6;
        assert.deepEqual(result, { value: arr });
        return ms;
      };
      decodeTimed(10_000); // warm up
      const small = decodeTimed(10_000),
        big = decodeTimed(100_000);
      // Linear: ~10x the 10k time; re-scanning from the start per chunk would be ~100x.
      assert.ok(big < small * 40 + 100, `100k elements took ${big.toFixed(0)} ms vs ${small.toFixed(0)} ms for 10k`);
    });
  });
});
