// --trace: every call made through the addon, printed as strace prints it:
//   [pid/tid] socket(AF_INET, SOCK_STREAM|SOCK_CLOEXEC, IPPROTO_IP) = 3
//   [pid/tid] recvfrom(4, "G", 1, 0, NULL, NULL) = 1
//   [pid/tid] accept4(3, NULL, NULL, SOCK_CLOEXEC) = -1 EAGAIN (Resource temporarily unavailable)
// Decoding is policy, so it lives here, not in the addon: installTrace() replaces the binding's
// functions with wrappers that call the original and print one line. Every caller looks the
// function up on `native` at each call, so the wrappers take effect everywhere; without --trace
// nothing is replaced and a call costs exactly what it did. Names, flags and structures follow
// strace 6 (`newfstatat` for fstat(), `clone` for fork(), `prlimit64` for get/setrlimit()); the
// numbers behind every name come from the addon's constants table.
import * as fs from 'node:fs';
import { C, native, Peer, Rusage } from './sys';
import { servingIds } from './log';

// A call's arguments and result, as each decoder below reads them (numbers, buffers, strings, objects).
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- typed per binding function in lib/sys.ts
type V = any;
type Shown = (a: readonly V[], r: V) => string;

// ---- names for numbers ----

/** The constants whose names match `re`, in ascending order of value (strace's order for flag sets). */
function named(re: RegExp): [string, number][] {
  return Object.entries(C)
    .filter(([k]) => re.test(k))
    .sort((x, y) => x[1] - y[1]);
}
/** `A|B|0x40`: the names of the bits set in v (in the order given), then any bits left, in hex. */
function flags(v: number, names: readonly (readonly [string, number])[], zero = '0'): string {
  if (v === 0) return zero;
  const out: string[] = [];
  let left = v >>> 0;
  for (const [n, bit] of names) {
    if (bit !== 0 && (left & bit) >>> 0 === bit >>> 0) {
      out.push(n);
      left = (left & ~bit) >>> 0;
    }
  }
  if (left) out.push(`0x${left.toString(16)}`);
  return out.join('|');
}
/** The name among `names` whose value is v, else the number. */
function oneOf(v: number, names: readonly (readonly [string, number])[]): string {
  return names.find(([, x]) => x === v)?.[0] ?? String(v);
}
function pick(...keys: string[]): [string, number][] {
  return keys.filter((k) => k in C).map((k) => [k, C[k]]);
}

let N: ReturnType<typeof tables>;
function tables() {
  return {
    af: pick('AF_UNIX', 'AF_INET', 'AF_INET6'),
    sockType: pick('SOCK_STREAM', 'SOCK_DGRAM', 'SOCK_SEQPACKET'),
    sockFlags: pick('SOCK_CLOEXEC', 'SOCK_NONBLOCK'), // strace's order, not the bits'
    level: pick('SOL_SOCKET', 'IPPROTO_TCP', 'IPPROTO_IPV6'),
    so: named(/^SO_/),
    tcp: pick('TCP_NODELAY'),
    ipv6: pick('IPV6_V6ONLY'),
    msg: named(/^MSG_/),
    shut: named(/^SHUT_/),
    fcntlCmd: pick('F_DUPFD', 'F_GETFD', 'F_SETFD', 'F_GETFL', 'F_SETFL', 'F_SETLK', 'F_SETLKW', 'F_DUPFD_CLOEXEC'),
    ofdCmd: pick('F_OFD_SETLK', 'F_OFD_SETLKW'),
    lockType: pick('F_RDLCK', 'F_WRLCK', 'F_UNLCK'),
    accmode: pick('O_RDONLY', 'O_WRONLY', 'O_RDWR'),
    // strace's order (its table's, not the bits'):
    openFlags: pick(
      'O_CREAT',
      'O_EXCL',
      'O_NOCTTY',
      'O_TRUNC',
      'O_NONBLOCK',
      'O_NOFOLLOW',
      'O_CLOEXEC',
      'O_PATH',
      'O_DIRECTORY',
    ),
    resolve: named(/^RESOLVE_/),
    poll: named(/^POLL(?!FD_)/),
    epoll: named(/^EPOLL(?!_)/),
    epollOp: named(/^EPOLL_CTL_/),
    signal: named(/^SIG/),
    wait: pick('WNOHANG', 'WUNTRACED'),
    rusage: named(/^RUSAGE_/),
    rlimit: named(/^RLIMIT_/),
    prctl: named(/^PR_/),
    sIf: pick('S_IFREG', 'S_IFDIR', 'S_IFLNK', 'S_IFSOCK'),
  };
}

