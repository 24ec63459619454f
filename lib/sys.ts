// The typed binding to the native addon. Every function returns its syscall's result or
// a negative errno (never throws for a failed syscall); `check()` turns a negative result
// into a SyscallError shaped like Node's own fs errors.
import * as fs from 'node:fs';
import * as path from 'node:path';

export interface Peer {
  fd: number;
  family: 'IPv4' | 'IPv6' | '';
  address: string;
  port: number;
}
export interface Rusage {
  user: number;
  system: number;
  maxrss: number;
  minflt: number;
  majflt: number;
  nvcsw: number;
  nivcsw: number;
}
export interface WaitStatus {
  exited: boolean;
  code: number;
  signaled: boolean;
  signal: number;
}
export interface SyscallCount {
  name: string;
  calls: number;
  errors: number;
  ns: number;
  errnos: Record<string, number>;
}

export interface Native {
  socket(domain: number, type: number, protocol?: number): number;
  setsockopt(fd: number, level: number, option: number, value: number): number;
  getsockopt(fd: number, level: number, option: number): number;
  bind(fd: number, address: string, port: number): number;
  connect(fd: number, address: string, port: number): number;
  listen(fd: number, backlog: number): number;
  accept4(fd: number, flags?: number): number;
  accept4(fd: number, flags: number, wantPeer: true): Peer | number;
  getsockname(fd: number): Peer | number;
  getpeername(fd: number): Peer | number;
  recv(fd: number, buf: Uint8Array, offset: number, length: number, flags?: number): number;
  send(fd: number, buf: Uint8Array, offset: number, length: number, flags?: number): number;
  shutdown(fd: number, how: number): number;
  /** socketpair(): 0 | -errno; the two fds in fdsOut[0], fdsOut[1]. */
  socketpair(domain: number, type: number, protocol: number, fdsOut: Int32Array): number;
  /** sendmsg() of buf[offset, offset+length) with passFd (if >= 0) as SCM_RIGHTS: bytes | -errno. */
  sendmsg(fd: number, buf: Uint8Array, offset: number, length: number, passFd?: number, flags?: number): number;
  /**
   * recvmsg() (always with MSG_CMSG_CLOEXEC) into buf[offset, offset+length): bytes | -errno.
   * fdOut[0] = the fd received with SCM_RIGHTS or -1; fdOut[1] (if present) = msg_flags.
   */
  recvmsg(fd: number, buf: Uint8Array, offset: number, length: number, fdOut: Int32Array, flags?: number): number;
  /** ioctl() requests that report one int (SIOCOUTQ, SIOCINQ): the int, or -errno. */
  ioctl(fd: number, request: number): number;
  read(fd: number, buf: Uint8Array, offset: number, length: number): number;
  write(fd: number, buf: Uint8Array, offset: number, length: number): number;
  close(fd: number): number;
  fcntl(fd: number, cmd: number, arg?: number): number;
  fcntlLock(fd: number, cmd: number, type: number): number;
  sendfile(outFd: number, inFd: number, offset: number | null, count: number): number;
  open(path: string, flags: number, mode?: number): number;
  openat2(dirFd: number, path: string, flags: number, resolve: number): number;
  /** out = [st_mode, st_size, st_mtime ms] */
  fstat(fd: number, out: Float64Array): number;
  poll(pollfds: ArrayBufferView, nfds: number, timeoutMs: number): number;
  epoll_create1(flags?: number): number;
  epoll_ctl(epfd: number, op: number, fd: number, events: number, data?: number): number;
  epoll_wait(epfd: number, events: ArrayBufferView, maxEvents: number, timeoutMs: number): number;
  fork(): number;
  waitpid(pid: number, options?: number, statusOut?: Int32Array): number;
  waitStatus(status: number): WaitStatus;
  _exit(code: number): never;
  kill(pid: number, signal: number): number;
  getpid(): number;
  gettid(): number;
  getppid(): number;
  prctl(option: number, arg2?: number): number;
  getrusage(who: number): Rusage | number;
  getrlimit(resource: number): { soft: number; hard: number } | number;
  setrlimit(resource: number, soft: number, hard: number): number;
  /** Replaces the process image; returns only on failure (-errno). */
  execve(path: string, argv: string[], env: string[]): number;
  /** A robust, process-shared pthread mutex in a MAP_SHARED mapping: handle | -errno. */
  shmMutexCreate(): number;
  /** 0, or -EOWNERDEAD (locked; the previous owner died holding it: call shmMutexConsistent), or -errno. */
  shmMutexLock(handle: number): number;
  shmMutexUnlock(handle: number): number;
  shmMutexConsistent(handle: number): number;
  /** Zero-filled MAP_SHARED|MAP_ANONYMOUS memory that forked children share with the parent, or -errno. */
  mmapSharedAnon(length: number): ArrayBuffer | number;
  /** A process-shared LIFO lock (preforked --accept-lock lifo, native/process.cc): handle | -errno. */
  shmLifoCreate(capacity: number): number;
  /** 0 (locked), -EINTR (a stop was requested while waiting), -ENOSPC (more waiters than capacity) or -errno. */
  shmLifoLock(handle: number): number;
  /** 0, or -EPERM if this process does not hold it. Hands it to the most recent waiter. */
  shmLifoUnlock(handle: number): number;
  /** A reaped process: off the waiters' stack, and the lock passed on if it held it. 1 if it held or waited. */
  shmLifoOwnerDied(handle: number, pid: number): number;
  /** The lock's own state: holder pid (0 free), waiting pids bottom to top (the next one last), hand-offs so far. */
  shmLifoState(handle: number): { owner: number; waiters: number[]; handoffs: number };
  installStopHandler(): number;
  stopRequested(): number;
  clearStop(): void;
  requestStop(signal: number): void;
  /** trace: the addon's own undecoded lines, for debugging the addon; --trace decodes in lib/trace.ts instead. */
  setSyscallStats(mode: 0 | 1 | 2, trace?: boolean): void;
  resetSyscallStats(): void;
  syscallStats(): SyscallCount[];
  /** io_uring (native/uring.cc): the three syscalls, the ring mappings, and what an SQE needs. */
  io_uring_setup(entries: number, params: Uint8Array): number;
  io_uring_enter(fd: number, toSubmit: number, minComplete: number, flags: number, timeoutMs?: number): number;
  io_uring_register(fd: number, opcode: number, arg: ArrayBufferView | null, nrArgs: number): number;
  /** fd >= 0: a ring of that io_uring fd at an IORING_OFF_* offset; fd < 0: anonymous memory. */
  mmap(length: number, fd: number, offset: number): ArrayBuffer | number;
  /** Unmaps a buffer from mmap() and detaches it. */
  munmap(buffer: ArrayBuffer): number;
  /** The address of a view's first byte (for an SQE); the memory must outlive the operation. */
  address(view: ArrayBufferView): number;
  /** Writes a struct sockaddr for an IP literal and port into out; returns its length. */
  sockaddr(address: string, port: number, out: Uint8Array): number;
  /** Add delta to one of the shared counters of lib/live.ts (every process and thread adds into the same ones). */
  liveAdd(index: number, delta: number): void;
  liveCounters(): number[];
  errname(errno: number): string;
  strerror(errno: number): string;
  constants: Record<string, number>;
  // The threaded server's bare-isolate threads (native/isolate.cc, lib/servers/isolate-threads.ts):
  /** onExit(id, error?) runs on the main thread as each thread ends; 0 | -ENOSYS (no platform). */
  isolateThreadsInit(onExit: (id: number, error?: string) => void): number;
  /** The script each new thread compiles and runs (its top level sets __zerohttpd.serve), its file
   *  name (for stacks), the constants as JSON, and each isolate's heap limit in MB (default: V8's). */
  isolateScript(source: string, filename: string, constantsJson: string, heapMb?: number): void;
  /** A new thread on this slot (a ClientSlot's SharedArrayBuffer) with its data (JSON): 0 | -errno. */
  isolateThreadStart(id: number, slot: SharedArrayBuffer, data: string): number;
  /** TerminateExecution() on that thread's isolate: 1 if it was running, else 0. */
  isolateThreadTerminate(id: number): number;
  /** Bytes of the code cache the first thread that finished left (0: none yet). */
  isolateCodeCacheSize(): number;
  /** At process exit: terminate every thread's script, wait (at most waitMs) for every thread to
   *  be gone; how many are left. */
  isolateThreadsStop(waitMs: number): number;
}

