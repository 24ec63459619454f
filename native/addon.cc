// Module init and the argument/return helpers every file uses.
#include "common.h"
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <netinet/in.h>
#include <string.h>
#include <errno.h>

namespace zh {

static bool throwWithCode(Napi::Error err, const char* code) {
  err.Set("code", code);
  err.ThrowAsJavaScriptException();
  return false;
}

bool typeError(Napi::Env env, const char* fmt, ...) {
  char msg[160];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  return throwWithCode(Napi::TypeError::New(env, msg), "ERR_INVALID_ARG_TYPE");
}
bool rangeError(Napi::Env env, const char* msg) {
  return throwWithCode(Napi::RangeError::New(env, msg), "ERR_OUT_OF_RANGE");
}

// The number in info[i], refused unless it is finite, integral and within [lo, hi].
// The range is checked on the double, before the cast (a cast out of range is undefined).
// napi_get_value_double directly: one N-API call, no type probe first (this is every fd).
template <typename T>
static bool argIntIn(const CallbackInfo& info, size_t i, double lo, double hi, T* out, const char* name) {
  double d;
  if (napi_get_value_double(info.Env(), info[i], &d) != napi_ok)
    return typeError(info.Env(), "argument '%s' must be an integer", name);
  if (!(d >= lo && d < hi) || (double)(T)d != d) {
    if (d != d || d - d != 0 || (d >= lo && d < hi))  // NaN, +-Infinity, or a fraction
      return typeError(info.Env(), "argument '%s' must be an integer", name);
    return typeError(info.Env(), "argument '%s' is out of range (%.17g)", name, d);
  }
  *out = (T)d;
  return true;
}

bool argInt(const CallbackInfo& info, size_t i, int32_t* out, const char* name) {
  return argIntIn<int32_t>(info, i, -0x1p31, 0x1p31, out, name);
}
bool argInt64(const CallbackInfo& info, size_t i, int64_t* out, const char* name) {
  return argIntIn<int64_t>(info, i, -0x1p63, 0x1p63, out, name);
}

bool argOptInt(const CallbackInfo& info, size_t i, int32_t* out, const char* name) {
  if (i >= info.Length() || isNullish(info, i)) return true;
  return argInt(info, i, out, name);
}

bool argBool(const CallbackInfo& info, size_t i, bool* out) {
  *out = false;
  if (isNullish(info, i)) return true;
  Napi::Value v = info[i];
  if (!v.IsBoolean()) return typeError(info.Env(), "expected a boolean");
  *out = v.As<Napi::Boolean>().Value();
  return true;
}

bool isNullish(const CallbackInfo& info, size_t i) {
  if (i >= info.Length()) return true;
  Napi::Value v = info[i];
  return v.IsUndefined() || v.IsNull();
}

static size_t elementSize(napi_typedarray_type t) {
  switch (t) {
    case napi_int8_array: case napi_uint8_array: case napi_uint8_clamped_array: return 1;
    case napi_int16_array: case napi_uint16_array: return 2;
    case napi_int32_array: case napi_uint32_array: case napi_float32_array: return 4;
    default: return 8;
  }
}

// One napi_get_typedarray_info for type, length and data: Napi::TypedArrayOf<T> makes two
// calls (its base class asks for type and length first) and wants one element type.
bool argBytes(const CallbackInfo& info, size_t i, uint8_t** data, size_t* len, const char* name) {
  napi_value v = info[i];
  napi_typedarray_type type;
  size_t length;
  void* p;
  if (napi_get_typedarray_info(info.Env(), v, &type, &length, &p, nullptr, nullptr) != napi_ok)
    return typeError(info.Env(), "argument '%s' must be a TypedArray or Buffer", name);
  *data = (uint8_t*)p;
  *len = length * elementSize(type);
  return true;
}

bool argWindow(const CallbackInfo& info, size_t i, uint8_t** p, size_t* len) {
  uint8_t* data;
  size_t size;
  int64_t off, n;
  if (!argBytes(info, i, &data, &size, "buffer")) return false;
  if (!argInt64(info, i + 1, &off, "offset") || !argInt64(info, i + 2, &n, "length")) return false;
  if (off < 0 || n < 0 || (uint64_t)off > size || (uint64_t)n > size - (uint64_t)off)
    return rangeError(info.Env(), "offset/length outside the buffer");
  *p = data + off;
  *len = (size_t)n;
  return true;
}

bool argAddr(const CallbackInfo& info, size_t i, struct sockaddr_storage* ss, socklen_t* sl) {
  char host[INET6_ADDRSTRLEN + 1];
  size_t hl = 0;
  int32_t port;
  if (napi_get_value_string_utf8(info.Env(), info[i], host, sizeof host, &hl) != napi_ok)
    return typeError(info.Env(), "address must be an IPv4 or IPv6 literal string");
  if (!argInt(info, i + 1, &port, "port")) return false;
  if (port < 0 || port > 65535) return rangeError(info.Env(), "port must be 0..65535");
  memset(ss, 0, sizeof *ss);
  auto* s4 = (struct sockaddr_in*)ss;
  auto* s6 = (struct sockaddr_in6*)ss;
  if (hl < sizeof host - 1 && strlen(host) == hl && inet_pton(AF_INET, host, &s4->sin_addr) == 1) {
    s4->sin_family = AF_INET;
    s4->sin_port = htons((uint16_t)port);
    *sl = sizeof *s4;
    return true;
  }
  if (hl < sizeof host - 1 && strlen(host) == hl && inet_pton(AF_INET6, host, &s6->sin6_addr) == 1) {
    s6->sin6_family = AF_INET6;
    s6->sin6_port = htons((uint16_t)port);
    *sl = sizeof *s6;
    return true;
  }
  return typeError(info.Env(), "address must be an IPv4 or IPv6 literal string");
}

bool argPath(const CallbackInfo& info, size_t i, char* buf, size_t size, const char* name) {
  size_t l;
  if (napi_get_value_string_utf8(info.Env(), info[i], buf, size, &l) != napi_ok)
    return typeError(info.Env(), "argument '%s' must be a string", name);
  if (l >= size - 1) return rangeError(info.Env(), "path too long");
  if (strlen(buf) != l) return typeError(info.Env(), "argument '%s' must not contain NUL bytes", name);
  return true;
}

Napi::Value num(Napi::Env env, long v) {
  napi_value r;
  if (v >= INT32_MIN && v <= INT32_MAX) napi_create_int32(env, (int32_t)v, &r);
  else napi_create_double(env, (double)v, &r);
  return Napi::Value(env, r);
}

// errname(errno) -> 'EAGAIN'; strerror(errno) -> 'resource temporarily unavailable'
static Napi::Value ErrName(const CallbackInfo& info) {
  int32_t e;
  if (!argInt(info, 0, &e, "errno")) return Napi::Value();
  if (e < 0) e = -e;
  const char* n = strerrorname_np(e);
  return Napi::String::New(info.Env(), n ? n : "UNKNOWN");
}
static Napi::Value StrError(const CallbackInfo& info) {
  int32_t e;
  if (!argInt(info, 0, &e, "errno")) return Napi::Value();
  if (e < 0) e = -e;
  const char* d = strerrordesc_np(e);
  char buf[128];
  snprintf(buf, sizeof buf, "%s", d ? d : "unknown error");
  if (buf[0] >= 'A' && buf[0] <= 'Z' && !(buf[1] >= 'A' && buf[1] <= 'Z')) buf[0] += 'a' - 'A';
  return Napi::String::New(info.Env(), buf);
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  Napi::Object consts = Napi::Object::New(env);
  // errno values, so TypeScript can compare without magic numbers
  for (int e = 1; e < kMaxErrno; e++) {
    const char* n = strerrorname_np(e);
    if (n) exportConst(consts, n, e);
  }
  registerStats(exports, consts);
  registerNet(exports, consts);
  registerIo(exports, consts);
  registerPoll(exports, consts);
  registerProcess(exports, consts);
  exportFn<ErrName>(exports, "errname");
  exportFn<StrError>(exports, "strerror");
  exports.Set("constants", consts);
  return exports;
}

}  // namespace zh

static Napi::Object InitModule(Napi::Env env, Napi::Object exports) { return zh::Init(env, exports); }
NODE_API_MODULE(zerohttpd, InitModule)
