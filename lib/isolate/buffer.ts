// Buffer for the bare-isolate threads (lib/servers/thread-isolate.ts): the npm buffer package
// (Node's Buffer API in JavaScript), with its UTF-8 done as Node's Buffer does it, by V8 in C++
// (native/isolate.cc's utf8Slice, utf8Length, utf8Write). The package's JavaScript runs
// interpreted in each fresh isolate (decoding was about 25 of the 68 ms a 300 kB guestbook page took; 19 ms with V8's), and it
// replaces each byte of a malformed sequence cut short with its own U+FFFD ("\xf0\x9f\x98" gave
// three) where Node (the WHATWG Encoding Standard) replaces it with one: a guestbook form or a
// Redis reply with such bytes read differently in an isolate thread than in every other
// architecture. esbuild injects this module's Buffer as the global (scripts/bundle-worker.ts).
import { Buffer } from 'buffer';
import type { IsolateBoot } from '../sys';

const native = (globalThis as { __zerohttpd?: IsolateBoot }).__zerohttpd?.native;

const isUtf8 = (encoding: unknown): boolean =>
  !encoding || (typeof encoding === 'string' && /^utf-?8$/i.test(encoding));

if (native) {
  const toString = Buffer.prototype.toString as (
    this: Buffer,
    encoding?: string,
    start?: number,
    end?: number,
  ) => string;
  Buffer.prototype.toString = function (this: Buffer, encoding?: string, start?: number, end?: number): string {
    if (!isUtf8(encoding)) return toString.call(this, encoding, start, end);
    // The package's own bounds (its slowToString()): clamped, then coerced to uint32.
    if (start === undefined || start < 0) start = 0;
    if (start > this.length) return '';
    if (end === undefined || end > this.length) end = this.length;
    if (end <= 0) return '';
    start >>>= 0;
    end >>>= 0;
    return end <= start ? '' : native.utf8Slice(this, start, end - start);
  };

  const byteLength = Buffer.byteLength.bind(Buffer);
  Buffer.byteLength = function (value: unknown, encoding?: string): number {
    if (typeof value === 'string' && isUtf8(encoding)) return native.utf8Length(value);
    return byteLength(value as string, encoding as BufferEncoding);
  };

  const from = Buffer.from.bind(Buffer) as (...args: unknown[]) => Buffer;
  Buffer.from = function (value: unknown, encodingOrOffset?: unknown, length?: unknown): Buffer {
    if (typeof value !== 'string' || !isUtf8(encodingOrOffset)) return from(value, encodingOrOffset, length);
    const buf = Buffer.allocUnsafe(native.utf8Length(value));
    native.utf8Write(buf, 0, buf.length, value);
    return buf;
  } as typeof Buffer.from;
}

export { Buffer };
