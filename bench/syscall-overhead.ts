// ns per call through the addon vs the same syscalls from C (bench/syscall-overhead.c,
// compiled on the spot with cc -O2). Usage: node dist/bench/syscall-overhead.js [calls per batch]
import * as child_process from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { native, C, SyscallError, check } from '../lib/sys';
import { ROOT } from '../lib/paths';

const N = Number(process.argv[2]) || 200_000;
const BATCHES = 9;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1];
}
function bench(fn: (n: number) => void): number {
  fn(Math.min(N, 20_000)); // warm up (JIT)
  const r: number[] = [];
  for (let b = 0; b < BATCHES; b++) {
    const t0 = process.hrtime.bigint();
    fn(N);
    r.push(Number(process.hrtime.bigint() - t0) / N);
  }
  return median(r);
}

function cResults(): Record<string, number> {
  const src = path.join(ROOT, 'bench', 'syscall-overhead.c');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zh-bench-'));
  const exe = path.join(dir, 'syscall-overhead');
  try {
    child_process.execFileSync('cc', ['-O2', '-o', exe, src], { stdio: 'inherit' });
    const out = child_process.execFileSync(exe, [String(N)], { encoding: 'utf8' });
    return Object.fromEntries(
      out
        .trim()
        .split('\n')
        .map((l) => {
          const [k, v] = l.split(' ');
          return [k, Number(v)];
        }),
    );
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function main(): void {
  // a connected TCP pair over loopback with nothing to read
  const l = check('socket', native.socket(C.AF_INET, C.SOCK_STREAM | C.SOCK_CLOEXEC));
  check('bind', native.bind(l, '127.0.0.1', 0));
  check('listen', native.listen(l, 1));
  const port = (native.getsockname(l) as { port: number }).port;
  const c = check('socket', native.socket(C.AF_INET, C.SOCK_STREAM | C.SOCK_CLOEXEC));
  check('connect', native.connect(c, '127.0.0.1', port));
  const s = check('accept', native.accept4(l, C.SOCK_CLOEXEC | C.SOCK_NONBLOCK));
  const ep = check('epoll_create1', native.epoll_create1(C.EPOLL_CLOEXEC));
  check('epoll_ctl', native.epoll_ctl(ep, C.EPOLL_CTL_ADD, s, C.EPOLLIN));
  const events = new Int32Array((8 * C.EPOLL_EVENT_SIZE) / 4);
  const pfd = Buffer.alloc(C.POLLFD_SIZE);
  pfd.writeInt32LE(s, C.POLLFD_FD_OFFSET);
  pfd.writeInt16LE(C.POLLIN, C.POLLFD_EVENTS_OFFSET);
  const buf = Buffer.alloc(64);
  const EAGAIN = -C.EAGAIN;
  let sink = 0;

  const js: Record<string, number> = {
    getpid: bench((n) => {
      for (let i = 0; i < n; i++) sink += native.getpid();
    }),
    recv_eagain: bench((n) => {
      for (let i = 0; i < n; i++) if (native.recv(s, buf, 0, 64) === EAGAIN) sink++;
    }),
    recv_eagain_thrown: bench((n) => {
      for (let i = 0; i < n; i++) {
        try {
          check('recv', native.recv(s, buf, 0, 64));
        } catch (e) {
          if ((e as SyscallError).code === 'EAGAIN') sink++;
        }
      }
    }),
    epoll_wait0: bench((n) => {
      for (let i = 0; i < n; i++) sink += native.epoll_wait(ep, events, 8, 0);
    }),
    poll0: bench((n) => {
      for (let i = 0; i < n; i++) sink += native.poll(pfd, 1, 0);
    }),
  };
  // What --syscall-stats costs: the same recv->EAGAIN with the counters on (one relaxed atomic
  // increment per call, plus the errno bucket) and with timing (two clock_gettime per call).
  const recvLoop = (n: number) => {
    for (let i = 0; i < n; i++) if (native.recv(s, buf, 0, 64) === EAGAIN) sink++;
  };
  native.setSyscallStats(1);
  const counted = bench(recvLoop);
  native.setSyscallStats(2);
  const timed = bench(recvLoop);
  native.setSyscallStats(0);
  native.resetSyscallStats();
  for (const fd of [ep, s, c, l]) native.close(fd);

  const cr = cResults();
  const rows: [string, string, string][] = [
    ['getpid', 'getpid', ''],
    ['recv->EAGAIN (-errno)', 'recv_eagain', 'goal <= 1.5x'],
    ['recv->EAGAIN (thrown SyscallError)', 'recv_eagain_thrown', ''],
    ['epoll_wait(timeout 0)', 'epoll_wait0', ''],
    ['poll(1 fd, timeout 0)', 'poll0', ''],
  ];
  console.log(`syscall overhead, ns/call (median of ${BATCHES} batches of ${N})`);
  console.log(`${'call'.padEnd(36)}${'addon'.padStart(9)}${'C'.padStart(9)}${'ratio'.padStart(8)}`);
  for (const [label, key, note] of rows) {
    const base = key === 'recv_eagain_thrown' ? cr.recv_eagain : cr[key];
    const ratio = js[key] / base;
    let mark = note;
    if (note) mark = `${note} ${ratio <= 1.5 ? 'OK' : 'MISSED'}`;
    console.log(
      `${label.padEnd(36)}${js[key].toFixed(1).padStart(9)}${base.toFixed(1).padStart(9)}${(ratio.toFixed(2) + 'x').padStart(8)}  ${mark}`,
    );
  }
  console.log(
    `\n--syscall-stats overhead on recv->EAGAIN: off ${js.recv_eagain.toFixed(1)} ns, counting ${counted.toFixed(1)} ns ` +
      `(+${(counted - js.recv_eagain).toFixed(1)}), =time ${timed.toFixed(1)} ns (+${(timed - js.recv_eagain).toFixed(1)})`,
  );
  if (sink === -1) console.log(sink);
}

main();
