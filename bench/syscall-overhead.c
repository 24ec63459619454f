// The same syscalls as bench/syscall-overhead.ts, straight from C, for the ratio.
// Prints one line per case: "<name> <median ns per call>".
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e9 + ts.tv_nsec;
}
static int cmp(const void* a, const void* b) {
  double x = *(const double*)a, y = *(const double*)b;
  return x < y ? -1 : x > y;
}
#define BATCHES 9
#define BENCH(name, n, body) do {                                   \
    double r[BATCHES];                                              \
    for (int b = 0; b < BATCHES; b++) {                             \
      double t0 = now();                                            \
      for (long i = 0; i < (n); i++) { body; }                      \
      r[b] = (now() - t0) / (n);                                    \
    }                                                               \
    qsort(r, BATCHES, sizeof r[0], cmp);                            \
    printf("%s %.1f\n", name, r[BATCHES / 2]);                      \
  } while (0)

int main(int argc, char** argv) {
  long n = argc > 1 ? atol(argv[1]) : 200000;
  // a connected TCP pair over loopback with nothing to read
  int l = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t al = sizeof a;
  if (bind(l, (struct sockaddr*)&a, sizeof a) || listen(l, 1) || getsockname(l, (struct sockaddr*)&a, &al)) return 1;
  int c = socket(AF_INET, SOCK_STREAM, 0);
  if (connect(c, (struct sockaddr*)&a, sizeof a)) return 1;
  int s = accept4(l, NULL, NULL, SOCK_NONBLOCK);
  if (s < 0) return 1;
  int ep = epoll_create1(0);
  struct epoll_event ev = {.events = EPOLLIN, .data.u64 = s}, out[8];
  epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev);
  struct pollfd pfd = {.fd = s, .events = POLLIN};
  char buf[64];
  volatile long sink = 0;

  BENCH("getpid", n, sink += syscall(SYS_getpid));
  BENCH("recv_eagain", n, { long r = recv(s, buf, sizeof buf, 0); if (r < 0 && errno == EAGAIN) sink++; });
  BENCH("epoll_wait0", n, sink += epoll_wait(ep, out, 8, 0));
  BENCH("poll0", n, sink += poll(&pfd, 1, 0));
  close(ep); close(s); close(c); close(l);
  return sink < 0;
}
