// Shared by every native file: argument helpers, the -errno convention, the EINTR policy,
// and the per-syscall counters / trace hooks. Policy lives in TypeScript; this only crosses.
#pragma once
#include <node_api.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stddef.h>
#include <sys/socket.h>

namespace zh {

// ---- stop flag (set by the native SIGINT/SIGTERM handler, see process.cc) ----
extern volatile sig_atomic_t g_stop;

// ---- syscall ids for counters and trace ----
#define ZH_SYSCALLS(X) \
  X(socket) X(setsockopt) X(getsockopt) X(bind) X(connect) X(listen) X(accept4) \
  X(recvfrom) X(sendto) X(shutdown) X(getsockname) X(getpeername) X(read) X(write) \
  X(close) X(fcntl) X(sendfile) X(openat) X(openat2) X(fstat) X(poll) X(epoll_create1) \
  X(epoll_ctl) X(epoll_wait) X(fork) X(wait4) X(kill) X(getpid) X(gettid) X(getrusage) \
  X(setrlimit) X(getrlimit) X(prctl) X(mmap) X(futex) X(execve)
enum Sys {
#define X(n) Z_##n,
  ZH_SYSCALLS(X)
#undef X
  Z_COUNT
};
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
};
// Lives in a MAP_SHARED anonymous mapping made at first load, so forked children
// add into the parent's table and Workers (same process) share it too.
extern StatsTable* g_stats;

uint64_t nowNs();
void countCall(Sys id, long ret, uint64_t t0);
void traceCall(Sys id, long ret, const char* fmt, ...) __attribute__((format(printf, 3, 4)));

// Runs `expr` (a syscall returning -1/errno) with the EINTR policy: retried unless a stop
// was requested. Yields the result or -errno, and feeds the counters when enabled.
#define ZH_CALL(id, expr) ({                                              \
    uint64_t _t0 = zh::g_stats->mode == 2 ? zh::nowNs() : 0;              \
    long _r;                                                              \
    do { _r = (long)(expr); } while (_r == -1 && errno == EINTR && !zh::g_stop); \
    if (_r == -1) _r = -errno;                                            \
    if (zh::g_stats->mode) zh::countCall(zh::Z_##id, _r, _t0);          \
    _r; })
// Same, never retried (close()).
#define ZH_CALL_ONCE(id, expr) ({                                         \
    uint64_t _t0 = zh::g_stats->mode == 2 ? zh::nowNs() : 0;              \
    long _r = (long)(expr);                                               \
    if (_r == -1) _r = -errno;                                            \
    if (zh::g_stats->mode) zh::countCall(zh::Z_##id, _r, _t0);          \
    _r; })
#define ZH_TRACE(id, r, ...) do { if (zh::g_stats->trace) zh::traceCall(zh::Z_##id, (r), __VA_ARGS__); } while (0)

// ---- argument helpers: throw TypeError/RangeError and return false on bad input ----
struct Args {
  size_t argc = 6;
  napi_value argv[6];
  Args(napi_env env, napi_callback_info info) {
    napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  }
};
bool typeError(napi_env env, const char* msg);
bool rangeError(napi_env env, const char* msg);
bool argInt(napi_env env, const Args& a, size_t i, int32_t* out, const char* name);
bool argInt64(napi_env env, const Args& a, size_t i, int64_t* out, const char* name);
// Like argInt, but undefined/null (or a missing argument) leaves *out unchanged.
bool argOptInt(napi_env env, const Args& a, size_t i, int32_t* out, const char* name);
bool argBool(napi_env env, const Args& a, size_t i, bool* out);
bool isNullish(napi_env env, const Args& a, size_t i);
// A typed array (any element type), as bytes.
bool argBytes(napi_env env, const Args& a, size_t i, uint8_t** data, size_t* len, const char* name);
// buf, offset, length -> a checked window into buf.
bool argWindow(napi_env env, const Args& a, size_t i, uint8_t** p, size_t* len);
// An IPv4/IPv6 literal and port -> sockaddr. Throws TypeError on anything else.
bool argAddr(napi_env env, const Args& a, size_t i, struct sockaddr_storage* ss, socklen_t* sl);

napi_value num(napi_env env, long v);
napi_value numD(napi_env env, double v);
napi_value undef(napi_env env);
void setNum(napi_env env, napi_value obj, const char* key, double v);
void setStr(napi_env env, napi_value obj, const char* key, const char* v);
void exportFn(napi_env env, napi_value exports, const char* name, napi_callback cb);
void exportConst(napi_env env, napi_value obj, const char* name, double v);

void registerNet(napi_env env, napi_value exports, napi_value consts);
void registerIo(napi_env env, napi_value exports, napi_value consts);
void registerPoll(napi_env env, napi_value exports, napi_value consts);
void registerProcess(napi_env env, napi_value exports, napi_value consts);
void registerStats(napi_env env, napi_value exports, napi_value consts);

}  // namespace zh
