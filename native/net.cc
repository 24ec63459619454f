// Sockets: socket setsockopt getsockopt bind connect listen accept4 recv send shutdown ioctl
// getsockname getpeername socketpair sendmsg recvmsg (one fd with SCM_RIGHTS). Every function returns the syscall's
// result or -errno.
#include "common.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <string.h>
#include <unistd.h>

namespace zh {

static Napi::Value Socket(const Args& args) {
  int32_t domain, type, proto = 0;
  if (!argInt(args, 0, &domain, "domain") || !argInt(args, 1, &type, "type")) return Napi::Value();
  if (!argOptInt(args, 2, &proto, "protocol")) return Napi::Value();
  long r = ZH_CALL(socket, socket(domain, type, proto));
  ZH_TRACE(socket, r, "socket(%d, %#x, %d)", domain, type, proto);
  return num(args.Env(), r);
}

bool isTimeOpt(int level, int opt) { return level == SOL_SOCKET && (opt == SO_RCVTIMEO || opt == SO_SNDTIMEO); }

long setsockoptMs(int fd, int level, int opt, int64_t value) {
  if (isTimeOpt(level, opt)) {
    struct timeval tv = {(time_t)(value / 1000), (suseconds_t)((value % 1000) * 1000)};
    return ZH_CALL(setsockopt, setsockopt(fd, level, opt, &tv, sizeof tv));
  }
  int v = (int)value;
  return ZH_CALL(setsockopt, setsockopt(fd, level, opt, &v, sizeof v));
}

long getsockoptMs(int fd, int level, int opt) {
  if (isTimeOpt(level, opt)) {
    struct timeval tv;
    socklen_t l = sizeof tv;
    long r = ZH_CALL(getsockopt, getsockopt(fd, level, opt, &tv, &l));
    return r < 0 ? r : tv.tv_sec * 1000 + tv.tv_usec / 1000;
  }
  int v = 0;
  socklen_t l = sizeof v;
  long r = ZH_CALL(getsockopt, getsockopt(fd, level, opt, &v, &l));
  return r < 0 ? r : v;
}

// Integer options take an int; SO_RCVTIMEO/SO_SNDTIMEO take milliseconds (a struct timeval).
static Napi::Value Setsockopt(const Args& args) {
  int32_t fd, level, opt;
  int64_t value;
  if (!argInt(args, 0, &fd, "fd") || !argInt(args, 1, &level, "level") || !argInt(args, 2, &opt, "option") ||
      !argInt64(args, 3, &value, "value"))
    return Napi::Value();
  if (isTimeOpt(level, opt) && value < 0) return rangeError(args.Env(), "timeout must be >= 0 ms"), Napi::Value();
  long r = setsockoptMs(fd, level, opt, value);
  ZH_TRACE(setsockopt, r, "setsockopt(%d, %d, %d, %ld)", fd, level, opt, (long)value);
  return num(args.Env(), r);
}

static Napi::Value Getsockopt(const Args& args) {
  int32_t fd, level, opt;
  if (!argInt(args, 0, &fd, "fd") || !argInt(args, 1, &level, "level") || !argInt(args, 2, &opt, "option"))
    return Napi::Value();
  long r = getsockoptMs(fd, level, opt);
  ZH_TRACE(getsockopt, r < 0 ? r : 0, "getsockopt(%d, %d, %d) -> %ld", fd, level, opt, r);
  return num(args.Env(), r);
}

static Napi::Value Bind(const Args& args) {
  int32_t fd;
  struct sockaddr_storage ss;
  socklen_t sl;
  if (!argInt(args, 0, &fd, "fd") || !argAddr(args, 1, &ss, &sl)) return Napi::Value();
  long r = ZH_CALL(bind, bind(fd, (struct sockaddr*)&ss, sl));
  ZH_TRACE(bind, r, "bind(%d, ...)", fd);
  return num(args.Env(), r);
}

// A non-blocking connect returns -EINPROGRESS; EINTR is not retried by re-calling connect()
// (that would give EALREADY): the caller waits for writability and reads SO_ERROR.
static Napi::Value Connect(const Args& args) {
  int32_t fd;
  struct sockaddr_storage ss;
  socklen_t sl;
  if (!argInt(args, 0, &fd, "fd") || !argAddr(args, 1, &ss, &sl)) return Napi::Value();
  long r = ZH_CALL_ONCE(connect, sysConnect(fd, (struct sockaddr*)&ss, sl));
  ZH_TRACE(connect, r, "connect(%d, ...)", fd);
  return num(args.Env(), r);
}

static Napi::Value Listen(const Args& args) {
  int32_t fd, backlog;
  if (!argInt(args, 0, &fd, "fd") || !argInt(args, 1, &backlog, "backlog")) return Napi::Value();
  long r = ZH_CALL(listen, listen(fd, backlog));
  ZH_TRACE(listen, r, "listen(%d, %d)", fd, backlog);
  return num(args.Env(), r);
}

static Napi::Object peerObject(Napi::Env env, long fd, const struct sockaddr_storage& ss) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("fd", num(env, fd));
  char host[INET6_ADDRSTRLEN] = "";
  int port = 0;
  if (ss.ss_family == AF_INET) {
    auto* s = (const struct sockaddr_in*)&ss;
    inet_ntop(AF_INET, &s->sin_addr, host, sizeof host);
    port = ntohs(s->sin_port);
    o.Set("family", "IPv4");
  } else if (ss.ss_family == AF_INET6) {
    auto* s = (const struct sockaddr_in6*)&ss;
    inet_ntop(AF_INET6, &s->sin6_addr, host, sizeof host);
    port = ntohs(s->sin6_port);
    o.Set("family", "IPv6");
  }
  o.Set("address", host);
  o.Set("port", port);
  return o;
}

