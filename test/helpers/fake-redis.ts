// A fake "Redis" for the servers under test (separate processes): a net.Server in the test
// process that answers each command with garbage, never answers, or passes it through to a
// real Redis, as the test switches `mode`.
import * as net from 'node:net';

export type FakeRedisMode = 'garbage' | 'silent' | 'proxy';

export interface FakeRedis {
  port: number;
  mode: FakeRedisMode;
  /** Connections accepted so far. */
  accepted: number;
  /** Commands (data events) that got garbage back, and how many of those connections the server then closed. */
  garbageSent: number;
  garbageClosed: number;
  /** Data events seen in 'silent' mode (a server now blocked waiting for a reply). */
  ignored: number;
  /** Close every connection (a blocked reader sees EOF) and stop listening. */
  close(): Promise<void>;
}

export const GARBAGE = '?what\r\n'; // not a RESP type byte

export async function startFakeRedis(upstreamPort?: number): Promise<FakeRedis> {
  const socks = new Set<net.Socket>();
  const server = net.createServer((sock) => {
    fake.accepted++;
    socks.add(sock);
    let upstream: net.Socket | undefined;
    let gotGarbage = false;
    sock.on('error', () => {});
    sock.on('close', () => {
      socks.delete(sock);
      upstream?.destroy();
      if (gotGarbage) fake.garbageClosed++;
    });
    sock.on('data', (d) => {
      if (upstream) return void upstream.write(d);
      if (fake.mode === 'silent') return void fake.ignored++;
      if (fake.mode === 'garbage') {
        gotGarbage = true;
        fake.garbageSent++;
        return void sock.write(GARBAGE);
      }
      if (upstreamPort === undefined) throw new Error('fake redis: proxy mode needs an upstream port');
      upstream = net.connect(upstreamPort, '127.0.0.1');
      upstream.on('error', () => sock.destroy());
      upstream.on('close', () => sock.destroy());
      upstream.pipe(sock);
      upstream.write(d);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const fake: FakeRedis = {
    port: (server.address() as net.AddressInfo).port,
    mode: 'garbage',
    accepted: 0,
    garbageSent: 0,
    garbageClosed: 0,
    ignored: 0,
    close: () => {
      for (const s of socks) s.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
  return fake;
}
