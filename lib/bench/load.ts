// Load generators: wrk when installed (parsed from its text report), else autocannon in a child
// process. Both report the same LoadResult, including their own CPU time so that a saturated
// generator can be told apart from a slow server.
import { spawn, execFileSync } from 'node:child_process';
import * as path from 'node:path';

export interface LoadSpec {
  port: number;
  path: string;
  concurrency: number;
  durationS: number;
  threads: number; // wrk -t
  timeoutS: number; // a response slower than this counts as a timeout error
}

export interface LoadResult {
  /** Complete responses (any status). */
  requests: number;
  /** Responses with a status outside 2xx/3xx. */
  non2xx: number;
  /** Measured duration in seconds. */
  durationS: number;
  errors: { connect: number; read: number; write: number; timeout: number };
  /** errno names when the generator tells them (autocannon does, wrk does not). */
  errorCodes: Record<string, number>;
  latencyMs: { p50: number | null; p90: number | null; p99: number | null };
  /** CPU seconds (user+sys) the generator itself used. */
  generatorCpuS: number | null;
  /** wall time of the generator process, for its CPU share */
  wallS: number;
}

export interface Generator {
  name: 'wrk' | 'autocannon';
  version: string;
  /** One line describing the exact settings, for the report. */
  describe(spec: Omit<LoadSpec, 'port' | 'concurrency'>): string;
  run(spec: LoadSpec): Promise<LoadResult>;
}

export class GeneratorError extends Error {}

// ---- wrk ----------------------------------------------------------------------------------

const UNIT_MS: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

function latencyMs(v: string): number | null {
  const m = /^([\d.]+)(us|ms|s|m|h)$/.exec(v);
  return m ? Number(m[1]) * UNIT_MS[m[2]] : null;
}

function count(v: string): number {
  // wrk prints plain integers here, but be liberal: "1.23k"
  const m = /^([\d.]+)([kMG]?)$/.exec(v);
  if (!m) return NaN;
  return Math.round(Number(m[1]) * ({ '': 1, k: 1e3, M: 1e6, G: 1e9 } as Record<string, number>)[m[2]]);
}

/** Parse wrk's text report (with --latency). Throws GeneratorError if it is not one. */
export function parseWrkOutput(text: string): Omit<LoadResult, 'generatorCpuS' | 'wallS' | 'errorCodes'> {
  const total = /^\s*(\d+) requests in ([\d.]+)(us|ms|s|m|h),/m.exec(text);
  if (!total) throw new GeneratorError(`unrecognised wrk output: ${text.trim().slice(0, 300)}`);
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(text);
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(text);
  const pct = (p: string) => {
    const m = new RegExp(`^\\s*${p}%\\s+(\\S+)`, 'm').exec(text.slice(text.indexOf('Latency Distribution')));
    return text.includes('Latency Distribution') && m ? latencyMs(m[1]) : null;
  };
  return {
    requests: count(total[1]),
    durationS: (Number(total[2]) * UNIT_MS[total[3]]) / 1000,
    non2xx: non2xx ? Number(non2xx[1]) : 0,
    errors: sock
      ? { connect: Number(sock[1]), read: Number(sock[2]), write: Number(sock[3]), timeout: Number(sock[4]) }
      : { connect: 0, read: 0, write: 0, timeout: 0 },
    latencyMs: { p50: pct('50'), p90: pct('90'), p99: pct('99') },
  };
}

/** bash's `times`: the second line is the CPU time of the shell's reaped children (wrk). */
export function parseBashTimes(text: string): number | null {
  const lines = text
    .trim()
    .split('\n')
    .filter((l) => /^\d+m[\d.]+s \d+m[\d.]+s$/.test(l.trim()));
  const last = lines[lines.length - 1];
  if (!last) return null;
  let sum = 0;
  for (const m of last.trim().matchAll(/(\d+)m([\d.]+)s/g)) sum += Number(m[1]) * 60 + Number(m[2]);
  return sum;
}

// Raise the open-files limit as far as allowed, run wrk, then report its CPU time with `times`.
const WRK_WRAPPER = 'ulimit -n "$(ulimit -Hn)" 2>/dev/null; "$@"; rc=$?; times >&2; exit $rc';

