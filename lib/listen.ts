// setupListeningSocket(): socket, SO_REUSEADDR, bind, listen — the article's start-up.
import { C, native, sleepMs, SyscallError } from './sys';
import { notice } from './log';

export class PortInUseError extends Error {}

export function setupListeningSocket(host: string, port: number, backlog: number, opts: { nonBlocking?: boolean; reusePort?: boolean } = {}): number {
  const family = host.includes(':') ? C.AF_INET6 : C.AF_INET;
  const fd = native.socket(family, C.SOCK_STREAM | C.SOCK_CLOEXEC | (opts.nonBlocking ? C.SOCK_NONBLOCK : 0));
  if (fd < 0) throw new SyscallError('socket', fd);
  native.setsockopt(fd, C.SOL_SOCKET, C.SO_REUSEADDR, 1);
  if (opts.reusePort) native.setsockopt(fd, C.SOL_SOCKET, C.SO_REUSEPORT, 1);
  let r = native.bind(fd, host, port);
  if (r < 0) {
    native.close(fd);
    if (-r === C.EADDRINUSE) throw new PortInUseError(`port ${port} is already in use (bind: EADDRINUSE)`);
    throw new SyscallError('bind', r, `${host}:${port}`);
  }
  r = native.listen(fd, backlog);
  if (r < 0) {
    native.close(fd);
    throw new SyscallError('listen', r);
  }
  return fd;
}

/** The port the kernel gave us (for --port 0). */
export function boundPort(fd: number): number {
  const a = native.getsockname(fd);
  return typeof a === 'number' ? 0 : a.port;
}

/**
 * Out of fds (EMFILE/ENFILE), accept() leaves the pending connection queued and would fail again
 * at once: every server, blocking or event-driven, stops accepting for this long instead of spinning.
 */
export const ACCEPT_PAUSE_MS = 100;

/** accept() failed for want of fds (the process's or the system's). */
export function outOfFds(acceptResult: number): boolean {
  return -acceptResult === C.EMFILE || -acceptResult === C.ENFILE;
}

/**
 * After a failed accept() on a blocking listener: out of fds, pause ACCEPT_PAUSE_MS. Call it
 * after releasing any accept lock. Other errors (EINTR, ECONNABORTED) need nothing.
 */
export function pauseIfOutOfFds(acceptResult: number, who = ''): void {
  if (!outOfFds(acceptResult)) return;
  notice(`zerohttpd: accept: ${native.errname(acceptResult)}${who ? `; ${who}` : ''}; pausing accept for ${ACCEPT_PAUSE_MS} ms`);
  sleepMs(ACCEPT_PAUSE_MS);
}