// ---- values as strace prints them ----

/** A byte string as strace quotes it: at most `max` bytes, C escapes, octal for the rest, `...` when cut. */
export function quote(buf: Uint8Array, off: number, len: number, max = 32): string {
  const n = Math.max(0, Math.min(len, max, buf.length - off));
  let s = '"';
  for (let i = 0; i < n; i++) {
    const b = buf[off + i];
    const next = i + 1 < n ? buf[off + i + 1] : -1;
    if (b === 0x22) s += '\\"';
    else if (b === 0x5c) s += '\\\\';
    else if (b === 0x09) s += '\\t';
    else if (b === 0x0a) s += '\\n';
    else if (b === 0x0b) s += '\\v';
    else if (b === 0x0c) s += '\\f';
    else if (b === 0x0d) s += '\\r';
    else if (b >= 0x20 && b < 0x7f) s += String.fromCharCode(b);
    // Octal, as short as it can be unless a digit follows (then "\000" keeps it unambiguous).
    else s += '\\' + (next >= 0x30 && next <= 0x37 ? b.toString(8).padStart(3, '0') : b.toString(8));
  }
  return s + '"' + (len > n ? '...' : '');
}
const str = (s: string): string => quote(Buffer.from(s), 0, Buffer.byteLength(s), 4096);

/** ` = 3`, ` = -1 EAGAIN (Resource temporarily unavailable)`. */
function result(r: number, hex = false): string {
  if (r < 0) {
    const m = native.strerror(r); // Node-style lower case; strace prints glibc's "Resource temporarily unavailable"
    return ` = -1 ${native.errname(r)} (${m.charAt(0).toUpperCase()}${m.slice(1)})`;
  }
  return ` = ${hex ? `0x${r.toString(16)}` : r}`;
}

function sockaddr(address: string, port: number): string {
  if (address.includes(':'))
    return `{sa_family=AF_INET6, sin6_port=htons(${port}), sin6_flowinfo=htonl(0), inet_pton(AF_INET6, "${address}", &sin6_addr), sin6_scope_id=0}`;
  return `{sa_family=AF_INET, sin_port=htons(${port}), sin_addr=inet_addr("${address}")}`;
}
/** The struct and its length as strace shows a value-result sockaddr: `{...}, [128 => 16]`. */
function peerOut(p: Peer): string {
  return `${sockaddr(p.address, p.port)}, [128 => ${p.family === 'IPv6' ? 28 : 16}]`;
}
function sockaddrLen(address: string): number {
  return address.includes(':') ? 28 : 16;
}

function sockType(t: number): string {
  const f = C.SOCK_CLOEXEC | C.SOCK_NONBLOCK;
  const base = oneOf(t & ~f, N.sockType);
  return t & f ? `${base}|${flags(t & f, N.sockFlags)}` : base;
}
function openFlags(v: number): string {
  const acc = v & 3;
  const rest = flags(v & ~3, N.openFlags, '');
  return oneOf(acc, N.accmode) + (rest ? `|${rest}` : '');
}
function sockOpt(level: number, opt: number): string {
  const table =
    level === C.SOL_SOCKET ? N.so : level === C.IPPROTO_TCP ? N.tcp : level === C.IPPROTO_IPV6 ? N.ipv6 : [];
  const name = oneOf(opt, table);
  // On 64-bit, glibc's SO_RCVTIMEO/SO_SNDTIMEO are the _OLD (struct timeval) options, and strace says so.
  return name === 'SO_RCVTIMEO' || name === 'SO_SNDTIMEO' ? `${name}_OLD` : name;
}
function isTimeOpt(level: number, opt: number): boolean {
  return level === C.SOL_SOCKET && (opt === C.SO_RCVTIMEO || opt === C.SO_SNDTIMEO);
}
function mode(m: number): string {
  const type = oneOf(m & C.S_IFMT, N.sIf);
  return `${type}|0${(m & 0o7777).toString(8).padStart(3, '0')}`;
}
function signal(s: number): string {
  return oneOf(s, N.signal);
}
function timeval(sec: number): string {
  const us = Math.round(sec * 1e6);
  return `{tv_sec=${Math.floor(us / 1e6)}, tv_usec=${us % 1e6}}`;
}
function rlim(v: number): string {
  return v < 0 ? 'RLIM64_INFINITY' : String(v);
}
/** What a call that fills a buffer shows for it when it failed (strace prints the address). */
const UNFILLED = '[buffer]';

