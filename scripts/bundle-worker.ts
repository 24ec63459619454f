// Build step (`npm run bundle`, part of prepare, build and pretest): the threaded server's two
// thread entries, each with every module it requires, bundled by esbuild into one script next to
// it with a source map back to lib/*.ts (docs/threads.md):
// - the Worker's, dist/lib/servers/thread-worker.js, into thread-worker.bundle.js (CommonJS for
//   Node), which lib/servers/worker-bundle.ts loads at server start and compiles once for the V8
//   code cache every Worker starts from (--worker-code cached);
// - the bare isolate's, thread-isolate.js, into thread-isolate.bundle.js (an IIFE for a context
//   with V8 only: stand-ins for Buffer, fs, path, URLSearchParams, a build-time mime table), which
//   lib/servers/isolate-threads.ts hands to native/isolate.cc (--worker-code isolate, the default).
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
/** The bare-isolate thread's entry and its bundle (native/isolate.cc runs it; no Node there). */
export const ISOLATE_ENTRY = path.resolve(__dirname, '..', 'lib', 'servers', 'thread-isolate.js');
export const ISOLATE_BUNDLE = path.resolve(__dirname, '..', 'lib', 'servers', 'thread-isolate.bundle.js');
const ISOLATE_DIR = path.resolve(__dirname, '..', 'lib', 'isolate');

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

/**
 * A bare isolate has no Node: node:fs becomes lib/isolate/fs.ts (the few calls the request path
 * makes, over our syscalls), node:path the path-browserify package, and Buffer the npm buffer
 * package (Node's Buffer API in JavaScript over Uint8Array), with Node's UTF-8 decoding
 * (lib/isolate/buffer.ts), and URLSearchParams core-js's (the WHATWG algorithm, as Node's), each
 * injected wherever a module uses it. node:net (net-probe.ts, which only the main
 * thread calls) is an empty module. Any other builtin is an error of the build, not of a request.
 */
const isolateShims: esbuild.Plugin = {
  name: 'isolate-shims',
  setup(build) {
    build.onResolve({ filter: /^(node:)?(fs|path|buffer|net)$/ }, (a) => {
      const name = a.path.replace(/^node:/, '');
      if (name === 'fs') return { path: path.join(ISOLATE_DIR, 'fs.js') };
      if (name === 'path') return { path: require.resolve('path-browserify') };
      if (name === 'buffer') return { path: require.resolve('buffer/') };
      return { path: name, namespace: 'isolate-empty' };
    });
    build.onLoad({ filter: /.*/, namespace: 'isolate-empty' }, () => ({ contents: 'module.exports = {};' }));
  },
};

/**
 * mime-types in the isolate bundle: the answers of the real package's contentType() for every
 * extension it knows, computed here at build time, behind the same lookup of the extension.
 * Loading mime-types itself means parsing mime-db's 186 kB db.json and indexing it, about 6 ms
 * of each isolate thread's start (a Worker pays it too, but a Worker's start costs 40 ms anyway).
 * Only contentType() of a file name is kept: it is all lib/http/static.ts calls (a MIME type given
 * instead gets false, where the package would add its charset). test/thread-isolate.test.ts
 * checks the table's answers against the package's.
 */
export function mimeTableSource(): string {
  const mime = require('mime-types') as typeof import('mime-types');
  const table: Record<string, string> = {};
  for (const ext of Object.keys(mime.types)) {
    const type = mime.contentType(ext);
    if (type) table[ext] = type;
  }
  return `// Generated by scripts/bundle-worker.ts from mime-types ${JSON.stringify(require('mime-types/package.json').version)}.
var extname = require('path').extname;
var TABLE = JSON.parse(${JSON.stringify(JSON.stringify(table))});
exports.contentType = function contentType(str) {
  if (!str || typeof str !== 'string' || str.indexOf('/') !== -1) return false;
  var ext = extname('x.' + str).toLowerCase().substr(1);
  return (ext && Object.prototype.hasOwnProperty.call(TABLE, ext) && TABLE[ext]) || false;
};
`;
}
const mimeTable: esbuild.Plugin = {
  name: 'mime-table',
  setup(build) {
    build.onResolve({ filter: /^mime-types$/ }, () => ({ path: 'mime-types', namespace: 'mime-table' }));
    build.onLoad({ filter: /.*/, namespace: 'mime-table' }, () => ({
      contents: mimeTableSource(),
      resolveDir: __dirname,
    }));
  },
};

