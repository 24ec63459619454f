// Shared by every native file: argument helpers, the -errno convention, the EINTR policy,
// and the per-syscall counters / trace hooks. Policy lives in TypeScript; this only crosses.
// Written on node-addon-api with C++ exceptions off: a bad argument throws a pending JS
// TypeError/RangeError and the function returns an empty Napi::Value.
#pragma once
#include <napi.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stddef.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace zh {

// The arguments of one call, as Napi::Values. At most kMax are kept (no function takes more):
// extra ones are ignored, a missing one reads as undefined (napi_get_cb_info fills the slots),
// so nothing reads past the argument array. Napi::CallbackInfo would also fetch `this` and the
// function data, which no syscall needs, on every call: a measurable share of recv->EAGAIN,
// the figure this layer must not lose (numbers in docs/syscall-cost.md).
class Args {
 public:
  static constexpr size_t kMax = 6;
  Args(napi_env env, napi_callback_info info) : env_(env) {
    napi_get_cb_info(env, info, &argc_, argv_, nullptr, nullptr);
    if (argc_ > kMax) argc_ = kMax;
  }
  Napi::Env Env() const { return Napi::Env(env_); }
  size_t Length() const { return argc_; }
  Napi::Value operator[](size_t i) const { return i < kMax ? Napi::Value(env_, argv_[i]) : Env().Undefined(); }

 private:
  napi_env env_;
  size_t argc_ = kMax;
  napi_value argv_[kMax];
};
using Fn = Napi::Value (*)(const Args&);
using Fn0 = Napi::Value (*)(Napi::Env);  // takes no arguments: no napi_get_cb_info at all

// ---- stop flag (set by the native SIGINT/SIGTERM handler, see process.cc) ----
extern volatile sig_atomic_t g_stop;

// ---- syscall ids for counters and trace ----
// A table, several to a line:
// clang-format off
#define ZH_SYSCALLS(X) \
  X(socket) X(setsockopt) X(getsockopt) X(bind) X(connect) X(listen) X(accept4) \
  X(recvfrom) X(sendto) X(shutdown) X(getsockname) X(getpeername) X(read) X(write) \
  X(close) X(fcntl) X(sendfile) X(openat) X(openat2) X(fstat) X(poll) X(epoll_create1) \
  X(epoll_ctl) X(epoll_wait) X(fork) X(wait4) X(kill) X(getpid) X(gettid) X(getppid) \
  X(getrusage) X(setrlimit) X(getrlimit) X(prctl) X(mmap) X(futex) X(execve) X(ioctl) \
  X(socketpair) X(sendmsg) X(recvmsg) \
  X(io_uring_setup) X(io_uring_enter) X(io_uring_register) X(munmap)
enum Sys {
#define X(n) Z_##n,
  ZH_SYSCALLS(X)
#undef X
  Z_COUNT
};
// clang-format on
extern const char* const kSysNames[Z_COUNT];
constexpr int kMaxErrno = 134;

struct SysCounter {
  uint64_t calls;
  uint64_t errors;
  uint64_t ns;
  uint64_t byErrno[kMaxErrno];
};
struct StatsTable {
  volatile int32_t mode;   // 0 off, 1 count, 2 count + time
  volatile int32_t trace;  // 1: print every call to stderr
  SysCounter sys[Z_COUNT];
  // Counters the TypeScript defines (requests, connections, workers: lib/live.ts), added to by
  // every process and thread like the syscall counters.
  int64_t live[16];
};
// Lives in a MAP_SHARED anonymous mapping made at first load, so forked children
// add into the parent's table and Workers (same process) share it too.
extern StatsTable* g_stats;
// Set while a call is not the server's own and is not counted (a bare-isolate thread's stand-in
// for node:fs, native/isolate.cc).
extern thread_local bool t_uncounted;

uint64_t nowNs();
void countCall(Sys id, long ret, uint64_t t0);
void traceCall(Sys id, long ret, const char* fmt, ...) __attribute__((format(printf, 3, 4)));

