// Incremental HTTP/1.x request parser. Pure: no I/O. Fed byte-by-byte or in chunks, with identical results.

export const LIMITS = { requestLine: 8192, headerBytes: 16384, headerLines: 100, body: 16384 };
export type Limits = typeof LIMITS;

export interface Request {
  method: string;
  target: string;
  path: string;
  query: string;
  version: string;
  headers: Map<string, string>;
  contentLength: number;
  body: Buffer;
}

export class HttpError extends Error {
  constructor(
    public status: number,
    message: string,
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

const CR = 13,
  LF = 10,
  SP = 32,
  HT = 9;
const MAX_LEADING_BLANK_LINES = 8;
const EMPTY = Buffer.alloc(0);

// RFC 9110 tchar: "!#$%&'*+-.^_`|~" / DIGIT / ALPHA
const TCHAR = new Uint8Array(256);
for (const c of "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
  TCHAR[c.charCodeAt(0)] = 1;

const VERSION_RE = /^HTTP\/(\d)\.(\d)$/;
const ABSOLUTE_RE = /^https?:\/\/[^/?#]+/i;

export class RequestParser {
  state: 'line' | 'headers' | 'body' | 'done' | 'error' = 'line';
  request: Request | null = null;
  error: HttpError | null = null;

  private line: Buffer; // current line, without its LF
  private len = 0;
  private sawSpace = false; // request line: past the method?
  private blankLines = 0;
  private headerTotal = 0;
  private headerCount = 0;
  private req: Request | null = null;
  private filled = 0;
  private te = false;
  private hosts = 0; // Host header lines

  constructor(private limits: Limits = LIMITS) {
    this.line = Buffer.allocUnsafe(Math.max(limits.requestLine, limits.headerBytes) + 2);
  }

  get wantsMore(): boolean {
    return this.state === 'line' || this.state === 'headers' || this.state === 'body';
  }

  get bodyRemaining(): number {
    return this.state === 'body' ? this.req!.contentLength - this.filled : 0;
  }

  end(): HttpError | null {
    return this.state === 'error' ? this.error : null;
  }

  push(chunk: Uint8Array, start = 0, end = chunk.length): number {
    let i = start;
    while (i < end) {
      const st = this.state;
      if (st === 'body') {
        i = this.pushBody(chunk, i, end);
        continue;
      }
      if (st !== 'line' && st !== 'headers') break;
      const b = chunk[i++];
      if (b === LF) {
        if (st === 'line') this.requestLineDone();
        else this.headerLineDone();
        continue;
      }
      if (b === 0) {
        this.fail(400, 'NUL byte in request head');
        break;
      }
      const len = this.len;
      if (st === 'line') {
        // Reject non-HTTP input (e.g. a TLS handshake) at the first byte that can't start a method.
        if (!this.sawSpace) {
          if (len > 0 && this.line[0] === CR) {
            this.fail(400, 'stray CR');
            break;
          }
          if (b === SP) {
            if (len === 0) {
              this.fail(400, 'missing method');
              break;
            }
            this.sawSpace = true;
          } else if (!TCHAR[b] && !(b === CR && len === 0)) {
            this.fail(400, 'invalid method');
            break;
          }
        }
        // One extra byte is allowed for the CR of the CRLF.
        const max = this.limits.requestLine;
        if (len >= max && (len > max || b !== CR)) {
          this.fail(414, 'request line too long');
          break;
        }
      } else {
        if (++this.headerTotal > this.limits.headerBytes) {
          this.fail(431, 'header section too large');
          break;
        }
        if (len === 0 && b !== CR && this.headerCount >= this.limits.headerLines) {
          this.fail(431, 'too many header lines');
          break;
        }
      }
      this.line[this.len++] = b;
    }
    return i - start;
  }

  private pushBody(chunk: Uint8Array, i: number, end: number): number {
    const body = this.req!.body;
    const n = Math.min(end - i, body.length - this.filled);
    if (n < 32) for (let k = 0; k < n; k++) body[this.filled++] = chunk[i++];
    else {
      body.set(chunk.subarray(i, i + n), this.filled);
      this.filled += n;
      i += n;
    }
    if (this.filled === body.length) this.finish();
    return i;
  }

  private fail(status: number, message: string): void {
    this.state = 'error';
    this.error = new HttpError(status, message);
  }

  private finish(): void {
    this.state = 'done';
    this.request = this.req;
  }

  /** Length of the current line without a trailing CR. */
  private contentLen(): number {
    return this.len > 0 && this.line[this.len - 1] === CR ? this.len - 1 : this.len;
  }

  private requestLineDone(): void {
    const n = this.contentLen();
    this.len = 0;
    this.sawSpace = false;
    if (n === 0) {
      // RFC 9112 2.2: ignore a few empty lines before the request line.
      if (++this.blankLines > MAX_LEADING_BLANK_LINES) this.fail(400, 'too many empty lines');
      return;
    }
    const parts = this.line.toString('latin1', 0, n).split(' ');
    if (parts.length !== 3) return this.fail(400, 'malformed request line');
    const [method, target, version] = parts;
    const v = VERSION_RE.exec(version);
    if (!v) return this.fail(400, 'malformed HTTP version');
    if (v[1] !== '1' || (v[2] !== '0' && v[2] !== '1')) return this.fail(505, 'HTTP version not supported');
    if (target.length === 0) return this.fail(400, 'empty request target');
    for (let k = 0; k < target.length; k++) {
      const c = target.charCodeAt(k);
      if (c <= 0x20 || c >= 0x7f) return this.fail(400, 'invalid character in request target');
    }
    let pathAndQuery = target;
    if (target[0] !== '/') {
      const abs = ABSOLUTE_RE.exec(target);
      if (!abs) return this.fail(400, 'invalid request target');
      pathAndQuery = target.slice(abs[0].length);
      if (pathAndQuery === '' || pathAndQuery[0] === '?') pathAndQuery = '/' + pathAndQuery;
      else if (pathAndQuery[0] !== '/') return this.fail(400, 'invalid request target');
    }
    const q = pathAndQuery.indexOf('?');
    this.req = {
      method,
      target,
      version,
      path: q < 0 ? pathAndQuery : pathAndQuery.slice(0, q),
      query: q < 0 ? '' : pathAndQuery.slice(q + 1),
      headers: new Map(),
      contentLength: -1,
      body: EMPTY,
    };
    this.state = 'headers';
  }

  private headerLineDone(): void {
    this.headerTotal++; // the LF
    if (this.headerTotal > this.limits.headerBytes) return this.fail(431, 'header section too large');
    const n = this.contentLen();
    this.len = 0;
    if (n === 0) return this.headSectionDone();
    const line = this.line;
    if (line[0] === SP || line[0] === HT) return this.fail(400, 'obsolete line folding');
    let colon = 0;
    while (colon < n && TCHAR[line[colon]]) colon++;
    if (colon === 0 || colon === n || line[colon] !== 0x3a) return this.fail(400, 'malformed header line');
    let a = colon + 1,
      z = n;
    while (a < z && (line[a] === SP || line[a] === HT)) a++;
    while (z > a && (line[z - 1] === SP || line[z - 1] === HT)) z--;
    for (let k = a; k < z; k++) {
      const c = line[k];
      if ((c < 0x20 && c !== HT) || c === 0x7f) return this.fail(400, 'control character in header value');
    }
    this.headerCount++;
    const name = line.toString('latin1', 0, colon).toLowerCase();
    const value = line.toString('latin1', a, z);
    const req = this.req!;
    if (name === 'content-length') {
      for (const piece of value.split(',')) {
        const p = piece.trim();
        if (!/^\d+$/.test(p)) return this.fail(400, 'invalid Content-Length');
        const len = Number(p);
        if (req.contentLength !== -1 && req.contentLength !== len) return this.fail(400, 'conflicting Content-Length');
        req.contentLength = len;
      }
      req.headers.set(name, String(req.contentLength));
      return;
    }
    if (name === 'transfer-encoding') this.te = true;
    if (name === 'host') this.hosts++;
    const prev = req.headers.get(name);
    req.headers.set(name, prev === undefined ? value : prev + ', ' + value);
  }

  private headSectionDone(): void {
    const req = this.req!;
    // RFC 9112 §3.2: 400 for an HTTP/1.1 request without Host, and for any with more than one.
    if (this.hosts > 1) return this.fail(400, 'more than one Host header');
    if (this.hosts === 0 && req.version === 'HTTP/1.1') return this.fail(400, 'HTTP/1.1 request without a Host header');
    if (this.te) return this.fail(501, 'Transfer-Encoding not implemented');
    if (req.contentLength > this.limits.body) return this.fail(413, 'request body too large');
    if (req.contentLength === -1 && req.method === 'POST') return this.fail(411, 'Content-Length required');
    if (req.contentLength > 0) {
      req.body = Buffer.allocUnsafe(req.contentLength);
      this.filled = 0;
      this.state = 'body';
    } else this.finish();
  }
}
