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

static Napi::Value Read(const Args& args) {
  int32_t fd;
  uint8_t* p;
  size_t len;
  if (!argInt(args, 0, &fd, "fd") || !argWindow(args, 1, &p, &len)) return Napi::Value();
  long r = ZH_CALL(read, sysRead(fd, p, len));
  ZH_TRACE(read, r, "read(%d, %zu bytes)", fd, len);
  return num(args.Env(), r);
}

static Napi::Value Write(const Args& args) {
  int32_t fd;
  uint8_t* p;
  size_t len;
  if (!argInt(args, 0, &fd, "fd") || !argWindow(args, 1, &p, &len)) return Napi::Value();
  long r = ZH_CALL(write, sysWrite(fd, p, len));
  ZH_TRACE(write, r, "write(%d, %zu bytes)", fd, len);
  return num(args.Env(), r);
}

// Never retried: after EINTR the fd is already gone on Linux, and a retry could close
// a descriptor another thread just got.
static Napi::Value Close(const Args& args) {
  int32_t fd;
  if (!argInt(args, 0, &fd, "fd")) return Napi::Value();
  long r = ZH_CALL_ONCE(close, sysClose(fd));
  ZH_TRACE(close, r, "close(%d)", fd);
  return num(args.Env(), r);
}

bool isLockCmd(int cmd) {
  return cmd == F_GETLK || cmd == F_SETLK || cmd == F_SETLKW || cmd == F_OFD_GETLK || cmd == F_OFD_SETLK ||
         cmd == F_OFD_SETLKW;
}

// fcntl(fd, cmd[, intArg]) for the integer commands (F_GETFL/F_SETFL/F_GETFD/F_SETFD...).
static Napi::Value Fcntl(const Args& args) {
  int32_t fd, cmd, arg = 0;
  if (!argInt(args, 0, &fd, "fd") || !argInt(args, 1, &cmd, "cmd")) return Napi::Value();
  if (!argOptInt(args, 2, &arg, "arg")) return Napi::Value();
  if (isLockCmd(cmd)) return rangeError(args.Env(), "use fcntlLock() for record locks"), Napi::Value();
  long r = ZH_CALL(fcntl, fcntl(fd, cmd, arg));
  ZH_TRACE(fcntl, r, "fcntl(%d, %d, %#x)", fd, cmd, arg);
  return num(args.Env(), r);
}

// fcntlLock(fd, cmd, type): a whole-file record lock (F_SETLKW/F_SETLK + F_WRLCK/F_UNLCK).
static Napi::Value FcntlLock(const Args& args) {
  int32_t fd, cmd, type;
  if (!argInt(args, 0, &fd, "fd") || !argInt(args, 1, &cmd, "cmd") || !argInt(args, 2, &type, "type"))
    return Napi::Value();
  if (cmd != F_SETLK && cmd != F_SETLKW && cmd != F_OFD_SETLK && cmd != F_OFD_SETLKW)
    return rangeError(args.Env(), "cmd must be F_SETLK, F_SETLKW, F_OFD_SETLK or F_OFD_SETLKW"), Napi::Value();
  struct flock fl;
  memset(&fl, 0, sizeof fl);
  fl.l_type = (short)type;
  fl.l_whence = SEEK_SET;
  long r = ZH_CALL(fcntl, fcntl(fd, cmd, &fl));
  ZH_TRACE(fcntl, r, "fcntl(%d, %d, {l_type=%d})", fd, cmd, type);
  return num(args.Env(), r);
}

// sendfile(outFd, inFd, offset|null, count): with an offset the file position is untouched
// and the caller advances its own offset by the result.
static Napi::Value Sendfile(const Args& args) {
  int32_t out, in;
  int64_t count, off = 0;
  bool useOff = !isNullish(args, 2);
  if (!argInt(args, 0, &out, "outFd") || !argInt(args, 1, &in, "inFd")) return Napi::Value();
  if (useOff && !argInt64(args, 2, &off, "offset")) return Napi::Value();
  if (!argInt64(args, 3, &count, "count")) return Napi::Value();
  if (off < 0 || count < 0) return rangeError(args.Env(), "offset and count must be >= 0"), Napi::Value();
  off_t o = (off_t)off;
  long r = ZH_CALL(sendfile, sendfile(out, in, useOff ? &o : nullptr, (size_t)count));
  ZH_TRACE(sendfile, r, "sendfile(%d, %d, %ld, %ld)", out, in, (long)off, (long)count);
  return num(args.Env(), r);
}

