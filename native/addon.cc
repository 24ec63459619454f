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

// d as a T, refused unless it is finite, integral and within [lo, hi). The range is checked
// on the double, before the cast (a cast out of range is undefined behaviour).
template <typename T>
static bool toInt(Napi::Env env, double d, double lo, double hi, T* out, const char* name) {
  if (!(d >= lo && d < hi) || (double)(T)d != d) {
    if (d != d || d - d != 0 || (d >= lo && d < hi))  // NaN, +-Infinity, or a fraction
      return typeError(env, "argument '%s' must be an integer", name);
    return typeError(env, "argument '%s' is out of range (%.17g)", name, d);
  }
  *out = (T)d;
  return true;
}

// napi_get_value_double directly rather than Napi::Number: one N-API call, no type probe
// first (IsNumber() is a second call), and our own TypeError. This runs for every fd.
template <typename T>
static bool argIntIn(const Args& args, size_t i, double lo, double hi, T* out, const char* name) {
  double d;
  if (napi_get_value_double(args.Env(), args[i], &d) != napi_ok)
    return typeError(args.Env(), "argument '%s' must be an integer", name);
  return toInt<T>(args.Env(), d, lo, hi, out, name);
}

bool argInt(const Args& args, size_t i, int32_t* out, const char* name) {
  return argIntIn<int32_t>(args, i, -0x1p31, 0x1p31, out, name);
}
bool argInt64(const Args& args, size_t i, int64_t* out, const char* name) {
  return argIntIn<int64_t>(args, i, -0x1p63, 0x1p63, out, name);
}

// A number is the common case (send/recv flags): tried first, the nullish check only after.
bool argOptInt(const Args& args, size_t i, int32_t* out, const char* name) {
  if (i >= args.Length()) return true;
  double d;
  if (napi_get_value_double(args.Env(), args[i], &d) == napi_ok)
    return toInt<int32_t>(args.Env(), d, -0x1p31, 0x1p31, out, name);
  if (isNullish(args, i)) return true;
  return typeError(args.Env(), "argument '%s' must be an integer", name);
}

bool argBool(const Args& args, size_t i, bool* out) {
  *out = false;
  if (isNullish(args, i)) return true;
  Napi::Value v = args[i];
  if (!v.IsBoolean()) return typeError(args.Env(), "expected a boolean");
  *out = v.As<Napi::Boolean>().Value();
  return true;
}

bool isNullish(const Args& args, size_t i) {
  if (i >= args.Length()) return true;
  napi_valuetype t = args[i].Type();
  return t == napi_undefined || t == napi_null;
}

static size_t elementSize(napi_typedarray_type t) {
  switch (t) {
    case napi_int8_array:
    case napi_uint8_array:
    case napi_uint8_clamped_array: return 1;
    case napi_int16_array:
    case napi_uint16_array: return 2;
    case napi_int32_array:
    case napi_uint32_array:
    case napi_float32_array: return 4;
    default: return 8;
  }
}

// One napi_get_typedarray_info for type, length and data: Napi::TypedArrayOf<T> makes two
// calls (its base class asks for type and length first) and wants one element type.
bool argBytes(const Args& args, size_t i, uint8_t** data, size_t* len, const char* name) {
  napi_value v = args[i];
  napi_typedarray_type type;
  size_t length;
  void* p;
  if (napi_get_typedarray_info(args.Env(), v, &type, &length, &p, nullptr, nullptr) != napi_ok)
    return typeError(args.Env(), "argument '%s' must be a TypedArray or Buffer", name);
  *data = (uint8_t*)p;
  *len = length * elementSize(type);
  return true;
}

bool argWindow(const Args& args, size_t i, uint8_t** p, size_t* len) {
  uint8_t* data;
  size_t size;
  int64_t off, n;
  if (!argBytes(args, i, &data, &size, "buffer")) return false;
  if (!argInt64(args, i + 1, &off, "offset") || !argInt64(args, i + 2, &n, "length")) return false;
  if (off < 0 || n < 0 || (uint64_t)off > size || (uint64_t)n > size - (uint64_t)off)
    return rangeError(args.Env(), "offset/length outside the buffer");
  *p = data + off;
  *len = (size_t)n;
  return true;
}

