// Before the first fork(): the parent runs the request path a few times, so every process it
// forks inherits that code already compiled. V8 compiles a function to bytecode when it is
// first called; the forking server's parent never serves, so without this every child compiled
// the reader, the parser, the router, the guestbook and the writers again (bench/fork-cost.ts,
// docs/fork-safety.md). The requests go over loopback between two private sockets of the
// parent's own (127.0.0.1, an ephemeral port); Redis is a stand-in that answers canned replies
// (encoded and decoded as RESP, no socket); nothing is logged or counted by --syscall-stats or
// --trace or the live view (lib/observe.ts); no real client or Redis is involved. `strace -f` shows it: socket(), listen(),
// accept4()... before the first accept4() on the listening socket.
import { C, native } from '../sys';
import { App } from '../app';
import { handleClient, serveContext } from '../serve';
import { BlockingRedis } from '../redis/blocking';
import { encodeCommand, RespDecoder, RespValue } from '../redis/resp';
import { setupListeningSocket, boundPort } from '../listen-socket';
import { setQuiet } from '../log';
import { Options } from '../options';
import { startObserving, stopObserving } from '../observe';

const FORM = 'name=warm&remarks=up';
/** Each request with the Redis replies its handling needs (RESP). */
const REQUESTS: [string, string][] = [
  ['GET / HTTP/1.0\r\nHost: x\r\n\r\n', ''],
  ['GET /nope.html HTTP/1.0\r\n\r\n', ''],
  ['GET /guestbook HTTP/1.0\r\n\r\n', '*2\r\n$6\r\nfirst!\r\n$6\r\nsecond\r\n:2\r\n$1\r\n2\r\n'],
  ['GET /guestbook?page=2 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', '*0\r\n:3\r\n$1\r\n3\r\n'],
  ['HEAD /guestbook HTTP/1.0\r\n\r\n', ':2\r\n'],
  [
    `POST /guestbook HTTP/1.0\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: ${FORM.length}\r\n\r\n${FORM}`,
    '+OK\r\n:3\r\n',
  ],
  ['BREW /\r\n\r\n', ''],
];

/** Redis for the warm-up: the replies are given, the commands only encoded. */
class CannedRedis extends BlockingRedis {
  constructor(private readonly replies: string) {
    super('127.0.0.1', 0);
  }

  override run(commands: string[][]): RespValue[] {
    for (const c of commands) encodeCommand(c);
    const d = new RespDecoder();
    d.push(Buffer.from(this.replies, 'latin1'));
    const out: RespValue[] = [];
    for (let r; (r = d.next());) out.push(r.value);
    return out;
  }
}

export function warmUpRequestPath(app: App, opts: Options): void {
  stopObserving();
  setQuiet(true);
  const web = setupListeningSocket('127.0.0.1', 0, REQUESTS.length);
  const buf = Buffer.alloc(64 * 1024);
  try {
    for (const [request, replies] of REQUESTS) {
      const client = native.socket(C.AF_INET, C.SOCK_STREAM | C.SOCK_CLOEXEC);
      if (client < 0 || native.connect(client, '127.0.0.1', boundPort(web)) < 0) return void native.close(client);
      sendAll(client, Buffer.from(request, 'latin1'));
      native.shutdown(client, C.SHUT_WR);
      const fd = native.accept4(web, C.SOCK_CLOEXEC);
      if (fd < 0) return void native.close(client); // out of fds: warm-up is only an optimisation
      handleClient(fd, serveContext(app, new CannedRedis(replies), { ...opts, timeoutMs: 1000 }));
      while (native.recv(client, buf, 0, buf.length) > 0); // the answer, to EOF
      native.close(client);
    }
  } finally {
    native.close(web);
    setQuiet(opts.quiet);
    startObserving(opts);
  }
}

function sendAll(fd: number, b: Buffer): void {
  for (let off = 0, n; off < b.length; off += n) if ((n = native.send(fd, b, off, b.length - off)) <= 0) return;
}
