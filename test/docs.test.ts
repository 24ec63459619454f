// The learner's pages (README.md, SECURITY.md, docs/*.md): every `npx zerohttpd ...` command in
// them parses, they name no absolute path that exists only on one machine, and their strace
// excerpts are the ones `npm run strace-doc` wrote (sealed by the hash in the end marker, and
// shaped like strace output), one per part page and one per architecture in docs/strace.md.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseCommandLine } from '../lib/cli';
import { parseBenchArgs } from '../lib/bench/cli';
import { parseDesignArgs } from '../lib/bench/designs';
import { parseClientArgs } from '../lib/slow-client';
import { parseLine } from '../lib/strace-parse';
import { blocks, hash, rewrite, beginMarker, endMarker } from '../scripts/strace-walkthrough';

const ROOT = path.resolve(__dirname, '..', '..');
const DOCS = path.join(ROOT, 'docs');
const PAGES = [
  'README.md',
  'SECURITY.md',
  ...fs
    .readdirSync(DOCS)
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`),
];
const read = (f: string) => fs.readFileSync(path.join(ROOT, f), 'utf8');

/** The article's parts and their pages (later architectures add their own). */
const PARTS: [string, string][] = [
  ['iterative', 'docs/part-1-iterative.md'],
  ['forking', 'docs/part-2-forking.md'],
  ['preforked', 'docs/part-3-preforked.md'],
  ['threaded', 'docs/part-4-threaded.md'],
  ['prethreaded', 'docs/part-5-prethreaded.md'],
  ['poll', 'docs/part-6-poll.md'],
  ['epoll', 'docs/part-7-epoll.md'],
];

/** `npx zerohttpd ...` commands: in code blocks and inline code, each up to a shell separator. */
export function zerohttpdCommands(md: string): string[] {
  const out: string[] = [];
  for (const m of md.matchAll(/npx zerohttpd(?=[\s`]|$)([^`\n;&|]*)/g))
    out.push(`npx zerohttpd${m[1].replace(/\s#.*$/, '')}`.trim()); // a shell comment ends it
  return out;
}

/** Shell words: quotes group and are removed (`--server-args="--workers 4"`); no expansion (the docs use none). */
function words(cmd: string): string[] {
  return [...cmd.matchAll(/(?:'[^']*'|"[^"]*"|[^\s'"])+/g)].map((m) => m[0].replace(/'([^']*)'|"([^"]*)"/g, '$1$2'));
}

/** Parses the command as the CLI would, without running it; throws the CLI's usage error. */
function dryRun(argv: string[]): void {
  if (argv[0] === 'bench' && argv.includes('--designs')) parseDesignArgs(argv.slice(1));
  else if (argv[0] === 'bench') parseBenchArgs(argv.slice(1));
  else if (argv[0] === 'client') parseClientArgs(argv.slice(1));
  else parseCommandLine(argv);
}

/**
 * The rule for absolute paths: a path the server itself serves (its first segment is a file or
 * directory of public/, or a route), or an interface every Linux has: /proc, /sys, /dev,
 * /etc/passwd (the traversal examples' target), /usr/include (the kernel headers). Anything
 * else (/home/..., /tmp/..., a checkout path) exists only on somebody's machine.
 */
const SYSTEM = /^\/(proc|sys|dev)(\/|$)|^\/etc\/passwd$|^\/usr\/include\//;
const ROUTES = new Set(['guestbook', '_stats', ...fs.readdirSync(path.join(ROOT, 'public'))]);
function absolutePaths(md: string): string[] {
  const found: string[] = [];
  for (const m of md.matchAll(/(?:^|[\s`'"(=])(\/[A-Za-z0-9._-]+(?:\/[A-Za-z0-9._%-]*)*)/gm)) {
    const p = m[1];
    if (!p.slice(1).includes('/')) continue; // "/", "/guestbook", "/x": URL paths and bare names
    if (SYSTEM.test(p) || ROUTES.has(p.split('/')[1])) continue;
    found.push(p);
  }
  return found;
}

describe('docs: commands, paths and generated strace excerpts', () => {
  it('every `npx zerohttpd` command in README.md and docs/*.md parses', () => {
    let n = 0;
    for (const f of PAGES) {
      for (const cmd of zerohttpdCommands(read(f))) {
        n++;
        assert.doesNotThrow(() => dryRun(words(cmd).slice(2)), `${f}: ${cmd}`);
      }
    }
    assert.ok(n >= 20, `only ${n} commands found`);
  });

  it('the command check can fail: a wrong command is refused', () => {
    const cmds = zerohttpdCommands(
      'run `npx zerohttpd epol 8000` or\n```sh\nnpx zerohttpd client --pace soon & done\n```',
    );
    assert.deepEqual(cmds, ['npx zerohttpd epol 8000', 'npx zerohttpd client --pace soon']);
    for (const c of cmds) assert.throws(() => dryRun(words(c).slice(2)));
  });

  it('no absolute path outside the repository (but /proc, /sys, /dev, /etc/passwd, /usr/include and URL paths)', () => {
    for (const f of PAGES) assert.deepEqual(absolutePaths(read(f)), [], f);
    assert.deepEqual(absolutePaths('see /home/me/zerohttpd/docs and `/tmp/x/y`, not /proc/self/fd or /about/'), [
      '/home/me/zerohttpd/docs',
      '/tmp/x/y',
    ]);
  });

  it('every part page is linked from the README and docs/architectures.md', () => {
    for (const [, page] of PARTS) {
      assert.ok(read('README.md').includes(`](${page})`), `README links ${page}`);
      assert.ok(read('docs/architectures.md').includes(`](${path.basename(page)})`), `architectures.md links ${page}`);
    }
    assert.ok(read('README.md').split('\n').length <= 150, 'README.md is at most 150 lines');
  });

  describe('strace excerpts', () => {
    const all = PAGES.flatMap((f) => blocks(read(f)).map((b) => ({ file: f, ...b })));

    it('each part page has its architecture`s excerpt, and docs/strace.md every architecture`s', () => {
      for (const [arch, page] of PARTS)
        assert.deepEqual(
          blocks(read(page)).map((b) => b.arch),
          [arch],
          page,
        );
      const inStrace = blocks(read('docs/strace.md')).map((b) => b.arch);
      for (const arch of [...PARTS.map((p) => p[0]), 'node']) assert.ok(inStrace.includes(arch), `strace.md: ${arch}`);
    });

    it('were written by `npm run strace-doc`, not edited by hand (the end marker`s hash)', () => {
      for (const b of all)
        assert.equal(
          b.sealed,
          hash(b.body),
          `${b.file}: the ${b.arch} excerpt changed since npm run strace-doc wrote it`,
        );
    });

    it('are strace output: every line a call, a signal or an elision', () => {
      for (const b of all) {
        const lines = b.body.split('\n');
        assert.equal(lines[0], '```');
        assert.deepEqual(lines.slice(-2), ['```', '']);
        for (const l of lines.slice(1, -2)) {
          if (/^ {2}… \d+ more (one-byte recvfrom\(\) calls|lines) …$/.test(l)) continue;
          assert.ok(/^\d+ /.test(l), `${b.file} ${b.arch}: no pid: ${l}`);
          assert.notEqual(parseLine(l).kind, 'other', `${b.file} ${b.arch}: not strace: ${l}`);
        }
      }
    });

    it('show what the pages say they show', () => {
      const text = (arch: string) => all.find((b) => b.file === 'docs/strace.md' && b.arch === arch)!.body;
      for (const [arch] of PARTS) {
        const t = text(arch);
        assert.match(t, /accept4\(\d+, NULL, NULL, SOCK_CLOEXEC[^)]*\) = \d+/, arch);
        assert.match(t, /shutdown\(\d+, SHUT_WR\) = 0/, `${arch}: lingering close`);
        assert.match(t, /recvfrom\(\d+, [^,]+, 16896, (MSG_DONTWAIT|0), NULL, NULL\)/, `${arch}: the drain`);
        assert.match(t, /sendfile\(\d+, \d+, \[0\] => \[\d+\], \d+\)/, arch);
      }
      for (const arch of ['iterative', 'forking', 'preforked', 'threaded', 'prethreaded'])
        assert.match(text(arch), /MSG_DONTWAIT/, arch);
      assert.match(text('poll').split('\n')[1], /^\d+ +poll\(\[\{fd=\d+, events=POLLIN\}/);
      assert.match(text('epoll').split('\n')[1], /^\d+ +epoll_wait\(/);
      const forking = text('forking');
      assert.match(
        forking,
        /accept4\(\d+, NULL, NULL, SOCK_CLOEXEC\) = -1 EAGAIN[^\n]*\n[^\n]*wait4\(-1, /,
        'idle ticks',
      );
      const child = /clone\([^\n]*SIGCHLD[^\n]*\) = (\d+)/.exec(forking)?.[1];
      assert.ok(child, 'clone() of a child');
      assert.match(
        forking,
        new RegExp(`\\n${child} [^\\n]*write\\(\\d+, "\\*", 1\\) = 1`),
        "the child's libuv pipe byte",
      );
      assert.match(forking, /accept4 resumed>\) = -1 EINTR[^\n]*\n[^\n]*--- SIGCHLD/, 'SIGCHLD interrupts accept4');
      assert.match(forking, new RegExp(`wait4\\(-1, [^\\n]*\\) = ${child}\\n\`\`\`\\n$`), 'ends with the reaping');
    });

    it('rewrite() changes only what is between the markers, and refuses a lone begin marker', () => {
      const doc = `# t\n\nprose\n${beginMarker('poll')}old\n${endMarker('poll', 'old\n')}\nafter\n${beginMarker('epoll')}${endMarker('epoll', '')}\n`;
      const out = rewrite(doc, { poll: '1 poll([], 0, 0) = 0' });
      const body = '```\n1 poll([], 0, 0) = 0\n```\n';
      assert.equal(
        out,
        `# t\n\nprose\n${beginMarker('poll')}${body}${endMarker('poll', body)}\nafter\n${beginMarker('epoll')}${endMarker('epoll', '')}\n`,
      );
      assert.deepEqual(
        blocks(out).map((b) => [b.arch, b.sealed === hash(b.body)]),
        [
          ['poll', true],
          ['epoll', true],
        ],
      );
      assert.throws(() => blocks(`${beginMarker('poll')}x\n`), /begin marker without its end marker/);
    });
  });
});