/** What a bare-isolate thread's `native` has besides the addon's functions (native/isolate.cc). */
export interface IsolateOnly {
  /** The same functions, not counted in the syscall table (lib/isolate/fs.ts's, node:fs's stand-in). */
  uncounted: Native;
  /** UTF-8 by V8, as Node's Buffer (lib/isolate/buffer.ts). */
  utf8Slice(buf: Uint8Array, offset: number, length: number): string;
  utf8Length(s: string): number;
  utf8Write(buf: Uint8Array, offset: number, length: number, s: string): number;
}
/** What a bare-isolate thread of the threaded server finds on its global (native/isolate.cc). */
export interface IsolateBoot {
  native: Native & IsolateOnly; // the subset of the addon's functions its request path calls, bound on V8
  serve?: () => void; // set by the script's top level, then called
  slot: SharedArrayBuffer; // its ClientSlot
  data: string; // JSON of its IsolateThreadData (lib/servers/thread-isolate.ts)
}
export const isolateBoot = (globalThis as { __zerohttpd?: IsolateBoot }).__zerohttpd;

function load(): Native {
  if (isolateBoot) return isolateBoot.native;
  const { ADDON_PATHS, ROOT } = require('./paths') as typeof import('./paths');
  const tried: string[] = [];
  for (const rel of ADDON_PATHS) {
    const p = path.join(ROOT, rel);
    tried.push(p);
    if (fs.existsSync(p)) return require(p) as Native;
  }
  throw new Error(
    `zerohttpd: the native addon is not built (looked in ${tried.join(', ')}).\n` +
      `Build it with 'npm install' (or 'npm run build') in ${ROOT}; it needs a C++ toolchain (g++, make, python3).`,
  );
}