// accept4(fd, flags[, wantPeer]) -> fd | -errno; with wantPeer: {fd, address, port, family} | -errno
static Napi::Value Accept4(const Args& args) {
  int32_t fd, flags = 0;
  bool wantPeer;
  if (!argInt(args, 0, &fd, "fd")) return Napi::Value();
  if (!argOptInt(args, 1, &flags, "flags")) return Napi::Value();
  if (!argBool(args, 2, &wantPeer)) return Napi::Value();
  if (stopBeforeWait()) return num(args.Env(), -EINTR);
  struct sockaddr_storage ss;
  socklen_t sl = sizeof ss;
  long r =
      ZH_CALL(accept4, sysAccept4(fd, wantPeer ? (struct sockaddr*)&ss : nullptr, wantPeer ? &sl : nullptr, flags));
  ZH_TRACE(accept4, r, "accept4(%d, %s, %#x)", fd, wantPeer ? "{...}" : "NULL", flags);
  if (r < 0 || !wantPeer) return num(args.Env(), r);
  return peerObject(args.Env(), r, ss);
}

static Napi::Value sockName(const Args& args, bool peer) {
  int32_t fd;
  if (!argInt(args, 0, &fd, "fd")) return Napi::Value();
  struct sockaddr_storage ss;
  socklen_t sl = sizeof ss;
  long r = peer ? ZH_CALL(getpeername, getpeername(fd, (struct sockaddr*)&ss, &sl))
                : ZH_CALL(getsockname, getsockname(fd, (struct sockaddr*)&ss, &sl));
  if (peer) ZH_TRACE(getpeername, r, "getpeername(%d)", fd);
  else ZH_TRACE(getsockname, r, "getsockname(%d)", fd);
  if (r < 0) return num(args.Env(), r);
  return peerObject(args.Env(), fd, ss);
}
static Napi::Value Getsockname(const Args& args) { return sockName(args, false); }
static Napi::Value Getpeername(const Args& args) { return sockName(args, true); }

static const char* msgFlags(int f) {
  if (f & MSG_PEEK) return "MSG_PEEK";
  if (f & MSG_DONTWAIT) return "MSG_DONTWAIT";
  if (f & MSG_NOSIGNAL) return "MSG_NOSIGNAL";
  return "0";
}

// recv(fd, buf, offset, length, flags)
static Napi::Value Recv(const Args& args) {
  int32_t fd, flags = 0;
  uint8_t* p;
  size_t len;
  if (!argInt(args, 0, &fd, "fd") || !argWindow(args, 1, &p, &len)) return Napi::Value();
  if (!argOptInt(args, 4, &flags, "flags")) return Napi::Value();
  long r = ZH_CALL(recvfrom, sysRecv(fd, p, len, flags));
  ZH_TRACE(recvfrom, r, "recvfrom(%d, %zu byte%s, %s)", fd, len, len == 1 ? "" : "s", msgFlags(flags));
  return num(args.Env(), r);
}

