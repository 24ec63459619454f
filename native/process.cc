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
#include <linux/futex.h>

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
static Napi::Value InstallStopHandler(Napi::Env env) {
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
static Napi::Value StopRequested(Napi::Env env) { return num(env, g_stop); }
static Napi::Value ClearStop(Napi::Env env) {
  g_stop = 0;
  return env.Undefined();
}
// requestStop(sig): set the flag from JS (e.g. a Worker telling the process to stop).
static Napi::Value RequestStop(const Args& args) {
  int32_t sig;
  if (!argInt(args, 0, &sig, "signal")) return Napi::Value();
  g_stop = sig;
  return args.Env().Undefined();
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

static Napi::Value Fork(Napi::Env env) {
  if (!forksafePreloaded()) allowForkOfAllMappings();
  long r = ZH_CALL(fork, fork());
  if (r == 0) g_stopThread = pthread_self();
  ZH_TRACE(fork, r, "fork()");
  return num(env, r);
}

static void freeStrings(char** v) {
  for (char** p = v; p && *p; p++) free(*p);
  free(v);
}

// A JS array of strings -> the NULL-terminated char*[] execve() takes. A string with an
// embedded NUL is a TypeError (the kernel would silently cut it there). An allocation that
// fails leaves *out null (the caller returns -ENOMEM).
static bool argStrings(const Args& args, size_t i, char*** out, const char* name) {
  Napi::Env env = args.Env();
  *out = nullptr;
  if (!args[i].IsArray()) return typeError(env, "argument '%s' must be an array of strings", name);
  Napi::Array arr = args[i].As<Napi::Array>();
  uint32_t n = arr.Length();
  char** v = (char**)calloc((size_t)n + 1, sizeof(char*));
  if (!v) return true;
  for (uint32_t k = 0; k < n; k++) {
    Napi::Value e = arr.Get(k);
    size_t len;
    if (e.IsEmpty() || napi_get_value_string_utf8(env, e, nullptr, 0, &len) != napi_ok)
      return freeStrings(v), typeError(env, "argument '%s' must be an array of strings", name);
    v[k] = (char*)malloc(len + 1);
    if (!v[k]) return freeStrings(v), true;
    napi_get_value_string_utf8(env, e, v[k], len + 1, &len);
    if (strlen(v[k]) != len) return freeStrings(v), typeError(env, "argument '%s' must not contain NUL bytes", name);
  }
  *out = v;
  return true;
}

// execve(path, argv: string[], env: string[]): replaces the process; returns only -errno.
static Napi::Value Execve(const Args& args) {
  char path[4096];
  char **argv = nullptr, **envp = nullptr;
  if (!argPath(args, 0, path, sizeof path, "path")) return Napi::Value();
  if (!argStrings(args, 1, &argv, "argv")) return Napi::Value();
  if (!argStrings(args, 2, &envp, "env")) return freeStrings(argv), Napi::Value();
  long r = -ENOMEM;
  if (argv && envp) {
    ZH_TRACE(execve, 0, "execve(\"%s\", [...], [...])", path);
    r = ZH_CALL(execve, execve(path, argv, envp));
  }
  freeStrings(argv);
  freeStrings(envp);
  return num(args.Env(), r);
}

// ---- process-shared, robust mutexes in MAP_SHARED memory (an accept lock across fork) ----
// shmMutexCreate() -> handle; shmMutexLock(h) -> 0 | -EOWNERDEAD (locked, the previous owner
// died holding it: call shmMutexConsistent) | -errno; shmMutexUnlock(h); shmMutexConsistent(h).
static constexpr int kMaxShmMutexes = 64;
static pthread_mutex_t* g_shmMutex[kMaxShmMutexes];
static int g_shmMutexCount;

static Napi::Value ShmMutexCreate(Napi::Env env) {
  if (g_shmMutexCount == kMaxShmMutexes) return num(env, -ENOSPC);
  long r = ZH_CALL(
      mmap, (long)mmap(nullptr, sizeof(pthread_mutex_t), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0));
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

static pthread_mutex_t* argMutex(const Args& args) {
  int32_t h;
  if (!argInt(args, 0, &h, "handle")) return nullptr;
  if (h < 0 || h >= g_shmMutexCount) return rangeError(args.Env(), "no such shared mutex"), nullptr;
  return g_shmMutex[h];
}

// pthread_* return the error number; ZH_CALL wants -1/errno.
#define ZH_PTHREAD(call) ((errno = (call)) ? -1 : 0)

// --syscall-stats counts a futex only when one is made. An uncontended lock is a
// compare-and-swap in user space (trylock succeeds, or reports EOWNERDEAD): not counted.
static Napi::Value ShmMutexLock(const Args& args) {
  pthread_mutex_t* m = argMutex(args);
  if (!m) return Napi::Value();
  long r = -pthread_mutex_trylock(m);
  if (r == -EBUSY) r = ZH_CALL(futex, ZH_PTHREAD(pthread_mutex_lock(m)));
  ZH_TRACE(futex, r, "pthread_mutex_lock(%p)", (void*)m);
  return num(args.Env(), r);
}

// glibc's unlock calls futex(FUTEX_WAKE) only when a waiter has set FUTEX_WAITERS in the lock
// word; without one it is an atomic store in user space and is not counted.
static Napi::Value ShmMutexUnlock(const Args& args) {
  pthread_mutex_t* m = argMutex(args);
  if (!m) return Napi::Value();
  bool waiters = __atomic_load_n(&m->__data.__lock, __ATOMIC_RELAXED) & (int)0x80000000u;
  long r = waiters ? ZH_CALL(futex, ZH_PTHREAD(pthread_mutex_unlock(m))) : -pthread_mutex_unlock(m);
  ZH_TRACE(futex, r, "pthread_mutex_unlock(%p)", (void*)m);
  return num(args.Env(), r);
}

// Marks the state the dead owner left as consistent again: user space only, not counted.
static Napi::Value ShmMutexConsistent(const Args& args) {
  pthread_mutex_t* m = argMutex(args);
  if (!m) return Napi::Value();
  long r = -pthread_mutex_consistent(m);
  ZH_TRACE(futex, r, "pthread_mutex_consistent(%p)", (void*)m);
  return num(args.Env(), r);
}

// ---- a process-shared LIFO accept lock (preforked --accept-lock lifo) ----
// The lock word `owner` is the holder's pid (0: free). A process that finds it held pushes its
// cell on a stack and sleeps on the cell's own futex word; unlock hands the lock straight to the
// cell on top of the stack (owner = its pid) and wakes only that one: the most recently idle
// worker, on warm caches, takes the next connection. The stack is guarded by a robust
// process-shared mutex held for a few instructions (a guard holder that dies leaves EOWNERDEAD:
// the next one repairs the stack). A worker that dies holding the lock itself is released by
// the parent that reaps it: shmLifoOwnerDied(h, pid).
//   shmLifoCreate(capacity) -> handle | -errno
//   shmLifoLock(h) -> 0 | -EINTR (a stop was requested) | -ENOSPC (no free cell) | -errno
//   shmLifoUnlock(h) -> 0 | -EPERM (not the owner)
//   shmLifoOwnerDied(h, pid) -> 1 (pid held or waited for it; cleaned up) | 0
//   shmLifoState(h) -> {owner, waiters: pids from the bottom of the stack to its top, handoffs}
enum { kLifoIdle = 0, kLifoWaiting = 1, kLifoHanded = 2 };
struct LifoCell {
  int32_t pid;    // the process this cell belongs to, 0: free
  int32_t state;  // the futex word its process sleeps on
};
struct LifoLock {
  pthread_mutex_t guard;
  int32_t owner;
  int32_t top;
  int32_t capacity;
  uint32_t handoffs;
  // int32_t stack[capacity]; LifoCell cells[capacity];
};
static constexpr int kMaxLifos = 16;
static LifoLock* g_lifo[kMaxLifos];
static int g_lifoCount;

static int32_t* lifoStack(LifoLock* l) { return (int32_t*)(l + 1); }
static LifoCell* lifoCells(LifoLock* l) { return (LifoCell*)(lifoStack(l) + l->capacity); }

static long futexWait(int32_t* w, int32_t v) { return syscall(SYS_futex, w, FUTEX_WAIT, v, nullptr, nullptr, 0); }
static long futexWake(int32_t* w) { return syscall(SYS_futex, w, FUTEX_WAKE, 1, nullptr, nullptr, 0); }

static void lifoRemove(LifoLock* l, int32_t cell) {
  int32_t* st = lifoStack(l);
  for (int32_t i = 0; i < l->top; i++) {
    if (st[i] != cell) continue;
    memmove(st + i, st + i + 1, sizeof(int32_t) * (size_t)(l->top - i - 1));
    l->top--;
    return;
  }
}

// After a guard holder died mid-update: a waiting cell missing from the stack goes back on top.
static void lifoRepair(LifoLock* l) {
  int32_t* st = lifoStack(l);
  LifoCell* cells = lifoCells(l);
  if (l->top < 0 || l->top > l->capacity) l->top = 0;
  for (int32_t c = 0; c < l->capacity; c++) {
    if (cells[c].pid == 0 || __atomic_load_n(&cells[c].state, __ATOMIC_ACQUIRE) != kLifoWaiting) continue;
    bool found = false;
    for (int32_t i = 0; i < l->top && !found; i++) found = st[i] == c;
    if (!found && l->top < l->capacity) st[l->top++] = c;
  }
}

static void lifoGuard(LifoLock* l) {
  int e = pthread_mutex_lock(&l->guard);
  if (e == EOWNERDEAD) {
    lifoRepair(l);
    pthread_mutex_consistent(&l->guard);
  }
}
static void lifoUnguard(LifoLock* l) { pthread_mutex_unlock(&l->guard); }

// Under the guard: pass the lock to the top waiter (woken after the guard is released) or free it.
static int32_t lifoPass(LifoLock* l) {
  if (l->top == 0) {
    __atomic_store_n(&l->owner, 0, __ATOMIC_RELEASE);
    return -1;
  }
  int32_t next = lifoStack(l)[--l->top];
  LifoCell* c = &lifoCells(l)[next];
  __atomic_store_n(&l->owner, c->pid, __ATOMIC_RELEASE);
  __atomic_store_n(&c->state, kLifoHanded, __ATOMIC_RELEASE);
  l->handoffs++;
  return next;
}

static void lifoWake(LifoLock* l, int32_t cell) {
  if (cell < 0) return;
  long r = ZH_CALL_ONCE(futex, futexWake(&lifoCells(l)[cell].state));
  ZH_TRACE(futex, r, "futex(%p, FUTEX_WAKE, 1)", (void*)&lifoCells(l)[cell].state);
}

static Napi::Value ShmLifoCreate(const Args& args) {
  int32_t cap;
  if (!argInt(args, 0, &cap, "capacity")) return Napi::Value();
  if (cap < 1 || cap > 65536) return rangeError(args.Env(), "capacity must be 1..65536"), Napi::Value();
  if (g_lifoCount == kMaxLifos) return num(args.Env(), -ENOSPC);
  size_t size = sizeof(LifoLock) + (size_t)cap * (sizeof(int32_t) + sizeof(LifoCell));
  long r = ZH_CALL(mmap, (long)mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0));
  ZH_TRACE(mmap, r, "mmap(NULL, %zu, PROT_READ|PROT_WRITE, MAP_SHARED|MAP_ANONYMOUS, -1, 0)", size);
  if (r < 0) return num(args.Env(), r);
  auto* l = (LifoLock*)r;  // zero-filled: free, no waiters, every cell free
  l->capacity = cap;
  pthread_mutexattr_t at;
  pthread_mutexattr_init(&at);
  pthread_mutexattr_setpshared(&at, PTHREAD_PROCESS_SHARED);
  pthread_mutexattr_setrobust(&at, PTHREAD_MUTEX_ROBUST);
  int e = pthread_mutex_init(&l->guard, &at);
  pthread_mutexattr_destroy(&at);
  if (e) {
    munmap(l, size);
    return num(args.Env(), -e);
  }
  g_lifo[g_lifoCount] = l;
  return num(args.Env(), g_lifoCount++);
}

static LifoLock* argLifo(const Args& args) {
  int32_t h;
  if (!argInt(args, 0, &h, "handle")) return nullptr;
  if (h < 0 || h >= g_lifoCount) return rangeError(args.Env(), "no such LIFO lock"), nullptr;
  return g_lifo[h];
}

// Uncontended: a compare-and-swap in user space, no syscall (not counted).
static Napi::Value ShmLifoLock(const Args& args) {
  LifoLock* l = argLifo(args);
  if (!l) return Napi::Value();
  int32_t me = getpid(), zero = 0;
  if (__atomic_compare_exchange_n(&l->owner, &zero, me, false, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
    return num(args.Env(), 0);
  lifoGuard(l);
  zero = 0;
  if (__atomic_compare_exchange_n(&l->owner, &zero, me, false, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) {
    lifoUnguard(l);
    return num(args.Env(), 0);
  }
  LifoCell* cells = lifoCells(l);
  int32_t cell = -1;
  for (int32_t c = 0; c < l->capacity && cell < 0; c++)
    if (cells[c].pid == me) cell = c;
  for (int32_t c = 0; c < l->capacity && cell < 0; c++)
    if (cells[c].pid == 0) cell = c, cells[c].pid = me;
  if (cell < 0 || l->top == l->capacity) {
    lifoUnguard(l);
    return num(args.Env(), -ENOSPC);
  }
  int32_t* w = &cells[cell].state;
  __atomic_store_n(w, kLifoWaiting, __ATOMIC_RELEASE);
  lifoStack(l)[l->top++] = cell;
  lifoUnguard(l);
  long r;
  while (__atomic_load_n(w, __ATOMIC_ACQUIRE) == kLifoWaiting && !g_stop) {
    r = ZH_CALL(futex, futexWait(w, kLifoWaiting));  // EAGAIN: handed before we slept
    ZH_TRACE(futex, r, "futex(%p, FUTEX_WAIT, %d, NULL)", (void*)w, kLifoWaiting);
  }
  lifoGuard(l);
  bool handed = __atomic_load_n(w, __ATOMIC_ACQUIRE) == kLifoHanded;
  if (!handed) lifoRemove(l, cell);
  __atomic_store_n(w, kLifoIdle, __ATOMIC_RELEASE);
  lifoUnguard(l);
  // Handed the lock while a stop came: it is ours; the caller sees the stop and unlocks.
  return num(args.Env(), handed ? 0 : -EINTR);
}

static Napi::Value ShmLifoUnlock(const Args& args) {
  LifoLock* l = argLifo(args);
  if (!l) return Napi::Value();
  int32_t me = getpid();
  lifoGuard(l);
  if (__atomic_load_n(&l->owner, __ATOMIC_ACQUIRE) != me) {
    lifoUnguard(l);
    return num(args.Env(), -EPERM);
  }
  int32_t next = lifoPass(l);
  lifoUnguard(l);
  lifoWake(l, next);
  return num(args.Env(), 0);
}

static Napi::Value ShmLifoOwnerDied(const Args& args) {
  LifoLock* l = argLifo(args);
  int32_t pid;
  if (!l || !argInt(args, 1, &pid, "pid")) return Napi::Value();
  if (pid <= 0) return num(args.Env(), 0);
  bool found = false;
  int32_t next = -1;
  lifoGuard(l);
  LifoCell* cells = lifoCells(l);
  for (int32_t c = 0; c < l->capacity; c++) {
    if (cells[c].pid != pid) continue;
    lifoRemove(l, c);
    cells[c].state = kLifoIdle;
    cells[c].pid = 0;
    found = true;
  }
  if (__atomic_load_n(&l->owner, __ATOMIC_ACQUIRE) == pid) {
    next = lifoPass(l);
    found = true;
  }
  lifoUnguard(l);
  lifoWake(l, next);
  return num(args.Env(), found ? 1 : 0);
}

static Napi::Value ShmLifoState(const Args& args) {
  LifoLock* l = argLifo(args);
  if (!l) return Napi::Value();
  Napi::Env env = args.Env();
  lifoGuard(l);
  Napi::Object o = Napi::Object::New(env);
  o.Set("owner", __atomic_load_n(&l->owner, __ATOMIC_ACQUIRE));
  Napi::Array waiters = Napi::Array::New(env, (size_t)l->top);
  for (int32_t i = 0; i < l->top; i++) waiters.Set((uint32_t)i, lifoCells(l)[lifoStack(l)[i]].pid);
  o.Set("waiters", waiters);
  o.Set("handoffs", (double)l->handoffs);
  lifoUnguard(l);
  return o;
}

// waitpid(pid, options[, statusOut: Int32Array]) -> pid | 0 (WNOHANG, none ready) | -errno
static Napi::Value Waitpid(const Args& args) {
  int32_t pid, options = 0;
  if (!argInt(args, 0, &pid, "pid")) return Napi::Value();
  if (!argOptInt(args, 1, &options, "options")) return Napi::Value();
  int32_t* out = nullptr;
  if (!isNullish(args, 2)) {
    uint8_t* p;
    size_t len;
    if (!argBytes(args, 2, &p, &len, "statusOut")) return Napi::Value();
    if (len < 4 || (uintptr_t)p % 4) return rangeError(args.Env(), "statusOut must be an Int32Array"), Napi::Value();
    out = (int32_t*)p;
  }
  // Waiting for any child (a pool's idle wait) after a stop; a wait for one given child is a
  // join (the stats printer's, at exit) and is made as asked.
  if (pid == -1 && !(options & WNOHANG) && stopBeforeWait()) return num(args.Env(), -EINTR);
  int status = 0;
  long r = ZH_CALL(wait4, sysWait4(pid, &status, options));
  ZH_TRACE(wait4, r, "wait4(%d, %#x, %#x)", pid, status, options);
  if (r > 0 && out) *out = status;
  return num(args.Env(), r);
}

// waitStatus(status) -> {exited, code, signaled, signal}: the W* macros.
static Napi::Value WaitStatus(const Args& args) {
  int32_t s;
  if (!argInt(args, 0, &s, "status")) return Napi::Value();
  Napi::Object o = Napi::Object::New(args.Env());
  o.Set("exited", (bool)WIFEXITED(s));
  o.Set("code", WIFEXITED(s) ? WEXITSTATUS(s) : -1);
  o.Set("signaled", (bool)WIFSIGNALED(s));
  o.Set("signal", WIFSIGNALED(s) ? WTERMSIG(s) : 0);
  return o;
}

static Napi::Value Exit(const Args& args) {
  int32_t code;
  if (!argInt(args, 0, &code, "code")) return Napi::Value();
  _exit(code);
}

static Napi::Value Kill(const Args& args) {
  int32_t pid, sig;
  if (!argInt(args, 0, &pid, "pid") || !argInt(args, 1, &sig, "signal")) return Napi::Value();
  long r = ZH_CALL(kill, kill(pid, sig));
  ZH_TRACE(kill, r, "kill(%d, %d)", pid, sig);
  return num(args.Env(), r);
}

static Napi::Value Getpid(Napi::Env env) {
  long r = ZH_CALL(getpid, getpid());
  ZH_TRACE(getpid, r, "getpid()");
  return num(env, r);
}
static Napi::Value Gettid(Napi::Env env) {
  long r = ZH_CALL(gettid, syscall(SYS_gettid));
  ZH_TRACE(gettid, r, "gettid()");
  return num(env, r);
}
// prctl(option, arg2) for the integer options (PR_SET_PDEATHSIG, PR_GET_PDEATHSIG...).
static Napi::Value Prctl(const Args& args) {
  int32_t option, arg2 = 0;
  if (!argInt(args, 0, &option, "option") || !argOptInt(args, 1, &arg2, "arg2")) return Napi::Value();
  long r = ZH_CALL(prctl, prctl(option, (unsigned long)arg2, 0UL, 0UL, 0UL));
  ZH_TRACE(prctl, r, "prctl(%d, %d)", option, arg2);
  return num(args.Env(), r);
}

// mmapSharedAnon(len) -> an ArrayBuffer over MAP_SHARED|MAP_ANONYMOUS memory (zero-filled), which
// forked children share with the parent: counters a child leaves behind when it exits | -errno.
// Unmapped when the ArrayBuffer is collected.
static Napi::Value MmapSharedAnon(const Args& args) {
  int64_t len;
  if (!argInt64(args, 0, &len, "length")) return Napi::Value();
  if (len <= 0 || len > (1 << 30)) return rangeError(args.Env(), "length must be 1..2^30"), Napi::Value();
  long r = ZH_CALL(mmap, (long)mmap(nullptr, (size_t)len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0));
  ZH_TRACE(mmap, r, "mmap(NULL, %ld, PROT_READ|PROT_WRITE, MAP_SHARED|MAP_ANONYMOUS, -1, 0)", (long)len);
  if (r < 0) return num(args.Env(), r);
  return Napi::ArrayBuffer::New(
      args.Env(), (void*)r, (size_t)len,
      [](Napi::Env, void* p, size_t* n) {
        munmap(p, *n);
        delete n;
      },
      new size_t(len));
}

static Napi::Value Getppid(Napi::Env env) {
  long r = ZH_CALL(getppid, getppid());
  ZH_TRACE(getppid, r, "getppid()");
  return num(env, r);
}

// getrusage(who) -> {user, system (seconds), maxrss (KiB), minflt, majflt, nvcsw, nivcsw} | -errno
static Napi::Value Getrusage(const Args& args) {
  int32_t who;
  if (!argInt(args, 0, &who, "who")) return Napi::Value();
  struct rusage ru;
  long r = ZH_CALL(getrusage, getrusage(who, &ru));
  ZH_TRACE(getrusage, r, "getrusage(%d)", who);
  if (r < 0) return num(args.Env(), r);
  Napi::Object o = Napi::Object::New(args.Env());
  o.Set("user", ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6);
  o.Set("system", ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6);
  o.Set("maxrss", (double)ru.ru_maxrss);
  o.Set("minflt", (double)ru.ru_minflt);
  o.Set("majflt", (double)ru.ru_majflt);
  o.Set("nvcsw", (double)ru.ru_nvcsw);
  o.Set("nivcsw", (double)ru.ru_nivcsw);
  return o;
}

// getrlimit(resource) -> {soft, hard} (-1 = unlimited) | -errno
static Napi::Value Getrlimit(const Args& args) {
  int32_t res;
  if (!argInt(args, 0, &res, "resource")) return Napi::Value();
  struct rlimit rl;
  long r = ZH_CALL(getrlimit, getrlimit(res, &rl));
  ZH_TRACE(getrlimit, r, "getrlimit(%d)", res);
  if (r < 0) return num(args.Env(), r);
  Napi::Object o = Napi::Object::New(args.Env());
  o.Set("soft", rl.rlim_cur == RLIM_INFINITY ? -1 : (double)rl.rlim_cur);
  o.Set("hard", rl.rlim_max == RLIM_INFINITY ? -1 : (double)rl.rlim_max);
  return o;
}

// setrlimit(resource, soft, hard) (-1 = unlimited)
static Napi::Value Setrlimit(const Args& args) {
  int32_t res;
  int64_t soft, hard;
  if (!argInt(args, 0, &res, "resource") || !argInt64(args, 1, &soft, "soft") || !argInt64(args, 2, &hard, "hard"))
    return Napi::Value();
  struct rlimit rl = {soft < 0 ? RLIM_INFINITY : (rlim_t)soft, hard < 0 ? RLIM_INFINITY : (rlim_t)hard};
  long r = ZH_CALL(setrlimit, setrlimit(res, &rl));
  ZH_TRACE(setrlimit, r, "setrlimit(%d, {%ld, %ld})", res, (long)soft, (long)hard);
  return num(args.Env(), r);
}

void registerProcess(Napi::Object exports, Napi::Object c) {
  exportFn<InstallStopHandler>(exports, "installStopHandler");
  exportFn<StopRequested>(exports, "stopRequested");
  exportFn<ClearStop>(exports, "clearStop");
  exportFn<RequestStop>(exports, "requestStop");
  exportFn<Fork>(exports, "fork");
  exportFn<Waitpid>(exports, "waitpid");
  exportFn<WaitStatus>(exports, "waitStatus");
  exportFn<Exit>(exports, "_exit");
  exportFn<Kill>(exports, "kill");
  exportFn<Getpid>(exports, "getpid");
  exportFn<Gettid>(exports, "gettid");
  exportFn<Getppid>(exports, "getppid");
  exportFn<Prctl>(exports, "prctl");
  exportFn<Getrusage>(exports, "getrusage");
  exportFn<Getrlimit>(exports, "getrlimit");
  exportFn<Setrlimit>(exports, "setrlimit");
  exportFn<Execve>(exports, "execve");
  exportFn<ShmMutexCreate>(exports, "shmMutexCreate");
  exportFn<ShmMutexLock>(exports, "shmMutexLock");
  exportFn<ShmMutexUnlock>(exports, "shmMutexUnlock");
  exportFn<ShmMutexConsistent>(exports, "shmMutexConsistent");
  exportFn<MmapSharedAnon>(exports, "mmapSharedAnon");
  exportFn<ShmLifoCreate>(exports, "shmLifoCreate");
  exportFn<ShmLifoLock>(exports, "shmLifoLock");
  exportFn<ShmLifoUnlock>(exports, "shmLifoUnlock");
  exportFn<ShmLifoOwnerDied>(exports, "shmLifoOwnerDied");
  exportFn<ShmLifoState>(exports, "shmLifoState");
  exportConst(c, "FORKSAFE_PRELOADED", forksafePreloaded() ? 1 : 0);
  // One table of constants, several to a line:
  // clang-format off
#define C(n) exportConst(c, #n, n)
  C(PR_SET_PDEATHSIG); C(PR_GET_PDEATHSIG); C(PR_SET_THP_DISABLE);
  C(WNOHANG); C(WUNTRACED); C(RUSAGE_SELF); C(RUSAGE_CHILDREN); C(RUSAGE_THREAD);
  C(RLIMIT_NOFILE); C(RLIMIT_NPROC); C(RLIMIT_AS);
  C(SIGINT); C(SIGTERM); C(SIGKILL); C(SIGCHLD); C(SIGPIPE); C(SIGUSR1); C(SIGUSR2);
  C(SIGHUP); C(SIGSEGV); C(SIGABRT); C(SIGSTOP); C(SIGCONT);
#undef C
  // clang-format on
}

}  // namespace zh
