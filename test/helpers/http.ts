// Raw HTTP/1.0 test client (exact bytes in, whole response until close out) and a tiny load generator.
import * as net from 'node:net';
import { sleep } from '../../lib/bench/spawn';

export interface RawResponse {
  raw: Buffer;
  /** 0 if the server closed without sending a parseable response. */
  status: number;
  /** Lower-case names; repeated headers joined with ", ". */
  headers: Record<string, string>;
  body: Buffer;
}

export interface RequestOptions {
  timeoutMs?: number;
  host?: string;
  /** Pause between chunks when data is an array (default 20 ms). */
  chunkDelayMs?: number;
}

export function parseResponse(raw: Buffer): RawResponse {
  const empty: RawResponse = { raw, status: 0, headers: {}, body: Buffer.alloc(0) };
  const headEnd = raw.indexOf('\r\n\r\n');
  if (headEnd === -1) return empty;
  const lines = raw.toString('latin1', 0, headEnd).split('\r\n');
  const m = /^HTTP\/\d\.\d (\d{3})(?: .*)?$/.exec(lines[0]);
  if (!m) return empty;
  const headers: Record<string, string> = {};
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    headers[name] = name in headers ? `${headers[name]}, ${value}` : value;
  }
  return { raw, status: Number(m[1]), headers, body: raw.subarray(headEnd + 4) };
}

export function rawRequest(
  port: number,
  data: string | Buffer | (string | Buffer)[],
  opts: RequestOptions = {},
): Promise<RawResponse> {
  const { timeoutMs = 15_000, host = '127.0.0.1', chunkDelayMs = 20 } = opts;
  const chunks = Array.isArray(data) ? data : [data];
  return new Promise((resolve, reject) => {
    const received: Buffer[] = [];
    let settled = false;
    const sock = net.connect(port, host);
    const timer = setTimeout(() => {
      finish(
        new Error(
          `rawRequest to ${host}:${port} timed out after ${timeoutMs} ms (${Buffer.concat(received).length} bytes received)`,
        ),
      );
    }, timeoutMs);
    function finish(err?: Error): void {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      sock.destroy();
      if (err) reject(err);
      else resolve(parseResponse(Buffer.concat(received)));
    }
    sock.on('data', (d) => received.push(d));
    sock.on('end', () => finish());
    sock.on('close', () => finish());
    sock.on('error', (e: NodeJS.ErrnoException) => {
      // A reset after (part of) a response still counts as a response; a refused connection is an error.
      if (received.length > 0 || e.code === 'ECONNRESET' || e.code === 'EPIPE') finish();
      else finish(new Error(`rawRequest to ${host}:${port} failed: ${e.message}`));
    });
    async function sendChunks(): Promise<void> {
      for (let i = 0; i < chunks.length && !settled; i++) {
        if (i > 0) await sleep(chunkDelayMs);
        if (!settled && !sock.destroyed) sock.write(chunks[i]);
      }
    }
    sock.once('connect', () => void sendChunks());
  });
}

export function get(port: number, path: string, opts?: RequestOptions): Promise<RawResponse> {
  return rawRequest(port, `GET ${path} HTTP/1.0\r\nHost: x\r\n\r\n`, opts);
}

export function formRequest(path: string, form: Record<string, string>): Buffer {
  const body = Buffer.from(new URLSearchParams(form).toString());
  const head =
    `POST ${path} HTTP/1.0\r\nHost: x\r\n` +
    `Content-Type: application/x-www-form-urlencoded\r\nContent-Length: ${body.length}\r\n\r\n`;
  return Buffer.concat([Buffer.from(head), body]);
}

export function post(
  port: number,
  path: string,
  form: Record<string, string>,
  opts?: RequestOptions,
): Promise<RawResponse> {
  return rawRequest(port, formRequest(path, form), opts);
}

export async function load(
  port: number,
  n: number,
  concurrency: number,
  makeRequest: (i: number) => string | Buffer,
  opts?: RequestOptions,
): Promise<{ byStatus: Record<number, number>; errors: string[] }> {
  const byStatus: Record<number, number> = {};
  const errors: string[] = [];
  let nextIndex = 0;
  async function worker(): Promise<void> {
    while (nextIndex < n) {
      const i = nextIndex++;
      let status = 0;
      try {
        status = (await rawRequest(port, makeRequest(i), opts)).status;
      } catch (e) {
        errors.push(`request ${i}: ${(e as Error).message}`);
      }
      byStatus[status] = (byStatus[status] ?? 0) + 1;
    }
  }
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, n)) }, worker));
  return { byStatus, errors };
}
