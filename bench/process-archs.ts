// Requests per second of the forking and preforked servers with wrk (one connection per
// request), against the article's C preforked server measured on a 2-core machine
// (15.5k req/s, GET /, wrk -t1 -c50 -d4s; see docs/fork-safety.md).
// Usage: node dist/bench/process-archs.js [--duration 4] [--connections 50] [--workers 100]
import { spawn, spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { parseListening } from '../lib/banner';

const C_PREFORKED = 15_500;
const CLI = path.resolve(__dirname, '..', 'lib', 'cli.js');

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : def;
}

async function start(args: string[]): Promise<{ port: number; stop(): Promise<void> }> {
  const proc = spawn(process.execPath, [CLI, ...args, '--quiet', '--port', '0'], {
    stdio: ['ignore', 'ignore', 'pipe'],
    detached: true,
  });
  let err = '';
  proc.stderr.on('data', (d) => (err += d));
  const port = await new Promise<number>((resolve, reject) => {
    proc.stderr.on('data', () => {
      const m = parseListening(err);
      if (m) resolve(m.port);
    });
    proc.on('exit', (c) => reject(new Error(`server exited (${c}): ${err}`)));
  });
  await new Promise((r) => setTimeout(r, 1000)); // let preforked workers come up
  return {
    port,
    stop: () =>
      new Promise<void>((resolve) => {
        proc.on('exit', () => resolve());
        proc.kill('SIGINT');
        setTimeout(() => {
          try {
            process.kill(-proc.pid!, 'SIGKILL');
          } catch {
            /* gone */
          }
        }, 5000).unref();
      }),
  };
}

function wrk(port: number, duration: number, connections: number, urlPath: string): { rps: number; errors: string } {
  const r = spawnSync(
    'wrk',
    ['-t1', `-c${connections}`, `-d${duration}s`, '-H', 'Connection: close', `http://127.0.0.1:${port}${urlPath}`],
    { encoding: 'utf8' },
  );
  if (r.status !== 0) throw new Error(`wrk failed: ${r.stderr}`);
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(r.stdout)?.[1] ?? NaN);
  const errors = [/Socket errors:.*/.exec(r.stdout)?.[0], /Non-2xx.*/.exec(r.stdout)?.[0]].filter(Boolean).join('; ');
  return { rps, errors };
}

async function main(): Promise<void> {
  const duration = arg('duration', 4),
    connections = arg('connections', 50),
    workers = arg('workers', 100);
  console.log(
    `wrk -t1 -c${connections} -d${duration}s -H 'Connection: close' GET /  (C preforked: ${C_PREFORKED} req/s)`,
  );
  console.log(`${'server'.padEnd(40)} ${'req/s'.padStart(9)}  ratio to C preforked`);
  for (const arch of ['forking', 'preforked']) {
    for (const reader of ['buffered', 'byte']) {
      const args = [arch, '--reader', reader, ...(arch === 'preforked' ? ['--workers', String(workers)] : [])];
      const s = await start(args);
      const { rps, errors } = wrk(s.port, duration, connections, '/');
      await s.stop();
      console.log(
        `${args.join(' ').padEnd(40)} ${rps.toFixed(0).padStart(9)}  ${(rps / C_PREFORKED).toFixed(2)}x${errors ? `  (${errors})` : ''}`,
      );
    }
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
