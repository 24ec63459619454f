// The threaded server's cheap thread (issue 17, docs/threads.md): per connection, a native thread
// running a bare V8 isolate made through the embedder API (v8.h, and node.h for Node's platform),
// instead of a Worker, which is a whole Node bootstrap. The thread compiles the server's own
// request path (thread-isolate.bundle.js, built by esbuild from lib/) from a V8 code cache, runs
// its top level (which loads the modules and sets __zerohttpd.serve), and calls serve() on one
// client fd. The script sees no Node: it gets the syscalls it needs as `native`, bound here
// straight on V8 (N-API needs a Node environment, which such an isolate does not have), with the
// same names, arguments and -errno results as the addon's, counted in the same syscall table.
// Under `strace -f` each connection is one clone3() of a thread, as in the article.
//
// What this file exports to the main thread (through N-API like the rest of the addon):
//   isolateThreadsInit(onExit)              onExit(id, error?) is called on the main thread as each ends
//   isolateScript(source, filename, consts[, heapMb]) the script every new thread runs, the constants
//                                           (JSON), and its isolates' heap limit (default: V8's)
//   isolateThreadStart(id, slot, data)      a new thread for a client; 0 | -errno (pthread_create)
//   isolateThreadTerminate(id)              TerminateExecution() on that thread's isolate, if alive
//   isolateCodeCacheSize()                  bytes of the code cache the first thread left (0: none yet)
//   isolateThreadsStop(waitMs)              at process exit: terminate every thread's script and wait
//                                           (at most waitMs) until every thread is gone; how many are left
#include "common.h"
#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <node.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <unistd.h>
#include <uv.h>
#include <v8.h>

#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>

