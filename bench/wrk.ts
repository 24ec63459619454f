// What the wrk benchmarks of the event-driven servers share (bench/event-archs.ts,
// bench/event-workers.ts): wait for a server to listen, run wrk with one connection per
// request, stop the server, and nginx's configuration to compare against.
import { ChildProcess, spawnSync } from 'node:child_process';
import * as net from 'node:net';
import * as path from 'node:path';
import { PUBLIC_DIR as PUBLIC, ROOT } from '../lib/paths';

export const WRK = process.env.WRK ?? '/usr/bin/wrk';
export const CLI = path.join(ROOT, 'dist', 'lib', 'cli.js');
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Connect until port accepts (50 ms apart, at most `tries` times); fails if proc exits first. */
export async function waitListening(port: number, proc: ChildProcess, tries = 200): Promise<void> {
  for (let i = 0; i < tries; i++) {
    if (proc.exitCode !== null) throw new Error(`server exited with ${proc.exitCode}`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => {
        s.destroy();
        resolve(true);
      });
      s.on('error', () => resolve(false));
    });
    if (ok) return;
    await sleep(50);
  }
  throw new Error(`nothing listening on ${port}`);
}

export interface WrkResult {
  rps: number;
  errors: string;
}

/** wrk -t1 with `Connection: close` (one connection per request) against 127.0.0.1:port. */
export function wrk(port: number, connections: number, seconds: number, urlPath = '/'): WrkResult {
  const r = spawnSync(
    WRK,
    ['-t1', `-c${connections}`, `-d${seconds}s`, '-H', 'Connection: close', `http://127.0.0.1:${port}${urlPath}`],
    { encoding: 'utf8' },
  );
  if (r.status !== 0) throw new Error(`wrk failed: ${r.stderr}`);
  const errs = /Socket errors: (.*)/.exec(r.stdout)?.[1] ?? '';
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(r.stdout)?.[1];
  return {
    rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(r.stdout)?.[1] ?? 0),
    errors: [errs, non2xx ? `non-2xx ${non2xx}` : ''].filter(Boolean).join('; '),
  };
}

/** SIGINT, then SIGKILL if it has not exited after killAfterMs. */
export async function stop(proc: ChildProcess, killAfterMs = 5000): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const done = new Promise((r) => proc.once('exit', r));
  proc.kill('SIGINT');
  const t = setTimeout(() => proc.kill('SIGKILL'), killAfterMs);
  await done;
  clearTimeout(t);
}

/** nginx serving public/ with sendfile and no keep-alive; more than one worker listen with reuseport. */
export function nginxConfig(dir: string, port: number, workers = 1): string {
  return `worker_processes ${workers};
daemon off;
master_process on;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log;
events { worker_connections 19000; }
worker_rlimit_nofile 20000;
http {
  access_log off;
  sendfile on;
  keepalive_timeout 0;
  client_body_temp_path ${dir}/body; proxy_temp_path ${dir}/proxy; fastcgi_temp_path ${dir}/fcgi;
  uwsgi_temp_path ${dir}/uwsgi; scgi_temp_path ${dir}/scgi;
  types { text/html html; }
  server { listen 127.0.0.1:${port} backlog=4096${workers > 1 ? ' reuseport' : ''}; root ${PUBLIC}; index index.html; }
}
`;
}
