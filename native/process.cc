// Processes and signals: fork waitpid _exit kill getpid gettid getrusage rlimits, and the
// stop facility: a sigaction handler without SA_RESTART that only sets a flag.
#include "common.h"
#include <pthread.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <string.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <dlfcn.h>
#include <sys/mman.h>

namespace zh {

volatile sig_atomic_t g_stop = 0;
static pthread_t g_stopThread;

static void onStop(int sig) {
  if (!g_stop) g_stop = sig;
  // The kernel may deliver a process signal to any thread; the thread that installed the
  // handler (the one blocked in accept()) must see EINTR, so pass the signal on to it.
  if (!pthread_equal(pthread_self(), g_stopThread)) pthread_kill(g_stopThread, sig);
}

// installStopHandler(): SIGINT and SIGTERM set the flag; blocked syscalls return EINTR.
// Install it after any process.on('SIGINT') (libuv would overwrite it).
static napi_value InstallStopHandler(napi_env env, napi_callback_info info) {
  g_stopThread = pthread_self();
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = onStop;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;  // no SA_RESTART: that is the point
  long r = 0;
  if (sigaction(SIGINT, &sa, nullptr) < 0 || sigaction(SIGTERM, &sa, nullptr) < 0) r = -errno;
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
  return num(env, r);
}

// 0, or the number of the signal that asked us to stop.
static napi_value StopRequested(napi_env env, napi_callback_info) { return num(env, g_stop); }
static napi_value ClearStop(napi_env env, napi_callback_info) {
  g_stop = 0;
  return undef(env);
}
// requestStop(sig): set the flag from JS (e.g. a Worker telling the process to stop).
static napi_value RequestStop(napi_env env, napi_callback_info info) {
  Args a(env, info);
  int32_t sig;
  if (!argInt(env, a, 0, &sig, "signal")) return nullptr;
  g_stop = sig;
  return undef(env);
}

// V8 marks its heap pages MADV_DONTFORK, so a forked child faults (SIGSEGV) as soon as it
// re-enters JS. Clear the flag on every such mapping ("dc" in smaps VmFlags) before fork().
static void allowForkOfAllMappings() {
  FILE* f = fopen("/proc/self/smaps", "re");
  if (!f) return;
  char line[512];
  unsigned long lo = 0, hi = 0, a, b;
  while (fgets(line, sizeof line, f)) {
    if (sscanf(line, "%lx-%lx ", &a, &b) == 2) lo = a, hi = b;
    else if (!strncmp(line, "VmFlags:", 8) && strstr(line, " dc")) madvise((void*)lo, hi - lo, MADV_DOFORK);
  }
  fclose(f);
}

// forksafe.so (LD_PRELOADed by the CLI, see docs/fork-safety.md) defines this symbol; with it
// MADV_DONTFORK is never set and the scan above is not needed.
static bool forksafePreloaded() {
  static int v = -1;
  if (v < 0) v = dlsym(RTLD_DEFAULT, "zh_forksafe_active") != nullptr;
  return v;
}

static napi_value Fork(napi_env env, napi_callback_info) {
  if (!forksafePreloaded()) allowForkOfAllMappings();
  long r = ZH_CALL(fork, fork());
  if (r == 0) g_stopThread = pthread_self();
  ZH_TRACE(fork, r, "fork()");
  return num(env, r);
}

// execve(path, argv: string[], env: string[]): replaces the process; returns only -errno.
static bool argStrings(napi_env env, const Args& a, size_t i, char*** out, const char* name) {
  bool isArr = false;
  if (i < a.argc) napi_is_array(env, a.argv[i], &isArr);
  if (!isArr) {
    char msg[96];
    snprintf(msg, sizeof msg, "argument '%s' must be an array of strings", name);
    return typeError(env, msg);
  }
  uint32_t n;
  napi_get_array_length(env, a.argv[i], &n);
  char** v = (char**)calloc(n + 1, sizeof(char*));
  for (uint32_t k = 0; k < n; k++) {
    napi_value e;
    size_t len;
    napi_get_element(env, a.argv[i], k, &e);
    if (napi_get_value_string_utf8(env, e, nullptr, 0, &len) != napi_ok) {
      for (uint32_t j = 0; j < k; j++) free(v[j]);
      free(v);
      char msg[96];
      snprintf(msg, sizeof msg, "argument '%s' must be an array of strings", name);
      return typeError(env, msg);
    }
    v[k] = (char*)malloc(len + 1);
    napi_get_value_string_utf8(env, e, v[k], len + 1, &len);
  }
  *out = v;
  return true;
}

static void freeStrings(char** v) {
  for (char** p = v; p && *p; p++) free(*p);
  free(v);
}

static napi_value Execve(napi_env env, napi_callback_info info) {
  Args a(env, info);
  char path[4096];
  size_t pl;
  if (a.argc < 1 || napi_get_value_string_utf8(env, a.argv[0], path, sizeof path, &pl) != napi_ok)
    return typeError(env, "argument 'path' must be a string"), nullptr;
  char **argv = nullptr, **envp = nullptr;
  if (!argStrings(env, a, 1, &argv, "argv")) return nullptr;
  if (!argStrings(env, a, 2, &envp, "env")) return freeStrings(argv), nullptr;
  ZH_TRACE(execve, 0, "execve(\"%s\", [...], [...])", path);
  long r = ZH_CALL(execve, execve(path, argv, envp));
  freeStrings(argv);
  freeStrings(envp);
  return num(env, r);
}

// ---- process-shared, robust mutexes in MAP_SHARED memory (an accept lock across fork) ----
// shmMutexCreate() -> handle; shmMutexLock(h) -> 0 | -EOWNERDEAD (locked, the previous owner
// died holding it: call shmMutexConsistent) | -errno; shmMutexUnlock(h); shmMutexConsistent(h).
static constexpr int kMaxShmMutexes = 64;
static pthread_mutex_t* g_shmMutex[kMaxShmMutexes];
static int g_shmMutexCount;

static napi_value ShmMutexCreate(napi_env env, napi_callback_info) {
  if (g_shmMutexCount == kMaxShmMutexes) return num(env, -ENOSPC);
  long r = ZH_CALL(mmap, (long)mmap(nullptr, sizeof(pthread_mutex_t), PROT_READ | PROT_WRITE,
                                   MAP_SHARED | MAP_ANONYMOUS, -1, 0));
  ZH_TRACE(mmap, r, "mmap(NULL, %zu, PROT_READ|PROT_WRITE, MAP_SHARED|MAP_ANONYMOUS, -1, 0)", sizeof(pthread_mutex_t));
  if (r < 0) return num(env, r);
  auto* m = (pthread_mutex_t*)r;
  pthread_mutexattr_t at;
  pthread_mutexattr_init(&at);
  pthread_mutexattr_setpshared(&at, PTHREAD_PROCESS_SHARED);
  pthread_mutexattr_setrobust(&at, PTHREAD_MUTEX_ROBUST);
  int e = pthread_mutex_init(m, &at);
  pthread_mutexattr_destroy(&at);
  if (e) {
    munmap(m, sizeof *m);
    return num(env, -e);
  }
  g_shmMutex[g_shmMutexCount] = m;
  return num(env, g_shmMutexCount++);
}

static pthread_mutex_t* argMutex(napi_env env, const Args& a) {
  int32_t h;
  if (!argInt(env, a, 0, &h, "handle")) return nullptr;
  if (h < 0 || h >= g_shmMutexCount) return rangeError(env, "no such shared mutex"), nullptr;
  return g_shmMutex[h];
}

// pthread_* return the error number; ZH_CALL wants -1/errno.
#define ZH_PTHREAD(call) ((errno = (call)) ? -1 : 0)

static napi_value ShmMutexLock(napi_env env, napi_callback_info info) {
  Args a(env, info);
  pthread_mutex_t* m = argMutex(env, a);
  if (!m) return nullptr;
  long r = ZH_CALL(futex, ZH_PTHREAD(pthread_mutex_lock(m)));
  ZH_TRACE(futex, r, "pthread_mutex_lock(%p)", (void*)m);
  return num(env, r);
}

static napi_value ShmMutexUnlock(napi_env env, napi_callback_info info) {
  Args a(env, info);
  pthread_mutex_t* m = argMutex(env, a);
  if (!m) return nullptr;
  long r = ZH_CALL(futex, ZH_PTHREAD(pthread_mutex_unlock(m)));
  ZH_TRACE(futex, r, "pthread_mutex_unlock(%p)", (void*)m);
  return num(env, r);
}

static napi_value ShmMutexConsistent(napi_env env, napi_callback_info info) {
  Args a(env, info);
  pthread_mutex_t* m = argMutex(env, a);
  if (!m) return nullptr;
  long r = ZH_CALL(futex, ZH_PTHREAD(pthread_mutex_consistent(m)));
  ZH_TRACE(futex, r, "pthread_mutex_consistent(%p)", (void*)m);
  return num(env, r);
}

// waitpid(pid, options[, statusOut: Int32Array]) -> pid | 0 (WNOHANG, none ready) | -errno
static napi_value Waitpid(napi_env env, napi_callback_info info) {
  Args a(env, info);
  int32_t pid, options = 0;
  if (!argInt(env, a, 0, &pid, "pid")) return nullptr;
  if (!argOptInt(env, a, 1, &options, "options")) return nullptr;
  int32_t* out = nullptr;
  if (!isNullish(env, a, 2)) {
    uint8_t* p;
    size_t len;
    if (!argBytes(env, a, 2, &p, &len, "statusOut")) return nullptr;
    if (len < 4 || (uintptr_t)p % 4) return rangeError(env, "statusOut must be an Int32Array"), nullptr;
    out = (int32_t*)p;
  }
  int status = 0;
  long r = ZH_CALL(wait4, waitpid(pid, &status, options));
  ZH_TRACE(wait4, r, "wait4(%d, %#x, %#x)", pid, status, options);
  if (r > 0 && out) *out = status;
  return num(env, r);
}

// waitStatus(status) -> {exited, code, signaled, signal}: the W* macros.
static napi_value WaitStatus(napi_env env, napi_callback_info info) {
  Args a(env, info);
  int32_t s;
  if (!argInt(env, a, 0, &s, "status")) return nullptr;
  napi_value o, t, f;
  napi_create_object(env, &o);
  napi_get_boolean(env, true, &t);
  napi_get_boolean(env, false, &f);
  napi_set_named_property(env, o, "exited", WIFEXITED(s) ? t : f);
  setNum(env, o, "code", WIFEXITED(s) ? WEXITSTATUS(s) : -1);
  napi_set_named_property(env, o, "signaled", WIFSIGNALED(s) ? t : f);
  setNum(env, o, "signal", WIFSIGNALED(s) ? WTERMSIG(s) : 0);
  return o;
}

static napi_value Exit(napi_env env, napi_callback_info info) {
  Args a(env, info);
  int32_t code;
  if (!argInt(env, a, 0, &code, "code")) return nullptr;
  _exit(code);
}

static napi_value Kill(napi_env env, napi_callback_info info) {
  Args a(env, info);
  int32_t pid, sig;
  if (!argInt(env, a, 0, &pid, "pid") || !argInt(env, a, 1, &sig, "signal")) return nullptr;
  long r = ZH_CALL(kill, kill(pid, sig));
  ZH_TRACE(kill, r, "kill(%d, %d)", pid, sig);
  return num(env, r);
}

static napi_value Getpid(napi_env env, napi_callback_info) {
  long r = ZH_CALL(getpid, getpid());
  ZH_TRACE(getpid, r, "getpid()");
  return num(env, r);
}
static napi_value Gettid(napi_env env, napi_callback_info) {
  long r = ZH_CALL(gettid, syscall(SYS_gettid));
  ZH_TRACE(gettid, r, "gettid()");
  return num(env, r);
}
// prctl(option, arg2) for the integer options (PR_SET_PDEATHSIG, PR_GET_PDEATHSIG...).
static napi_value Prctl(napi_env env, napi_callback_info info) {
  Args a(env, info);
  int32_t option, arg2 = 0;
  if (!argInt(env, a, 0, &option, "option") || !argOptInt(env, a, 1, &arg2, "arg2")) return nullptr;
  long r = ZH_CALL(prctl, prctl(option, (unsigned long)arg2, 0UL, 0UL, 0UL));
  ZH_TRACE(prctl, r, "prctl(%d, %d)", option, arg2);
  return num(env, r);
}

static napi_value Getppid(napi_env env, napi_callback_info) { return num(env, getppid()); }

// getrusage(who) -> {user, system (seconds), maxrss (KiB), minflt, majflt, nvcsw, nivcsw} | -errno
static napi_value Getrusage(napi_env env, napi_callback_info info) {
  Args a(env, info);
  int32_t who;
  if (!argInt(env, a, 0, &who, "who")) return nullptr;
  struct rusage ru;
  long r = ZH_CALL(getrusage, getrusage(who, &ru));
  ZH_TRACE(getrusage, r, "getrusage(%d)", who);
  if (r < 0) return num(env, r);
  napi_value o;
  napi_create_object(env, &o);
  setNum(env, o, "user", ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6);
  setNum(env, o, "system", ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6);
  setNum(env, o, "maxrss", (double)ru.ru_maxrss);
  setNum(env, o, "minflt", (double)ru.ru_minflt);
  setNum(env, o, "majflt", (double)ru.ru_majflt);
  setNum(env, o, "nvcsw", (double)ru.ru_nvcsw);
  setNum(env, o, "nivcsw", (double)ru.ru_nivcsw);
  return o;
}

// getrlimit(resource) -> {soft, hard} (-1 = unlimited) | -errno
static napi_value Getrlimit(napi_env env, napi_callback_info info) {
  Args a(env, info);
  int32_t res;
  if (!argInt(env, a, 0, &res, "resource")) return nullptr;
  struct rlimit rl;
  long r = ZH_CALL(getrlimit, getrlimit(res, &rl));
  ZH_TRACE(getrlimit, r, "getrlimit(%d)", res);
  if (r < 0) return num(env, r);
  napi_value o;
  napi_create_object(env, &o);
  setNum(env, o, "soft", rl.rlim_cur == RLIM_INFINITY ? -1 : (double)rl.rlim_cur);
  setNum(env, o, "hard", rl.rlim_max == RLIM_INFINITY ? -1 : (double)rl.rlim_max);
  return o;
}

// setrlimit(resource, soft, hard) (-1 = unlimited)
static napi_value Setrlimit(napi_env env, napi_callback_info info) {
  Args a(env, info);
  int32_t res;
  int64_t soft, hard;
  if (!argInt(env, a, 0, &res, "resource") || !argInt64(env, a, 1, &soft, "soft") ||
      !argInt64(env, a, 2, &hard, "hard"))
    return nullptr;
  struct rlimit rl = {soft < 0 ? RLIM_INFINITY : (rlim_t)soft, hard < 0 ? RLIM_INFINITY : (rlim_t)hard};
  long r = ZH_CALL(setrlimit, setrlimit(res, &rl));
  ZH_TRACE(setrlimit, r, "setrlimit(%d, {%ld, %ld})", res, (long)soft, (long)hard);
  return num(env, r);
}

void registerProcess(napi_env env, napi_value exports, napi_value c) {
  exportFn(env, exports, "installStopHandler", InstallStopHandler);
  exportFn(env, exports, "stopRequested", StopRequested);
  exportFn(env, exports, "clearStop", ClearStop);
  exportFn(env, exports, "requestStop", RequestStop);
  exportFn(env, exports, "fork", Fork);
  exportFn(env, exports, "waitpid", Waitpid);
  exportFn(env, exports, "waitStatus", WaitStatus);
  exportFn(env, exports, "_exit", Exit);
  exportFn(env, exports, "kill", Kill);
  exportFn(env, exports, "getpid", Getpid);
  exportFn(env, exports, "gettid", Gettid);
  exportFn(env, exports, "getppid", Getppid);
  exportFn(env, exports, "prctl", Prctl);
  exportFn(env, exports, "getrusage", Getrusage);
  exportFn(env, exports, "getrlimit", Getrlimit);
  exportFn(env, exports, "setrlimit", Setrlimit);
  exportFn(env, exports, "execve", Execve);
  exportFn(env, exports, "shmMutexCreate", ShmMutexCreate);
  exportFn(env, exports, "shmMutexLock", ShmMutexLock);
  exportFn(env, exports, "shmMutexUnlock", ShmMutexUnlock);
  exportFn(env, exports, "shmMutexConsistent", ShmMutexConsistent);
  exportConst(env, c, "FORKSAFE_PRELOADED", forksafePreloaded() ? 1 : 0);
#define C(n) exportConst(env, c, #n, n)
  C(PR_SET_PDEATHSIG); C(PR_GET_PDEATHSIG);
  C(WNOHANG); C(WUNTRACED); C(RUSAGE_SELF); C(RUSAGE_CHILDREN); C(RUSAGE_THREAD);
  C(RLIMIT_NOFILE); C(RLIMIT_NPROC); C(RLIMIT_AS);
  C(SIGINT); C(SIGTERM); C(SIGKILL); C(SIGCHLD); C(SIGPIPE); C(SIGUSR1); C(SIGUSR2);
  C(SIGHUP); C(SIGSEGV); C(SIGABRT); C(SIGSTOP); C(SIGCONT);
#undef C
}

}  // namespace zh