/** The file esbuild injects for the globals Node has and V8 has not: it must be an ES module (esbuild
 *  reads its export names), which tsc does not emit, so the build writes it next to lib/isolate/fs.js. */
function isolateGlobals(): string {
  const file = path.join(ISOLATE_DIR, 'globals.mjs');
  fs.writeFileSync(
    file,
    "export { Buffer } from './buffer.js';\n" +
      // loaded at the first use (a guestbook request), not at every thread's start: new URLSearchParams(x)
      // returns the object the real constructor makes
      'let Real;\nexport function URLSearchParams(init) {\n' +
      "  Real ??= require('core-js-pure/web/url-search-params');\n  return new Real(init);\n}\n",
  );
  return file;
}

/** What worker-bundle.ts compares to tell whether the bundle is older than its inputs. */
export function digest(file: string): string {
  return crypto.createHash('sha1').update(fs.readFileSync(file)).digest('hex');
}

/**
 * Bundle `entry` into `outfile`, `outfile`.map, and `outfile`.inputs.json: each file read
 * (relative to the bundle's directory) and a digest of its content, which worker-bundle.ts checks
 * at start-up (tsc rewrites every file it compiles, so their times would say nothing).
 */
export async function bundleWorker(
  entry = WORKER_ENTRY,
  outfile = WORKER_BUNDLE,
  kind: 'worker' | 'isolate' = 'worker',
): Promise<Record<string, string>> {
  const common = {
    entryPoints: [entry],
    outfile,
    bundle: true,
    sourcemap: true, // esbuild follows tsc's .js.map files back to lib/*.ts
    sourcesContent: false, // the .map points at the .ts files, it does not copy them
    logLevel: 'warning',
    metafile: true,
  } satisfies esbuild.BuildOptions;
  const r = await esbuild.build(
    kind === 'worker'
      ? { ...common, platform: 'node', format: 'cjs', target: 'node20', plugins: [externalAddons(outfile), jsonParse] }
      : {
          ...common,
          platform: 'neutral', // no Node, no browser: V8 and what the bundle brings
          mainFields: ['main'],
          format: 'iife',
          target: 'es2022',
          inject: [isolateGlobals()],
          plugins: [isolateShims, mimeTable, jsonParse],
        },
  );
  const dir = path.dirname(outfile);
  const inputs: Record<string, string> = {};
  const read = Object.keys(r.metafile.inputs);
  // The mime table is made from these two (mimeTableSource()), which esbuild does not read itself.
  if (kind === 'isolate') read.push(require.resolve('mime-types'), require.resolve('mime-db/db.json'));
  for (const f of read) {
    if (/^[\w-]+:/.test(f)) continue; // a module made by a plugin (isolate-empty:net), not a file
    inputs[path.relative(dir, path.resolve(f))] = digest(path.resolve(f));
  }
  fs.writeFileSync(`${outfile}.inputs.json`, `${JSON.stringify(inputs, null, 1)}\n`);
  return inputs;
}

async function main(): Promise<void> {
  for (const [entry, out, kind] of [
    [WORKER_ENTRY, WORKER_BUNDLE, 'worker'],
    [ISOLATE_ENTRY, ISOLATE_BUNDLE, 'isolate'],
  ] as const) {
    const inputs = await bundleWorker(entry, out, kind);
    console.log(`${path.relative(process.cwd(), out)}: ${Object.keys(inputs).length} modules`);
  }
}

if (require.main === module) {
  main().catch((e: unknown) => {
    console.error(e instanceof Error ? e.message : e);
    process.exit(1);
  });
}
