// Who accepts, side by side in one run: preforked --dispatch accept (each lock) and pass,
// prethreaded --dispatch accept (mutex) and main, beside the article's C preforked and
// prethreaded servers, built as the seed's ABOUT.md says (--c-dir: the directory holding the
// built `preforked` and `prethreaded`, with public/ and templates/). GET /, one connection per
// request (wrk -t1 -H 'Connection: close'), --reader buffered, a warm-up before each
// measurement, the servers taking turns for --rounds rounds; ratios to the C server of the same
// design. The C servers' children connect to Redis on 127.0.0.1:6379 at start and exit if
// none answers: a redis-server is started there for the run if nothing listens on 6379. Usage:
//   node dist/bench/dispatch.js --c-dir DIR [--duration 4] [--connections 50] [--rounds 2] [--only preforked]
import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as path from 'node:path';
import { parseListening } from '../lib/banner';

const CLI = path.resolve(__dirname, '..', 'lib', 'cli.js');

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : def;
}

interface Design {
  label: string;
  /** zerohttpd arguments, or the C binary's name. */
  args?: string[];
  c?: string;
  /** The C server this design is compared with. */
  vs: string;
}

const DESIGNS: Design[] = [
  { label: 'C preforked (100 children, no lock)', c: 'preforked', vs: 'C preforked' },
  { label: 'preforked --dispatch accept', args: ['preforked'], vs: 'C preforked' },
  { label: 'preforked --accept-lock mutex', args: ['preforked', '--accept-lock', 'mutex'], vs: 'C preforked' },
  { label: 'preforked --dispatch pass', args: ['preforked', '--dispatch', 'pass'], vs: 'C preforked' },
  { label: 'C prethreaded (100 threads, mutex)', c: 'prethreaded', vs: 'C prethreaded' },
  { label: 'prethreaded --dispatch accept (mutex)', args: ['prethreaded'], vs: 'C prethreaded' },
  { label: 'prethreaded --dispatch main', args: ['prethreaded', '--dispatch', 'main'], vs: 'C prethreaded' },
];

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}

function listening(port: number): Promise<boolean> {
  return new Promise<boolean>((r) => {
    const c = net.connect(port, '127.0.0.1', () => (c.destroy(), r(true)));
    c.on('error', () => r(false));
  });
}

async function connectable(port: number): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (await listening(port)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`nothing listening on ${port}`);
}

