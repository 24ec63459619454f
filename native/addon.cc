// Module init and the argument/return helpers every file uses.
#include "common.h"
#include <arpa/inet.h>
#include <stdio.h>
#include <netinet/in.h>
#include <string.h>
#include <errno.h>

namespace zh {

bool typeError(napi_env env, const char* msg) {
  napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", msg);
  return false;
}
bool rangeError(napi_env env, const char* msg) {
  napi_throw_range_error(env, "ERR_OUT_OF_RANGE", msg);
  return false;
}

static bool isInteger(double d) { return d == (double)(int64_t)d; }

bool argInt64(napi_env env, const Args& a, size_t i, int64_t* out, const char* name) {
  double d;
  if (i >= a.argc || napi_get_value_double(env, a.argv[i], &d) != napi_ok || !isInteger(d)) {
    char msg[96];
    snprintf(msg, sizeof msg, "argument '%s' must be an integer", name);
    return typeError(env, msg);
  }
  *out = (int64_t)d;
  return true;
}

bool argInt(napi_env env, const Args& a, size_t i, int32_t* out, const char* name) {
  int64_t v;
  if (!argInt64(env, a, i, &v, name)) return false;
  if (v < INT32_MIN || v > INT32_MAX) {
    char msg[96];
    snprintf(msg, sizeof msg, "argument '%s' is out of range", name);
    return rangeError(env, msg);
  }
  *out = (int32_t)v;
  return true;
}

bool argOptInt(napi_env env, const Args& a, size_t i, int32_t* out, const char* name) {
  if (i >= a.argc) return true;
  double d;
  // Fast path: one N-API call when the argument is a number (the common case on hot paths).
  if (napi_get_value_double(env, a.argv[i], &d) == napi_ok) {
    if (!isInteger(d)) return argInt(env, a, i, out, name);
    if (d < INT32_MIN || d > INT32_MAX) return argInt(env, a, i, out, name);
    *out = (int32_t)d;
    return true;
  }
  return isNullish(env, a, i) ? true : argInt(env, a, i, out, name);
}

bool argBool(napi_env env, const Args& a, size_t i, bool* out) {
  *out = false;
  if (i >= a.argc) return true;
  napi_valuetype t;
  napi_typeof(env, a.argv[i], &t);
  if (t == napi_undefined || t == napi_null) return true;
  if (napi_get_value_bool(env, a.argv[i], out) != napi_ok) return typeError(env, "expected a boolean");
  return true;
}

bool isNullish(napi_env env, const Args& a, size_t i) {
  if (i >= a.argc) return true;
  napi_valuetype t;
  napi_typeof(env, a.argv[i], &t);
  return t == napi_undefined || t == napi_null;
}

static size_t elementSize(napi_typedarray_type t) {
  switch (t) {
    case napi_int8_array: case napi_uint8_array: case napi_uint8_clamped_array: return 1;
    case napi_int16_array: case napi_uint16_array: return 2;
    case napi_int32_array: case napi_uint32_array: case napi_float32_array: return 4;
    default: return 8;
  }
}

bool argBytes(napi_env env, const Args& a, size_t i, uint8_t** data, size_t* len, const char* name) {
  napi_typedarray_type type;
  size_t length;
  void* p;
  if (i >= a.argc ||
      napi_get_typedarray_info(env, a.argv[i], &type, &length, &p, nullptr, nullptr) != napi_ok) {
    char msg[96];
    snprintf(msg, sizeof msg, "argument '%s' must be a TypedArray or Buffer", name);
    return typeError(env, msg);
  }
  *data = (uint8_t*)p;
  *len = length * elementSize(type);
  return true;
}

bool argWindow(napi_env env, const Args& a, size_t i, uint8_t** p, size_t* len) {
  uint8_t* data;
  size_t size;
  int64_t off, n;
  if (!argBytes(env, a, i, &data, &size, "buffer")) return false;
  if (!argInt64(env, a, i + 1, &off, "offset") || !argInt64(env, a, i + 2, &n, "length")) return false;
  if (off < 0 || n < 0 || (uint64_t)off > size || (uint64_t)n > size - (uint64_t)off)
    return rangeError(env, "offset/length outside the buffer");
  *p = data + off;
  *len = (size_t)n;
  return true;
}

bool argAddr(napi_env env, const Args& a, size_t i, struct sockaddr_storage* ss, socklen_t* sl) {
  char host[INET6_ADDRSTRLEN + 1];
  size_t hl = 0;
  int32_t port;
  if (i >= a.argc ||
      napi_get_value_string_utf8(env, a.argv[i], host, sizeof host, &hl) != napi_ok)
    return typeError(env, "address must be an IPv4 or IPv6 literal string");
  if (!argInt(env, a, i + 1, &port, "port")) return false;
  if (port < 0 || port > 65535) return rangeError(env, "port must be 0..65535");
  memset(ss, 0, sizeof *ss);
  auto* s4 = (struct sockaddr_in*)ss;
  auto* s6 = (struct sockaddr_in6*)ss;
  if (hl < sizeof host - 1 && inet_pton(AF_INET, host, &s4->sin_addr) == 1) {
    s4->sin_family = AF_INET;
    s4->sin_port = htons((uint16_t)port);
    *sl = sizeof *s4;
    return true;
  }
  if (hl < sizeof host - 1 && inet_pton(AF_INET6, host, &s6->sin6_addr) == 1) {
    s6->sin6_family = AF_INET6;
    s6->sin6_port = htons((uint16_t)port);
    *sl = sizeof *s6;
    return true;
  }
  return typeError(env, "address must be an IPv4 or IPv6 literal string");
}

napi_value num(napi_env env, long v) {
  napi_value r;
  if (v >= INT32_MIN && v <= INT32_MAX) napi_create_int32(env, (int32_t)v, &r);
  else napi_create_double(env, (double)v, &r);
  return r;
}
napi_value numD(napi_env env, double v) {
  napi_value r;
  napi_create_double(env, v, &r);
  return r;
}
napi_value undef(napi_env env) {
  napi_value r;
  napi_get_undefined(env, &r);
  return r;
}
void setNum(napi_env env, napi_value obj, const char* key, double v) {
  napi_set_named_property(env, obj, key, numD(env, v));
}
void setStr(napi_env env, napi_value obj, const char* key, const char* v) {
  napi_value s;
  napi_create_string_utf8(env, v, NAPI_AUTO_LENGTH, &s);
  napi_set_named_property(env, obj, key, s);
}
void exportFn(napi_env env, napi_value exports, const char* name, napi_callback cb) {
  napi_value fn;
  napi_create_function(env, name, NAPI_AUTO_LENGTH, cb, nullptr, &fn);
  napi_set_named_property(env, exports, name, fn);
}
void exportConst(napi_env env, napi_value obj, const char* name, double v) { setNum(env, obj, name, v); }

// errname(errno) -> 'EAGAIN'; strerror(errno) -> 'resource temporarily unavailable'
static napi_value ErrName(napi_env env, napi_callback_info info) {
  Args a(env, info);
  int32_t e;
  if (!argInt(env, a, 0, &e, "errno")) return nullptr;
  if (e < 0) e = -e;
  const char* n = strerrorname_np(e);
  napi_value r;
  napi_create_string_utf8(env, n ? n : "UNKNOWN", NAPI_AUTO_LENGTH, &r);
  return r;
}
static napi_value StrError(napi_env env, napi_callback_info info) {
  Args a(env, info);
  int32_t e;
  if (!argInt(env, a, 0, &e, "errno")) return nullptr;
  if (e < 0) e = -e;
  const char* d = strerrordesc_np(e);
  char buf[128];
  snprintf(buf, sizeof buf, "%s", d ? d : "unknown error");
  if (buf[0] >= 'A' && buf[0] <= 'Z' && !(buf[1] >= 'A' && buf[1] <= 'Z')) buf[0] += 'a' - 'A';
  napi_value r;
  napi_create_string_utf8(env, buf, NAPI_AUTO_LENGTH, &r);
  return r;
}

static napi_value Init(napi_env env, napi_value exports) {
  napi_value consts;
  napi_create_object(env, &consts);
  // errno values, so TypeScript can compare without magic numbers
  for (int e = 1; e < kMaxErrno; e++) {
    const char* n = strerrorname_np(e);
    if (n) exportConst(env, consts, n, e);
  }
  registerStats(env, exports, consts);
  registerNet(env, exports, consts);
  registerIo(env, exports, consts);
  registerPoll(env, exports, consts);
  registerProcess(env, exports, consts);
  exportFn(env, exports, "errname", ErrName);
  exportFn(env, exports, "strerror", StrError);
  napi_set_named_property(env, exports, "constants", consts);
  return exports;
}

}  // namespace zh

NAPI_MODULE_INIT() { return zh::Init(env, exports); }