// send(fd, buf, offset, length, flags)
static Napi::Value Send(const Args& args) {
  int32_t fd, flags = 0;
  uint8_t* p;
  size_t len;
  if (!argInt(args, 0, &fd, "fd") || !argWindow(args, 1, &p, &len)) return Napi::Value();
  if (!argOptInt(args, 4, &flags, "flags")) return Napi::Value();
  long r = ZH_CALL(sendto, sysSend(fd, p, len, flags));
  ZH_TRACE(sendto, r, "sendto(%d, %zu byte%s, %s)", fd, len, len == 1 ? "" : "s", msgFlags(flags));
  return num(args.Env(), r);
}

static Napi::Value Shutdown(const Args& args) {
  int32_t fd, how;
  if (!argInt(args, 0, &fd, "fd") || !argInt(args, 1, &how, "how")) return Napi::Value();
  long r = ZH_CALL(shutdown, shutdown(fd, how));
  ZH_TRACE(shutdown, r, "shutdown(%d, %d)", fd, how);
  return num(args.Env(), r);
}

// Only requests known to write one int: another (TIOCGWINSZ, SIOCGIFCONF...) would write past it.
bool intIoctl(int request) { return request == SIOCOUTQ || request == SIOCINQ; }

// ioctl(fd, request, &int): the requests that report one int (SIOCOUTQ: bytes the peer has not
// acknowledged yet; SIOCINQ: bytes waiting to be read). Returns the int, or -errno.
static Napi::Value Ioctl(const Args& args) {
  int32_t fd, request;
  if (!argInt(args, 0, &fd, "fd") || !argInt(args, 1, &request, "request")) return Napi::Value();
  if (!intIoctl(request)) return rangeError(args.Env(), "request must be SIOCOUTQ or SIOCINQ"), Napi::Value();
  int value = 0;
  long r = ZH_CALL(ioctl, ioctl(fd, (unsigned long)request, &value));
  ZH_TRACE(ioctl, r < 0 ? r : value, "ioctl(%d, %#x, [%d])", fd, request, value);
  return num(args.Env(), r < 0 ? r : value);
}

// socketpair(domain, type, protocol, fdsOut: Int32Array) -> 0 | -errno; the two fds in fdsOut[0..1].
static Napi::Value Socketpair(const Args& args) {
  int32_t domain, type, proto;
  uint8_t* p;
  size_t len;
  if (!argInt(args, 0, &domain, "domain") || !argInt(args, 1, &type, "type") || !argInt(args, 2, &proto, "protocol") ||
      !argBytes(args, 3, &p, &len, "fdsOut"))
    return Napi::Value();
  if (len < 2 * sizeof(int) || (uintptr_t)p % alignof(int))
    return rangeError(args.Env(), "fdsOut must be an Int32Array of 2"), Napi::Value();
  int* sv = (int*)p;
  long r = ZH_CALL(socketpair, socketpair(domain, type, proto, sv));
  ZH_TRACE(socketpair, r, "socketpair(%d, %#x, %d, [%d, %d])", domain, type, proto, r < 0 ? -1 : sv[0],
           r < 0 ? -1 : sv[1]);
  return num(args.Env(), r);
}

// The control buffer for one fd, aligned as struct cmsghdr wants.
union OneFdControl {
  char buf[CMSG_SPACE(sizeof(int))];
  struct cmsghdr align;
};

// sendmsg(fd, buf, offset, length, passFd, flags) -> bytes sent | -errno. passFd < 0 sends no fd;
// else one SCM_RIGHTS control message carries it (the caller still owns, and closes, its copy).
static Napi::Value Sendmsg(const Args& args) {
  int32_t fd, passFd = -1, flags = 0;
  uint8_t* p;
  size_t len;
  if (!argInt(args, 0, &fd, "fd") || !argWindow(args, 1, &p, &len)) return Napi::Value();
  if (!argOptInt(args, 4, &passFd, "passFd") || !argOptInt(args, 5, &flags, "flags")) return Napi::Value();
  struct iovec iov = {p, len};
  struct msghdr msg = {};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  OneFdControl control;
  if (passFd >= 0) {
    memset(&control, 0, sizeof control);
    msg.msg_control = control.buf;
    msg.msg_controllen = sizeof control.buf;
    struct cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &passFd, sizeof(int));
  }
  long r = ZH_CALL(sendmsg, sendmsg(fd, &msg, flags));
  if (passFd >= 0)
    ZH_TRACE(sendmsg, r, "sendmsg(%d, {%zu byte%s, SCM_RIGHTS [%d]}, %s)", fd, len, len == 1 ? "" : "s", passFd,
             msgFlags(flags));
  else ZH_TRACE(sendmsg, r, "sendmsg(%d, {%zu byte%s}, %s)", fd, len, len == 1 ? "" : "s", msgFlags(flags));
  return num(args.Env(), r);
}