export const native: Native = load();
export const C = native.constants;

/** An error shaped like Node's own: code 'EAGAIN', errno -11, syscall 'accept'. */
export class SyscallError extends Error {
  readonly code: string;
  readonly errno: number;
  readonly syscall: string;
  constructor(syscall: string, negErrno: number, detail?: string) {
    const code = native.errname(negErrno);
    super(`${syscall}: ${code} (${native.strerror(negErrno)})${detail ? ` ${detail}` : ''}`);
    this.name = 'SyscallError';
    this.code = code;
    this.errno = negErrno < 0 ? negErrno : -negErrno;
    this.syscall = syscall;
  }
}

/** Throw a SyscallError when a native call returned -errno, else return the result. */
export function check<T>(syscall: string, result: T | number, detail?: string): T {
  if (typeof result === 'number' && result < 0) throw new SyscallError(syscall, result, detail);
  return result as T;
}

/** The name of a negative errno result: errname(-11) === 'EAGAIN'. */
export function errname(result: number): string {
  return native.errname(result);
}

export function isError(result: number, code: string): boolean {
  return result < 0 && -result === C[code];
}

export function setNonBlocking(fd: number, on = true): number {
  const flags = native.fcntl(fd, C.F_GETFL);
  if (flags < 0) return flags;
  return native.fcntl(fd, C.F_SETFL, on ? flags | C.O_NONBLOCK : flags & ~C.O_NONBLOCK);
}

/** Send a whole buffer on a blocking socket, looping over partial sends. Returns bytes or -errno. */
export function sendAll(fd: number, buf: Uint8Array, flags = C.MSG_NOSIGNAL): number {
  let off = 0;
  while (off < buf.length) {
    const n = native.send(fd, buf, off, buf.length - off, flags);
    if (n < 0) return n;
    off += n;
  }
  return off;
}

export function rusage(who: number): Rusage {
  return check<Rusage>('getrusage', native.getrusage(who));
}

/** Raise RLIMIT_NOFILE's soft limit toward `want` (capped by the hard limit). Returns the new soft limit. */
export function raiseNofile(want: number): number {
  const lim = check<{ soft: number; hard: number }>('getrlimit', native.getrlimit(C.RLIMIT_NOFILE));
  const target = lim.hard < 0 ? want : Math.min(want, lim.hard);
  if (lim.soft >= 0 && lim.soft < target) check('setrlimit', native.setrlimit(C.RLIMIT_NOFILE, target, lim.hard));
  return Math.max(lim.soft, target);
}

// Made at first use, not at module load: for a V8 startup snapshot of the isolate threads' loaded
// modules, where SharedArrayBuffer is not defined (tried and given up, docs/threads.md); a thread
// that never sleeps does not allocate it.
let sleeper: Int32Array | undefined;
/** Block this thread for ms milliseconds (a futex wait; works in the main thread and in Workers). */
export function sleepMs(ms: number): void {
  Atomics.wait((sleeper ??= new Int32Array(new SharedArrayBuffer(4))), 0, 0, ms);
}
