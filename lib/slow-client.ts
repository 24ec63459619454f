// zerohttpd client: a deliberately slow HTTP client for demonstrations. It sends a request in
// pieces (bytes or lines) at a chosen pace, can stop halfway and keep the connection open, and
// can read the response slowly, printing what it sent and what it got with the time of each.
// No addon: it uses node:net, so it runs anywhere the CLI's --help does.
import * as net from 'node:net';
import { parseArgs } from 'node:util';
import { joinNegativeValues } from './options';

export class ClientUsageError extends Error {}

export const CLIENT_USAGE = `usage: zerohttpd client [URL] [options]

A slow client, to watch a server wait for it: sends the request in pieces at a chosen pace,
can stop halfway (the connection stays open), and can read the response slowly. Prints each
piece it sends (>) and each chunk it receives (<) with the time since it connected.

  URL                   http://HOST:PORT/PATH (default http://127.0.0.1:8000/)
  --by byte|line        the pieces the request is sent in (default line)
  --pace DURATION       wait this long before each piece after the first: 1s, 250ms, 0.5 (seconds); default 0
  --stop-after N        send only the first N pieces, then wait for the server without sending
                        more (it answers 408 after its --timeout, or closes)
  --method M            request method (default GET; POST sends a guestbook form)
  --data TEXT           request body for POST (default guest-name=client&guest-remarks=hello, the
                        guestbook's form); Content-Length is set
  --read-pace DURATION  read the response slowly: one read of --read-bytes every DURATION
  --read-bytes N        bytes per slow read (default 1024)
  --quiet               print only the summary line
  -h, --help            this help`;

export interface ClientOptions {
  host: string;
  port: number;
  path: string;
  by: 'byte' | 'line';
  paceMs: number;
  stopAfter: number | null;
  method: string;
  data: string;
  readPaceMs: number | null;
  readBytes: number;
  quiet: boolean;
}

/** `1s`, `250ms`, `0.5` (seconds), `0`: milliseconds, or a usage error naming the option. */
export function duration(name: string, v: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s)?$/.exec(v);
  const ms = m ? Number(m[1]) * (m[2] === 'ms' ? 1 : 1000) : NaN;
  if (!(ms >= 0 && ms <= 3_600_000))
    throw new ClientUsageError(`--${name} must be a duration such as 1s, 250ms or 0.5 (at most 1 hour), not '${v}'`);
  return ms;
}

function count(name: string, v: string, min: number, max: number): number {
  if (!/^\d+$/.test(v) || Number(v) < min || Number(v) > max)
    throw new ClientUsageError(`--${name} must be an integer from ${min} to ${max}, not '${v}'`);
  return Number(v);
}

