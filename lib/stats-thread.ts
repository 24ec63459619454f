// The Worker that prints --stats-interval's lines in the servers that do not fork (lib/live-printer.ts).
import { workerData } from 'node:worker_threads';
import { statsLoop, StatsLoopData } from './live-printer';

const d = workerData as StatsLoopData;
const flag = new Int32Array(d.stop);
statsLoop(
  d.intervalMs,
  d.label,
  () => Atomics.load(flag, 0) !== 0,
  (ms) => void Atomics.wait(flag, 0, 0, ms),
);