// recvmsg(fd, buf, offset, length, fdOut: Int32Array, flags) -> bytes received | -errno.
// fdOut[0] = the fd received with SCM_RIGHTS, or -1; fdOut[1] (if there) = msg_flags
// (MSG_CTRUNC: more fds were sent than one; the kernel closed the rest). MSG_CMSG_CLOEXEC is
// always added: a received fd is created close-on-exec, like every other fd here.
static Napi::Value Recvmsg(const Args& args) {
  int32_t fd, flags = 0;
  uint8_t *p, *out;
  size_t len, outLen;
  if (!argInt(args, 0, &fd, "fd") || !argWindow(args, 1, &p, &len) || !argBytes(args, 4, &out, &outLen, "fdOut"))
    return Napi::Value();
  if (!argOptInt(args, 5, &flags, "flags")) return Napi::Value();
  if (outLen < sizeof(int) || (uintptr_t)out % alignof(int))
    return rangeError(args.Env(), "fdOut must be an Int32Array"), Napi::Value();
  int* fdOut = (int*)out;
  struct iovec iov = {p, len};
  struct msghdr msg = {};
  OneFdControl control;
  memset(&control, 0, sizeof control);
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control.buf;
  msg.msg_controllen = sizeof control.buf;
  long r = ZH_CALL(recvmsg, recvmsg(fd, &msg, flags | MSG_CMSG_CLOEXEC));
  int got = -1;
  if (r >= 0) {
    for (struct cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c))
      if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS && c->cmsg_len >= CMSG_LEN(sizeof(int)))
        memcpy(&got, CMSG_DATA(c), sizeof(int));
  }
  fdOut[0] = got;
  if (outLen >= 2 * sizeof(int)) fdOut[1] = r >= 0 ? msg.msg_flags : 0;
  if (got >= 0)
    ZH_TRACE(recvmsg, r, "recvmsg(%d, {%zu byte%s, SCM_RIGHTS [%d]}, MSG_CMSG_CLOEXEC)", fd, len, len == 1 ? "" : "s",
             got);
  else ZH_TRACE(recvmsg, r, "recvmsg(%d, {%zu byte%s}, MSG_CMSG_CLOEXEC)", fd, len, len == 1 ? "" : "s");
  return num(args.Env(), r);
}

void registerNet(Napi::Object exports, Napi::Object c) {
  exportFn<Socket>(exports, "socket");
  exportFn<Setsockopt>(exports, "setsockopt");
  exportFn<Getsockopt>(exports, "getsockopt");
  exportFn<Bind>(exports, "bind");
  exportFn<Connect>(exports, "connect");
  exportFn<Listen>(exports, "listen");
  exportFn<Accept4>(exports, "accept4");
  exportFn<Getsockname>(exports, "getsockname");
  exportFn<Getpeername>(exports, "getpeername");
  exportFn<Recv>(exports, "recv");
  exportFn<Send>(exports, "send");
  exportFn<Shutdown>(exports, "shutdown");
  exportFn<Ioctl>(exports, "ioctl");
  exportFn<Socketpair>(exports, "socketpair");
  exportFn<Sendmsg>(exports, "sendmsg");
  exportFn<Recvmsg>(exports, "recvmsg");
  // One table of constants, several to a line:
  // clang-format off
#define C(n) exportConst(c, #n, n)
  C(AF_INET); C(AF_INET6); C(SOCK_STREAM); C(SOCK_DGRAM); C(SOCK_NONBLOCK); C(SOCK_CLOEXEC);
  C(SOL_SOCKET); C(IPPROTO_TCP); C(IPPROTO_IPV6); C(SO_REUSEADDR); C(SO_REUSEPORT);
  C(SO_RCVTIMEO); C(SO_SNDTIMEO); C(SO_ERROR); C(SO_RCVBUF); C(SO_SNDBUF); C(SO_KEEPALIVE);
  C(SO_LINGER); C(SO_TYPE); C(TCP_NODELAY); C(IPV6_V6ONLY); C(SOMAXCONN);
  C(MSG_PEEK); C(MSG_DONTWAIT); C(MSG_NOSIGNAL); C(MSG_WAITALL);
  C(SHUT_RD); C(SHUT_WR); C(SHUT_RDWR); C(SIOCOUTQ); C(SIOCINQ);
  C(AF_UNIX); C(MSG_CMSG_CLOEXEC); C(MSG_CTRUNC); C(MSG_TRUNC);
#undef C
  // clang-format on
}

}  // namespace zh
