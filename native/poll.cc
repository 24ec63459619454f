// poll and epoll over caller-owned buffers laid out exactly as the kernel's
// struct pollfd[] and struct epoll_event[] (zero-copy: no per-call allocation).
#include "common.h"
#include <poll.h>
#include <sys/epoll.h>
#include <stddef.h>

namespace zh {

// What is left of a wait of timeoutMs begun at startNs (CLOCK_MONOTONIC); negative waits forever.
// ZH_CALL re-evaluates the call on each EINTR retry, so a retried wait ends when the first
// would have: the caller's timeout holds however many signals interrupt it.
int timeLeft(int32_t timeoutMs, uint64_t startNs) {
  if (timeoutMs <= 0) return timeoutMs;
  uint64_t spentMs = (nowNs() - startNs) / 1000000;
  return spentMs >= (uint64_t)timeoutMs ? 0 : timeoutMs - (int32_t)spentMs;
}

// poll(buf, nfds, timeoutMs): buf holds at least nfds struct pollfd.
static Napi::Value Poll(const Args& args) {
  uint8_t* p;
  size_t len;
  int32_t nfds, timeout;
  if (!argBytes(args, 0, &p, &len, "pollfds") || !argInt(args, 1, &nfds, "nfds") ||
      !argInt(args, 2, &timeout, "timeout"))
    return Napi::Value();
  if (nfds < 0 || (size_t)nfds * sizeof(struct pollfd) > len)
    return rangeError(args.Env(), "nfds is negative or larger than the pollfd buffer"), Napi::Value();
  if ((uintptr_t)p % alignof(struct pollfd)) return rangeError(args.Env(), "pollfd buffer misaligned"), Napi::Value();
  // poll() returns EINTR even with SA_RESTART: retried with the time left (a stop returns -EINTR).
  if (timeout < 0 && stopBeforeWait()) return num(args.Env(), -EINTR);
  uint64_t start = nowNs();
  long r = ZH_CALL(poll, sysPoll((struct pollfd*)p, (nfds_t)nfds, timeLeft(timeout, start)));
  ZH_TRACE(poll, r, "poll([%d fds], %d, %d)", nfds, nfds, timeout);
  return num(args.Env(), r);
}

static Napi::Value EpollCreate1(const Args& args) {
  int32_t flags = 0;
  if (!argOptInt(args, 0, &flags, "flags")) return Napi::Value();
  long r = ZH_CALL(epoll_create1, epoll_create1(flags));
  ZH_TRACE(epoll_create1, r, "epoll_create1(%#x)", flags);
  return num(args.Env(), r);
}

// epoll_ctl(epfd, op, fd, events[, data]): data.u64 = data (default fd).
static Napi::Value EpollCtl(const Args& args) {
  int32_t epfd, op, fd, events = 0, data;
  if (!argInt(args, 0, &epfd, "epfd") || !argInt(args, 1, &op, "op") || !argInt(args, 2, &fd, "fd"))
    return Napi::Value();
  if (!argOptInt(args, 3, &events, "events")) return Napi::Value();
  data = fd;
  if (!argOptInt(args, 4, &data, "data")) return Napi::Value();
  struct epoll_event ev;
  ev.events = (uint32_t)events;
  ev.data.u64 = (uint32_t)data;
  long r = ZH_CALL(epoll_ctl, epoll_ctl(epfd, op, fd, &ev));
  ZH_TRACE(epoll_ctl, r, "epoll_ctl(%d, %d, %d, {events=%#x})", epfd, op, fd, events);
  return num(args.Env(), r);
}

// epoll_wait(epfd, buf, maxevents, timeoutMs): buf holds at least maxevents struct epoll_event.
static Napi::Value EpollWait(const Args& args) {
  int32_t epfd, maxev, timeout;
  uint8_t* p;
  size_t len;
  if (!argInt(args, 0, &epfd, "epfd") || !argBytes(args, 1, &p, &len, "events") ||
      !argInt(args, 2, &maxev, "maxevents") || !argInt(args, 3, &timeout, "timeout"))
    return Napi::Value();
  if (maxev <= 0 || (size_t)maxev * sizeof(struct epoll_event) > len)
    return rangeError(args.Env(), "maxevents must be > 0 and fit in the events buffer"), Napi::Value();
  if ((uintptr_t)p % 4) return rangeError(args.Env(), "events buffer misaligned"), Napi::Value();
  if (timeout < 0 && stopBeforeWait()) return num(args.Env(), -EINTR);
  uint64_t start = nowNs();
  long r = ZH_CALL(epoll_wait, sysEpollWait(epfd, (struct epoll_event*)p, maxev, timeLeft(timeout, start)));
  ZH_TRACE(epoll_wait, r, "epoll_wait(%d, [%d], %d)", epfd, maxev, timeout);
  return num(args.Env(), r);
}

void registerPoll(Napi::Object exports, Napi::Object c) {
  exportFn<Poll>(exports, "poll");
  exportFn<EpollCreate1>(exports, "epoll_create1");
  exportFn<EpollCtl>(exports, "epoll_ctl");
  exportFn<EpollWait>(exports, "epoll_wait");
  // One table of constants, several to a line:
  // clang-format off
#define C(n) exportConst(c, #n, n)
  C(POLLIN); C(POLLPRI); C(POLLOUT); C(POLLERR); C(POLLHUP); C(POLLNVAL); C(POLLRDHUP);
  C(EPOLL_CLOEXEC); C(EPOLL_CTL_ADD); C(EPOLL_CTL_MOD); C(EPOLL_CTL_DEL);
  C(EPOLLIN); C(EPOLLOUT); C(EPOLLERR); C(EPOLLHUP); C(EPOLLRDHUP); C(EPOLLPRI);
  C(EPOLLET); C(EPOLLONESHOT); C(EPOLLEXCLUSIVE);
#undef C
  // clang-format on
  exportConst(c, "POLLFD_SIZE", sizeof(struct pollfd));
  exportConst(c, "POLLFD_FD_OFFSET", offsetof(struct pollfd, fd));
  exportConst(c, "POLLFD_EVENTS_OFFSET", offsetof(struct pollfd, events));
  exportConst(c, "POLLFD_REVENTS_OFFSET", offsetof(struct pollfd, revents));
  exportConst(c, "EPOLL_EVENT_SIZE", sizeof(struct epoll_event));
  exportConst(c, "EPOLL_EVENT_EVENTS_OFFSET", offsetof(struct epoll_event, events));
  exportConst(c, "EPOLL_EVENT_DATA_OFFSET", offsetof(struct epoll_event, data));
}

}  // namespace zh