// The calls that are POSIX cancellation points (recv, send, accept4, close, read, write,
// connect, poll, epoll_wait, waitpid): glibc's wrappers switch asynchronous cancellation on
// and off around the system call in a multi-threaded process, which node always is (and a
// forked child stays, for glibc): ~40-200 ns per recv(), measured with bench/syscall-overhead
// (docs/syscall-cost.md). Nothing here uses pthread_cancel(), so the addon makes them with
// syscall(2): the same system call, the same result and errno, as strace shows it. Its other
// cancellation points (open, sendmsg, recvmsg, fcntl's F_SETLKW; poll and epoll_wait on
// arm64, below) still go through glibc.
inline long sysRecv(int fd, void* p, size_t n, int flags) {
  return syscall(SYS_recvfrom, fd, p, n, flags, nullptr, nullptr);
}
inline long sysSend(int fd, const void* p, size_t n, int flags) {
  return syscall(SYS_sendto, fd, p, n, flags, nullptr, 0);
}
inline long sysAccept4(int fd, struct sockaddr* sa, socklen_t* sl, int flags) {
  return syscall(SYS_accept4, fd, sa, sl, flags);
}
inline long sysClose(int fd) { return syscall(SYS_close, fd); }
inline long sysRead(int fd, void* p, size_t n) { return syscall(SYS_read, fd, p, n); }
inline long sysWrite(int fd, const void* p, size_t n) { return syscall(SYS_write, fd, p, n); }
inline long sysConnect(int fd, const struct sockaddr* sa, socklen_t sl) { return syscall(SYS_connect, fd, sa, sl); }
inline long sysWait4(int pid, int* status, int options) { return syscall(SYS_wait4, pid, status, options, nullptr); }
inline long sysPoll(struct pollfd* fds, nfds_t n, int timeoutMs) {
#ifdef SYS_poll
  return syscall(SYS_poll, fds, n, timeoutMs);
#else
  return poll(fds, n, timeoutMs);                 // (arm64 has only ppoll)
#endif
}
inline long sysEpollWait(int epfd, struct epoll_event* ev, int maxev, int timeoutMs) {
#ifdef SYS_epoll_wait
  return syscall(SYS_epoll_wait, epfd, ev, maxev, timeoutMs);
#else
  return epoll_wait(epfd, ev, maxev, timeoutMs);  // (arm64 has only epoll_pwait)
#endif
}

// A wait that can last for ever (accept4, poll/epoll_wait without a timeout, waitpid(-1)
// without WNOHANG, io_uring_enter waiting for completions without a timeout) asked for after a
// stop was requested returns -EINTR at once, without the call, as the stop signal would have
// interrupted it a moment later. A stop signal handled between the caller's stopRequested()
// check and the call would otherwise be lost, and an idle server would wait for its next
// client. Not counted or traced: no system call was made.
inline bool stopBeforeWait() { return g_stop != 0; }

