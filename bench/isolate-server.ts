// Bench-only prototype (docs/threads.md): the threaded architecture with a native thread and a
// bare V8 isolate per connection (bench/isolate-thread.cc) instead of a Worker. The main thread
// accepts, as in lib/servers/threaded.ts; each connection gets pthread_create() + a new isolate
// running HANDLER below with six syscalls bound, and the thread closes the fd and ends.
// Static files only (no Redis binding): GET /guestbook answers 501. Not a server to ship.
//   node dist/bench/isolate-server.js [port=0] [max-threads=256]
import * as path from 'node:path';
import { C, native, sendAll, sleepMs } from '../lib/sys';
import { acceptClient, boundPort, setupListeningSocket } from '../lib/listen-socket';
import { PUBLIC_DIR } from '../lib/paths';
import { listeningLine } from '../lib/banner';

export interface IsolateThreads {
  serve(fd: number, rootFd: number): number;
  setHandler(source: string): void;
  live(): number;
  failures(): number;
  isolateCost(): number;
}

export function loadIsolateThreads(): IsolateThreads | null {
  try {
    return require(path.join(__dirname, '..', '..', 'build', 'Release', 'isolate_thread.node')) as IsolateThreads;
  } catch {
    return null;
  }
}

/** The request handler each isolate compiles (from a shared code cache after the first) and calls. */
export const HANDLER = `(function handle(fd, rootFd) {
  const TYPES = { html: 'text/html; charset=utf-8', css: 'text/css; charset=utf-8', png: 'image/png' };
  const answer = (status, text) =>
    send(fd, 'HTTP/1.0 ' + status + ' ' + text + '\\r\\nServer: zerohttpd-isolate\\r\\nContent-Type: text/plain\\r\\n' +
      'Content-Length: ' + (text.length + 1) + '\\r\\n\\r\\n' + text + '\\n');
  let req = '';
  while (req.indexOf('\\r\\n\\r\\n') < 0 && req.length < 8192) {
    const s = recv(fd);
    if (typeof s !== 'string' || s === '') return;
    req += s;
  }
  const m = /^(GET|HEAD) (\\/[^ ?#]*)\\S* HTTP\\/1\\.[01]\\r\\n/.exec(req);
  if (!m) return answer(400, 'Bad Request');
  if (m[2] === '/guestbook') return answer(501, 'Not Implemented');
  let rel = m[2].slice(1);
  if (rel === '' || rel.endsWith('/')) rel += 'index.html';
  if (rel.split('/').some((p) => p === '..' || p === '.') || rel.includes('%')) return answer(404, 'Not Found');
  const f = openat(rootFd, rel);
  if (f < 0) return answer(404, 'Not Found');
  const size = fstatSize(f);
  if (size < 0) { close(f); return answer(404, 'Not Found'); }
  const type = TYPES[rel.slice(rel.lastIndexOf('.') + 1)] || 'application/octet-stream';
  send(fd, 'HTTP/1.0 200 OK\\r\\nServer: zerohttpd-isolate\\r\\nContent-Type: ' + type + '\\r\\nContent-Length: ' + size + '\\r\\n\\r\\n');
  if (m[1] === 'GET') for (let off = 0; off < size; ) { const n = sendfile(fd, f, size - off); if (n <= 0) break; off += n; }
  close(f);
})`;

function main(): void {
  const iso = loadIsolateThreads();
  if (!iso) throw new Error('build/Release/isolate_thread.node is not built (npx node-gyp rebuild)');
  const port = Number(process.argv[2] ?? 0);
  const maxThreads = Number(process.argv[3] ?? 256);
  iso.setHandler(HANDLER);
  const rootFd = native.open(PUBLIC_DIR, C.O_PATH | C.O_DIRECTORY | C.O_CLOEXEC);
  const listenFd = setupListeningSocket('127.0.0.1', port, 10);
  native.installStopHandler();
  native.setsockopt(listenFd, C.SOL_SOCKET, C.SO_RCVTIMEO, 200);
  console.error(listeningLine('isolate-threads', '127.0.0.1', boundPort(listenFd), process.pid));
  let started = 0;
  while (!native.stopRequested()) {
    while (iso.live() >= maxThreads && !native.stopRequested()) sleepMs(1);
    const client = acceptClient(listenFd);
    if (client < 0) continue;
    const r = iso.serve(client, rootFd);
    if (r < 0) {
      sendAll(client, Buffer.from('HTTP/1.0 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n'));
      native.close(client);
    } else started++;
  }
  while (iso.live() > 0) sleepMs(5); // every thread closes its fd and ends
  native.close(listenFd);
  native.close(rootFd);
  console.log(`isolate-threads: threads started = ${started}, handler failures = ${iso.failures()}`);
}

if (require.main === module) main();
