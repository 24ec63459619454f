// What a server run is watched with: the syscall counters (--syscall-stats, and counting for the
// live view's syscalls/s), --trace's wrappers, and the live view's counters. run() turns them on;
// work that is not the server's own (the forking servers' warm-up) turns them off around itself.
import { native } from './sys';
import { installTrace, removeTrace } from './trace';
import { countLive } from './live';
import { Options } from './options';

type Watched = Pick<Options, 'syscallStats' | 'trace' | 'statsInterval' | 'statsPage'>;

export function startObserving(opts: Watched): void {
  // The live view's syscalls/s come from the same counters: counting (not timing) is on for it.
  native.setSyscallStats(opts.syscallStats || (opts.statsInterval || opts.statsPage ? 1 : 0), false);
  if (opts.trace) installTrace();
  countLive(opts);
}

export function stopObserving(): void {
  native.setSyscallStats(0, false);
  removeTrace();
  countLive({ statsInterval: 0, statsPage: false });
}
