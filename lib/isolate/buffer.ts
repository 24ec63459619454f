// Buffer for the bare-isolate threads (lib/servers/thread-isolate.ts): the npm buffer package,
// with its UTF-8 decoding replaced by the WHATWG Encoding Standard's, which is what Node's
// Buffer (V8's String::NewFromUtf8) does. The package replaces each byte of a malformed
// sequence cut short with its own U+FFFD ("\xf0\x9f\x98" gives three), where Node replaces the
// maximal subpart with one: a guestbook form or a Redis reply with such bytes would read
// differently in an isolate thread than in every other architecture. esbuild injects this
// module's Buffer as the global (scripts/bundle-worker.ts).
import { Buffer } from 'buffer';
import { decodeUtf8 } from './utf8';

const original = Buffer.prototype.toString as (this: Buffer, encoding?: string, start?: number, end?: number) => string;
Buffer.prototype.toString = function (this: Buffer, encoding?: string, start?: number, end?: number): string {
  if (encoding && !/^utf-?8$/i.test(String(encoding))) return original.call(this, encoding, start, end);
  // The package's own bounds (its slowToString()): clamped, then coerced to uint32.
  if (start === undefined || start < 0) start = 0;
  if (start > this.length) return '';
  if (end === undefined || end > this.length) end = this.length;
  if (end <= 0) return '';
  return decodeUtf8(this, start >>> 0, end >>> 0);
};

export { Buffer };
