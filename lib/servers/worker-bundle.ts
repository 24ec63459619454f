// A Worker's code as one script compiled from a V8 code cache (docs/threads.md). Node 20
// compiles every module a Worker requires from source, in every Worker: about twenty files read,
// wrapped and parsed per connection. Instead, esbuild bundles thread-worker.js and what it
// requires into thread-worker.bundle.js at build time (scripts/bundle-worker.ts); the main
// thread reads that one file at start-up and compiles it once to take a code cache, and each
// Worker then deserializes that cache instead of parsing. What the bundle leaves to Node (the
// builtins, the .node addon, a require() of a name computed at run time) goes to a real
// require() relative to the bundle, which sits where thread-worker.js is.
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import { SourceMap, SourceMapPayload } from 'node:module';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as vm from 'node:vm';

/** Written by `npm run bundle` (and prepare, build, pretest). */
export const WORKER_BUNDLE = path.join(__dirname, 'thread-worker.bundle.js');

export interface WorkerBoot {
  source: string; // the bundle in a CommonJS wrapper: evaluates to function (exports, require, module, __filename, __dirname)
  filename: string; // the bundle's path: what stack traces show, and what its require() resolves from
  cache: Uint8Array | null; // V8 code cache of `source`, or null: compile from source
  giveCache?: boolean; // the Worker posts back { codeCache } after its entry ran (see BOOT_SOURCE)
}

/**
 * Why `file` cannot be used, or null: not built, or a file it was built from has changed since
 * (esbuild runs at build time and `tsc` alone does not run it; a stale bundle would serve old code
 * without a word). Compared by content, as tsc rewrites every file it compiles. Inputs that do not
 * exist here (an installed package's node_modules laid out differently) are not checked.
 */
function staleness(file: string): string | null {
  let inputs: Record<string, string>;
  try {
    fs.accessSync(file);
    inputs = JSON.parse(fs.readFileSync(`${file}.inputs.json`, 'utf8'));
  } catch {
    return `${file} is not built`;
  }
  for (const [rel, sha1] of Object.entries(inputs)) {
    const f = path.resolve(path.dirname(file), rel);
    let text: Buffer;
    try {
      text = fs.readFileSync(f);
    } catch {
      continue;
    }
    if (crypto.createHash('sha1').update(text).digest('hex') !== sha1) return `${file} is older than ${f}`;
  }
  return null;
}

/** The text of a bundle built by scripts/bundle-worker.ts. Throws if it is missing or stale. */
export function readBundle(file: string): string {
  const why = staleness(file);
  if (why) throw new Error(`${why}: run 'npm run bundle' (or 'npm run build'), or start with --worker-code files`);
  return fs.readFileSync(file, 'utf8');
}

// Node's own CommonJS wrapper, on the first line so that line numbers stay the file's.
const WRAPPER = '(function (exports, require, module, __filename, __dirname) { ';

/** The bundle `file`, with a code cache of its top level if `cache` is set. Throws if it is missing or stale. */
export function loadWorkerBundle(file = WORKER_BUNDLE, cache = true): WorkerBoot {
  const source = `${WRAPPER}${readBundle(file)}\n})`;
  return { source, filename: file, cache: cache ? new vm.Script(source, { filename: file }).createCachedData() : null };
}

/**
 * The code a Worker is started with (new Worker(BOOT_SOURCE, { eval: true, workerData: { boot } })):
 * compile the bundle from its cache and run it as a CommonJS module. Kept tiny: it is parsed each
 * time. With boot.giveCache, the Worker posts back a fresh code cache once its entry has returned:
 * V8 then includes the functions the request compiled (a cache taken before running holds only
 * the top level, and every Worker would compile the rest lazily again).
 */
export const BOOT_SOURCE = `const { workerData, parentPort } = require('node:worker_threads');
const b = workerData.boot;
const s = new (require('node:vm').Script)(b.source, { filename: b.filename, cachedData: b.cache ?? undefined });
const m = { exports: {} };
const r = require('node:module').createRequire(b.filename);
s.runInThisContext().call(m.exports, m.exports, r, m, b.filename, require('node:path').dirname(b.filename));
if (b.giveCache) parentPort.postMessage({ codeCache: s.createCachedData() });`;

const maps = new Map<string, SourceMap | null>();

/**
 * `stack` (an error a Worker threw) with each frame in the bundle `file` pointed back at the
 * TypeScript line it came from, by the bundle's source map (esbuild chains tsc's maps). Node 20
 * applies source maps only to modules it loads itself, not to a vm.Script, even with
 * --enable-source-maps; so the main thread does it, and only when a Worker fails.
 */
export function mapStack(stack: string, file = WORKER_BUNDLE, wrapped = true): string {
  if (!maps.has(file)) {
    try {
      maps.set(file, new SourceMap(JSON.parse(fs.readFileSync(`${file}.map`, 'utf8')) as SourceMapPayload));
    } catch {
      maps.set(file, null); // no map: the bundle's own lines, still readable JavaScript
    }
  }
  const map = maps.get(file);
  if (!map) return stack;
  const at = new RegExp(`${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:(\\d+):(\\d+)`, 'g');
  return stack.replace(at, (whole, l: string, c: string) => {
    const line = Number(l) - 1;
    const col = Number(c) - 1 - (line === 0 && wrapped ? WRAPPER.length : 0);
    const e = map.findEntry(line, col) as { originalSource?: string; originalLine?: number; originalColumn?: number };
    if (e.originalSource === undefined || e.originalLine === undefined) return whole;
    const src = e.originalSource.startsWith('file://') ? fileURLToPath(e.originalSource) : e.originalSource;
    return `${path.resolve(path.dirname(file), src)}:${e.originalLine + 1}:${(e.originalColumn ?? 0) + 1}`;
  });
}

/** Whether V8 accepted `boot.cache` (false if its flags or version differ): a check for tests. */
export function cacheAccepted(boot: WorkerBoot): boolean {
  if (!boot.cache) return false;
  const s = new vm.Script(boot.source, { filename: boot.filename, cachedData: boot.cache });
  return !s.cachedDataRejected;
}
