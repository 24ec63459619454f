// Where the package's files are: the package root (where binding.gyp, public/ and templates/
// are), the default site, and the built native objects. Found without loading the addon: the
// CLI needs them for its defaults and --help, before it knows whether it will serve.
import * as fs from 'node:fs';
import * as path from 'node:path';

function findRoot(): string {
  // runs from dist/lib/paths.js; the package root holds binding.gyp
  let dir = __dirname;
  for (let i = 0; i < 5; i++) {
    if (fs.existsSync(path.join(dir, 'binding.gyp'))) return dir;
    dir = path.dirname(dir);
  }
  return path.resolve(__dirname, '..', '..');
}

export const ROOT = findRoot();

/** The default --public: our own pages and image. */
export const PUBLIC_DIR = path.join(ROOT, 'public');
/** The guestbook's page templates. */
export const TEMPLATES_DIR = path.join(ROOT, 'templates');

/** Where lib/sys.ts looks for the addon, relative to ROOT, in this order. */
export const ADDON_PATHS = ['build/Release/zerohttpd.node', 'build/Debug/zerohttpd.node'];
/** The LD_PRELOAD object of the fork-safe re-exec (lib/forksafe.ts). */
export const FORKSAFE_SO = path.join(ROOT, 'build', 'Release', 'forksafe.so');