bool toSockaddr(const char* host, int port, struct sockaddr_storage* ss, socklen_t* sl) {
  memset(ss, 0, sizeof *ss);
  auto* s4 = (struct sockaddr_in*)ss;
  auto* s6 = (struct sockaddr_in6*)ss;
  if (inet_pton(AF_INET, host, &s4->sin_addr) == 1) {
    s4->sin_family = AF_INET;
    s4->sin_port = htons((uint16_t)port);
    *sl = sizeof *s4;
    return true;
  }
  if (inet_pton(AF_INET6, host, &s6->sin6_addr) == 1) {
    s6->sin6_family = AF_INET6;
    s6->sin6_port = htons((uint16_t)port);
    *sl = sizeof *s6;
    return true;
  }
  return false;
}

bool argAddr(const Args& args, size_t i, struct sockaddr_storage* ss, socklen_t* sl) {
  char host[INET6_ADDRSTRLEN + 1];
  size_t hl = 0;
  int32_t port;
  if (napi_get_value_string_utf8(args.Env(), args[i], host, sizeof host, &hl) != napi_ok)
    return typeError(args.Env(), "address must be an IPv4 or IPv6 literal string");
  if (!argInt(args, i + 1, &port, "port")) return false;
  if (port < 0 || port > 65535) return rangeError(args.Env(), "port must be 0..65535");
  if (hl < sizeof host - 1 && strlen(host) == hl && toSockaddr(host, port, ss, sl)) return true;
  return typeError(args.Env(), "address must be an IPv4 or IPv6 literal string");
}

bool argPath(const Args& args, size_t i, char* buf, size_t size, const char* name) {
  size_t l;
  if (napi_get_value_string_utf8(args.Env(), args[i], buf, size, &l) != napi_ok)
    return typeError(args.Env(), "argument '%s' must be a string", name);
  if (l >= size - 1) return rangeError(args.Env(), "path too long");
  if (strlen(buf) != l) return typeError(args.Env(), "argument '%s' must not contain NUL bytes", name);
  return true;
}

Napi::Value num(Napi::Env env, long v) {
  napi_value r;
  if (v >= INT32_MIN && v <= INT32_MAX) napi_create_int32(env, (int32_t)v, &r);
  else napi_create_double(env, (double)v, &r);
  return Napi::Value(env, r);
}

// errname(errno) -> 'EAGAIN'; strerror(errno) -> 'resource temporarily unavailable'
static Napi::Value ErrName(const Args& args) {
  int32_t e;
  if (!argInt(args, 0, &e, "errno")) return Napi::Value();
  if (e < 0) e = -e;
  const char* n = strerrorname_np(e);
  return Napi::String::New(args.Env(), n ? n : "UNKNOWN");
}
void errnoDescription(int e, char* buf, size_t size) {
  if (e < 0) e = -e;
  const char* d = strerrordesc_np(e);
  snprintf(buf, size, "%s", d ? d : "unknown error");
  if (buf[0] >= 'A' && buf[0] <= 'Z' && !(buf[1] >= 'A' && buf[1] <= 'Z')) buf[0] += 'a' - 'A';
}
static Napi::Value StrError(const Args& args) {
  int32_t e;
  if (!argInt(args, 0, &e, "errno")) return Napi::Value();
  char buf[128];
  errnoDescription(e, buf, sizeof buf);
  return Napi::String::New(args.Env(), buf);
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
  registerUring(exports, consts);
  registerIsolate(exports, consts);
  exportFn<ErrName>(exports, "errname");
  exportFn<StrError>(exports, "strerror");
  exports.Set("constants", consts);
  return exports;
}

}  // namespace zh

static Napi::Object InitModule(Napi::Env env, Napi::Object exports) { return zh::Init(env, exports); }
NODE_API_MODULE(zerohttpd, InitModule)
