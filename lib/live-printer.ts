// --stats-interval: one line to stderr every interval, from a thread or process of its own (the
// server's own loop may block in accept() or waitpid() for as long as no client comes).
// A Worker where the server never forks; a forked child where it does (a Worker alive across
// fork() could hold a lock the child needs: docs/fork-safety.md). Either only reads the shared
// counters and writes with fs.writeSync, so it adds no syscall to the counts it reports.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { C, native, sleepMs } from './sys';
import { snapshot, statsLine } from './live';

export interface StatsLoopData {
  intervalMs: number;
  label: string | null;
  stop: SharedArrayBuffer;
}

/** Print a line every intervalMs until stopped() (checked at least every 100 ms). */
export function statsLoop(
  intervalMs: number,
  label: string | null,
  stopped: () => boolean,
  sleep: (ms: number) => void,
): void {
  let prev = snapshot();
  let next = Date.now() + intervalMs;
  while (!stopped()) {
    const left = next - Date.now();
    if (left > 0) {
      sleep(Math.min(left, 100));
      continue;
    }
    const cur = snapshot();
    try {
      fs.writeSync(2, statsLine(prev, cur, label) + '\n');
    } catch {
      /* stderr gone: keep counting */
    }
    prev = cur;
    next += intervalMs;
  }
}

export interface StatsPrinter {
  stop(): Promise<void>;
}

export function startStatsPrinter(
  intervalMs: number,
  label: string | null,
  listenFd: number,
  forks: boolean,
): StatsPrinter {
  if (forks) {
    const pid = native.fork();
    if (pid === 0) {
      native.close(listenFd);
      native.prctl(C.PR_SET_PDEATHSIG, C.SIGTERM); // the inherited stop handler turns it into a stop
      statsLoop(intervalMs, label, () => native.stopRequested() !== 0, sleepMs);
      native._exit(0);
    }
    if (pid < 0) throw new Error(`--stats-interval: fork: ${native.errname(pid)}`);
    return {
      stop: () => {
        native.kill(pid, C.SIGTERM);
        native.waitpid(pid, 0); // ECHILD if the server's own reaping got it first
        return Promise.resolve();
      },
    };
  }
  const stop = new SharedArrayBuffer(4);
  const worker = new Worker(path.join(__dirname, 'stats-thread.js'), {
    workerData: { intervalMs, label, stop } satisfies StatsLoopData,
  });
  const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
  return {
    stop: async () => {
      const flag = new Int32Array(stop);
      Atomics.store(flag, 0, 1);
      Atomics.notify(flag, 0);
      await exited;
    },
  };
}