export function parseClientArgs(argv: string[]): { help: true } | { help: false; opts: ClientOptions } {
  let parsed;
  try {
    parsed = parseArgs({
      args: joinNegativeValues(argv, (n) => ['pace', 'stop-after', 'read-pace', 'read-bytes'].includes(n)),
      allowPositionals: true,
      strict: true,
      options: {
        by: { type: 'string' },
        pace: { type: 'string' },
        'stop-after': { type: 'string' },
        method: { type: 'string' },
        data: { type: 'string' },
        'read-pace': { type: 'string' },
        'read-bytes': { type: 'string' },
        quiet: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (e) {
    throw new ClientUsageError((e as Error).message);
  }
  const { values: v, positionals: pos } = parsed;
  if (v.help) return { help: true };
  if (pos.length > 1) throw new ClientUsageError(`too many arguments: ${pos.slice(1).join(' ')}`);
  let url: URL;
  try {
    url = new URL(pos[0] ?? 'http://127.0.0.1:8000/');
  } catch {
    throw new ClientUsageError(`not a URL: '${pos[0]}' (e.g. http://localhost:8000/)`);
  }
  if (url.protocol !== 'http:') throw new ClientUsageError(`only http:// URLs, not '${url.protocol}'`);
  const by = v.by ?? 'line';
  if (by !== 'byte' && by !== 'line') throw new ClientUsageError(`--by must be byte or line, not '${by}'`);
  const method = v.method ?? 'GET';
  if (!/^[A-Z]+$/.test(method))
    throw new ClientUsageError(`--method must be upper-case letters, such as GET or POST, not '${method}'`);
  if (v.data !== undefined && method !== 'POST') throw new ClientUsageError('--data needs --method POST');
  if (v['read-bytes'] !== undefined && v['read-pace'] === undefined)
    throw new ClientUsageError('--read-bytes needs --read-pace');
  return {
    help: false,
    opts: {
      host: url.hostname.replace(/^\[|\]$/g, ''),
      port: url.port ? Number(url.port) : 80,
      path: url.pathname + url.search,
      by,
      paceMs: v.pace === undefined ? 0 : duration('pace', v.pace),
      stopAfter: v['stop-after'] === undefined ? null : count('stop-after', v['stop-after'], 0, 1_000_000),
      method,
      data: v.data ?? 'guest-name=client&guest-remarks=hello',
      readPaceMs: v['read-pace'] === undefined ? null : duration('read-pace', v['read-pace']),
      readBytes: v['read-bytes'] === undefined ? 1024 : count('read-bytes', v['read-bytes'], 1, 1 << 20),
      quiet: !!v.quiet,
    },
  };
}

/** The request's bytes, as a browser-less client would send them (HTTP/1.0: the server closes after the answer). */
export function requestText(o: ClientOptions): string {
  const host = o.host.includes(':') ? `[${o.host}]` : o.host;
  const head = `${o.method} ${o.path} HTTP/1.0\r\nHost: ${host}:${o.port}\r\nUser-Agent: zerohttpd-client\r\n`;
  if (o.method !== 'POST') return `${head}\r\n`;
  const body = Buffer.from(o.data);
  return `${head}Content-Type: application/x-www-form-urlencoded\r\nContent-Length: ${body.length}\r\n\r\n${o.data}`;
}

/** The pieces the request is sent in: single bytes, or lines each ending with its \n (a body is one last piece). */
export function pieces(text: string, by: 'byte' | 'line'): Buffer[] {
  const buf = Buffer.from(text);
  if (by === 'byte') return [...buf].map((b) => Buffer.from([b]));
  const out: Buffer[] = [];
  let start = 0;
  for (let i = 0; i < buf.length; i++) {
    if (buf[i] === 0x0a) {
      out.push(buf.subarray(start, i + 1));
      start = i + 1;
    }
  }
  if (start < buf.length) out.push(buf.subarray(start));
  return out;
}

/** A chunk as one readable line: JSON-style escapes, long chunks cut in the middle. */
export function show(b: Buffer, max = 72): string {
  const s = JSON.stringify(b.toString('latin1'));
  return s.length <= max ? s : `${s.slice(0, max - 12)}"…(${b.length} bytes)`;
}

export interface ClientResult {
  sent: number;
  received: number;
  status: number | null;
  /** How the connection ended: 'closed' (the server's FIN), or the error's code. */
  end: string;
}

/** Runs one slow request; `print` gets each line of the transcript; `signal` ends it early ('aborted'). */
export function runClient(
  o: ClientOptions,
  print: (line: string) => void,
  signal?: AbortSignal,
): Promise<ClientResult> {
  const all = pieces(requestText(o), o.by);
  const toSend = o.stopAfter === null ? all : all.slice(0, o.stopAfter);
  const t0 = process.hrtime.bigint();
  const at = () => `+${(Number(process.hrtime.bigint() - t0) / 1e9).toFixed(3)}s`;
  const say = (line: string) => {
    if (!o.quiet) print(line);
  };
  return new Promise((resolve) => {
    const sock = net.connect({ host: o.host, port: o.port });
    const got: Buffer[] = [];
    let sent = 0;
    let received = 0;
    let sendTimer: NodeJS.Timeout | undefined;
    let readTimer: NodeJS.Timeout | undefined;
    let done = false;
    const finish = (end: string) => {
      if (done) return;
      done = true;
      clearTimeout(sendTimer);
      clearTimeout(readTimer);
      sock.destroy();
      const head = Buffer.concat(got).toString('latin1');
      const m = /^HTTP\/\d\.\d (\d{3})/.exec(head);
      const status = m ? Number(m[1]) : null;
      const line = head.split('\r\n')[0];
      print(
        `${at()} ${end === 'closed' ? 'server closed the connection' : `connection ended: ${end}`}; sent ${sent} of ${all.reduce((n, p) => n + p.length, 0)} bytes, received ${received}${m ? ` (${line})` : ''}`,
      );
      resolve({ sent, received, status, end });
    };
    const sendNext = (i: number) => {
      if (done) return;
      if (i >= toSend.length) {
        if (toSend.length < all.length)
          say(`${at()} stopped after ${toSend.length} of ${all.length} pieces; waiting for the server`);
        else say(`${at()} request sent; waiting for the answer`);
        return;
      }
      sock.write(toSend[i]);
      sent += toSend[i].length;
      say(`${at()} > ${show(toSend[i])}`);
      sendTimer = setTimeout(() => sendNext(i + 1), i + 1 < toSend.length ? o.paceMs : 0);
    };
    // Paused, the socket stops reading from the kernel once node's buffer is full: the server's
    // sends then fill the socket buffers and it sees EAGAIN (or blocks) until the next read here.
    const readSlowly = () => {
      if (done) return;
      const chunk = (sock.read(o.readBytes) ?? sock.read()) as Buffer | null;
      if (chunk !== null) take(chunk);
      readTimer = setTimeout(readSlowly, o.readPaceMs!);
    };
    const take = (chunk: Buffer) => {
      received += chunk.length;
      if (Buffer.concat(got).length < 4096) got.push(chunk);
      say(`${at()} < ${show(chunk)}`);
    };
    sock.on('connect', () => {
      say(`${at()} connected to ${o.host}:${o.port} from local port ${sock.localPort}`);
      sendNext(0);
      if (o.readPaceMs !== null) {
        readTimer = setTimeout(readSlowly, o.readPaceMs);
      }
    });
    if (o.readPaceMs === null) sock.on('data', take);
    sock.on('end', () => finish('closed'));
    sock.on('error', (e: NodeJS.ErrnoException) => finish(e.code ?? e.message));
    signal?.addEventListener('abort', () => finish('aborted'));
  });
}

/** `zerohttpd client ...`: 0 when the server answered, 1 when the connection failed or nothing came back, 2 on bad usage. */
export async function main(argv: string[]): Promise<number> {
  let p;
  try {
    p = parseClientArgs(argv);
  } catch (e) {
    if (!(e instanceof ClientUsageError)) throw e;
    process.stderr.write(`zerohttpd client: ${e.message}\nTry 'zerohttpd client --help' for the options.\n`);
    return 2;
  }
  if (p.help) {
    process.stdout.write(CLIENT_USAGE + '\n');
    return 0;
  }
  const r = await runClient(p.opts, (line) => process.stdout.write(line + '\n'));
  return r.status === null ? 1 : 0;
}
