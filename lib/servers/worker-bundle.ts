// A Worker's code as one script compiled from a V8 code cache (docs/threads.md). Node 20
// compiles every module a Worker requires from source, in every Worker: a dozen files read,
// wrapped and parsed per connection. Here the main thread walks the require() graph of the
// Worker's entry once, joins the compiled modules into one script (CommonJS wrappers keyed by
// file name, like browserify's), and compiles it once to take a code cache; each Worker then
// deserializes that cache instead of parsing. A require() the walk did not see (a builtin,
// the addon, a name computed at run time) falls through to Node's own require().
//
// Why not a bundler from npm (esbuild) or tsc --outFile: outFile does not exist for CommonJS,
// and the walk over dist/ is 60 lines with no build step to keep in sync with the sources.
import * as fs from 'node:fs';
import { createRequire, isBuiltin } from 'node:module';
import * as vm from 'node:vm';

export interface WorkerBoot {
  source: string; // the joined script: evaluates to a function(requireFallback) that runs the entry
  filename: string; // what stack traces show for it
  cache: Uint8Array | null; // V8 code cache of `source`, or null: compile from source
  giveCache?: boolean; // the Worker posts back { codeCache } after its entry ran (see BOOT_SOURCE)
}

const REQUIRE = /\brequire\((['"])([^'"]+)\1\)/g;

/** Every module reachable from `entry` by require('literal'), builtins and addons excluded. */
function walk(entry: string): Map<string, string> {
  const files = new Map<string, string>();
  const todo = [entry];
  while (todo.length > 0) {
    const file = todo.pop()!;
    if (files.has(file)) continue;
    const text = fs.readFileSync(file, 'utf8');
    files.set(file, text);
    if (file.endsWith('.json')) continue;
    const req = createRequire(file);
    for (const m of text.matchAll(REQUIRE)) {
      if (isBuiltin(m[2])) continue;
      let dep: string;
      try {
        dep = req.resolve(m[2]);
      } catch {
        continue; // left to Node at run time (and its error)
      }
      if (dep.endsWith('.js') || dep.endsWith('.json')) todo.push(dep);
    }
  }
  return files;
}

/** One script for `entry` and what it requires; with a code cache if `cache` is set. */
export function bundleWorker(entry: string, cache = true): WorkerBoot {
  const parts: string[] = [];
  for (const [file, text] of walk(entry)) {
    const body = file.endsWith('.json')
      ? `module.exports = JSON.parse(${JSON.stringify(JSON.stringify(JSON.parse(text)))});`
      : text.replace(/^#!.*/, '').replace(/\/\/# sourceMappingURL=.*$/m, '');
    parts.push(`${JSON.stringify(file)}: function (exports, require, module, __filename, __dirname) {\n${body}\n}`);
  }
  const source = `(function (fallback) {
  const defs = {\n${parts.join(',\n')}\n};
  const cache = Object.create(null);
  const dirname = (f) => f.slice(0, f.lastIndexOf('/')) || '/';
  function load(file) {
    if (cache[file]) return cache[file].exports;
    const module = (cache[file] = { exports: {}, filename: file, loaded: false });
    defs[file].call(module.exports, module.exports, makeRequire(file), module, file, dirname(file));
    module.loaded = true;
    return module.exports;
  }
  function makeRequire(from) {
    const real = fallback(from);
    return function require(id) {
      if (id[0] === '.' || id[0] === '/') {
        const f = resolve(dirname(from), id);
        if (f) return load(f);
      } else {
        const f = packages[id];
        if (f) return load(f);
      }
      return real(id);
    };
  }
  function resolve(dir, id) {
    const parts = (id[0] === '/' ? id : dir + '/' + id).split('/');
    const out = [];
    for (const p of parts) {
      if (p === '..') out.pop();
      else if (p !== '.' && p !== '') out.push(p);
    }
    const base = '/' + out.join('/');
    for (const f of [base, base + '.js', base + '.json', base + '/index.js']) if (defs[f]) return f;
    return null;
  }
  const packages = ${JSON.stringify(packageEntries(entry))};
  return load(${JSON.stringify(entry)});
})`;
  const filename = `${entry} (bundled)`;
  return { source, filename, cache: cache ? new vm.Script(source, { filename }).createCachedData() : null };
}

/** Bare package names the walk met (e.g. 'mime-types'), each to the file Node resolves it to. */
function packageEntries(entry: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [file, text] of walk(entry)) {
    if (file.endsWith('.json')) continue;
    const req = createRequire(file);
    for (const m of text.matchAll(REQUIRE)) {
      const id = m[2];
      if (isBuiltin(id) || id[0] === '.' || id[0] === '/') continue;
      try {
        const dep = req.resolve(id);
        if (dep.endsWith('.js') || dep.endsWith('.json')) out[id] = dep;
      } catch {
        /* left to Node */
      }
    }
  }
  return out;
}

/**
 * The code a Worker is started with (new Worker(BOOT_SOURCE, { eval: true, workerData: { boot } })):
 * compile the joined script from its cache and run the entry. Kept tiny: it is parsed each time.
 * With boot.giveCache, the Worker posts back a fresh code cache once its entry has returned: V8
 * then includes the functions the request compiled (a cache taken before running holds only the
 * top level, and every Worker would compile the rest lazily again).
 */
export const BOOT_SOURCE = `const { workerData, parentPort } = require('node:worker_threads');
const b = workerData.boot;
const { createRequire } = require('node:module');
const s = new (require('node:vm').Script)(b.source, { filename: b.filename, cachedData: b.cache ?? undefined });
s.runInThisContext()((from) => createRequire(from));
if (b.giveCache) parentPort.postMessage({ codeCache: s.createCachedData() });`;

/** Whether V8 accepted `boot.cache` (false if its flags or version differ): a check for tests. */
export function cacheAccepted(boot: WorkerBoot): boolean {
  if (!boot.cache) return false;
  const s = new vm.Script(boot.source, { filename: boot.filename, cachedData: boot.cache });
  return !s.cachedDataRejected;
}
