// Start one architecture: listening socket, stop handler, server loop, stats.
import * as fs from 'node:fs';
import { native } from './sys';
import { boundPort, setupListeningSocket } from './listen-socket';
import { notice, out, setLogPid, setQuiet } from './log';
import { finishSyscallReport } from './syscall-report';
import { printStats } from './stats';
import { Options } from './options';
import { ARCHITECTURES, flag } from './servers/index';
import { listeningLine, modeOf } from './banner';
import { removeTrace } from './trace';
import { startObserving } from './observe';
import { startStatsPrinter, StatsPrinter } from './live-printer';
import { workersLabel } from './live';

export async function run(opts: Options): Promise<number> {
  const arch = ARCHITECTURES[opts.arch].load();
  setQuiet(opts.quiet);
  const unavailable = ARCHITECTURES[opts.arch].unavailable?.();
  if (unavailable) {
    notice(`zerohttpd: ${opts.arch} cannot run here: ${unavailable}`);
    return 1;
  }
  setLogPid(opts.logPid || opts.trace);
  if (!fs.existsSync(opts.publicDir) || !fs.statSync(opts.publicDir).isDirectory()) {
    notice(`zerohttpd: public directory '${opts.publicDir}' does not exist or is not a directory`);
    return 1;
  }
  startObserving(opts);
  let listenFd: number;
  try {
    listenFd = setupListeningSocket(opts.host, opts.port, opts.backlog, {
      nonBlocking: arch.nonBlockingListen,
      reusePort: opts.listen === 'reuseport', // the workers' sockets join this one's group
    });
  } catch (e) {
    notice(`zerohttpd: ${(e as Error).message}`);
    return 1;
  }
  if (!arch.ownSignals) native.installStopHandler();
  const where = opts.host.includes(':') ? `[${opts.host}]` : opts.host;
  notice(listeningLine(modeOf(opts, arch.mode?.(opts)), where, boundPort(listenFd), process.pid));
  let printer: StatsPrinter | null = null;
  try {
    if (opts.statsInterval)
      printer = startStatsPrinter(opts.statsInterval, workersLabel(opts.arch), listenFd, flag(arch.forks, opts));
  } catch (e) {
    notice(`zerohttpd: ${(e as Error).message}`);
  }
  await arch.enterServerLoop(listenFd, opts);
  native.close(listenFd);
  removeTrace();
  const report: string | null = opts.syscallStats ? finishSyscallReport(opts.syscallStats === 2) : null;
  native.setSyscallStats(0, false);
  await printer?.stop();
  printStats(flag(arch.childrenInStats, opts));
  if (report) out(report);
  return 0;
}