export function wrkGenerator(binary: string): Generator {
  let version = '?';
  try {
    execFileSync(binary, ['-v'], { stdio: 'pipe' });
  } catch (e) {
    const s = String((e as { stdout?: Buffer }).stdout ?? '') + String((e as { stderr?: Buffer }).stderr ?? '');
    version = /wrk (\S+)/.exec(s)?.[1] ?? '?';
  }
  const args = (s: Omit<LoadSpec, 'port' | 'concurrency'> & { concurrency: number | string; url: string }) => [
    `-t${s.threads}`,
    `-c${s.concurrency}`,
    `-d${s.durationS}s`,
    `--timeout`,
    `${s.timeoutS}s`,
    '--latency',
    '-H',
    'Connection: close',
    s.url,
  ];
  return {
    name: 'wrk',
    version,
    describe: (s) =>
      `wrk ${version}: ${args({ ...s, concurrency: 'C', url: `http://127.0.0.1:PORT${s.path}` })
        .map((a) => (a.includes(' ') ? `'${a}'` : a))
        .join(' ')} (open-files limit raised to the hard limit)`,
    run(spec) {
      const threads = Math.min(spec.threads, spec.concurrency);
      const argv = args({ ...spec, threads, url: `http://127.0.0.1:${spec.port}${spec.path}` });
      return new Promise((resolve, reject) => {
        const t0 = process.hrtime.bigint();
        const p = spawn('bash', ['-c', WRK_WRAPPER, 'bash', binary, ...argv], { stdio: ['ignore', 'pipe', 'pipe'] });
        let out = '',
          err = '';
        p.stdout.on('data', (d) => (out += d));
        p.stderr.on('data', (d) => (err += d));
        p.once('error', (e) => reject(new GeneratorError(`cannot run wrk: ${e.message}`)));
        p.once('exit', (code) => {
          const wallS = Number(process.hrtime.bigint() - t0) / 1e9;
          const cpu = parseBashTimes(err);
          const errText = err
            .split('\n')
            .filter((l) => !/^\d+m[\d.]+s \d+m[\d.]+s$/.test(l.trim()))
            .join('\n')
            .trim();
          try {
            if (code !== 0 && !/requests in/.test(out))
              throw new GeneratorError(`wrk exited with ${code}: ${(errText || out).slice(0, 300)}`);
            resolve({ ...parseWrkOutput(out), errorCodes: {}, generatorCpuS: cpu, wallS });
          } catch (e) {
            reject(e instanceof Error ? e : new Error(String(e)));
          }
        });
      });
    },
  };
}

// ---- autocannon ---------------------------------------------------------------------------

export function autocannonGenerator(): Generator {
  const version: string = require('autocannon/package.json').version;
  return {
    name: 'autocannon',
    version,
    describe: (s) =>
      `autocannon ${version} (in a child node process): connections=C, duration=${s.durationS}s, timeout=${s.timeoutS}s, ` +
      `header 'Connection: close', GET ${s.path} (wrk not found; autocannon is single-threaded JavaScript and saturates far sooner)`,
    run(spec) {
      const script = path.join(__dirname, 'autocannon-child.js');
      return new Promise((resolve, reject) => {
        const t0 = process.hrtime.bigint();
        const p = spawn(process.execPath, [script, JSON.stringify(spec)], { stdio: ['ignore', 'pipe', 'pipe'] });
        let out = '',
          err = '';
        p.stdout.on('data', (d) => (out += d));
        p.stderr.on('data', (d) => (err += d));
        p.once('error', (e) => reject(new GeneratorError(`cannot run autocannon: ${e.message}`)));
        p.once('exit', (code) => {
          const wallS = Number(process.hrtime.bigint() - t0) / 1e9;
          try {
            if (code !== 0) throw new Error(err.trim().slice(-300));
            resolve({ ...(JSON.parse(out) as Omit<LoadResult, 'wallS'>), wallS });
          } catch (e) {
            reject(new GeneratorError(`autocannon failed (exit ${code}): ${(e as Error).message}`));
          }
        });
      });
    },
  };
}
