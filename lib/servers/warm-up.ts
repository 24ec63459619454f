// Before the first fork(): the parent runs the request path a few times, so every process it
// forks inherits that code already compiled. V8 compiles a function to bytecode when it is
// first called; the forking server's parent never serves, so without this every child compiled
// the reader, the parser, the router, the guestbook, the Redis client and the writers again
// (bench/fork-cost.ts, docs/fork-safety.md). The requests go over loopback between private
// sockets of the parent's own (127.0.0.1, ephemeral ports): a client that sends a request and,
// like wrk or curl, does not half-close (so the lingering close runs as it does for them; one
// request half-closes), and a stand-in Redis whose canned replies are queued on the connection
// the real client code makes (connect, send, recv, RESP decode: the path a child runs). Nothing
// is logged or counted by --syscall-stats or --trace or the live view (lib/observe.ts); no real
// client or Redis is involved. `strace -f` shows it: socket(), listen(), connect(), accept4()...
// before the first accept4() on the listening socket.
import { C, native, sendAll } from '../sys';
import { App } from '../app';
import { handleClient, serveContext } from '../serve';
import { BlockingRedis } from '../redis/blocking';
import { setupListeningSocket, boundPort } from '../listen-socket';
import { setQuiet } from '../log';
import { Options } from '../options';
import { startObserving, stopObserving } from '../observe';

const FORM = 'guest-name=warm&guest-remarks=up'; // the guestbook form's own fields: the stored path, not a 400
/** Each request, the Redis replies its handling needs (RESP), and whether the client half-closes after it. */
export const REQUESTS: [string, string, boolean][] = [
  ['GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', '', false],
  ['GET / HTTP/1.0\r\nHost: x\r\n\r\n', '', true],
  ['GET /nope.html HTTP/1.0\r\n\r\n', '', false],
  ['GET /guestbook HTTP/1.0\r\n\r\n', '*2\r\n$6\r\nfirst!\r\n$6\r\nsecond\r\n:2\r\n$1\r\n2\r\n', false],
  ['GET /guestbook?page=2 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', '*0\r\n:3\r\n$1\r\n3\r\n', false],
  ['HEAD /guestbook HTTP/1.0\r\n\r\n', ':2\r\n', false],
  [
    `POST /guestbook HTTP/1.0\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: ${FORM.length}\r\n\r\n${FORM}`,
    '+OK\r\n:3\r\n',
    false,
  ],
  ['BREW /\r\n\r\n', '', false],
];

/**
 * Redis for the warm-up: the real client, connected to a private listening socket; on connect
 * the stand-in's end is accepted and the canned replies are queued on it, so the client's own
 * send(), recv() and RESP decoding run as they do against Redis (the commands stay unread).
 */
class CannedRedis extends BlockingRedis {
  private server = -1;

  constructor(
    private readonly listenFd: number,
    private readonly replies: string,
  ) {
    super('127.0.0.1', boundPort(listenFd));
  }

  override connect(): boolean {
    if (this.connected) return true;
    if (!super.connect()) return false;
    this.server = native.accept4(this.listenFd, C.SOCK_CLOEXEC);
    if (this.server >= 0) sendAll(this.server, Buffer.from(this.replies, 'latin1'));
    return true;
  }

  override close(): void {
    super.close();
    if (this.server >= 0) native.close(this.server);
    this.server = -1;
  }
}

export function warmUpRequestPath(app: App, opts: Options): void {
  stopObserving();
  setQuiet(true);
  const web = setupListeningSocket('127.0.0.1', 0, REQUESTS.length);
  const redisListen = setupListeningSocket('127.0.0.1', 0, 1);
  const buf = Buffer.alloc(64 * 1024);
  try {
    for (const [request, replies, halfClose] of REQUESTS) {
      const client = native.socket(C.AF_INET, C.SOCK_STREAM | C.SOCK_CLOEXEC);
      if (client < 0) return;
      if (native.connect(client, '127.0.0.1', boundPort(web)) < 0) return void native.close(client);
      sendAll(client, Buffer.from(request, 'latin1'));
      if (halfClose) native.shutdown(client, C.SHUT_WR);
      const fd = native.accept4(web, C.SOCK_CLOEXEC);
      if (fd < 0) return void native.close(client); // out of fds: warm-up is only an optimisation
      const redis = new CannedRedis(redisListen, replies);
      handleClient(fd, serveContext(app, redis, { ...opts, timeoutMs: 1000 }));
      redis.close();
      while (native.recv(client, buf, 0, buf.length) > 0); // the answer, to EOF
      native.close(client);
    }
  } finally {
    native.close(redisListen);
    native.close(web);
    setQuiet(opts.quiet);
    startObserving(opts);
  }
}
