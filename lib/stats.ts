// The article's print_stats(): CPU time on Ctrl-C, children included where there are any.
import { C, rusage } from './sys';
import { out } from './log';

export function cpuTimes(includeChildren: boolean): { user: number; system: number } {
  const self = rusage(C.RUSAGE_SELF); // every thread of the process, Workers included
  if (!includeChildren) return { user: self.user, system: self.system };
  const kids = rusage(C.RUSAGE_CHILDREN); // reaped children only
  return { user: self.user + kids.user, system: self.system + kids.system };
}

export function printStats(includeChildren: boolean): void {
  const t = cpuTimes(includeChildren);
  out(`\nuser time = ${t.user.toFixed(6)} s, sys time = ${t.system.toFixed(6)} s`);
}