namespace zh {

using v8::ArrayBufferView;
using v8::Context;
using v8::FunctionCallbackInfo;
using v8::FunctionTemplate;
using v8::HandleScope;
using v8::Isolate;
using v8::Local;
using v8::ObjectTemplate;
using v8::ScriptCompiler;
using v8::String;
using v8::Value;

namespace {

// ---- the syscalls, as the script in the isolate sees them ----

// Arguments as the addon takes them (argInt, argWindow... in addon.cc), read with V8's API. A bad
// argument throws a TypeError/RangeError in the calling isolate; the function then returns.
struct V8Args {
  const FunctionCallbackInfo<Value>& a;
  bool ok = true;
  explicit V8Args(const FunctionCallbackInfo<Value>& info) : a(info) {}
  bool fail(bool range, const char* msg) {
    Isolate* iso = a.GetIsolate();
    Local<String> m = String::NewFromUtf8(iso, msg).ToLocalChecked();
    iso->ThrowException(range ? v8::Exception::RangeError(m) : v8::Exception::TypeError(m));
    return ok = false;
  }
  bool nullish(int i) { return i >= a.Length() || a[i]->IsNullOrUndefined(); }
  template <typename T>
  T integer(int i, double lo, double hi) {
    if (!ok) return 0;
    if (!a[i]->IsNumber()) return fail(false, "argument must be an integer"), 0;
    double d = a[i].As<v8::Number>()->Value();
    if (!(d >= lo && d < hi) || (double)(T)d != d) return fail(false, "argument is not an integer in range"), 0;
    return (T)d;
  }
  int32_t i32(int i) { return integer<int32_t>(i, -0x1p31, 0x1p31); }
  int64_t i64(int i) { return integer<int64_t>(i, -0x1p63, 0x1p63); }
  int32_t opt(int i, int32_t dflt) { return nullish(i) ? dflt : i32(i); }
  // A TypedArray/Buffer's bytes.
  uint8_t* bytes(int i, size_t* len) {
    if (!ok) return nullptr;
    if (!a[i]->IsArrayBufferView()) return fail(false, "argument must be a TypedArray or Buffer"), nullptr;
    Local<ArrayBufferView> v = a[i].As<ArrayBufferView>();
    *len = v->ByteLength();
    return static_cast<uint8_t*>(v->Buffer()->Data()) + v->ByteOffset();
  }
  // (buffer, offset, length) starting at argument i.
  uint8_t* window(int i, size_t* len) {
    size_t size = 0;
    uint8_t* p = bytes(i, &size);
    int64_t off = i64(i + 1), n = i64(i + 2);
    if (!ok) return nullptr;
    if (off < 0 || n < 0 || (uint64_t)off > size || (uint64_t)n > size - (uint64_t)off)
      return fail(true, "offset/length outside the buffer"), nullptr;
    *len = (size_t)n;
    return p + off;
  }
  // A string without NUL bytes into buf.
  bool str(int i, char* buf, size_t size) {
    if (!ok) return false;
    if (!a[i]->IsString()) return fail(false, "argument must be a string");
    Local<String> s = a[i].As<String>();
    Isolate* iso = a.GetIsolate();
    if ((size_t)s->Utf8Length(iso) >= size) return fail(true, "path too long");
    int n = s->WriteUtf8(iso, buf, (int)size - 1, nullptr, String::NO_NULL_TERMINATION);
    buf[n] = 0;
    if (strlen(buf) != (size_t)n) return fail(false, "argument must not contain NUL bytes");
    return true;
  }
  void ret(long v) {
    if (v >= INT32_MIN && v <= INT32_MAX) a.GetReturnValue().Set((int32_t)v);
    else a.GetReturnValue().Set((double)v);
  }
};

#define ZH_V8(name) void name(const FunctionCallbackInfo<Value>& info)

// read/write/recv/send: (fd, buffer, offset, length[, flags]) -> bytes | -errno.
template <typename Call>
void windowCall(const FunctionCallbackInfo<Value>& info, Call call) {
  V8Args a(info);
  int fd = a.i32(0);
  size_t len;
  uint8_t* p = a.window(1, &len);
  int flags = a.opt(4, 0);
  if (a.ok) a.ret(call(fd, p, len, flags));
}
ZH_V8(Read) {
  windowCall(info, [](int fd, uint8_t* p, size_t len, int) { return ZH_CALL(read, sysRead(fd, p, len)); });
}
ZH_V8(Write) {
  windowCall(info, [](int fd, uint8_t* p, size_t len, int) { return ZH_CALL(write, sysWrite(fd, p, len)); });
}
ZH_V8(Recv) {
  windowCall(info, [](int fd, uint8_t* p, size_t len, int f) { return ZH_CALL(recvfrom, sysRecv(fd, p, len, f)); });
}
ZH_V8(Send) {
  windowCall(info, [](int fd, uint8_t* p, size_t len, int f) { return ZH_CALL(sendto, sysSend(fd, p, len, f)); });
}
// Never retried (see io.cc's Close).
ZH_V8(Close) {
  V8Args a(info);
  int fd = a.i32(0);
  if (a.ok) a.ret(ZH_CALL_ONCE(close, sysClose(fd)));
}
ZH_V8(Shutdown) {
  V8Args a(info);
  int fd = a.i32(0), how = a.i32(1);
  if (a.ok) a.ret(ZH_CALL(shutdown, shutdown(fd, how)));
}
ZH_V8(Fcntl) {
  V8Args a(info);
  int fd = a.i32(0), cmd = a.i32(1), arg = a.opt(2, 0);
  if (a.ok && isLockCmd(cmd)) a.fail(true, "record locks are not available here");
  if (a.ok) a.ret(ZH_CALL(fcntl, fcntl(fd, cmd, arg)));
}
ZH_V8(Ioctl) {
  V8Args a(info);
  int fd = a.i32(0), request = a.i32(1);
  if (a.ok && !intIoctl(request)) a.fail(true, "request must be SIOCOUTQ or SIOCINQ");
  if (!a.ok) return;
  int value = 0;
  long r = ZH_CALL(ioctl, ioctl(fd, (unsigned long)request, &value));
  a.ret(r < 0 ? r : value);
}
ZH_V8(Socket) {
  V8Args a(info);
  int domain = a.i32(0), type = a.i32(1), proto = a.opt(2, 0);
  if (a.ok) a.ret(ZH_CALL(socket, socket(domain, type, proto)));
}
ZH_V8(Connect) {
  V8Args a(info);
  int fd = a.i32(0);
  char host[INET6_ADDRSTRLEN + 1];
  a.str(1, host, sizeof host);
  int port = a.i32(2);
  if (!a.ok) return;
  if (port < 0 || port > 65535) return (void)a.fail(true, "port must be 0..65535");
  struct sockaddr_storage ss;
  socklen_t sl;
  if (!toSockaddr(host, port, &ss, &sl)) return (void)a.fail(false, "address must be an IPv4 or IPv6 literal string");
  a.ret(ZH_CALL_ONCE(connect, sysConnect(fd, (struct sockaddr*)&ss, sl)));
}
// As net.cc's: SO_RCVTIMEO/SO_SNDTIMEO in milliseconds, the rest as an int.
ZH_V8(Setsockopt) {
  V8Args a(info);
  int fd = a.i32(0), level = a.i32(1), opt = a.i32(2);
  int64_t value = a.i64(3);
  if (a.ok && isTimeOpt(level, opt) && value < 0) a.fail(true, "timeout must be >= 0 ms");
  if (a.ok) a.ret(setsockoptMs(fd, level, opt, value));
}
ZH_V8(Getsockopt) {
  V8Args a(info);
  int fd = a.i32(0), level = a.i32(1), opt = a.i32(2);
  if (a.ok) a.ret(getsockoptMs(fd, level, opt));
}
// poll(buf, nfds, timeoutMs), EINTR retried with the time left (as poll.cc's).
ZH_V8(Poll) {
  V8Args a(info);
  size_t len = 0;
  uint8_t* p = a.bytes(0, &len);
  int nfds = a.i32(1), timeout = a.i32(2);
  if (!a.ok) return;
  if (nfds < 0 || (size_t)nfds * sizeof(struct pollfd) > len || (uintptr_t)p % alignof(struct pollfd))
    return (void)a.fail(true, "nfds is negative or larger than the pollfd buffer, or it is misaligned");
  uint64_t start = nowNs();
  a.ret(ZH_CALL(poll, sysPoll((struct pollfd*)p, (nfds_t)nfds, timeLeft(timeout, start))));
}
ZH_V8(Open) {
  V8Args a(info);
  char path[4096];
  a.str(0, path, sizeof path);
  int flags = a.i32(1), mode = a.opt(2, 0);
  if (a.ok) a.ret(ZH_CALL(openat, open(path, flags, mode)));
}
ZH_V8(Openat2) {
  V8Args a(info);
  char path[4096];
  int dirfd = a.i32(0);
  a.str(1, path, sizeof path);
  int flags = a.i32(2), resolve = a.i32(3);
  if (!a.ok) return;
  struct open_how how;
  memset(&how, 0, sizeof how);
  how.flags = (uint64_t)(uint32_t)flags;
  how.resolve = (uint64_t)(uint32_t)resolve;
  a.ret(ZH_CALL(openat2, syscall(SYS_openat2, dirfd, path, &how, sizeof how)));
}
// fstat(fd, out: Float64Array(3)): [st_mode, st_size, st_mtime in ms], as io.cc's.
ZH_V8(Fstat) {
  V8Args a(info);
  int fd = a.i32(0);
  size_t len = 0;
  uint8_t* p = a.bytes(1, &len);
  if (!a.ok) return;
  if (len < 3 * sizeof(double) || ((uintptr_t)p % sizeof(double)))
    return (void)a.fail(true, "out must be a Float64Array of length >= 3");
  long r = fstatInto(fd, (double*)p);
  a.ret(r);
}
ZH_V8(Sendfile) {
  V8Args a(info);
  int out = a.i32(0), in = a.i32(1);
  bool useOff = !a.nullish(2);
  int64_t off = useOff ? a.i64(2) : 0, count = a.i64(3);
  if (!a.ok) return;
  if (off < 0 || count < 0) return (void)a.fail(true, "offset and count must be >= 0");
  off_t o = (off_t)off;
  a.ret(ZH_CALL(sendfile, sendfile(out, in, useOff ? &o : nullptr, (size_t)count)));
}
ZH_V8(Getpid) { V8Args(info).ret(ZH_CALL(getpid, getpid())); }
ZH_V8(Gettid) { V8Args(info).ret(ZH_CALL(gettid, syscall(SYS_gettid))); }
ZH_V8(StopRequested) { V8Args(info).ret(g_stop); }
ZH_V8(ErrName) {
  V8Args a(info);
  int e = a.i32(0);
  if (!a.ok) return;
  const char* n = strerrorname_np(e < 0 ? -e : e);
  info.GetReturnValue().Set(String::NewFromUtf8(info.GetIsolate(), n ? n : "UNKNOWN").ToLocalChecked());
}
ZH_V8(StrError) {
  V8Args a(info);
  int e = a.i32(0);
  if (!a.ok) return;
  char buf[128];
  errnoDescription(e, buf, sizeof buf);
  info.GetReturnValue().Set(String::NewFromUtf8(info.GetIsolate(), buf).ToLocalChecked());
}
// Node's Buffer does its UTF-8 in C++ (V8's String::NewFromUtf8 and WriteUtf8); in an isolate the
// npm buffer package does it in JavaScript, which runs interpreted in a fresh isolate (about 25 of
// the 68 ms a 300 kB guestbook page took; 19 ms with these) and cuts malformed input differently
// (lib/isolate/buffer.ts). utf8Slice(buf, offset, length) -> string, malformed sequences replaced (WHATWG, as Node).
ZH_V8(Utf8Slice) {
  V8Args a(info);
  size_t len;
  uint8_t* p = a.window(0, &len);
  if (!a.ok) return;
  Local<String> s;
  if (len > (size_t)String::kMaxLength ||
      !String::NewFromUtf8(info.GetIsolate(), (const char*)p, v8::NewStringType::kNormal, (int)len).ToLocal(&s))
    return (void)a.fail(true, "the string would be longer than the longest string");
  info.GetReturnValue().Set(s);
}
// utf8Length(string) -> its bytes in UTF-8 (a lone surrogate: 3, U+FFFD's, as Node).
ZH_V8(Utf8Length) {
  V8Args a(info);
  if (!info[0]->IsString()) return (void)a.fail(false, "argument must be a string");
  a.ret(info[0].As<String>()->Utf8Length(info.GetIsolate()));
}
// utf8Write(buf, offset, length, string) -> bytes written: whole characters only, as Node.
ZH_V8(Utf8Write) {
  V8Args a(info);
  size_t len;
  uint8_t* p = a.window(0, &len);
  if (!a.ok) return;
  if (!info[3]->IsString()) return (void)a.fail(false, "argument must be a string");
  int cap = len > INT32_MAX ? INT32_MAX : (int)len;
  a.ret(info[3].As<String>()->WriteUtf8(info.GetIsolate(), (char*)p, cap, nullptr,
                                        String::REPLACE_INVALID_UTF8 | String::NO_NULL_TERMINATION));
}
ZH_V8(LiveAdd) {
  V8Args a(info);
  int i = a.i32(0), delta = a.i32(1);
  if (!a.ok) return;
  if (i < 0 || i >= (int)(sizeof g_stats->live / sizeof g_stats->live[0]))
    return (void)a.fail(true, "index out of range");
  __atomic_fetch_add(&g_stats->live[i], delta, __ATOMIC_RELAXED);
}
ZH_V8(LiveCounters) {
  Isolate* iso = info.GetIsolate();
  constexpr int n = sizeof g_stats->live / sizeof g_stats->live[0];
  Local<v8::Array> arr = v8::Array::New(iso, n);
  Local<Context> ctx = iso->GetCurrentContext();
  for (int i = 0; i < n; i++)
    arr->Set(ctx, i, v8::Number::New(iso, (double)__atomic_load_n(&g_stats->live[i], __ATOMIC_RELAXED))).Check();
  info.GetReturnValue().Set(arr);
}
// syscallStats() -> [{name, calls, errors, ns, errnos}], as stats.cc's.
ZH_V8(SyscallStats) {
  Isolate* iso = info.GetIsolate();
  Local<Context> ctx = iso->GetCurrentContext();
  auto key = [&](const char* k) { return String::NewFromUtf8(iso, k).ToLocalChecked(); };
  Local<v8::Array> arr = v8::Array::New(iso);
  uint32_t k = 0;
  for (int i = 0; i < Z_COUNT; i++) {
    SysCounter c;
    memcpy(&c, (const void*)&g_stats->sys[i], sizeof c);
    if (!c.calls) continue;
    Local<v8::Object> o = v8::Object::New(iso), errs = v8::Object::New(iso);
    o->Set(ctx, key("name"), key(kSysNames[i])).Check();
    o->Set(ctx, key("calls"), v8::Number::New(iso, (double)c.calls)).Check();
    o->Set(ctx, key("errors"), v8::Number::New(iso, (double)c.errors)).Check();
    o->Set(ctx, key("ns"), v8::Number::New(iso, (double)c.ns)).Check();
    for (int e = 1; e < kMaxErrno; e++)
      if (c.byErrno[e])
        errs->Set(ctx, key(strerrorname_np(e) ? strerrorname_np(e) : "E?"), v8::Number::New(iso, (double)c.byErrno[e]))
            .Check();
    o->Set(ctx, key("errnos"), errs).Check();
    arr->Set(ctx, k++, o).Check();
  }
  info.GetReturnValue().Set(arr);
}

struct Binding {
  const char* name;
  v8::FunctionCallback fn;
};
const Binding kBindings[] = {
    {"read", Read},
    {"write", Write},
    {"recv", Recv},
    {"send", Send},
    {"close", Close},
    {"shutdown", Shutdown},
    {"fcntl", Fcntl},
    {"ioctl", Ioctl},
    {"socket", Socket},
    {"connect", Connect},
    {"setsockopt", Setsockopt},
    {"getsockopt", Getsockopt},
    {"poll", Poll},
    {"open", Open},
    {"openat2", Openat2},
    {"fstat", Fstat},
    {"sendfile", Sendfile},
    {"getpid", Getpid},
    {"gettid", Gettid},
    {"stopRequested", StopRequested},
    {"errname", ErrName},
    {"strerror", StrError},
    {"utf8Slice", Utf8Slice},
    {"utf8Length", Utf8Length},
    {"utf8Write", Utf8Write},
    {"liveAdd", LiveAdd},
    {"liveCounters", LiveCounters},
    {"syscallStats", SyscallStats},
};
constexpr size_t kNBindings = sizeof kBindings / sizeof kBindings[0];

// native.uncounted: the same functions, whose calls the syscall table does not count: those
// lib/isolate/fs.ts makes in place of node:fs, which Node's own fs would make uncounted in a
// Worker or any other architecture (reading the guestbook's templates, --trace's output).
void Uncounted(const FunctionCallbackInfo<Value>& info) {
  auto fn = reinterpret_cast<v8::FunctionCallback>(info.Data().As<v8::External>()->Value());
  t_uncounted = true;
  fn(info);
  t_uncounted = false;
}

// ---- the threads ----

node::MultiIsolatePlatform* g_platform = nullptr;
v8::ArrayBuffer::Allocator* g_allocator = nullptr;
Napi::ThreadSafeFunction g_onExit;
int g_live = 0;  // threads started and not yet reported ended (main thread only): while > 0 the
                 // process stays alive, as it does for a running Worker

// The script and, once the first thread that ran it is done, a V8 code cache of it that holds
// what that thread compiled (the request path), which every later thread compiles from.
//
// Not a V8 startup snapshot of the loaded modules, which would also save running their top
// level per thread: Node's V8 shares one read-only heap between all isolates, so every isolate
// must come from Node's own snapshot (node.h, EmbedderSnapshotData); one made by a
// v8::SnapshotCreator here deserializes with the wrong read-only objects (tried: '/' read back
// as 'E', docs/threads.md).
struct Script {
  std::string source, filename, constants;
  size_t heapLimit = 0;  // bytes; 0: V8's default
  std::mutex cacheMutex;
  std::string cache;
};
std::mutex g_mu;                        // guards the four below
std::shared_ptr<Script> g_script;       // the current one (a thread keeps its own reference)
std::map<int32_t, Isolate*> g_running;  // id -> isolate, while its script may run
int g_threads = 0;                      // threads started and not yet past their last use of V8 or Node
bool g_exiting = false;                 // isolateThreadsStop(): the process is exiting
std::condition_variable g_gone;         // notified as g_threads goes down

struct Job {
  int32_t id;
  std::shared_ptr<Script> script;  // g_script when the thread was started
  // The ClientSlot's memory: the very BackingStore of the main thread's SharedArrayBuffer, so that
  // Atomics.wait/notify on either side meet (V8 matches waiters by BackingStore, not by address).
  std::shared_ptr<v8::BackingStore> slot;
  std::string data;
};
struct Ended {
  int32_t id;
  std::string error;  // empty: the script returned
};

// A thread whose script reaches its heap limit is stopped there, as Node stops a Worker (its
// NearHeapLimit()): without this callback V8 aborts the whole process ("Fatal JavaScript OOM").
// The limit is raised for the GC under way and for what runs until the termination is seen.
struct HeapGuard {
  Isolate* iso;
  size_t limit = 0;  // the limit that was reached (0: not reached)
};
size_t nearHeapLimit(void* data, size_t current, size_t initial) {
  auto* g = static_cast<HeapGuard*>(data);
  if (!g->limit) g->limit = initial;
  g->iso->TerminateExecution();
  return current * 2;
}

// Unregisters and disposes an isolate, running the platform's wake-ups on its loop until it is
// gone, then closes the loop.
void disposeIsolate(Isolate* isolate, uv_loop_t* loop) {
  bool finished = false;
  g_platform->AddIsolateFinishedCallback(
      isolate, [](void* f) { *static_cast<bool*>(f) = true; }, &finished);
  g_platform->UnregisterIsolate(isolate);
  isolate->Dispose();
  while (!finished) uv_run(loop, UV_RUN_ONCE);
  uv_run(loop, UV_RUN_DEFAULT);  // whatever is still closing (nothing stays active)
  uv_loop_close(loop);
}

std::string describe(Isolate* iso, Local<Context> ctx, v8::TryCatch& tc) {
  if (tc.HasTerminated()) return "terminated";
  if (!tc.HasCaught()) return "failed without an exception";
  Local<Value> v;
  if (!tc.StackTrace(ctx).ToLocal(&v) || !v->IsString()) v = tc.Exception();  // a thrown non-Error has no stack
  String::Utf8Value s(iso, v);
  return *s ? std::string(*s, s.length()) : "an exception that cannot be printed";
}

Local<String> v8str(Isolate* iso, const std::string& s) {
  return String::NewFromUtf8(iso, s.data(), v8::NewStringType::kNormal, (int)s.size()).ToLocalChecked();
}

// ---- a thread per connection ----

// Compile the script (from the code cache once there is one), run its top level, give
// __zerohttpd its slot and data, call serve().
std::string runThread(Isolate* iso, const Job& job, Script& script) {
  std::string cache;
  {
    std::lock_guard<std::mutex> g(script.cacheMutex);
    cache = script.cache;
  }
  HandleScope hs(iso);
  Local<Context> ctx = Context::New(iso);
  Context::Scope cs(ctx);
  v8::TryCatch tc(iso);
  Local<v8::Object> nat = v8::Object::New(iso), boot = v8::Object::New(iso);
  Local<v8::Object> uncounted = v8::Object::New(iso);
  for (const Binding& b : kBindings) {
    nat->Set(ctx, v8str(iso, b.name), FunctionTemplate::New(iso, b.fn)->GetFunction(ctx).ToLocalChecked()).Check();
    Local<Value> fn = v8::External::New(iso, reinterpret_cast<void*>(b.fn));
    uncounted
        ->Set(ctx, v8str(iso, b.name), FunctionTemplate::New(iso, Uncounted, fn)->GetFunction(ctx).ToLocalChecked())
        .Check();
  }
  Local<Value> constants, serve;
  if (!v8::JSON::Parse(ctx, v8str(iso, script.constants)).ToLocal(&constants) ||
      nat->Set(ctx, v8str(iso, "constants"), constants).IsNothing() ||
      nat->Set(ctx, v8str(iso, "uncounted"), uncounted).IsNothing() ||
      boot->Set(ctx, v8str(iso, "native"), nat).IsNothing() ||
      boot->Set(ctx, v8str(iso, "slot"), v8::SharedArrayBuffer::New(iso, job.slot)).IsNothing() ||
      boot->Set(ctx, v8str(iso, "data"), v8str(iso, job.data)).IsNothing() ||
      ctx->Global()->Set(ctx, v8str(iso, "__zerohttpd"), boot).IsNothing())
    return describe(iso, ctx, tc);
  auto* cached =
      cache.empty() ? nullptr
                    : new ScriptCompiler::CachedData(reinterpret_cast<const uint8_t*>(cache.data()), (int)cache.size());
  v8::ScriptOrigin origin(iso, v8str(iso, script.filename));
  ScriptCompiler::Source source(v8str(iso, script.source), origin, cached);  // owns `cached`
  Local<v8::Script> compiled;
  if (!ScriptCompiler::Compile(ctx, &source,
                               cached ? ScriptCompiler::kConsumeCodeCache : ScriptCompiler::kNoCompileOptions)
           .ToLocal(&compiled) ||
      compiled->Run(ctx).IsEmpty() || !boot->Get(ctx, v8str(iso, "serve")).ToLocal(&serve))
    return describe(iso, ctx, tc);
  if (!serve->IsFunction()) return "the script did not set __zerohttpd.serve";
  if (serve.As<v8::Function>()->Call(ctx, boot, 0, nullptr).IsEmpty()) return describe(iso, ctx, tc);
  if (cache.empty()) {  // the first to finish: a cache that holds what the request compiled
    std::unique_ptr<ScriptCompiler::CachedData> made(ScriptCompiler::CreateCodeCache(compiled->GetUnboundScript()));
    std::lock_guard<std::mutex> g(script.cacheMutex);
    if (script.cache.empty() && made) script.cache.assign(reinterpret_cast<const char*>(made->data), made->length);
  }
  return "";
}

void* serveThread(void* p) {
  std::unique_ptr<Job> job(static_cast<Job*>(p));
  std::shared_ptr<Script> script = std::move(job->script);
  auto* ended = new Ended{job->id, ""};
  // The loop's fds (an epoll fd, and the eventfd of its async handles) are made here, where a
  // failure (EMFILE) is an error this thread reports: Node's platform CHECKs its own
  // uv_async_init() in RegisterIsolate(), which would abort the process if it had to make the
  // eventfd itself. (threaded.ts also keeps fds in reserve for starting threads.)
  uv_loop_t loop;
  uv_async_t first;
  int e = uv_loop_init(&loop);
  if (e == 0 && (e = uv_async_init(&loop, &first, nullptr)) != 0) uv_loop_close(&loop);
  if (e != 0) {
    ended->error = std::string("cannot start an isolate: ") + uv_err_name(e);
  } else {
    uv_close(reinterpret_cast<uv_handle_t*>(&first), nullptr);  // closed on the loop's next turn
    Isolate* iso = Isolate::Allocate();
    g_platform->RegisterIsolate(iso, &loop);
    Isolate::CreateParams params;
    params.array_buffer_allocator = g_allocator;
    if (script->heapLimit) params.constraints.ConfigureDefaultsFromHeapSize(0, script->heapLimit);
    Isolate::Initialize(iso, params);
    HeapGuard heap{iso};
    iso->AddNearHeapLimitCallback(nearHeapLimit, &heap);
    {
      v8::Locker locker(iso);
      Isolate::Scope is(iso);
      {
        std::lock_guard<std::mutex> g(g_mu);
        g_running[job->id] = iso;
        if (g_exiting) iso->TerminateExecution();
      }
      ended->error = runThread(iso, *job, *script);
      if (heap.limit)
        ended->error = "out of memory: its JavaScript heap reached its limit (" + std::to_string(heap.limit >> 20) +
                       " MB of old space)";
      std::lock_guard<std::mutex> g(g_mu);
      g_running.erase(job->id);
    }
    disposeIsolate(iso, &loop);
  }
  // Nothing of V8's may outlive the report below: once the main thread has it, the process may
  // exit, and a BackingStore released after that would be freed into a torn-down V8.
  job.reset();
  script.reset();
  // The main thread learns of the end here (the isolate is gone): its ClientSlot is then its own.
  napi_status s = g_onExit.NonBlockingCall(ended, [](Napi::Env env, Napi::Function cb, Ended* e) {
    if (env != nullptr && --g_live == 0) g_onExit.Unref(env);
    if (env != nullptr && cb != nullptr)
      cb.Call({num(env, e->id), e->error.empty() ? env.Undefined() : Napi::String::New(env, e->error)});
    delete e;
  });
  if (s != napi_ok) delete ended;  // the main thread is shutting down
  std::lock_guard<std::mutex> g(g_mu);
  g_threads--;
  g_gone.notify_all();
  return nullptr;
}

// A napi_value is a v8::Local<v8::Value> underneath: Node's own V8LocalValueFromJsValue()
// (src/js_native_api_v8.h) is this memcpy. N-API has no SharedArrayBuffer functions in Node 20.
Local<Value> toV8(napi_value v) {
  Local<Value> local;
  static_assert(sizeof local == sizeof v, "napi_value is a v8::Local");
  memcpy(static_cast<void*>(&local), &v, sizeof v);
  return local;
}

Napi::Value ThreadsInit(const Args& args) {
  Napi::Env env = args.Env();
  if (!args[0].IsFunction()) return typeError(env, "onExit must be a function"), Napi::Value();
  if (!g_platform) {
    Isolate* iso = Isolate::GetCurrent();
    g_platform = node::GetMultiIsolatePlatform(node::GetCurrentEnvironment(iso->GetCurrentContext()));
    if (!g_platform) return num(env, -ENOSYS);
    g_allocator = v8::ArrayBuffer::Allocator::NewDefaultAllocator();
  }
  // The threads running report to g_onExit (from their own threads) and are counted in g_live.
  if (g_live > 0) return rangeError(env, "isolate threads are still running"), Napi::Value();
  if (g_onExit) g_onExit.Release();
  {
    std::lock_guard<std::mutex> g(g_mu);
    g_exiting = false;  // a stop was for the threads before this init
  }
  g_onExit = Napi::ThreadSafeFunction::New(env, args[0].As<Napi::Function>(), "zerohttpd isolate thread", 0, 1);
  g_onExit.Unref(env);  // referenced only while threads run (ThreadStart)
  g_live = 0;
  return num(env, 0);
}

Napi::Value SetScript(const Args& args) {
  Napi::Env env = args.Env();
  if (!args[0].IsString() || !args[1].IsString() || !args[2].IsString())
    return typeError(env, "isolateScript(source, filename, constantsJson) takes three strings"), Napi::Value();
  int32_t heapMb = 0;
  if (!argOptInt(args, 3, &heapMb, "heapMb")) return Napi::Value();
  if (heapMb < 0) return rangeError(env, "heapMb must be >= 0"), Napi::Value();
  auto script = std::make_shared<Script>();
  script->heapLimit = (size_t)heapMb << 20;
  script->source = args[0].As<Napi::String>().Utf8Value();
  script->filename = args[1].As<Napi::String>().Utf8Value();
  script->constants = args[2].As<Napi::String>().Utf8Value();
  std::lock_guard<std::mutex> g(g_mu);
  g_script = std::move(script);
  return env.Undefined();
}

Napi::Value ThreadStart(const Args& args) {
  Napi::Env env = args.Env();
  int32_t id;
  if (!argInt(args, 0, &id, "id")) return Napi::Value();
  Local<Value> slot = toV8(args[1]);
  if (!slot->IsSharedArrayBuffer()) return typeError(env, "slot must be a SharedArrayBuffer"), Napi::Value();
  if (!args[2].IsString()) return typeError(env, "data must be a string"), Napi::Value();
  std::shared_ptr<Script> script;
  {
    std::lock_guard<std::mutex> g(g_mu);
    if (!g_onExit || !g_script) return rangeError(env, "isolateThreadsInit() and isolateScript() first"), Napi::Value();
    script = g_script;
  }
  auto* job = new Job{id, std::move(script), slot.As<v8::SharedArrayBuffer>()->GetBackingStore(),
                      args[2].As<Napi::String>().Utf8Value()};
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_attr_setstacksize(&attr, 4 << 20);  // V8 keeps to ~1 MB of it (--stack-size)
  // Signals stay with the main thread (its accept() is what Ctrl-C interrupts): the new thread
  // starts with them blocked.
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  pthread_t t;
  {
    std::lock_guard<std::mutex> g(g_mu);
    g_threads++;
  }
  int r = pthread_create(&t, &attr, serveThread, job);
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  pthread_attr_destroy(&attr);
  if (r != 0) {
    delete job;
    std::lock_guard<std::mutex> g(g_mu);
    g_threads--;
    return num(env, -r);
  }
  if (g_live++ == 0) g_onExit.Ref(env);
  return num(env, 0);
}

Napi::Value ThreadTerminate(const Args& args) {
  int32_t id;
  if (!argInt(args, 0, &id, "id")) return Napi::Value();
  std::lock_guard<std::mutex> g(g_mu);
  auto it = g_running.find(id);
  if (it == g_running.end()) return num(args.Env(), 0);
  it->second->TerminateExecution();  // thread-safe; takes effect when the script is back in JS
  return num(args.Env(), 1);
}

// At process exit (process.on('exit'), isolate-threads.ts): Node then tears down its platform and
// V8 and calls exit() without waiting for threads it does not know of, and one still running its
// isolate crashes the process (SIGSEGV). Node stops and joins its Workers there; this is the
// same for these threads: terminate every script (a thread not yet running one terminates as it
// starts) and wait until every thread is gone, at most waitMs (a thread blocked in a syscall
// returns when that does). Returns how many threads are left.
Napi::Value ThreadsStop(const Args& args) {
  int32_t waitMs;
  if (!argInt(args, 0, &waitMs, "waitMs")) return Napi::Value();
  std::unique_lock<std::mutex> g(g_mu);
  g_exiting = true;
  for (auto& [id, iso] : g_running) iso->TerminateExecution();
  g_gone.wait_for(g, std::chrono::milliseconds(waitMs < 0 ? 0 : waitMs), [] { return g_threads == 0; });
  return num(args.Env(), g_threads);
}

Napi::Value CodeCacheSize(Napi::Env env) {
  std::shared_ptr<Script> script;
  {
    std::lock_guard<std::mutex> g(g_mu);
    script = g_script;
  }
  if (!script) return num(env, 0);
  std::lock_guard<std::mutex> g(script->cacheMutex);
  return num(env, (long)script->cache.size());
}

}  // namespace

void registerIsolate(Napi::Object exports, Napi::Object) {
  exportFn<ThreadsInit>(exports, "isolateThreadsInit");
  exportFn<SetScript>(exports, "isolateScript");
  exportFn<ThreadStart>(exports, "isolateThreadStart");
  exportFn<ThreadTerminate>(exports, "isolateThreadTerminate");
  exportFn<CodeCacheSize>(exports, "isolateCodeCacheSize");
  exportFn<ThreadsStop>(exports, "isolateThreadsStop");
}

}  // namespace zh
