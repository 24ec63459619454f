// Build step (`npm run bundle`, part of prepare, build and pretest): the threaded server's Worker
// entry, dist/lib/servers/thread-worker.js, and every module it requires, bundled by esbuild into
// one CommonJS script next to it (thread-worker.bundle.js, with a source map back to lib/*.ts).
// lib/servers/worker-bundle.ts loads it at server start and compiles it once for the V8 code
// cache every Worker starts from (docs/threads.md).
//
// esbuild is a devDependency and runs at build time, not in the server: the bundle depends only
// on dist/ and node_modules/, which are fixed once built, so building it again per start would
// only add ~50 ms and a 10 MB binary dependency to every install. A bundle older than what it
// was built from (a file changed since) is refused at start-up with a message naming this step (worker-bundle.ts).
import * as crypto from 'node:crypto';
import * as esbuild from 'esbuild';
import * as fs from 'node:fs';
import * as path from 'node:path';

/** The built Worker entry and its bundle (same directory, so __dirname stays dist/lib/servers). */
export const WORKER_ENTRY = path.resolve(__dirname, '..', 'lib', 'servers', 'thread-worker.js');
export const WORKER_BUNDLE = path.resolve(__dirname, '..', 'lib', 'servers', 'thread-worker.bundle.js');

/**
 * Native addons stay outside the bundle, loaded by Node's own require() at run time. A literal
 * relative require('./x.node') would resolve from the bundle's directory, not the requiring
 * module's, so it is rewritten relative to the bundle. (lib/sys.ts loads the addon by an absolute
 * path computed at run time, which esbuild leaves alone as any non-literal require.)
 */
function externalAddons(outfile: string): esbuild.Plugin {
  return {
    name: 'external-addons',
    setup(build) {
      build.onResolve({ filter: /\.node$/ }, (a) => {
        const abs = path.resolve(a.resolveDir, a.path);
        let rel = path.relative(path.dirname(outfile), abs);
        if (!rel.startsWith('.')) rel = `./${rel}`;
        return { path: rel, external: true };
      });
    },
  };
}

/** JSON as module.exports = JSON.parse('...'), not as an object literal (esbuild's json loader): V8
 *  parses a large JSON string faster than the same literal (v8.dev/blog/cost-of-javascript-2019),
 *  and mime-db's db.json is 186 kB. The hand-written bundler before esbuild did the same. */
const jsonParse: esbuild.Plugin = {
  name: 'json-parse',
  setup(build) {
    build.onLoad({ filter: /\.json$/ }, (a) => {
      const text = JSON.stringify(JSON.parse(fs.readFileSync(a.path, 'utf8')));
      return { contents: `module.exports = JSON.parse(${JSON.stringify(text)});`, loader: 'js' };
    });
  },
};

/** What worker-bundle.ts compares to tell whether the bundle is older than its inputs. */
export function digest(file: string): string {
  return crypto.createHash('sha1').update(fs.readFileSync(file)).digest('hex');
}

/**
 * Bundle `entry` into `outfile`, `outfile`.map, and `outfile`.inputs.json: each file read
 * (relative to the bundle's directory) and a digest of its content, which worker-bundle.ts checks
 * at start-up (tsc rewrites every file it compiles, so their times would say nothing).
 */
export async function bundleWorker(entry = WORKER_ENTRY, outfile = WORKER_BUNDLE): Promise<Record<string, string>> {
  const r = await esbuild.build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    sourcemap: true, // esbuild follows tsc's .js.map files back to lib/*.ts
    sourcesContent: false, // the .map points at the .ts files, it does not copy them
    logLevel: 'warning',
    metafile: true,
    plugins: [externalAddons(outfile), jsonParse],
  });
  const dir = path.dirname(outfile);
  const inputs: Record<string, string> = {};
  for (const f of Object.keys(r.metafile.inputs)) inputs[path.relative(dir, path.resolve(f))] = digest(path.resolve(f));
  fs.writeFileSync(`${outfile}.inputs.json`, `${JSON.stringify(inputs, null, 1)}\n`);
  return inputs;
}

if (require.main === module) {
  bundleWorker().then(
    (inputs) => console.log(`${path.relative(process.cwd(), WORKER_BUNDLE)}: ${Object.keys(inputs).length} modules`),
    (e: unknown) => {
      console.error(e instanceof Error ? e.message : e);
      process.exit(1);
    },
  );
}
