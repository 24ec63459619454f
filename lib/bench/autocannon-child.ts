// Runs one autocannon load in its own process (so its CPU is its own) and prints a LoadResult.
import type { LoadResult, LoadSpec } from './load';

const autocannon = require('autocannon');

async function main(): Promise<void> {
  const spec = JSON.parse(process.argv[2]) as LoadSpec;
  const codes: Record<string, number> = {};
  const cpu0 = process.cpuUsage();
  const instance = autocannon({
    url: `http://127.0.0.1:${spec.port}${spec.path}`,
    connections: spec.concurrency,
    duration: spec.durationS,
    timeout: spec.timeoutS,
    headers: { connection: 'close' },
  });
  instance.on('reqError', (e: NodeJS.ErrnoException) => {
    const code = e.code ?? e.name ?? 'error';
    codes[code] = (codes[code] ?? 0) + 1;
  });
  const r = await instance;
  const cpu = process.cpuUsage(cpu0);
  const connect = Object.entries(codes)
    .filter(([c]) => /ECONNREFUSED|EADDRNOTAVAIL|EMFILE|ENFILE|ETIMEDOUT/.test(c))
    .reduce((a, [, n]) => a + n, 0);
  const result: Omit<LoadResult, 'wallS'> = {
    requests: r['1xx'] + r['2xx'] + r['3xx'] + r['4xx'] + r['5xx'],
    non2xx: r['1xx'] + r['4xx'] + r['5xx'],
    durationS: r.duration,
    errors: { connect, read: Math.max(0, r.errors - r.timeouts - connect), write: 0, timeout: r.timeouts },
    errorCodes: codes,
    latencyMs: { p50: r.latency.p50 ?? null, p90: r.latency.p90 ?? null, p99: r.latency.p99 ?? null },
    generatorCpuS: (cpu.user + cpu.system) / 1e6,
  };
  process.stdout.write(JSON.stringify(result));
}

main().catch((e) => {
  process.stderr.write(String(e?.stack ?? e));
  process.exit(1);
});
