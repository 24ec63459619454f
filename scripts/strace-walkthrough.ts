// Regenerates docs/strace.md: runs each architecture under `strace -f`, makes one request,
// and keeps the part of the trace that served it. `npm run strace-doc [-- arch ...]`.
import { freePort } from '../lib/net-probe';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { ARCHITECTURES } from '../lib/servers/index';
import { parseListening } from '../lib/banner';
import { Call, fdNum, parseTrace } from '../lib/strace-parse';

const ROOT = path.resolve(__dirname, '..', '..');
const CLI = path.join(ROOT, 'dist', 'lib', 'cli.js');
const TRACED =
  'accept4,accept,recvfrom,sendto,sendfile,close,clone,clone3,fork,vfork,wait4,futex,poll,epoll_wait,epoll_ctl,openat2,fstat,newfstatat,shutdown,connect,fcntl,setsockopt,read,write,writev';

/** What to look for in each architecture's excerpt. */
const NOTES: Record<string, string> = {
  iterative:
    "One thread does everything: `accept4()` returns the client fd, then one `recvfrom(fd, …, 1, 0)` per byte of the request (the article's `get_line()`), with a `MSG_PEEK` look-ahead after each `\\r`, then `openat2()` of the file beneath the public root, `sendto()` of the headers, `sendfile()` of the body and `close()`. No other thread takes part: the TypeScript loop, not libuv, serves the request.",
  forking:
    "The parent's `accept4()` is followed by a `clone()` (that is `fork()`: glibc implements it with clone without CLONE_VM); the child (another pid) reads and answers the request and exits, the parent closes its copy of the client fd and reaps the child with `wait4()`.",
  preforked:
    'The children were forked at start-up; each one sits in its own `accept4()` on the shared listening socket. The request is served entirely by one child pid; the parent does nothing per request.',
  threaded:
    'The main thread accepts; a new thread (a Worker, started with `clone()` with CLONE_VM|CLONE_THREAD) serves the client fd and ends. Starting a Worker is expensive: look at how many syscalls happen between `accept4()` and the first `recvfrom()`.',
  prethreaded:
    'Worker threads wait for their turn on the accept mutex (`futex()` calls when it is contended), then block in `accept4()`; the thread that gets the connection serves it start to finish.',
  poll: 'One thread, never blocking on a client: `poll()` returns the ready descriptors, the listener is accepted until `EAGAIN`, and each byte of the request is a `recvfrom()` that ends with `EAGAIN` when the client has sent nothing more.',
  epoll:
    'Like poll, but the kernel keeps the interest list: `epoll_ctl()` registers each connection once, and `epoll_wait()` returns only the ready ones, in batches under load.',
  node: "Node's own stack for comparison: libuv's `epoll_wait()`, `accept4()` from the event loop, large `read()` calls instead of one-byte `recvfrom()`, and `writev()` for the response.",
};

function request(port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1', () => sock.write('GET / HTTP/1.0\r\nHost: localhost\r\n\r\n'));
    sock.on('data', () => {});
    sock.on('close', () => resolve());
    sock.on('error', reject);
  });
}

