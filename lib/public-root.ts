// The public root: the one directory static files are served from, opened once (O_PATH), and
// each request's file opened beneath it with openat2() and fstat()ed. The syscall half of
// static files; what to answer is lib/app.ts (route()) and lib/http/static.ts (path rules).
import * as fs from 'node:fs';
import { C, native } from './sys';
import { responseHead } from './http/response';
import { contentType, directoryRedirect, openErrorStatus, sanitizePath } from './http/static';
import * as gb from './guestbook/guestbook';
import { App, errorPlan, Plan } from './app';
import { Options } from './options';
import { snapshot } from './live';

/** The App of a public root: an O_PATH fd of the directory, beneath which every file is opened. */
export interface PublicRoot extends App {
  publicFd: number;
  publicDir: string;
}

export function createApp(opts: Pick<Options, 'publicDir' | 'templatesDir'> & { statsPage?: boolean }): PublicRoot {
  const publicDir = fs.realpathSync(opts.publicDir);
  const publicFd = native.open(publicDir, C.O_PATH | C.O_DIRECTORY | C.O_CLOEXEC);
  if (publicFd < 0) throw new Error(`cannot open public directory ${publicDir}: ${native.errname(publicFd)}`);
  try {
    return {
      publicFd,
      publicDir,
      templates: new gb.Templates(opts.templatesDir),
      staticFile: (rawPath, head, query) => staticFile(publicFd, rawPath, head, query),
      liveStats: opts.statsPage ? () => JSON.stringify(snapshot()) : undefined,
    };
  } catch (e) {
    native.close(publicFd); // e.g. EMFILE reading a template in a threaded Worker: don't leak the fd
    throw e;
  }
}

export function closeApp(app: PublicRoot): void {
  native.close(app.publicFd);
}

const RESOLVE = C.RESOLVE_BENEATH | C.RESOLVE_NO_MAGICLINKS;
const OPEN_FLAGS = C.O_RDONLY | C.O_CLOEXEC | C.O_NONBLOCK | C.O_NOCTTY;
const statBuf = new Float64Array(3);

/**
 * openat2(RESOLVE_BENEATH) refuses '..', absolute paths and symlinks that leave the public
 * root in the kernel, before anything outside is opened; sanitizePath() has already refused
 * every encoded form. O_NONBLOCK keeps a FIFO in public/ from blocking the open.
 */
export function staticFile(publicFd: number, rawPath: string, head: boolean, query = ''): Plan {
  const s = sanitizePath(rawPath);
  if (!s.ok) return errorPlan(s.status, { head });
  const fd = native.openat2(publicFd, s.rel || '.', OPEN_FLAGS, RESOLVE);
  if (fd < 0) {
    const code = native.errname(fd);
    if (code === 'EMFILE' || code === 'ENFILE' || code === 'ENOMEM')
      return errorPlan(503, { head, message: 'the server is out of resources, try again' });
    return errorPlan(openErrorStatus(code), { head });
  }
  if (native.fstat(fd, statBuf) < 0) {
    native.close(fd);
    return errorPlan(500, { head });
  }
  const type = statBuf[0] & C.S_IFMT;
  if (type === C.S_IFDIR && !s.dirIndex) {
    native.close(fd);
    const location = directoryRedirect(rawPath, query); // the query string stays: /about?x=1 -> /about/?x=1
    return errorPlan(301, { head, message: `Moved to ${location}`, extra: { Location: location } });
  }
  if (type !== C.S_IFREG) {
    native.close(fd);
    return errorPlan(404, { head });
  }
  const size = statBuf[1];
  return { kind: 'file', status: 200, head: responseHead(200, contentType(s.rel), size), fd, size, sendBody: !head };
}
