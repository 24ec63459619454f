// forksafe.so: LD_PRELOADed into node by the CLI for the fork-based architectures
// (docs/fork-safety.md explains why). Three interpositions, nothing else:
//  1. madvise(MADV_DONTFORK) becomes a no-op, so V8's heap is copied into forked children.
//  2. mmap() of anonymous memory at a hinted (not MAP_FIXED) address drops the hint: V8 asks
//     for each 256 kB heap page at a random address, and scattered pages each need page
//     tables of their own, which every fork() copies and every child's exit frees. Without
//     the hint the kernel packs them beside the other mappings (page tables ~570 -> ~220 kB).
//     ZH_FORKSAFE_KEEP_HINTS=1 in the environment turns this one off (to measure it). Both
//     names, mmap and mmap64, on 64-bit ABIs only.
//  3. In a forked child, pthread_cond_signal/broadcast on a condvar that existed before the
//     fork do nothing: such a condvar may still count the parent's waiting threads, which do
//     not exist in the child, and glibc would wait for them forever. Condvars initialised
//     after the fork (e.g. a libuv threadpool the child starts) work normally.
#define _GNU_SOURCE
// node-gyp builds with -D_FILE_OFFSET_BITS=64, under which <sys/mman.h> renames a definition of
// mmap() to mmap64: without this, only one of the two names would be interposed (which one
// depends on the build), and node calls mmap64. Both are defined below, explicitly.
#undef _FILE_OFFSET_BITS
#include <dlfcn.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

// The addon looks this symbol up to know that the preload is active.
__attribute__((visibility("default"))) const int zh_forksafe_active = 1;

typedef int (*cond_fn)(pthread_cond_t*);
typedef int (*cond_init_fn)(pthread_cond_t*, const pthread_condattr_t*);
static cond_fn real_signal, real_broadcast, real_destroy;
static cond_init_fn real_init;

static int g_keepHints;        // ZH_FORKSAFE_KEEP_HINTS=1: mmap() passes hints on
static volatile int g_forked;  // set in every forked child
enum { SLOTS = 4096 };
static uintptr_t g_fresh[SLOTS];  // condvars initialised since the last fork (open addressing)
#define TOMBSTONE ((uintptr_t)1)

static void* sym(const char* name) {
  void* p = dlvsym(RTLD_NEXT, name, "GLIBC_2.3.2");
  return p ? p : dlsym(RTLD_NEXT, name);
}

static void resolve(void) {
  if (real_signal) return;
  real_init = (cond_init_fn)sym("pthread_cond_init");
  real_destroy = (cond_fn)sym("pthread_cond_destroy");
  real_broadcast = (cond_fn)sym("pthread_cond_broadcast");
  __atomic_store_n(&real_signal, (cond_fn)sym("pthread_cond_signal"), __ATOMIC_RELEASE);
}

static size_t slotOf(uintptr_t p) { return (size_t)((p >> 4) * 0x9E3779B97F4A7C15ull >> 52) % SLOTS; }

static int g_remembered;  // anything put in g_fresh since the last fork

static void remember(pthread_cond_t* c) {
  uintptr_t p = (uintptr_t)c;
  g_remembered = 1;
  for (size_t i = slotOf(p), n = 0; n < SLOTS; i = (i + 1) % SLOTS, n++) {
    uintptr_t cur = __atomic_load_n(&g_fresh[i], __ATOMIC_ACQUIRE);
    if (cur == p) return;
    if ((cur == 0 || cur == TOMBSTONE) &&
        __atomic_compare_exchange_n(&g_fresh[i], &cur, p, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
      return;
  }
}

// 1: initialised after the fork; 0: predates it. A full table counts as fresh (never hangs a
// condvar the child made itself; at worst one pre-fork condvar behaves as before).
static int isFresh(pthread_cond_t* c, int forget) {
  uintptr_t p = (uintptr_t)c;
  size_t n = 0;
  for (size_t i = slotOf(p); n < SLOTS; i = (i + 1) % SLOTS, n++) {
    uintptr_t cur = __atomic_load_n(&g_fresh[i], __ATOMIC_ACQUIRE);
    if (cur == p) {
      if (forget) __atomic_store_n(&g_fresh[i], TOMBSTONE, __ATOMIC_RELEASE);
      return 1;
    }
    if (cur == 0) return 0;
  }
  return 1;
}

static void inChild(void) {
  // The child is single-threaded here. The table is clean unless this process itself was a
  // forked child that made condvars: no need to write (and copy-on-write fault) its 32 kB.
  // g_remembered too is written only then: a write would fault its page (the table's first, as
  // built) into every child.
  if (g_remembered) {
    memset(g_fresh, 0, sizeof g_fresh);
    g_remembered = 0;
  }
  g_forked = 1;
}

__attribute__((constructor)) static void init(void) {
  resolve();
  const char* keep = getenv("ZH_FORKSAFE_KEEP_HINTS");
  g_keepHints = keep && keep[0] == '1';
  pthread_atfork(NULL, NULL, inChild);
}

// 64-bit only: there mmap and mmap64 are the same call (a 64-bit byte offset, SYS_mmap's six
// arguments); 32-bit ABIs have SYS_mmap2 (offset in pages) or none, and keep glibc's as is.
#if defined(__LP64__) && defined(SYS_mmap)
static void* mapDroppingHint(void* addr, size_t len, int prot, int flags, int fd, off64_t off) {
  if (addr && !g_keepHints && (flags & MAP_ANONYMOUS) && !(flags & (MAP_FIXED | MAP_FIXED_NOREPLACE))) addr = NULL;
  return (void*)syscall(SYS_mmap, addr, len, prot, flags, fd, off);
}
void* mmap(void* addr, size_t len, int prot, int flags, int fd, off_t off) {
  return mapDroppingHint(addr, len, prot, flags, fd, off);
}
void* mmap64(void* addr, size_t len, int prot, int flags, int fd, off64_t off) {
  return mapDroppingHint(addr, len, prot, flags, fd, off);
}
#endif

int madvise(void* addr, size_t len, int advice) {
  if (advice == MADV_DONTFORK) return 0;
  return (int)syscall(SYS_madvise, addr, len, advice);
}

int pthread_cond_init(pthread_cond_t* c, const pthread_condattr_t* a) {
  resolve();
  int r = real_init(c, a);
  if (r == 0 && g_forked) remember(c);
  return r;
}

int pthread_cond_destroy(pthread_cond_t* c) {
  resolve();
  if (g_forked) isFresh(c, 1);
  return real_destroy(c);
}

int pthread_cond_signal(pthread_cond_t* c) {
  resolve();
  if (g_forked && !isFresh(c, 0)) return 0;
  return real_signal(c);
}

int pthread_cond_broadcast(pthread_cond_t* c) {
  resolve();
  if (g_forked && !isFresh(c, 0)) return 0;
  return real_broadcast(c);
}
