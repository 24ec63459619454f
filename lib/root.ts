// The package root (where binding.gyp, public/ and templates/ are), found without loading the
// addon: the CLI needs it for its defaults and --help, before it knows whether it will serve.
import * as fs from 'node:fs';
import * as path from 'node:path';

function findRoot(): string {
  // runs from dist/lib/root.js; the package root holds binding.gyp
  let dir = __dirname;
  for (let i = 0; i < 5; i++) {
    if (fs.existsSync(path.join(dir, 'binding.gyp'))) return dir;
    dir = path.dirname(dir);
  }
  return path.resolve(__dirname, '..', '..');
}

export const ROOT = findRoot();
