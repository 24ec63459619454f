// Logging straight to fds 1 and 2 with write(2): synchronous in every architecture, also in
// forked children and in Workers (whose process.stdout would wait for the main thread's loop).
import * as fs from 'node:fs';
import { native } from './sys';
import { requestDone } from './live';

let quiet = false;
export function setQuiet(q: boolean): void {
  quiet = q;
}

let logPid = false;
/** --log-pid (and --trace): each request line starts with the serving `[pid/tid]`. */
export function setLogPid(on: boolean): void {
  logPid = on;
}

/** `[pid/tid] ` of the calling thread: read at each line (after a fork() the pid is the child's). */
export function servingIds(): string {
  const [pid, , tid] = fs.readlinkSync('/proc/thread-self').split('/');
  return `[${pid}/${tid}] `;
}

function writeFd(fd: number, line: string): void {
  const buf = Buffer.from(line.endsWith('\n') ? line : line + '\n');
  let off = 0;
  while (off < buf.length) {
    const n = native.write(fd, buf, off, buf.length - off);
    if (n <= 0) return;
    off += n;
  }
}

/** One line per request: `200 GET /index.html 611 bytes` (off with --quiet). */
export function logRequest(status: number, method: string, target: string, bytes: number): void {
  requestDone(target);
  if (!quiet) writeFd(1, `${logPid ? servingIds() : ''}${status} ${method} ${target} ${bytes} bytes`);
}

export function info(line: string): void {
  if (!quiet) writeFd(1, line);
}

/** Always shown: start-up, warnings, stats. */
export function notice(line: string): void {
  writeFd(2, line);
}

export function out(line: string): void {
  writeFd(1, line);
}