const i32 = (v: unknown): number => (typeof v === 'number' ? v : 0);
function view(v: unknown): DataView {
  const a = v as ArrayBufferView;
  return new DataView(a.buffer, a.byteOffset, a.byteLength);
}

// ---- one function per binding function: the line it prints, from its arguments and result ----

const SHOW: Record<string, Shown> = {
  socket: ([d, t, p], r) =>
    `socket(${oneOf(i32(d), N.af)}, ${sockType(i32(t))}, ${i32(p) === 0 ? 'IPPROTO_IP' : oneOf(i32(p), pick('IPPROTO_TCP'))})${result(i32(r))}`,
  setsockopt: ([fd, l, o, v], r) => {
    const [level, opt, value] = [i32(l), i32(o), i32(v)];
    const arg = isTimeOpt(level, opt) ? `${timeval(value / 1000)}, 16` : `[${value}], 4`;
    return `setsockopt(${fd}, ${oneOf(level, N.level)}, ${sockOpt(level, opt)}, ${arg})${result(i32(r))}`;
  },
  getsockopt: ([fd, l, o], r) => {
    const v = i32(r);
    const soError = i32(l) === C.SOL_SOCKET && i32(o) === C.SO_ERROR && v > 0; // strace names the errno
    const val = v < 0 ? UNFILLED : `[${soError ? native.errname(-v) : v}]`;
    return `getsockopt(${fd}, ${oneOf(i32(l), N.level)}, ${sockOpt(i32(l), i32(o))}, ${val}, [4])${result(Math.min(v, 0))}`;
  },
  bind: ([fd, a, p], r) => `bind(${fd}, ${sockaddr(String(a), i32(p))}, ${sockaddrLen(String(a))})${result(i32(r))}`,
  connect: ([fd, a, p], r) =>
    `connect(${fd}, ${sockaddr(String(a), i32(p))}, ${sockaddrLen(String(a))})${result(i32(r))}`,
  listen: ([fd, b], r) => `listen(${fd}, ${b})${result(i32(r))}`,
  accept4: ([fd, f, want], r) => {
    const fl = flags(i32(f), N.sockFlags);
    if (typeof r === 'object') return `accept4(${fd}, ${peerOut(r as Peer)}, ${fl}) = ${(r as Peer).fd}`;
    return `accept4(${fd}, ${want ? UNFILLED : 'NULL, NULL'}${want ? ', [128]' : ''}, ${fl})${result(i32(r))}`;
  },
  getsockname: ([fd], r) =>
    `getsockname(${fd}, ${typeof r === 'object' ? peerOut(r as Peer) : `${UNFILLED}, [128]`})${result(typeof r === 'object' ? 0 : i32(r))}`,
  getpeername: ([fd], r) =>
    `getpeername(${fd}, ${typeof r === 'object' ? peerOut(r as Peer) : `${UNFILLED}, [128]`})${result(typeof r === 'object' ? 0 : i32(r))}`,
  recv: ([fd, buf, off, len, f], r) =>
    `recvfrom(${fd}, ${i32(r) >= 0 ? quote(buf as Uint8Array, i32(off), i32(r)) : UNFILLED}, ${len}, ${flags(i32(f), N.msg)}, NULL, NULL)${result(i32(r))}`,
  send: ([fd, buf, off, len, f], r) =>
    `sendto(${fd}, ${quote(buf as Uint8Array, i32(off), i32(len))}, ${len}, ${flags(i32(f), N.msg)}, NULL, 0)${result(i32(r))}`,
  socketpair: ([d, t, p, out], r) =>
    `socketpair(${oneOf(i32(d), N.af)}, ${sockType(i32(t))}, ${p}, ${i32(r) === 0 ? `[${(out as Int32Array)[0]}, ${(out as Int32Array)[1]}]` : UNFILLED})${result(i32(r))}`,
  // One buffer, and one fd passed as SCM_RIGHTS (preforked --dispatch pass); strace prints the whole struct msghdr.
  sendmsg: ([fd, buf, off, len, pass, f], r) =>
    `sendmsg(${fd}, {msg_iov=[{iov_base=${quote(buf as Uint8Array, i32(off), i32(len))}, iov_len=${len}}]${i32(pass ?? -1) >= 0 ? `, msg_control=[{cmsg_level=SOL_SOCKET, cmsg_type=SCM_RIGHTS, cmsg_data=[${pass}]}]` : ''}}, ${flags(i32(f), N.msg)})${result(i32(r))}`,
  recvmsg: ([fd, buf, off, len, out, f], r) => {
    const got = i32(r) >= 0 ? quote(buf as Uint8Array, i32(off), i32(r)) : UNFILLED;
    const passed = i32(r) >= 0 && (out as Int32Array)[0] >= 0;
    return `recvmsg(${fd}, {msg_iov=[{iov_base=${got}, iov_len=${len}}]${passed ? `, msg_control=[{cmsg_level=SOL_SOCKET, cmsg_type=SCM_RIGHTS, cmsg_data=[${(out as Int32Array)[0]}]}]` : ''}}, ${flags(i32(f) | C.MSG_CMSG_CLOEXEC, N.msg)})${result(i32(r))}`;
  },
  shutdown: ([fd, how], r) => `shutdown(${fd}, ${oneOf(i32(how), N.shut)})${result(i32(r))}`,
  // SIOCOUTQ and SIOCINQ are the terminal ioctls' numbers, and strace names them as such.
  ioctl: ([fd, req], r) => {
    const name = req === C.SIOCOUTQ ? 'TIOCOUTQ' : req === C.SIOCINQ ? 'FIONREAD' : `0x${i32(req).toString(16)}`;
    return `ioctl(${fd}, ${name}, ${i32(r) < 0 ? UNFILLED : `[${r}]`})${result(Math.min(i32(r), 0))}`;
  },
  read: ([fd, buf, off, len], r) =>
    `read(${fd}, ${i32(r) >= 0 ? quote(buf as Uint8Array, i32(off), i32(r)) : UNFILLED}, ${len})${result(i32(r))}`,
  write: ([fd, buf, off, len], r) =>
    `write(${fd}, ${quote(buf as Uint8Array, i32(off), i32(len))}, ${len})${result(i32(r))}`,
  close: ([fd], r) => `close(${fd})${result(i32(r))}`,
  fcntl: ([fd, c, a], r) => {
    const cmd = i32(c);
    const name = oneOf(cmd, N.fcntlCmd);
    const ret = i32(r);
    if (cmd === C.F_GETFL)
      return `fcntl(${fd}, ${name})${ret < 0 ? result(ret) : `${result(ret, true)} (flags ${openFlags(ret)})`}`;
    if (cmd === C.F_GETFD)
      return `fcntl(${fd}, ${name})${ret <= 0 ? result(ret) : `${result(ret, true)} (flags ${flags(ret, pick('FD_CLOEXEC'))})`}`;
    if (cmd === C.F_SETFL) return `fcntl(${fd}, ${name}, ${openFlags(i32(a))})${result(ret)}`;
    if (cmd === C.F_SETFD) return `fcntl(${fd}, ${name}, ${flags(i32(a), pick('FD_CLOEXEC'))})${result(ret)}`;
    return `fcntl(${fd}, ${name}, ${i32(a)})${result(ret)}`;
  },
  fcntlLock: ([fd, c, t], r) =>
    `fcntl(${fd}, ${oneOf(i32(c), [...N.fcntlCmd, ...N.ofdCmd])}, {l_type=${oneOf(i32(t), N.lockType)}, l_whence=SEEK_SET, l_start=0, l_len=0})${result(i32(r))}`,
  sendfile: ([out, inFd, off, count], r) => {
    const ret = i32(r);
    const o = off === null || off === undefined ? 'NULL' : ret >= 0 ? `[${off}] => [${i32(off) + ret}]` : `[${off}]`;
    return `sendfile(${out}, ${inFd}, ${o}, ${count})${result(ret)}`;
  },
  open: ([p, f, m], r) =>
    `openat(AT_FDCWD, ${str(String(p))}, ${openFlags(i32(f))}${i32(f) & C.O_CREAT ? `, 0${i32(m).toString(8)}` : ''})${result(i32(r))}`,
  openat2: ([d, p, f, res], r) =>
    `openat2(${i32(d) === C.AT_FDCWD ? 'AT_FDCWD' : d}, ${str(String(p))}, {flags=${openFlags(i32(f))}, resolve=${flags(i32(res), N.resolve)}}, ${C.OPEN_HOW_SIZE})${result(i32(r))}`,
  // glibc's fstat() is fstatat(fd, "", AT_EMPTY_PATH): strace calls it newfstatat.
  fstat: ([fd, out], r) => {
    const o = out as Float64Array;
    const st = i32(r) === 0 ? `{st_mode=${mode(o[0])}, st_size=${o[1]}, ...}` : UNFILLED;
    return `newfstatat(${fd}, "", ${st}, AT_EMPTY_PATH)${result(i32(r))}`;
  },
  poll: ([fds, n, t], r) => {
    const v = view(fds);
    const entries: string[] = [];
    const fired: string[] = [];
    for (let i = 0; i < i32(n); i++) {
      const at = i * C.POLLFD_SIZE;
      const fd = v.getInt32(at + C.POLLFD_FD_OFFSET, true);
      entries.push(`{fd=${fd}, events=${flags(v.getInt16(at + C.POLLFD_EVENTS_OFFSET, true) & 0xffff, N.poll)}}`);
      const rev = v.getInt16(at + C.POLLFD_REVENTS_OFFSET, true) & 0xffff;
      if (rev) fired.push(`{fd=${fd}, revents=${flags(rev, N.poll)}}`);
    }
    const ret = i32(r);
    const tail = ret === 0 ? ' (Timeout)' : ret > 0 ? ` ([${fired.join(', ')}])` : '';
    return `poll([${entries.join(', ')}], ${n}, ${t})${result(ret)}${tail}`;
  },
  epoll_create1: ([f], r) => `epoll_create1(${flags(i32(f), pick('EPOLL_CLOEXEC'))})${result(i32(r))}`,
  epoll_ctl: ([ep, op, fd, ev, data], r) => {
    const d = (data === undefined ? i32(fd) : i32(data)) >>> 0;
    // EPOLL_CTL_DEL ignores the event (strace prints its address).
    const e = op === C.EPOLL_CTL_DEL ? '{...}' : `{events=${flags(i32(ev) >>> 0, N.epoll)}, data={u32=${d}, u64=${d}}}`;
    return `epoll_ctl(${ep}, ${oneOf(i32(op), N.epollOp)}, ${fd}, ${e})${result(i32(r))}`;
  },
  epoll_wait: ([ep, buf, max, t], r) => {
    const ret = i32(r);
    let evs = UNFILLED;
    if (ret >= 0) {
      const v = view(buf);
      const list: string[] = [];
      for (let i = 0; i < ret; i++) {
        const at = i * C.EPOLL_EVENT_SIZE;
        const e = v.getUint32(at + C.EPOLL_EVENT_EVENTS_OFFSET, true);
        const d = v.getUint32(at + C.EPOLL_EVENT_DATA_OFFSET, true);
        list.push(`{events=${flags(e, N.epoll)}, data={u32=${d}, u64=${d}}}`);
      }
      evs = `[${list.join(', ')}]`;
    }
    return `epoll_wait(${ep}, ${evs}, ${max}, ${t})${result(ret)}`;
  },
  fork: (_a, r) => `clone(child_stack=NULL, flags=CLONE_CHILD_CLEARTID|CLONE_CHILD_SETTID|SIGCHLD)${result(i32(r))}`,
  waitpid: ([pid, o, out], r) => {
    const ret = i32(r);
    let st = UNFILLED;
    if (ret > 0 && out) {
      const w = native.waitStatus((out as Int32Array)[0]);
      st = w.signaled
        ? `[{WIFSIGNALED(s) && WTERMSIG(s) == ${signal(w.signal)}}]`
        : `[{WIFEXITED(s) && WEXITSTATUS(s) == ${w.code}}]`;
    }
    return `wait4(${pid}, ${st}, ${flags(i32(o), N.wait)}, NULL)${result(ret)}`;
  },
  kill: ([pid, s], r) => `kill(${pid}, ${signal(i32(s))})${result(i32(r))}`,
  getpid: (_a, r) => `getpid()${result(i32(r))}`,
  gettid: (_a, r) => `gettid()${result(i32(r))}`,
  getppid: (_a, r) => `getppid()${result(i32(r))}`,
  prctl: ([o, a], r) => {
    const opt = oneOf(i32(o), N.prctl);
    const arg = i32(o) === C.PR_SET_PDEATHSIG ? signal(i32(a)) : String(a ?? 0);
    return `prctl(${opt}, ${arg})${result(i32(r))}`;
  },
  getrusage: ([w], r) => {
    const u = r as Rusage;
    const body =
      typeof r === 'object'
        ? `{ru_utime=${timeval(u.user)}, ru_stime=${timeval(u.system)}, ru_maxrss=${u.maxrss}, ...}`
        : UNFILLED;
    return `getrusage(${oneOf(i32(w), N.rusage)}, ${body})${result(typeof r === 'object' ? 0 : i32(r))}`;
  },
  // glibc's getrlimit()/setrlimit() are prlimit64() on this process.
  getrlimit: ([res], r) => {
    const l = r as { soft: number; hard: number };
    const body = typeof r === 'object' ? `{rlim_cur=${rlim(l.soft)}, rlim_max=${rlim(l.hard)}}` : UNFILLED;
    return `prlimit64(0, ${oneOf(i32(res), N.rlimit)}, NULL, ${body})${result(typeof r === 'object' ? 0 : i32(r))}`;
  },
  setrlimit: ([res, s, h], r) =>
    `prlimit64(0, ${oneOf(i32(res), N.rlimit)}, {rlim_cur=${rlim(i32(s))}, rlim_max=${rlim(i32(h))}}, NULL)${result(i32(r))}`,
  // The mutex lives in one MAP_SHARED page; the kernel sees futex() only when a lock is contended.
  shmMutexCreate: (_a, r) =>
    `mmap(NULL, sizeof(pthread_mutex_t), PROT_READ|PROT_WRITE, MAP_SHARED|MAP_ANONYMOUS, -1, 0)${i32(r) < 0 ? result(i32(r)) : ` = mutex #${r}`}`,
  shmMutexLock: ([h], r) => `pthread_mutex_lock(mutex #${h})${result(i32(r))}`,
  shmMutexUnlock: ([h], r) => `pthread_mutex_unlock(mutex #${h})${result(i32(r))}`,
  shmMutexConsistent: ([h], r) => `pthread_mutex_consistent(mutex #${h})${result(i32(r))}`,
};

