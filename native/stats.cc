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

thread_local bool t_uncounted = false;

void countCall(Sys id, long ret, uint64_t t0) {
  if (t_uncounted) return;
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
static Napi::Value SetSyscallStats(const Args& args) {
  int32_t mode;
  bool trace;
  if (!argInt(args, 0, &mode, "mode") || !argBool(args, 1, &trace)) return Napi::Value();
  if (mode < 0 || mode > 2) return rangeError(args.Env(), "mode must be 0, 1 or 2"), Napi::Value();
  g_stats->mode = mode;
  g_stats->trace = trace ? 1 : 0;
  return args.Env().Undefined();
}

static Napi::Value ResetSyscallStats(Napi::Env env) {
  memset(g_stats->sys, 0, sizeof g_stats->sys);
  return env.Undefined();
}

// syscallStats() -> [{name, calls, errors, ns, errnos: {EAGAIN: n, ...}}] for every syscall called
static Napi::Value SyscallStats(Napi::Env env) {
  Napi::Array arr = Napi::Array::New(env);
  uint32_t k = 0;
  for (int i = 0; i < Z_COUNT; i++) {
    SysCounter c;
    memcpy(&c, (const void*)&g_stats->sys[i], sizeof c);
    if (!c.calls) continue;
    Napi::Object o = Napi::Object::New(env);
    Napi::Object errs = Napi::Object::New(env);
    o.Set("name", kSysNames[i]);
    o.Set("calls", (double)c.calls);
    o.Set("errors", (double)c.errors);
    o.Set("ns", (double)c.ns);
    for (int e = 1; e < kMaxErrno; e++)
      if (c.byErrno[e]) errs.Set(strerrorname_np(e) ? strerrorname_np(e) : "E?", (double)c.byErrno[e]);
    o.Set("errnos", errs);
    arr.Set(k++, o);
  }
  return arr;
}

// liveAdd(index, delta): one atomic add to a shared counter; liveCounters() -> number[16].
static Napi::Value LiveAdd(const Args& args) {
  int32_t i, delta;
  if (!argInt(args, 0, &i, "index") || !argInt(args, 1, &delta, "delta")) return Napi::Value();
  if (i < 0 || i >= (int32_t)(sizeof g_stats->live / sizeof g_stats->live[0]))
    return rangeError(args.Env(), "index out of range"), Napi::Value();
  __atomic_fetch_add(&g_stats->live[i], delta, __ATOMIC_RELAXED);
  return args.Env().Undefined();
}

static Napi::Value LiveCounters(Napi::Env env) {
  constexpr uint32_t n = sizeof g_stats->live / sizeof g_stats->live[0];
  Napi::Array arr = Napi::Array::New(env, n);
  for (uint32_t i = 0; i < n; i++) arr.Set(i, (double)__atomic_load_n(&g_stats->live[i], __ATOMIC_RELAXED));
  return arr;
}

void registerStats(Napi::Object exports, Napi::Object) {
  std::call_once(g_once, makeTable);
  exportFn<SetSyscallStats>(exports, "setSyscallStats");
  exportFn<ResetSyscallStats>(exports, "resetSyscallStats");
  exportFn<SyscallStats>(exports, "syscallStats");
  exportFn<LiveAdd>(exports, "liveAdd");
  exportFn<LiveCounters>(exports, "liveCounters");
}

}  // namespace zh
