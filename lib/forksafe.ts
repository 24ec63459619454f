// The fork-safe node for the process architectures (forking, preforked): `--single-threaded`
// and LD_PRELOAD=build/Release/forksafe.so. Neither can be switched on inside a running node
// (`--single-threaded` is refused in NODE_OPTIONS, LD_PRELOAD acts at exec time), so the CLI
// replaces its own process image with execve(2): same pid, same stdio, same process group,
// so signals and the exit code are the server's own. docs/fork-safety.md explains why.
import * as fs from 'node:fs';
import { C, native } from './sys';
import { FORKSAFE_SO } from './paths';

const FLAG = '--single-threaded';
/**
 * Unless given: a 1 MB young generation. Fewer heap pages for fork() to copy the page tables
 * of and for every exit to tear down, and a smaller heap per preforked worker (measured in
 * docs/fork-safety.md, "What a connection costs").
 */
const DEFAULT_FLAGS = ['--max-semi-space-size=1'];

export function isForkSafe(): boolean {
  return C.FORKSAFE_PRELOADED === 1 && process.execArgv.includes(FLAG);
}

/**
 * Re-executes `node [its flags] --single-threaded <script> <args>` with forksafe.so preloaded,
 * adding DEFAULT_FLAGS and the architecture's `archFlags` that are not given already.
 * Returns only if that is impossible, with the reason.
 */
export function reexecForkSafe(script: string, args: string[], archFlags: readonly string[] = []): string {
  if (!fs.existsSync(FORKSAFE_SO)) return `${FORKSAFE_SO} is not built (run 'npm run build')`;
  const preload = (process.env.LD_PRELOAD ?? '').split(/[: ]/).filter(Boolean);
  if (preload.includes(FORKSAFE_SO) && process.execArgv.includes(FLAG)) {
    return `${FORKSAFE_SO} is in LD_PRELOAD but was not loaded (secure-execution mode?)`;
  }
  // LD_BIND_NOW: the dynamic linker resolves every symbol at start-up, once, instead of lazily on
  // a function's first call, which every child (forking) or worker (preforked) would otherwise
  // repeat (ld.so's symbol lookups, and a copy-on-write fault for each GOT page it writes).
  const env = {
    LD_BIND_NOW: '1',
    ...process.env,
    LD_PRELOAD: [FORKSAFE_SO, ...preload.filter((p) => p !== FORKSAFE_SO)].join(':'),
  };
  const name = (f: string) => f.split('=')[0].replace(/^--no-/, '--'); // --lazy is given for --no-lazy
  const given = (f: string) => process.execArgv.some((a) => name(a) === name(f));
  const added = [...DEFAULT_FLAGS, ...archFlags].filter((f) => !given(f));
  const nodeArgs = [...added, ...process.execArgv.filter((a) => a !== FLAG), FLAG];
  // node marks every inherited fd close-on-exec at start-up (uv_disable_stdio_inheritance):
  // stdin, stdout and stderr must survive this exec.
  for (const fd of [0, 1, 2]) {
    const flags = native.fcntl(fd, C.F_GETFD);
    if (flags >= 0) native.fcntl(fd, C.F_SETFD, flags & ~C.FD_CLOEXEC);
  }
  const r = native.execve(
    process.execPath,
    [process.execPath, ...nodeArgs, script, ...args],
    Object.entries(env).map(([k, v]) => `${k}=${v}`),
  );
  return `execve ${process.execPath}: ${native.errname(r)}`;
}
