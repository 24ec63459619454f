// Start one architecture: listening socket, stop handler, server loop, stats.
import * as fs from 'node:fs';
import { native } from './sys';
import { boundPort, setupListeningSocket } from './listen-socket';
import { notice, out, setQuiet } from './log';
import { finishSyscallReport } from './syscall-report';
import { printStats } from './stats';
import { Options } from './options';
import { ARCHITECTURES, flag } from './servers/index';
import { listeningLine } from './banner';
import { installTrace, removeTrace } from './trace';

export async function run(opts: Options): Promise<number> {
  const arch = ARCHITECTURES[opts.arch].load();
  setQuiet(opts.quiet);
  const unavailable = ARCHITECTURES[opts.arch].unavailable?.();
  if (unavailable) {
    notice(`zerohttpd: ${opts.arch} cannot run here: ${unavailable}`);
    return 1;
  }
  if (!fs.existsSync(opts.publicDir) || !fs.statSync(opts.publicDir).isDirectory()) {
    notice(`zerohttpd: public directory '${opts.publicDir}' does not exist or is not a directory`);
    return 1;
  }
  native.setSyscallStats(opts.syscallStats, false);
  if (opts.trace) installTrace();
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
  const mode = arch.mode?.(opts);
  notice(listeningLine(mode ? `${opts.arch} (${mode})` : opts.arch, where, boundPort(listenFd), process.pid));
  await arch.enterServerLoop(listenFd, opts);
  native.close(listenFd);
  removeTrace();
  const report: string | null = opts.syscallStats ? finishSyscallReport(opts.syscallStats === 2) : null;
  native.setSyscallStats(0, false);
  printStats(flag(arch.childrenInStats, opts));
  if (report) out(report);
  return 0;
}
