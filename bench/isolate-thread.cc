// Bench-only prototype (issue 17, docs/threads.md): a native thread per connection running a bare
// V8 isolate, made through the embedder API (v8.h, node.h for Node's platform), instead of a
// Worker. The isolate gets a handful of syscalls as global functions and runs a small request
// handler given as source by JavaScript (bench/isolate-server.ts); no Node bootstrap, no modules.
// Not part of the server: it is built as its own addon (build/Release/isolate_thread.node).
#include <errno.h>
#include <fcntl.h>
#include <node.h>
#include <pthread.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>
#include <v8.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <string>

using v8::Context;
using v8::FunctionCallbackInfo;
using v8::FunctionTemplate;
using v8::HandleScope;
using v8::Integer;
using v8::Isolate;
using v8::Local;
using v8::ObjectTemplate;
using v8::ScriptCompiler;
using v8::String;
using v8::Value;

namespace {

node::MultiIsolatePlatform* platform = nullptr;
v8::ArrayBuffer::Allocator* allocator = nullptr;
std::atomic<int> live{0};
std::atomic<int> failures{0};
std::mutex handlerMutex;  // guards the two below
std::string handlerSource;
std::string codeCache;  // taken from the first isolate that ran the handler

double nowMs() {
  timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

int32_t intArg(const FunctionCallbackInfo<Value>& a, int i) {
  return a[i]->Int32Value(a.GetIsolate()->GetCurrentContext()).FromMaybe(-1);
}
void ret(const FunctionCallbackInfo<Value>& a, double v) { a.GetReturnValue().Set(v); }

// The syscalls the handler sees: each returns -errno on failure, like the project's addon.
void Recv(const FunctionCallbackInfo<Value>& a) {
  char buf[4096];
  ssize_t n;
  do n = recv(intArg(a, 0), buf, sizeof buf, 0);
  while (n < 0 && errno == EINTR);
  if (n < 0) return ret(a, -errno);
  a.GetReturnValue().Set(
      String::NewFromOneByte(a.GetIsolate(), reinterpret_cast<uint8_t*>(buf), v8::NewStringType::kNormal, n)
          .ToLocalChecked());
}
void Send(const FunctionCallbackInfo<Value>& a) {
  String::Utf8Value s(a.GetIsolate(), a[1]);
  ssize_t n;
  do n = send(intArg(a, 0), *s, s.length(), MSG_NOSIGNAL);
  while (n < 0 && errno == EINTR);
  ret(a, n < 0 ? -errno : n);
}
void Openat(const FunctionCallbackInfo<Value>& a) {
  String::Utf8Value p(a.GetIsolate(), a[1]);
  int fd = openat(intArg(a, 0), *p, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOFOLLOW);
  ret(a, fd < 0 ? -errno : fd);
}
void FstatSize(const FunctionCallbackInfo<Value>& a) {
  struct stat st;
  if (fstat(intArg(a, 0), &st) < 0) return ret(a, -errno);
  ret(a, S_ISREG(st.st_mode) ? static_cast<double>(st.st_size) : -EISDIR);
}
void Sendfile(const FunctionCallbackInfo<Value>& a) {
  ssize_t n;
  do n = sendfile(intArg(a, 0), intArg(a, 1), nullptr, intArg(a, 2));
  while (n < 0 && errno == EINTR);
  ret(a, n < 0 ? -errno : n);
}
void Close(const FunctionCallbackInfo<Value>& a) { ret(a, close(intArg(a, 0)) < 0 ? -errno : 0); }

// A new isolate registered with Node's platform (its GC tasks run on Node's worker threads),
// on a private libuv loop that only carries the platform's wake-ups.
struct OwnIsolate {
  uv_loop_t loop;
  Isolate* isolate = nullptr;
  OwnIsolate() {
    uv_loop_init(&loop);
    isolate = Isolate::Allocate();
    platform->RegisterIsolate(isolate, &loop);
    Isolate::CreateParams params;
    params.array_buffer_allocator = allocator;
    Isolate::Initialize(isolate, params);
  }
  ~OwnIsolate() {
    bool finished = false;
    platform->AddIsolateFinishedCallback(
        isolate, [](void* f) { *static_cast<bool*>(f) = true; }, &finished);
    platform->UnregisterIsolate(isolate);
    isolate->Dispose();
    while (!finished) uv_run(&loop, UV_RUN_ONCE);
    uv_loop_close(&loop);
  }
};

Local<Context> newContext(Isolate* isolate) {
  Local<ObjectTemplate> g = ObjectTemplate::New(isolate);
  auto bind = [&](const char* name, v8::FunctionCallback f) {
    g->Set(isolate, name, FunctionTemplate::New(isolate, f));
  };
  bind("recv", Recv);
  bind("send", Send);
  bind("openat", Openat);
  bind("fstatSize", FstatSize);
  bind("sendfile", Sendfile);
  bind("close", Close);
  return Context::New(isolate, nullptr, g);
}

/** Compile the handler (from the shared code cache once there is one), call it with (fd, rootFd). */
bool runHandler(Isolate* isolate, Local<Context> ctx, int fd, int rootFd) {
  std::string src, cache;
  {
    std::lock_guard<std::mutex> g(handlerMutex);
    src = handlerSource;
    cache = codeCache;
  }
  v8::TryCatch tc(isolate);
  Local<String> source =
      String::NewFromUtf8(isolate, src.data(), v8::NewStringType::kNormal, src.size()).ToLocalChecked();
  auto* cached = cache.empty()
                     ? nullptr
                     : new ScriptCompiler::CachedData(reinterpret_cast<const uint8_t*>(cache.data()), cache.size());
  ScriptCompiler::Source s(source, cached);  // owns `cached`
  Local<v8::Script> script;
  if (!ScriptCompiler::Compile(ctx, &s, cached ? ScriptCompiler::kConsumeCodeCache : ScriptCompiler::kNoCompileOptions)
           .ToLocal(&script))
    return false;
  Local<Value> fn;
  if (!script->Run(ctx).ToLocal(&fn) || !fn->IsFunction()) return false;
  Local<Value> args[] = {Integer::New(isolate, fd), Integer::New(isolate, rootFd)};
  if (fn.As<v8::Function>()->Call(ctx, ctx->Global(), 2, args).IsEmpty()) return false;
  if (cache.empty()) {  // the first run: keep a cache that includes what the handler compiled
    std::unique_ptr<ScriptCompiler::CachedData> made(ScriptCompiler::CreateCodeCache(script->GetUnboundScript()));
    std::lock_guard<std::mutex> g(handlerMutex);
    if (codeCache.empty() && made) codeCache.assign(reinterpret_cast<const char*>(made->data), made->length);
  }
  return true;
}

struct Job {
  int fd, rootFd;
};

void* serveThread(void* p) {
  std::unique_ptr<Job> job(static_cast<Job*>(p));
  {
    OwnIsolate own;
    v8::Locker locker(own.isolate);
    Isolate::Scope is(own.isolate);
    HandleScope hs(own.isolate);
    Local<Context> ctx = newContext(own.isolate);
    Context::Scope cs(ctx);
    if (!runHandler(own.isolate, ctx, job->fd, job->rootFd)) failures++;
  }
  close(job->fd);  // the connection is closed here on every path
  live--;
  return nullptr;
}

// serve(fd, rootFd): a new detached thread serves fd in a new isolate and closes it. 0 or -errno.
void Serve(const FunctionCallbackInfo<Value>& a) {
  auto* job = new Job{intArg(a, 0), intArg(a, 1)};
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_t t;
  live++;
  int r = pthread_create(&t, &attr, serveThread, job);
  pthread_attr_destroy(&attr);
  if (r != 0) {
    live--;
    delete job;
    return ret(a, -r);
  }
  ret(a, 0);
}

void SetHandler(const FunctionCallbackInfo<Value>& a) {
  String::Utf8Value s(a.GetIsolate(), a[0]);
  std::lock_guard<std::mutex> g(handlerMutex);
  handlerSource.assign(*s, s.length());
  codeCache.clear();
}
void Live(const FunctionCallbackInfo<Value>& a) { ret(a, live.load()); }
void Failures(const FunctionCallbackInfo<Value>& a) { ret(a, failures.load()); }

// isolateCost(): ms for a new thread that makes an isolate and a context with the bindings, disposes
// them and ends (joined): the fixed part of serve().
void* costThread(void*) {
  OwnIsolate own;
  v8::Locker locker(own.isolate);
  Isolate::Scope is(own.isolate);
  HandleScope hs(own.isolate);
  newContext(own.isolate);
  return nullptr;
}
void IsolateCost(const FunctionCallbackInfo<Value>& a) {
  double t0 = nowMs();
  pthread_t t;
  if (pthread_create(&t, nullptr, costThread, nullptr) != 0) return ret(a, -1);
  pthread_join(t, nullptr);
  ret(a, nowMs() - t0);
}

}  // namespace

NODE_MODULE_INIT(/* exports, module, context */) {
  Isolate* isolate = context->GetIsolate();
  if (!platform) {
    platform = node::GetMultiIsolatePlatform(node::GetCurrentEnvironment(context));
    allocator = v8::ArrayBuffer::Allocator::NewDefaultAllocator();
  }
  auto set = [&](const char* name, v8::FunctionCallback f) {
    exports
        ->Set(context, String::NewFromUtf8(isolate, name).ToLocalChecked(),
              FunctionTemplate::New(isolate, f)->GetFunction(context).ToLocalChecked())
        .Check();
  };
  set("serve", Serve);
  set("setHandler", SetHandler);
  set("live", Live);
  set("failures", Failures);
  set("isolateCost", IsolateCost);
}
