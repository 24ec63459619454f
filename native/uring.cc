// io_uring, thin: io_uring_setup / io_uring_enter / io_uring_register, mmap of the rings as
// ArrayBuffers over the mapped memory (never copied; munmap() detaches them), the address of a
// buffer (an SQE carries pointers) and a sockaddr filled in place. Filling SQEs, moving head and
// tail and reaping CQEs is TypeScript (lib/uring/ring.ts); the layouts come from here as constants.
#include "common.h"
#include <linux/io_uring.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <map>

namespace zh {

// Live mappings by address, so that munmap() and the ArrayBuffer's finalizer agree on who unmaps.
static std::map<void*, size_t> g_maps;

static void finalizeMapping(napi_env, void* data, void*) {
  auto it = g_maps.find(data);
  if (it == g_maps.end()) return;  // munmap()ed already
  munmap(it->first, it->second);
  g_maps.erase(it);
}

// io_uring_setup(entries, params: bytes of a struct io_uring_params, filled in) -> fd | -errno
static Napi::Value IoUringSetup(const Args& args) {
  int32_t entries;
  uint8_t* p;
  size_t len;
  if (!argInt(args, 0, &entries, "entries") || !argBytes(args, 1, &p, &len, "params")) return Napi::Value();
  if (len < sizeof(struct io_uring_params))
    return rangeError(args.Env(), "params is smaller than struct io_uring_params"), Napi::Value();
  long r = ZH_CALL(io_uring_setup, syscall(SYS_io_uring_setup, (unsigned)entries, (struct io_uring_params*)p));
  ZH_TRACE(io_uring_setup, r, "io_uring_setup(%d, {flags=%#x})", entries, ((struct io_uring_params*)p)->flags);
  return num(args.Env(), r);
}

// mmap(length, fd, offset) -> ArrayBuffer | -errno: fd >= 0 maps a ring of that io_uring fd
// (MAP_SHARED | MAP_POPULATE at the IORING_OFF_* offset); fd < 0 maps zeroed anonymous memory
// (page-aligned, e.g. a provided-buffer ring).
static Napi::Value Mmap(const Args& args) {
  int64_t length, offset = 0;
  int32_t fd;
  if (!argInt64(args, 0, &length, "length") || !argInt(args, 1, &fd, "fd") || !argInt64(args, 2, &offset, "offset"))
    return Napi::Value();
  if (length <= 0 || offset < 0) return rangeError(args.Env(), "length must be > 0 and offset >= 0"), Napi::Value();
  int flags = fd >= 0 ? MAP_SHARED | MAP_POPULATE : MAP_PRIVATE | MAP_ANONYMOUS;
  void* m = mmap(nullptr, (size_t)length, PROT_READ | PROT_WRITE, flags, fd, (off_t)offset);
  long r = m == MAP_FAILED ? -errno : 0;
  if (g_stats->mode) countCall(Z_mmap, r, 0);
  ZH_TRACE(mmap, r, "mmap(NULL, %ld, PROT_READ|PROT_WRITE, %s, %d, %#lx)", (long)length,
           fd >= 0 ? "MAP_SHARED|MAP_POPULATE" : "MAP_PRIVATE|MAP_ANONYMOUS", fd, (long)offset);
  if (r < 0) return num(args.Env(), r);
  g_maps[m] = (size_t)length;
  napi_value ab;
  if (napi_create_external_arraybuffer(args.Env(), m, (size_t)length, finalizeMapping, nullptr, &ab) != napi_ok) {
    g_maps.erase(m);
    munmap(m, (size_t)length);
    return num(args.Env(), -ENOMEM);
  }
  return Napi::Value(args.Env(), ab);
}

// munmap(arrayBuffer) -> 0 | -errno: unmaps a buffer from mmap() and detaches it (its length
// becomes 0), so no view can reach the memory afterwards.
static Napi::Value Munmap(const Args& args) {
  napi_value ab = args[0];
  void* data;
  size_t len;
  if (napi_get_arraybuffer_info(args.Env(), ab, &data, &len) != napi_ok)
    return typeError(args.Env(), "argument 'buffer' must be an ArrayBuffer from mmap()"), Napi::Value();
  auto it = g_maps.find(data);
  if (it == g_maps.end() || it->second != len)
    return typeError(args.Env(), "argument 'buffer' is not a live mapping from mmap()"), Napi::Value();
  napi_detach_arraybuffer(args.Env(), ab);
  long r = ZH_CALL_ONCE(munmap, munmap(it->first, it->second));
  ZH_TRACE(munmap, r, "munmap(%p, %zu)", it->first, it->second);
  g_maps.erase(it);
  return num(args.Env(), r);
}

// io_uring_enter(fd, toSubmit, minComplete, flags[, timeoutMs]) -> submitted | -errno. A
// timeoutMs >= 0 bounds the wait (IORING_ENTER_EXT_ARG with a timespec: -ETIME when it passes).
// EINTR is retried with the time left unless a stop was requested.
static Napi::Value IoUringEnter(const Args& args) {
  int32_t fd, toSubmit, minComplete, flags, timeoutMs = -1;
  if (!argInt(args, 0, &fd, "fd") || !argInt(args, 1, &toSubmit, "toSubmit") ||
      !argInt(args, 2, &minComplete, "minComplete") || !argInt(args, 3, &flags, "flags") ||
      !argOptInt(args, 4, &timeoutMs, "timeoutMs"))
    return Napi::Value();
  bool waits = (flags & IORING_ENTER_GETEVENTS) && minComplete > 0;
  // A failed enter submits nothing: the caller keeps its SQEs queued.
  if (waits && timeoutMs < 0 && stopBeforeWait()) return num(args.Env(), -EINTR);
  uint64_t start = nowNs();
  struct __kernel_timespec ts;
  struct io_uring_getevents_arg ext;
  memset(&ext, 0, sizeof ext);
  ext.ts = (uint64_t)(uintptr_t)&ts;
  bool timed = timeoutMs >= 0 && (flags & IORING_ENTER_GETEVENTS);
  auto enter = [&]() -> long {
    if (!timed) return syscall(SYS_io_uring_enter, fd, toSubmit, minComplete, flags, nullptr, 0);
    uint64_t spent = nowNs() - start, total = (uint64_t)timeoutMs * 1000000u;
    uint64_t left = spent >= total ? 0 : total - spent;
    ts.tv_sec = (long long)(left / 1000000000u);
    ts.tv_nsec = (long long)(left % 1000000000u);
    return syscall(SYS_io_uring_enter, fd, toSubmit, minComplete, flags | IORING_ENTER_EXT_ARG, &ext, sizeof ext);
  };
  long r = ZH_CALL(io_uring_enter, enter());
  ZH_TRACE(io_uring_enter, r, "io_uring_enter(%d, %d, %d, %#x, %d ms)", fd, toSubmit, minComplete, flags, timeoutMs);
  return num(args.Env(), r);
}

// io_uring_register(fd, opcode, arg: bytes | null, nrArgs) -> result | -errno
static Napi::Value IoUringRegister(const Args& args) {
  int32_t fd, op, nr = 0;
  uint8_t* p = nullptr;
  size_t len = 0;
  if (!argInt(args, 0, &fd, "fd") || !argInt(args, 1, &op, "opcode")) return Napi::Value();
  if (!isNullish(args, 2) && !argBytes(args, 2, &p, &len, "arg")) return Napi::Value();
  if (!argOptInt(args, 3, &nr, "nrArgs")) return Napi::Value();
  long r = ZH_CALL(io_uring_register, syscall(SYS_io_uring_register, fd, op, p, nr));
  ZH_TRACE(io_uring_register, r, "io_uring_register(%d, %d, %zu bytes, %d)", fd, op, len, nr);
  return num(args.Env(), r);
}

// address(view) -> the address of the view's first byte, for an SQE's addr field. The memory
// must stay alive (and the view referenced) until the operation's CQE.
static Napi::Value Address(const Args& args) {
  uint8_t* p;
  size_t len;
  if (!argBytes(args, 0, &p, &len, "view")) return Napi::Value();
  return Napi::Number::New(args.Env(), (double)(uintptr_t)p);
}

// sockaddr(address, port, out) -> its length: a struct sockaddr_in/_in6 written into out
// (for IORING_OP_CONNECT), or a RangeError if out is too small.
static Napi::Value Sockaddr(const Args& args) {
  struct sockaddr_storage ss;
  socklen_t sl;
  uint8_t* p;
  size_t len;
  if (!argAddr(args, 0, &ss, &sl) || !argBytes(args, 2, &p, &len, "out")) return Napi::Value();
  if (len < sl) return rangeError(args.Env(), "out is too small for the sockaddr"), Napi::Value();
  memcpy(p, &ss, sl);
  return num(args.Env(), sl);
}

void registerUring(Napi::Object exports, Napi::Object c) {
  exportFn<IoUringSetup>(exports, "io_uring_setup");
  exportFn<IoUringEnter>(exports, "io_uring_enter");
  exportFn<IoUringRegister>(exports, "io_uring_register");
  exportFn<Mmap>(exports, "mmap");
  exportFn<Munmap>(exports, "munmap");
  exportFn<Address>(exports, "address");
  exportFn<Sockaddr>(exports, "sockaddr");
  // clang-format off
#define C(n) exportConst(c, #n, n)
  C(IORING_OP_NOP); C(IORING_OP_ACCEPT); C(IORING_OP_ASYNC_CANCEL); C(IORING_OP_CONNECT); C(IORING_OP_CLOSE);
  C(IORING_OP_READ); C(IORING_OP_SEND); C(IORING_OP_RECV); C(IORING_OP_SHUTDOWN); C(IORING_OP_SPLICE);
  C(IORING_OP_TIMEOUT); C(IORING_OP_LAST);
  C(IOSQE_IO_LINK); C(IOSQE_IO_HARDLINK); C(IOSQE_BUFFER_SELECT); C(IOSQE_CQE_SKIP_SUCCESS); C(IOSQE_ASYNC);
  C(IORING_SETUP_CQSIZE); C(IORING_SETUP_SUBMIT_ALL); C(IORING_SETUP_COOP_TASKRUN);
  C(IORING_SETUP_SINGLE_ISSUER); C(IORING_SETUP_DEFER_TASKRUN);
  C(IORING_ENTER_GETEVENTS); C(IORING_ENTER_EXT_ARG);
  C(IORING_FEAT_SINGLE_MMAP); C(IORING_FEAT_NODROP); C(IORING_FEAT_FAST_POLL); C(IORING_FEAT_EXT_ARG);
  C(IORING_CQE_F_BUFFER); C(IORING_CQE_F_MORE); C(IORING_CQE_F_SOCK_NONEMPTY); C(IORING_CQE_BUFFER_SHIFT);
  C(IORING_ACCEPT_MULTISHOT); C(IORING_ASYNC_CANCEL_ALL); C(IORING_ASYNC_CANCEL_FD);
  C(IORING_REGISTER_PBUF_RING); C(IORING_UNREGISTER_PBUF_RING);
  C(IORING_OFF_SQ_RING); C(IORING_OFF_CQ_RING); C(IORING_OFF_SQES);
  C(MSG_NOSIGNAL); C(MSG_PEEK); C(MSG_WAITALL);
#undef C
#define SIZE(t) exportConst(c, #t "_SIZE", sizeof(struct t))
#define OFF(t, f, name) exportConst(c, #t "_" name "_OFFSET", offsetof(struct t, f))
  SIZE(io_uring_params); SIZE(io_uring_sqe); SIZE(io_uring_cqe); SIZE(io_uring_buf); SIZE(io_uring_buf_reg);
  OFF(io_uring_params, sq_entries, "SQ_ENTRIES"); OFF(io_uring_params, cq_entries, "CQ_ENTRIES");
  OFF(io_uring_params, flags, "FLAGS"); OFF(io_uring_params, features, "FEATURES");
  OFF(io_uring_params, sq_off.head, "SQ_HEAD"); OFF(io_uring_params, sq_off.tail, "SQ_TAIL");
  OFF(io_uring_params, sq_off.ring_mask, "SQ_RING_MASK"); OFF(io_uring_params, sq_off.ring_entries, "SQ_RING_ENTRIES");
  OFF(io_uring_params, sq_off.flags, "SQ_FLAGS"); OFF(io_uring_params, sq_off.array, "SQ_ARRAY");
  OFF(io_uring_params, cq_off.head, "CQ_HEAD"); OFF(io_uring_params, cq_off.tail, "CQ_TAIL");
  OFF(io_uring_params, cq_off.ring_mask, "CQ_RING_MASK"); OFF(io_uring_params, cq_off.ring_entries, "CQ_RING_ENTRIES");
  OFF(io_uring_params, cq_off.overflow, "CQ_OVERFLOW"); OFF(io_uring_params, cq_off.cqes, "CQ_CQES");
  OFF(io_uring_sqe, opcode, "OPCODE"); OFF(io_uring_sqe, flags, "FLAGS"); OFF(io_uring_sqe, ioprio, "IOPRIO");
  OFF(io_uring_sqe, fd, "FD"); OFF(io_uring_sqe, off, "OFF"); OFF(io_uring_sqe, addr, "ADDR"); OFF(io_uring_sqe, len, "LEN");
  OFF(io_uring_sqe, msg_flags, "OP_FLAGS"); OFF(io_uring_sqe, user_data, "USER_DATA");
  OFF(io_uring_sqe, buf_group, "BUF_GROUP"); OFF(io_uring_sqe, splice_fd_in, "SPLICE_FD_IN");
  OFF(io_uring_cqe, user_data, "USER_DATA"); OFF(io_uring_cqe, res, "RES"); OFF(io_uring_cqe, flags, "FLAGS");
  OFF(io_uring_buf, addr, "ADDR"); OFF(io_uring_buf, len, "LEN"); OFF(io_uring_buf, bid, "BID");
  OFF(io_uring_buf_ring, tail, "TAIL");
  OFF(io_uring_buf_reg, ring_addr, "RING_ADDR"); OFF(io_uring_buf_reg, ring_entries, "RING_ENTRIES");
  OFF(io_uring_buf_reg, bgid, "BGID");
#undef SIZE
#undef OFF
  // clang-format on
  exportConst(c, "PAGE_SIZE", (double)sysconf(_SC_PAGESIZE));
}

}  // namespace zh
