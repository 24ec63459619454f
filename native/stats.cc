// Per-syscall counters and the strace-style trace, kept in one MAP_SHARED mapping so that
// forked children and Workers all add into the same table the parent prints at exit.
#include "common.h"
#include <mutex>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

namespace zh {

const char* const kSysNames[Z_COUNT] = {
#define X(n) #n,
    ZH_SYSCALLS(X)
#undef X
};

static StatsTable g_fallback;  // used only if the shared mapping cannot be made
StatsTable* g_stats = &g_fallback;
static std::once_flag g_once;

static void makeTable() {
  void* p = mmap(nullptr, sizeof(StatsTable), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (p != MAP_FAILED) g_stats = (StatsTable*)p;  // zero-filled by the kernel
}

uint64_t nowNs() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + ts.tv_nsec;
}

void countCall(Sys id, long ret, uint64_t t0) {
  SysCounter& c = g_stats->sys[id];
  __atomic_fetch_add(&c.calls, 1, __ATOMIC_RELAXED);
  if (ret < 0) {
    __atomic_fetch_add(&c.errors, 1, __ATOMIC_RELAXED);
    if (-ret < kMaxErrno) __atomic_fetch_add(&c.byErrno[-ret], 1, __ATOMIC_RELAXED);
  }
  if (t0) __atomic_fetch_add(&c.ns, nowNs() - t0, __ATOMIC_RELAXED);
}

void traceCall(Sys, long ret, const char* fmt, ...) {
  char line[768];
  int n = snprintf(line, sizeof line, "[%d/%ld] ", getpid(), (long)syscall(SYS_gettid));
  va_list ap;
  va_start(ap, fmt);
  n += vsnprintf(line + n, sizeof line - n, fmt, ap);
  va_end(ap);
  if (n > (int)sizeof line - 48) n = sizeof line - 48;
  if (ret < 0) {
    const char* name = strerrorname_np((int)-ret);
    n += snprintf(line + n, sizeof line - n, " = -1 %s\n", name ? name : "E?");
  } else {
    n += snprintf(line + n, sizeof line - n, " = %ld\n", ret);
  }
  ssize_t w = write(2, line, n);
  (void)w;
}

// setSyscallStats(mode, trace): mode 0 off, 1 count, 2 count + time.
static napi_value SetSyscallStats(napi_env env, napi_callback_info info) {
  Args a(env, info);
  int32_t mode;
  bool trace;
  if (!argInt(env, a, 0, &mode, "mode") || !argBool(env, a, 1, &trace)) return nullptr;
  if (mode < 0 || mode > 2) return rangeError(env, "mode must be 0, 1 or 2"), nullptr;
  g_stats->mode = mode;
  g_stats->trace = trace ? 1 : 0;
  return undef(env);
}

static napi_value ResetSyscallStats(napi_env env, napi_callback_info) {
  memset(g_stats->sys, 0, sizeof g_stats->sys);
  return undef(env);
}

// syscallStats() -> [{name, calls, errors, ns, errnos: {EAGAIN: n, ...}}] for every syscall called
static napi_value SyscallStats(napi_env env, napi_callback_info) {
  napi_value arr;
  napi_create_array(env, &arr);
  uint32_t k = 0;
  for (int i = 0; i < Z_COUNT; i++) {
    SysCounter c;
    memcpy(&c, (const void*)&g_stats->sys[i], sizeof c);
    if (!c.calls) continue;
    napi_value o, errs;
    napi_create_object(env, &o);
    napi_create_object(env, &errs);
    setStr(env, o, "name", kSysNames[i]);
    setNum(env, o, "calls", (double)c.calls);
    setNum(env, o, "errors", (double)c.errors);
    setNum(env, o, "ns", (double)c.ns);
    for (int e = 1; e < kMaxErrno; e++)
      if (c.byErrno[e]) setNum(env, errs, strerrorname_np(e) ? strerrorname_np(e) : "E?", (double)c.byErrno[e]);
    napi_set_named_property(env, o, "errnos", errs);
    napi_set_element(env, arr, k++, o);
  }
  return arr;
}

void registerStats(napi_env env, napi_value exports, napi_value) {
  std::call_once(g_once, makeTable);
  exportFn(env, exports, "setSyscallStats", SetSyscallStats);
  exportFn(env, exports, "resetSyscallStats", ResetSyscallStats);
  exportFn(env, exports, "syscallStats", SyscallStats);
}

}  // namespace zh
