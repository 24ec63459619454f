// A temp tree for traversal tests: root/public is a copy of public/ plus a sub-directory and
// symlinks that point out of it; root/secret.txt and root/outside-dir/ hold SECRET, which no
// server may ever return.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export const SECRET = 'TOP-SECRET-outside-the-public-root';
export const PUBLIC = path.resolve(__dirname, '..', '..', '..', 'public');

export function makeTraversalTree(prefix: string): { root: string; pub: string } {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), `zerohttpd-${prefix}-`));
  const pub = path.join(root, 'public');
  fs.cpSync(PUBLIC, pub, { recursive: true });
  fs.writeFileSync(path.join(root, 'secret.txt'), SECRET + '\n');
  fs.mkdirSync(path.join(root, 'outside-dir'));
  fs.writeFileSync(path.join(root, 'outside-dir', 'index.html'), SECRET + '\n');
  fs.symlinkSync('../secret.txt', path.join(pub, 'escape.txt')); // relative, points out
  fs.symlinkSync(path.join(root, 'secret.txt'), path.join(pub, 'abs-escape.txt')); // absolute
  fs.symlinkSync('..', path.join(pub, 'up')); // directory link out
  fs.symlinkSync('../outside-dir', path.join(pub, 'outdir'));
  fs.mkdirSync(path.join(pub, 'sub'));
  fs.writeFileSync(path.join(pub, 'sub', 'index.html'), '<p>sub index</p>\n');
  return { root, pub };
}
