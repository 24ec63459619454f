// The line a server prints once it listens, written here and read back by the tests and the
// bench (which wait for it to learn the port of a --port 0 server). No imports: the bench
// harness and the test helpers use it without loading the addon.

export function listeningLine(arch: string, where: string, port: number, pid: number): string {
  return `zerohttpd ${arch} listening on ${where}:${port} (pid ${pid})`;
}
/** Port and pid from a server's stderr once its listening line is there, else null. */
export function parseListening(text: string): { port: number; pid: number } | null {
  const m = /listening on \S+:(\d+) \(pid (\d+)\)/.exec(text);
  return m ? { port: Number(m[1]), pid: Number(m[2]) } : null;
}
