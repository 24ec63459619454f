// Probes of the network that the servers, the bench and the tests share: a free port, a PING to
// a Redis, and the line a server prints when its Redis cannot be reached. node:net only, no
// addon: the bench harness and the test helpers use them without loading it.
import * as net from 'node:net';

/** A port that was free on 127.0.0.1 a moment ago (the kernel's pick for port 0). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

/** One PING over a raw socket to 127.0.0.1:port; resolves true on +PONG. */
export function pingRedis(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect(port, '127.0.0.1');
    let data = '';
    const done = (ok: boolean) => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(500, () => done(false));
    sock.once('error', () => done(false));
    sock.once('connect', () => sock.write('PING\r\n'));
    sock.on('data', (d) => {
      data += d.toString('latin1');
      if (data.includes('\r\n')) done(data.startsWith('+PONG'));
    });
  });
}

/** The warning a server prints (once per outage) when its Redis cannot be reached; it keeps serving. */
export function redisUnreachable(host: string, port: number, why: string): string {
  return `zerohttpd: redis ${host}:${port} unreachable (${why}); /guestbook answers 503 until it is back`;
}