async function waitListening(file: () => string, ms: number): Promise<void> {
  const t0 = Date.now();
  while (!/listening on/.test(file())) {
    if (Date.now() - t0 > ms) throw new Error('server did not start');
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * The request's part of a trace: from the accept4() that returned the client fd N to the last
 * close(N), keeping only the accepting thread, the threads/processes that read fd N, and
 * clone()/wait4() lines (other threads' noise is dropped). Long runs of one-byte reads are shortened.
 */
export function excerpt(raw: string, maxLines = 40): string {
  const calls = parseTrace(raw);
  const accepted = (c: Call) => /^accept4?$/.test(c.name) && c.ret !== null && c.ret >= 0;
  const acc = calls.findIndex(accepted);
  if (acc < 0)
    return calls
      .slice(-maxLines)
      .map((c) => c.line)
      .join('\n');
  const fd = calls[acc].ret;
  const nextAcc = calls.findIndex((c, i) => i > acc && accepted(c));
  const window = calls.slice(acc, nextAcc < 0 ? calls.length : nextAcc);
  const onFd = (c: Call) => fdNum(c.argv[0] ?? '') === fd;
  let end = -1;
  window.forEach((c, i) => {
    if (c.name === 'close' && onFd(c)) end = i;
  });
  const pids = new Set([calls[acc].pid]);
  for (const c of window) if (/^(recvfrom|read|sendfile|sendto|write|writev)$/.test(c.name) && onFd(c)) pids.add(c.pid);
  const kept = window.slice(0, end + 1).filter((c) => pids.has(c.pid) || /^(clone3?|fork|vfork|wait4)$/.test(c.name));
  const oneByte = (c: Call | undefined) => c?.name === 'recvfrom' && c.argv[2] === '1' && c.argv[3] === '0';
  const out: string[] = [];
  for (let i = 0; i < kept.length; i++) {
    if (!oneByte(kept[i])) {
      out.push(kept[i].line);
      continue;
    }
    let j = i;
    while (oneByte(kept[j + 1])) j++;
    if (j - i >= 6) {
      out.push(
        ...kept.slice(i, i + 3).map((c) => c.line),
        `  … ${j - i - 4} more one-byte recvfrom() calls …`,
        ...kept.slice(j - 1, j + 1).map((c) => c.line),
      );
      i = j;
    } else out.push(kept[i].line);
  }
  return (out.length > maxLines ? [...out.slice(0, maxLines - 8), '  …', ...out.slice(-7)] : out).join('\n');
}

async function traceOne(arch: string, redisPort: number): Promise<string> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zh-strace-'));
  const out = path.join(dir, 'trace.txt');
  const extra = arch === 'preforked' ? ['--workers', '2'] : arch === 'prethreaded' ? ['--threads', '2'] : [];
  const args = [
    '-f',
    '-qq',
    '-s',
    '40',
    '-e',
    `trace=${TRACED}`,
    '-o',
    out,
    process.execPath,
    CLI,
    arch,
    '--port',
    '0',
    '--quiet',
    '--redis',
    `127.0.0.1:${redisPort}`,
    ...extra,
  ];
  const proc = spawn('strace', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  let serverPid = 0;
  proc.stderr.on('data', (d) => (err += d));
  try {
    await waitListening(() => err, 20000);
    const { port, pid } = parseListening(err)!;
    serverPid = pid;
    await request(port);
    await new Promise((r) => setTimeout(r, 300)); // let the children/threads finish writing the trace
  } finally {
    // Stop the traced server itself; strace exits with it (SIGINT to strace would only detach).
    if (serverPid) process.kill(serverPid, 'SIGINT');
    else proc.kill('SIGKILL');
    await new Promise((r) => proc.on('exit', r));
  }
  const text = fs.readFileSync(out, 'utf8');
  fs.rmSync(dir, { recursive: true, force: true });
  return excerpt(text);
}

async function main(): Promise<void> {
  if (spawnSync('strace', ['-V']).status !== 0) throw new Error('strace is not installed (apt-get install strace)');
  const argv = process.argv.slice(2);
  const outAt = argv.indexOf('--out');
  const outFile = outAt >= 0 ? path.resolve(argv.splice(outAt, 2)[1]) : path.join(ROOT, 'docs', 'strace.md');
  const wanted = argv;
  const archs = [...Object.keys(ARCHITECTURES)].filter((a) => !wanted.length || wanted.includes(a));
  const redisPort = await freePort();
  const redis = spawn(
    'redis-server',
    ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    { stdio: 'ignore' },
  );
  await new Promise((r) => setTimeout(r, 300));
  const sections: string[] = [];
  try {
    for (const arch of archs) {
      process.stderr.write(`tracing ${arch}…\n`);
      const ex = await traceOne(arch, redisPort);
      sections.push(
        `## ${arch}\n\n\`\`\`sh\nstrace -f -e trace=${TRACED} \\\n  npx zerohttpd ${arch} 8000\n# then, from another terminal: curl http://localhost:8000/\n\`\`\`\n\n${NOTES[arch] ?? ''}\n\n\`\`\`\n${ex}\n\`\`\`\n`,
      );
    }
  } finally {
    redis.kill();
  }
  const doc = `# Watching the servers with strace

Each excerpt below is real: \`npm run strace-doc\` (scripts/strace-walkthrough.ts) started
the architecture under \`strace -f\`, made one \`GET /\` and kept the lines from the
\`accept4()\` that returned the client's fd to the \`close()\` of that fd. Run it again to
regenerate this file on your machine. Long runs of one-byte \`recvfrom()\` calls are shortened.

Inside containers where ptrace is not allowed, \`--trace\` prints the same kind of lines from
inside the server (only the syscalls our TypeScript makes through the addon), and
\`--syscall-stats\` counts them, like \`strace -c\`.

${sections.join('\n')}`;
  fs.writeFileSync(outFile, doc);
  process.stderr.write(`wrote ${path.relative(process.cwd(), outFile)} (${archs.join(', ')})\n`);
}

if (require.main === module)
  main().catch((e) => {
    process.stderr.write(`${e.stack ?? e}\n`);
    process.exit(1);
  });
