// What one Worker costs: time from new Worker() to 'online' and to 'exit', and the RSS it
// adds while alive. Two bodies: an empty Worker, and one that loads what the threaded
// server's thread-worker.js loads (addon, app with mime types and templates, serve, redis).
//   node dist/bench/worker-cost.js [count=40]
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';

const N = Number(process.argv[2] ?? 40);
const LIB = path.join(__dirname, '..', 'lib');
const BODIES: Record<string, string> = {
  empty: '',
  'threaded server modules': `
    const { createApp, closeApp } = require(${JSON.stringify(path.join(LIB, 'public-root'))});
    require(${JSON.stringify(path.join(LIB, 'serve'))});
    require(${JSON.stringify(path.join(LIB, 'redis', 'blocking'))});
    const { PUBLIC_DIR, TEMPLATES_DIR } = require(${JSON.stringify(path.join(LIB, 'paths'))});
    closeApp(createApp({ publicDir: PUBLIC_DIR, templatesDir: TEMPLATES_DIR }));`,
};

const median = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];

async function once(body: string): Promise<{ online: number; exit: number }> {
  const t0 = process.hrtime.bigint();
  const w = new Worker(body, { eval: true });
  let online = 0;
  w.once('online', () => (online = Number(process.hrtime.bigint() - t0) / 1e6));
  await new Promise((r) => w.once('exit', r));
  return { online, exit: Number(process.hrtime.bigint() - t0) / 1e6 };
}

/** RSS added by k Workers alive at once (each parked on Atomics.wait until released). */
async function rssPerWorker(body: string, k: number): Promise<number> {
  const gate = new Int32Array(new SharedArrayBuffer(4));
  const before = process.memoryUsage().rss;
  const ws = Array.from(
    { length: k },
    () =>
      new Worker(
        `${body}; const { workerData, parentPort } = require('node:worker_threads'); parentPort.postMessage('up'); Atomics.wait(new Int32Array(workerData), 0, 0);`,
        { eval: true, workerData: gate.buffer },
      ),
  );
  await Promise.all(ws.map((w) => new Promise((r) => w.once('message', r))));
  const during = process.memoryUsage().rss;
  Atomics.store(gate, 0, 1);
  Atomics.notify(gate, 0);
  await Promise.all(ws.map((w) => new Promise((r) => w.once('exit', r))));
  return (during - before) / k / 2 ** 20;
}

async function main(): Promise<void> {
  console.log(`node ${process.version}, ${N} sequential Workers per body, medians:`);
  for (const [name, body] of Object.entries(BODIES)) {
    const runs = [];
    for (let i = 0; i < N; i++) runs.push(await once(body));
    const mb = await rssPerWorker(body, 20);
    console.log(
      `  ${name.padEnd(24)} online ${median(runs.map((r) => r.online)).toFixed(1)} ms, exit ${median(runs.map((r) => r.exit)).toFixed(1)} ms, ~${mb.toFixed(1)} MB RSS each (20 alive)`,
    );
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