/** The --syscall-stats row each traced name is counted in, where the two differ. */
export const COUNTED_AS: Record<string, string> = {
  newfstatat: 'fstat',
  clone: 'fork',
  pthread_mutex_lock: 'futex',
  pthread_mutex_unlock: 'futex',
  pthread_mutex_consistent: 'futex',
};

// ---- output ----

let prefix = '';
/** `[pid/tid] ` of the calling thread, read once per thread (and again in a forked child) without a syscall of ours. */
const ids = servingIds;
function emit(line: string): void {
  // fs.writeSync, not native.write: the trace's own output is not a call the server made.
  const buf = Buffer.from(prefix + line + '\n');
  for (let off = 0; off < buf.length;) {
    try {
      off += fs.writeSync(2, buf, off);
    } catch {
      return;
    }
  }
}

type Fn = (...a: unknown[]) => unknown;
const originals = new Map<string, Fn>();
/** From now on, every call this thread makes through the addon prints one strace-style line to stderr. */
export function installTrace(): void {
  if (originals.size) return;
  N = tables();
  prefix = ids();
  const n = native as unknown as Record<string, Fn>;
  for (const fn of [...Object.keys(SHOW), 'execve']) if (typeof n[fn] === 'function') originals.set(fn, n[fn]);
  for (const [fn, show] of Object.entries(SHOW)) {
    const orig = originals.get(fn);
    if (!orig) continue;
    n[fn] = (...a: unknown[]) => {
      const r = orig(...a);
      if (fn === 'fork' && r === 0) prefix = ids(); // the child: a new pid
      emit(show(a, r));
      return r;
    };
  }
  // execve returns only on failure: the line goes out before, its result (if any) after, as strace's resumed line.
  const execve = originals.get('execve')!;
  n.execve = (...a: unknown[]) => {
    const [p, argv] = a as [string, string[], string[]];
    emit(
      `execve(${str(p)}, [${argv.map(str).join(', ')}], [/* ${(a[2] as string[]).length} vars */]) = ? <unfinished ...>`,
    );
    const r = execve(...a);
    emit(`<... execve resumed>)${result(i32(r))}`);
    return r;
  };
}

/** Stop tracing: the binding's own functions again. */
export function removeTrace(): void {
  const n = native as unknown as Record<string, Fn>;
  for (const [fn, orig] of originals) n[fn] = orig;
  originals.clear();
}
