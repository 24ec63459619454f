// RESP2 (Redis serialization protocol): command encoder and incremental reply decoder.

/** An error reply ("-ERR ..."), returned as a value rather than thrown. */
export class RespError {
  constructor(public message: string) {}
}

export type RespValue = string | number | null | RespError | RespValue[];

export function encodeCommand(args: string[]): Buffer {
  const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`)];
  for (const arg of args) {
    const bytes = Buffer.from(arg, 'utf8');
    parts.push(Buffer.from(`$${bytes.length}\r\n`), bytes, Buffer.from('\r\n'));
  }
  return Buffer.concat(parts);
}

const CR = 13,
  LF = 10;
const MAX_BULK = 512 * 1024 * 1024,
  MAX_ARRAY = 2 ** 32 - 1; // Redis' own bulk limit; JS array limit
/** Thrown internally when the buffer ends mid-reply; made once, so a short read costs no stack trace. */
const INCOMPLETE = new Error('incomplete RESP reply');

function protocolError(what: string): Error {
  return new Error(`RESP protocol error: ${what}`);
}

export class RespDecoder {
  private buf: Buffer = Buffer.alloc(0);
  private start = 0; // first unconsumed byte
  private end = 0; // bytes [start, end) are pending input
  private pos = 0; // parse cursor
  // Arrays still being filled. Each element is committed as soon as it is complete, so an
  // incomplete reply is never re-scanned from its beginning: decoding stays linear however it is split.
  private stack: { arr: RespValue[]; i: number }[] = [];

  push(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    if (this.end + chunk.length > this.buf.length) {
      const pending = this.end - this.start;
      const need = pending + chunk.length;
      // Compact in place when half the buffer is consumed garbage, else grow geometrically.
      const next = need <= this.buf.length / 2 ? this.buf : Buffer.allocUnsafe(Math.max(need * 2, 4096));
      this.buf.copy(next, 0, this.start, this.end);
      this.buf = next;
      this.start = 0;
      this.end = pending;
    }
    this.buf.set(chunk, this.end);
    this.end += chunk.length;
  }

  next(): { value: RespValue } | undefined {
    for (;;) {
      this.pos = this.start;
      let item: RespValue | { array: number };
      try {
        item = this.item();
      } catch (e) {
        if (e === INCOMPLETE) return undefined;
        throw e;
      }
      this.start = this.pos;
      if (this.start === this.end) {
        this.start = this.end = 0;
        if (this.buf.length > 1 << 20) this.buf = Buffer.alloc(0); // release memory held after a huge reply
      }
      let value: RespValue;
      if (item !== null && typeof item === 'object' && 'array' in item) {
        if (item.array > 0) {
          this.stack.push({ arr: new Array(item.array), i: 0 });
          continue;
        }
        value = [];
      } else {
        value = item;
      }
      // Attach the finished value to its parent arrays, completing them as they fill up.
      for (;;) {
        const top = this.stack[this.stack.length - 1];
        if (!top) return { value };
        top.arr[top.i++] = value;
        if (top.i < top.arr.length) break;
        value = top.arr;
        this.stack.pop();
      }
    }
  }

  /** One scalar value, or an array header. Throws INCOMPLETE without side effects on this.start. */
  private item(): RespValue | { array: number } {
    const type = this.byte();
    const line = this.line();
    switch (type) {
      case 0x2b: // '+'
        return line;
      case 0x2d: // '-'
        return new RespError(line);
      case 0x3a: // ':'
        return this.int(line);
      case 0x24: {
        // '$'
        const len = this.int(line);
        if (len === -1) return null;
        if (len < 0 || len > MAX_BULK) throw protocolError(`bad bulk length ${line}`);
        if (this.end - this.pos < len + 2) throw INCOMPLETE;
        if (this.buf[this.pos + len] !== CR || this.buf[this.pos + len + 1] !== LF) {
          throw protocolError('bulk string not terminated by CRLF');
        }
        const s = this.buf.toString('utf8', this.pos, this.pos + len);
        this.pos += len + 2;
        return s;
      }
      case 0x2a: {
        // '*'
        const n = this.int(line);
        if (n === -1) return null;
        if (n < 0 || n > MAX_ARRAY) throw protocolError(`bad array length ${line}`);
        return { array: n };
      }
      default:
        throw protocolError(`unknown type byte 0x${type.toString(16).padStart(2, '0')}`);
    }
  }

  private byte(): number {
    if (this.pos >= this.end) throw INCOMPLETE;
    return this.buf[this.pos++];
  }

  /** Reads up to CRLF and returns the text before it. */
  private line(): string {
    const cr = this.buf.subarray(0, this.end).indexOf(CR, this.pos);
    if (cr === -1 || cr + 1 >= this.end) throw INCOMPLETE;
    if (this.buf[cr + 1] !== LF) throw protocolError('CR not followed by LF');
    const s = this.buf.toString('utf8', this.pos, cr);
    this.pos = cr + 2;
    return s;
  }

  private int(s: string): number {
    if (!/^-?\d+$/.test(s)) throw protocolError(`bad integer ${JSON.stringify(s)}`);
    return Number(s);
  }
}
