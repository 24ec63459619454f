// The listening socket: setupListeningSocket() (socket, SO_REUSEADDR, bind, listen — the article's
// start-up) and acceptClient(), the accept of every blocking server's loop.
import { C, native, sleepMs, SyscallError } from './sys';
import { notice } from './log';

export class PortInUseError extends Error {}

export function setupListeningSocket(
  host: string,
  port: number,
  backlog: number,
  opts: { nonBlocking?: boolean; reusePort?: boolean } = {},
): number {
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

/** An accept lock (Stevens, UNP ch. 30) around accept(); acquire() is false when the server is stopping. */
export interface Lock {
  acquire(): boolean;
  release(): void;
}

/**
 * accept() in a blocking server's loop: accept4(SOCK_CLOEXEC) under `lock`, if any; the client
 * fd or -errno. Out of fds it pauses ACCEPT_PAUSE_MS (after releasing the lock) before returning.
 * On any failure the caller's loop goes round to its stop check: EINTR (a stop; also a stopping
 * lock), EAGAIN (an SO_RCVTIMEO tick), ECONNABORTED (that client is gone).
 */
export function acceptClient(listenFd: number, lock: Lock | null = null, who = ''): number {
  if (lock && !lock.acquire()) return -C.EINTR;
  // A stop may have come while this process or thread waited for the lock.
  const client = lock && native.stopRequested() ? -C.EINTR : native.accept4(listenFd, C.SOCK_CLOEXEC);
  lock?.release();
  if (outOfFds(client)) {
    notice(
      `zerohttpd: accept: ${native.errname(client)}${who ? `; ${who}` : ''}; pausing accept for ${ACCEPT_PAUSE_MS} ms`,
    );
    sleepMs(ACCEPT_PAUSE_MS);
  }
  return client;
}