// open(path, flags[, mode]) -> fd; O_CLOEXEC is the caller's choice (sys.ts adds it).
static Napi::Value Open(const Args& args) {
  char path[4096];
  int32_t flags, mode = 0;
  if (!argPath(args, 0, path, sizeof path, "path") || !argInt(args, 1, &flags, "flags")) return Napi::Value();
  if (!argOptInt(args, 2, &mode, "mode")) return Napi::Value();
  long r = ZH_CALL(openat, open(path, flags, mode));
  ZH_TRACE(openat, r, "openat(AT_FDCWD, \"%s\", %#x)", path, flags);
  return num(args.Env(), r);
}

// openat2(dirFd, path, flags, resolve): RESOLVE_BENEATH refuses, before opening anything,
// any path (.., absolute, symlink) that would leave dirFd's tree.
static Napi::Value Openat2(const Args& args) {
  char path[4096];
  int32_t dirfd, flags, resolve;
  if (!argInt(args, 0, &dirfd, "dirFd") || !argPath(args, 1, path, sizeof path, "path") ||
      !argInt(args, 2, &flags, "flags") || !argInt(args, 3, &resolve, "resolve"))
    return Napi::Value();
  struct open_how how;
  memset(&how, 0, sizeof how);
  how.flags = (uint64_t)(uint32_t)flags;
  how.resolve = (uint64_t)(uint32_t)resolve;
  long r = ZH_CALL(openat2, syscall(SYS_openat2, dirfd, path, &how, sizeof how));
  ZH_TRACE(openat2, r, "openat2(%d, \"%s\", {flags=%#x, resolve=%#x})", dirfd, path, flags, resolve);
  return num(args.Env(), r);
}

long fstatInto(int fd, double out[3]) {
  struct stat st;
  long r = ZH_CALL(fstat, fstat(fd, &st));
  if (r == 0) {
    out[0] = st.st_mode;
    out[1] = (double)st.st_size;
    out[2] = st.st_mtim.tv_sec * 1e3 + st.st_mtim.tv_nsec / 1e6;
  }
  return r;
}

// fstat(fd, out: Float64Array(3)) -> 0 | -errno; out = [st_mode, st_size, st_mtime in ms]
static Napi::Value Fstat(const Args& args) {
  int32_t fd;
  uint8_t* p;
  size_t len;
  if (!argInt(args, 0, &fd, "fd") || !argBytes(args, 1, &p, &len, "out")) return Napi::Value();
  if (len < 3 * sizeof(double) || ((uintptr_t)p % sizeof(double)))
    return rangeError(args.Env(), "out must be a Float64Array of length >= 3"), Napi::Value();
  long r = fstatInto(fd, (double*)p);
  ZH_TRACE(fstat, r, "fstat(%d)", fd);
  return num(args.Env(), r);
}

void registerIo(Napi::Object exports, Napi::Object c) {
  exportFn<Read>(exports, "read");
  exportFn<Write>(exports, "write");
  exportFn<Close>(exports, "close");
  exportFn<Fcntl>(exports, "fcntl");
  exportFn<FcntlLock>(exports, "fcntlLock");
  exportFn<Sendfile>(exports, "sendfile");
  exportFn<Open>(exports, "open");
  exportFn<Openat2>(exports, "openat2");
  exportFn<Fstat>(exports, "fstat");
  // One table of constants, several to a line:
  // clang-format off
#define C(n) exportConst(c, #n, n)
  C(F_DUPFD); C(F_DUPFD_CLOEXEC); C(F_GETFL); C(F_SETFL); C(F_GETFD); C(F_SETFD); C(FD_CLOEXEC); C(F_SETLK); C(F_SETLKW);
  C(F_OFD_SETLK); C(F_OFD_SETLKW); C(F_RDLCK); C(F_WRLCK); C(F_UNLCK);
  C(O_RDONLY); C(O_WRONLY); C(O_RDWR); C(O_CREAT); C(O_TRUNC); C(O_EXCL); C(O_NONBLOCK);
  C(O_CLOEXEC); C(O_NOCTTY); C(O_DIRECTORY); C(O_NOFOLLOW); C(O_PATH); C(AT_FDCWD);
  C(RESOLVE_BENEATH); C(RESOLVE_NO_SYMLINKS); C(RESOLVE_NO_MAGICLINKS); C(RESOLVE_NO_XDEV);
  C(RESOLVE_IN_ROOT);
  C(S_IFMT); C(S_IFREG); C(S_IFDIR); C(S_IFLNK); C(S_IFSOCK);
  C(AT_EMPTY_PATH);
#undef C
  exportConst(c, "OPEN_HOW_SIZE", sizeof(struct open_how));
  // clang-format on
}

}  // namespace zh