// Runs `expr` (a syscall returning -1/errno) with the EINTR policy: retried unless a stop
// was requested. Yields the result or -errno, and feeds the counters when enabled.
#define ZH_CALL(id, expr)                                                        \
  ({                                                                             \
    uint64_t _t0 = zh::g_stats->mode == 2 ? zh::nowNs() : 0;                     \
    long _r;                                                                     \
    do { _r = (long)(expr); } while (_r == -1 && errno == EINTR && !zh::g_stop); \
    if (_r == -1) _r = -errno;                                                   \
    if (zh::g_stats->mode) zh::countCall(zh::Z_##id, _r, _t0);                   \
    _r;                                                                          \
  })
// Same, never retried (close()).
#define ZH_CALL_ONCE(id, expr)                                 \
  ({                                                           \
    uint64_t _t0 = zh::g_stats->mode == 2 ? zh::nowNs() : 0;   \
    long _r = (long)(expr);                                    \
    if (_r == -1) _r = -errno;                                 \
    if (zh::g_stats->mode) zh::countCall(zh::Z_##id, _r, _t0); \
    _r;                                                        \
  })
#define ZH_TRACE(id, r, ...)                                             \
  do {                                                                   \
    if (zh::g_stats->trace) zh::traceCall(zh::Z_##id, (r), __VA_ARGS__); \
  } while (0)

// ---- argument helpers: throw a TypeError (RangeError for a bad window/domain) and return
// false on bad input.
bool typeError(Napi::Env env, const char* fmt, ...) __attribute__((format(printf, 2, 3)));
bool rangeError(Napi::Env env, const char* msg);
// A finite integer that fits the C type; NaN, +-Infinity, fractions and values outside the
// type's range are a TypeError, checked before any conversion.
bool argInt(const Args& args, size_t i, int32_t* out, const char* name);
bool argInt64(const Args& args, size_t i, int64_t* out, const char* name);
// Like argInt, but undefined/null (or a missing argument) leaves *out unchanged.
bool argOptInt(const Args& args, size_t i, int32_t* out, const char* name);
bool argBool(const Args& args, size_t i, bool* out);
bool isNullish(const Args& args, size_t i);
// A typed array (any element type), as bytes: a view over JS memory, never a copy.
bool argBytes(const Args& args, size_t i, uint8_t** data, size_t* len, const char* name);
// buf, offset, length -> a checked window into buf.
bool argWindow(const Args& args, size_t i, uint8_t** p, size_t* len);
// An IPv4/IPv6 literal and port -> sockaddr. Throws TypeError on anything else.
bool argAddr(const Args& args, size_t i, struct sockaddr_storage* ss, socklen_t* sl);
// A string without NUL bytes, copied into buf (RangeError if it does not fit).
bool argPath(const Args& args, size_t i, char* buf, size_t size, const char* name);

Napi::Value num(Napi::Env env, long v);

// The parts of a wrapper that are not argument reading, shared by the N-API functions and the
// V8 bindings of the isolate threads (isolate.cc), so that each is written once:
// setsockopt/getsockopt with SO_RCVTIMEO/SO_SNDTIMEO in milliseconds, else an int (-errno, or
// the value for get); fstat into [st_mode, st_size, st_mtime ms]; an IP literal and port into a
// sockaddr (false if not a literal); errno's description, lowercased as Node's messages are.
long setsockoptMs(int fd, int level, int opt, int64_t value);
long getsockoptMs(int fd, int level, int opt);
bool isTimeOpt(int level, int opt);
bool intIoctl(int request);  // SIOCOUTQ, SIOCINQ: the ioctl requests that report one int
bool isLockCmd(int cmd);     // fcntl's record-lock commands, which take a struct flock, not an int
int timeLeft(int32_t timeoutMs, uint64_t startNs);  // what is left of a wait begun at startNs (poll.cc)
long fstatInto(int fd, double out[3]);
bool toSockaddr(const char* host, int port, struct sockaddr_storage* ss, socklen_t* sl);
void errnoDescription(int e, char* buf, size_t size);

// One JS function per C++ function, bound at compile time (no per-call trampoline data).
// C++ exceptions are off: a function that throws returns an empty Napi::Value (nullptr).
template <Fn fn>
napi_value callback(napi_env env, napi_callback_info info) {
  return fn(Args(env, info));
}
template <Fn0 fn>
napi_value callback(napi_env env, napi_callback_info) {
  return fn(Napi::Env(env));
}
template <auto fn>
void exportFn(Napi::Object exports, const char* name) {
  napi_value f;
  napi_create_function(exports.Env(), name, NAPI_AUTO_LENGTH, callback<fn>, nullptr, &f);
  exports.Set(name, f);
}
inline void exportConst(Napi::Object obj, const char* name, double v) {
  obj.Set(name, Napi::Number::New(obj.Env(), v));
}

void registerNet(Napi::Object exports, Napi::Object consts);
void registerIo(Napi::Object exports, Napi::Object consts);
void registerPoll(Napi::Object exports, Napi::Object consts);
void registerProcess(Napi::Object exports, Napi::Object consts);
void registerStats(Napi::Object exports, Napi::Object consts);
void registerUring(Napi::Object exports, Napi::Object consts);
void registerIsolate(Napi::Object exports, Napi::Object consts);

}  // namespace zh
