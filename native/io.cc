// Files and descriptors: read write close fcntl sendfile open openat2 fstat.
#include "common.h"
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <string.h>
#include <unistd.h>

namespace zh {

static napi_value Read(napi_env env, napi_callback_info info) {
  Args a(env, info);
  int32_t fd;
  uint8_t* p;
  size_t len;
  if (!argInt(env, a, 0, &fd, "fd") || !argWindow(env, a, 1, &p, &len)) return nullptr;
  long r = ZH_CALL(read, read(fd, p, len));
  ZH_TRACE(read, r, "read(%d, %zu bytes)", fd, len);
  return num(env, r);
}

static napi_value Write(napi_env env, napi_callback_info info) {
  Args a(env, info);
  int32_t fd;
  uint8_t* p;
  size_t len;
  if (!argInt(env, a, 0, &fd, "fd") || !argWindow(env, a, 1, &p, &len)) return nullptr;
  long r = ZH_CALL(write, write(fd, p, len));
  ZH_TRACE(write, r, "write(%d, %zu bytes)", fd, len);
  return num(env, r);
}

// Never retried: after EINTR the fd is already gone on Linux, and a retry could close
// a descriptor another thread just got.
static napi_value Close(napi_env env, napi_callback_info info) {
  Args a(env, info);
  int32_t fd;
  if (!argInt(env, a, 0, &fd, "fd")) return nullptr;
  long r = ZH_CALL_ONCE(close, close(fd));
  ZH_TRACE(close, r, "close(%d)", fd);
  return num(env, r);
}

// fcntl(fd, cmd[, intArg]) for the integer commands (F_GETFL/F_SETFL/F_GETFD/F_SETFD...).
static napi_value Fcntl(napi_env env, napi_callback_info info) {
  Args a(env, info);
  int32_t fd, cmd, arg = 0;
  if (!argInt(env, a, 0, &fd, "fd") || !argInt(env, a, 1, &cmd, "cmd")) return nullptr;
  if (!argOptInt(env, a, 2, &arg, "arg")) return nullptr;
  if (cmd == F_GETLK || cmd == F_SETLK || cmd == F_SETLKW || cmd == F_OFD_GETLK ||
      cmd == F_OFD_SETLK || cmd == F_OFD_SETLKW)
    return rangeError(env, "use fcntlLock() for record locks"), nullptr;
  long r = ZH_CALL(fcntl, fcntl(fd, cmd, arg));
  ZH_TRACE(fcntl, r, "fcntl(%d, %d, %#x)", fd, cmd, arg);
  return num(env, r);
}

// fcntlLock(fd, cmd, type): a whole-file record lock (F_SETLKW/F_SETLK + F_WRLCK/F_UNLCK).
static napi_value FcntlLock(napi_env env, napi_callback_info info) {
  Args a(env, info);
  int32_t fd, cmd, type;
  if (!argInt(env, a, 0, &fd, "fd") || !argInt(env, a, 1, &cmd, "cmd") ||
      !argInt(env, a, 2, &type, "type"))
    return nullptr;
  if (cmd != F_SETLK && cmd != F_SETLKW && cmd != F_OFD_SETLK && cmd != F_OFD_SETLKW)
    return rangeError(env, "cmd must be F_SETLK, F_SETLKW, F_OFD_SETLK or F_OFD_SETLKW"), nullptr;
  struct flock fl;
  memset(&fl, 0, sizeof fl);
  fl.l_type = (short)type;
  fl.l_whence = SEEK_SET;
  long r = ZH_CALL(fcntl, fcntl(fd, cmd, &fl));
  ZH_TRACE(fcntl, r, "fcntl(%d, %d, {l_type=%d})", fd, cmd, type);
  return num(env, r);
}

// sendfile(outFd, inFd, offset|null, count): with an offset the file position is untouched
// and the caller advances its own offset by the result.
static napi_value Sendfile(napi_env env, napi_callback_info info) {
  Args a(env, info);
  int32_t out, in;
  int64_t count, off = 0;
  bool useOff = !isNullish(env, a, 2);
  if (!argInt(env, a, 0, &out, "outFd") || !argInt(env, a, 1, &in, "inFd")) return nullptr;
  if (useOff && !argInt64(env, a, 2, &off, "offset")) return nullptr;
  if (!argInt64(env, a, 3, &count, "count")) return nullptr;
  if (off < 0 || count < 0) return rangeError(env, "offset and count must be >= 0"), nullptr;
  off_t o = (off_t)off;
  long r = ZH_CALL(sendfile, sendfile(out, in, useOff ? &o : nullptr, (size_t)count));
  ZH_TRACE(sendfile, r, "sendfile(%d, %d, %ld, %ld)", out, in, (long)off, (long)count);
  return num(env, r);
}

static bool argPath(napi_env env, const Args& a, size_t i, char* buf, size_t size) {
  size_t l;
  if (i >= a.argc || napi_get_value_string_utf8(env, a.argv[i], buf, size, &l) != napi_ok)
    return typeError(env, "path must be a string");
  if (l >= size - 1) return rangeError(env, "path too long");
  if (strlen(buf) != l) return typeError(env, "path must not contain NUL bytes");
  return true;
}

// open(path, flags[, mode]) -> fd; O_CLOEXEC is the caller's choice (sys.ts adds it).
static napi_value Open(napi_env env, napi_callback_info info) {
  Args a(env, info);
  char path[4096];
  int32_t flags, mode = 0;
  if (!argPath(env, a, 0, path, sizeof path) || !argInt(env, a, 1, &flags, "flags")) return nullptr;
  if (!argOptInt(env, a, 2, &mode, "mode")) return nullptr;
  long r = ZH_CALL(openat, open(path, flags, mode));
  ZH_TRACE(openat, r, "openat(AT_FDCWD, \"%s\", %#x)", path, flags);
  return num(env, r);
}

// openat2(dirFd, path, flags, resolve): RESOLVE_BENEATH refuses, before opening anything,
// any path (.., absolute, symlink) that would leave dirFd's tree.
static napi_value Openat2(napi_env env, napi_callback_info info) {
  Args a(env, info);
  char path[4096];
  int32_t dirfd, flags, resolve;
  if (!argInt(env, a, 0, &dirfd, "dirFd") || !argPath(env, a, 1, path, sizeof path) ||
      !argInt(env, a, 2, &flags, "flags") || !argInt(env, a, 3, &resolve, "resolve"))
    return nullptr;
  struct open_how how;
  memset(&how, 0, sizeof how);
  how.flags = (uint64_t)(uint32_t)flags;
  how.resolve = (uint64_t)(uint32_t)resolve;
  long r = ZH_CALL(openat2, syscall(SYS_openat2, dirfd, path, &how, sizeof how));
  ZH_TRACE(openat2, r, "openat2(%d, \"%s\", {flags=%#x, resolve=%#x})", dirfd, path, flags, resolve);
  return num(env, r);
}

// fstat(fd, out: Float64Array(3)) -> 0 | -errno; out = [st_mode, st_size, st_mtime in ms]
static napi_value Fstat(napi_env env, napi_callback_info info) {
  Args a(env, info);
  int32_t fd;
  uint8_t* p;
  size_t len;
  if (!argInt(env, a, 0, &fd, "fd") || !argBytes(env, a, 1, &p, &len, "out")) return nullptr;
  if (len < 3 * sizeof(double) || ((uintptr_t)p % sizeof(double)))
    return rangeError(env, "out must be a Float64Array of length >= 3"), nullptr;
  struct stat st;
  long r = ZH_CALL(fstat, fstat(fd, &st));
  ZH_TRACE(fstat, r, "fstat(%d)", fd);
  if (r == 0) {
    double* o = (double*)p;
    o[0] = st.st_mode;
    o[1] = (double)st.st_size;
    o[2] = st.st_mtim.tv_sec * 1e3 + st.st_mtim.tv_nsec / 1e6;
  }
  return num(env, r);
}

void registerIo(napi_env env, napi_value exports, napi_value c) {
  exportFn(env, exports, "read", Read);
  exportFn(env, exports, "write", Write);
  exportFn(env, exports, "close", Close);
  exportFn(env, exports, "fcntl", Fcntl);
  exportFn(env, exports, "fcntlLock", FcntlLock);
  exportFn(env, exports, "sendfile", Sendfile);
  exportFn(env, exports, "open", Open);
  exportFn(env, exports, "openat2", Openat2);
  exportFn(env, exports, "fstat", Fstat);
#define C(n) exportConst(env, c, #n, n)
  C(F_GETFL); C(F_SETFL); C(F_GETFD); C(F_SETFD); C(FD_CLOEXEC); C(F_SETLK); C(F_SETLKW);
  C(F_OFD_SETLK); C(F_OFD_SETLKW); C(F_RDLCK); C(F_WRLCK); C(F_UNLCK);
  C(O_RDONLY); C(O_WRONLY); C(O_RDWR); C(O_CREAT); C(O_TRUNC); C(O_EXCL); C(O_NONBLOCK);
  C(O_CLOEXEC); C(O_NOCTTY); C(O_DIRECTORY); C(O_NOFOLLOW); C(O_PATH); C(AT_FDCWD);
  C(RESOLVE_BENEATH); C(RESOLVE_NO_SYMLINKS); C(RESOLVE_NO_MAGICLINKS); C(RESOLVE_NO_XDEV);
  C(RESOLVE_IN_ROOT);
  C(S_IFMT); C(S_IFREG); C(S_IFDIR); C(S_IFLNK); C(S_IFSOCK);
#undef C
}

}  // namespace zh