/** A GET / answered 200 (every child or Worker may not be up yet, but one is). */
async function ready(port: number, label: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const ok = await new Promise<boolean>((r) => {
      const req = http.get({ port, host: '127.0.0.1', path: '/', agent: false }, (res) => {
        res.resume();
        res.on('end', () => r(res.statusCode === 200));
      });
      req.on('error', () => r(false));
      req.setTimeout(1000, () => req.destroy());
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${label} does not answer GET / on ${port}`);
}

/** CPU clock ticks of pid and its children (preforked's workers; a prethreaded's Workers are its threads). */
function ticks(pid: number): number {
  const one = (p: number): number => {
    try {
      const st = fs.readFileSync(`/proc/${p}/stat`, 'utf8');
      const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
      return Number(f[11]) + Number(f[12]);
    } catch {
      return 0;
    }
  };
  let kids: number[] = [];
  try {
    kids = fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    /* gone */
  }
  return [pid, ...kids].reduce((a, p) => a + one(p), 0);
}

/** Until the server has finished starting (100 Workers take seconds): < 5 ticks of CPU in 500 ms, twice. */
async function settled(pid: number): Promise<void> {
  let quiet = 0;
  for (let i = 0; i < 120 && quiet < 2; i++) {
    const t0 = ticks(pid);
    await new Promise((r) => setTimeout(r, 500));
    quiet = ticks(pid) - t0 < 5 ? quiet + 1 : 0;
  }
}

async function start(d: Design, cDir: string): Promise<{ port: number; proc: ChildProcess }> {
  if (d.c) {
    const port = await freePort();
    const proc = spawn(path.join(cDir, d.c), [String(port), '127.0.0.1'], {
      cwd: cDir,
      stdio: 'ignore',
      detached: true,
    });
    await connectable(port);
    return { port, proc };
  }
  const proc = spawn(process.execPath, [CLI, ...d.args!, '--reader', 'buffered', '--quiet', '--port', '0'], {
    stdio: ['ignore', 'ignore', 'pipe'],
    detached: true,
  });
  let err = '';
  proc.stderr.on('data', (b) => (err += b));
  const port = await new Promise<number>((resolve, reject) => {
    proc.stderr.on('data', () => {
      const m = parseListening(err);
      if (m) resolve(m.port);
    });
    proc.on('exit', (c) => reject(new Error(`${d.label} exited (${c}): ${err}`)));
  });
  return { port, proc };
}

function stop(proc: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (proc.exitCode !== null || proc.signalCode !== null) return resolve();
    proc.on('exit', () => resolve());
    try {
      process.kill(-proc.pid!, 'SIGINT');
    } catch {
      /* gone */
    }
    setTimeout(() => {
      try {
        process.kill(-proc.pid!, 'SIGKILL');
      } catch {
        /* gone */
      }
    }, 5000).unref();
  });
}

function wrk(port: number, seconds: number, connections: number): { rps: number; errors: string } {
  const r = spawnSync(
    'wrk',
    ['-t1', `-c${connections}`, `-d${seconds}s`, '-H', 'Connection: close', `http://127.0.0.1:${port}/`],
    { encoding: 'utf8' },
  );
  if (r.status !== 0) throw new Error(`wrk failed on port ${port}: ${r.stderr}`);
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(r.stdout)?.[1] ?? NaN);
  const errors = [/Socket errors:.*/.exec(r.stdout)?.[0], /Non-2xx.*/.exec(r.stdout)?.[0]].filter(Boolean).join('; ');
  return { rps, errors };
}

async function main(): Promise<void> {
  const cDir = arg('c-dir', '');
  if (!cDir) throw new Error('--c-dir DIR: where the article C servers were built (see the seed ABOUT.md)');
  const duration = Number(arg('duration', '4')),
    connections = Number(arg('connections', '50')),
    rounds = Number(arg('rounds', '2'));
  let redis: ChildProcess | null = null;
  if (!(await listening(6379))) {
    redis = spawn('redis-server', ['--port', '6379', '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
      stdio: 'ignore',
      detached: true,
    });
    await connectable(6379);
  }
  try {
    await measure(cDir, duration, connections, rounds);
  } finally {
    if (redis) await stop(redis);
  }
}

async function measure(cDir: string, duration: number, connections: number, rounds: number): Promise<void> {
  const runs = new Map<string, number[]>();
  const notes = new Map<string, string>();
  const only = arg('only', ''); // e.g. --only preforked: the designs whose label contains it
  const designs = DESIGNS.filter((d) => d.label.includes(only));
  for (let round = 0; round < rounds; round++) {
    for (const d of designs) {
      const s = await start(d, cDir);
      try {
        await ready(s.port, d.label);
        await settled(s.proc.pid!);
        wrk(s.port, 2, connections); // warm-up (and every preforked child/Worker up)
        const { rps, errors } = wrk(s.port, duration, connections);
        runs.set(d.label, [...(runs.get(d.label) ?? []), rps]);
        if (errors) notes.set(d.label, errors);
      } finally {
        await stop(s.proc);
      }
    }
  }
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  console.log(
    `wrk -t1 -c${connections} -d${duration}s -H 'Connection: close' GET /, --reader buffered, ${rounds} rounds (mean)\n`,
  );
  console.log('| design | req/s | runs | vs. the C server |');
  console.log('|---|---|---|---|');
  for (const d of designs) {
    const r = mean(runs.get(d.label)!);
    const base = mean(runs.get(DESIGNS.find((x) => x.c && x.vs === d.vs)!.label)!);
    const each = runs
      .get(d.label)!
      .map((x) => x.toFixed(0))
      .join(', ');
    const note = notes.get(d.label);
    console.log(`| ${d.label} | ${r.toFixed(0)} | ${each} | ${(r / base).toFixed(2)}x${note ? ` (${note})` : ''} |`);
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
