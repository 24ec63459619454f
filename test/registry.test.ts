// The architecture registry (lib/servers/index.ts): every entry loads a module whose
// `architecture` has the Architecture shape, and parsing, refusing and --help load none of them.
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { ARCHITECTURES, COMMON_OPTIONS } from '../lib/servers/index';
import { COMMAND_LINE } from '../lib/options';

const LIB = path.join(__dirname, '..', 'lib');
const FLAGS = ['childrenInStats', 'nonBlockingListen', 'forks', 'ownSignals'];

describe('architecture registry', () => {
  for (const [name, entry] of Object.entries(ARCHITECTURES)) {
    it(`${name}: load() gives an Architecture (enterServerLoop(listenFd, opts) and boolean flags only)`, () => {
      const arch = entry.load();
      assert.equal(typeof arch.enterServerLoop, 'function');
      assert.equal(arch.enterServerLoop.length, 2, 'enterServerLoop(listenFd, opts)');
      assert.equal(typeof arch.childrenInStats, 'boolean');
      for (const [key, value] of Object.entries(arch)) {
        if (key === 'enterServerLoop') continue;
        assert.ok(FLAGS.includes(key), `unknown member '${key}'`);
        assert.equal(typeof value, 'boolean', key);
      }
      assert.equal(entry.load(), arch, 'loaded once (the module is cached)');
    });
  }

  it('the flags are what start-up relies on: who forks, who counts children, who listens non-blocking, who owns the signals', () => {
    const having = (flag: 'childrenInStats' | 'nonBlockingListen' | 'forks' | 'ownSignals') =>
      Object.keys(ARCHITECTURES).filter((n) => ARCHITECTURES[n].load()[flag]);
    assert.deepEqual(having('forks'), ['forking', 'preforked']);
    assert.deepEqual(having('childrenInStats'), ['forking', 'preforked']);
    assert.deepEqual(having('nonBlockingListen'), ['poll', 'epoll']);
    assert.deepEqual(having('ownSignals'), ['node']);
  });

  it('the option table names command-line options only, none of them common ones', () => {
    for (const [name, entry] of Object.entries(ARCHITECTURES)) {
      for (const o of entry.options) {
        assert.ok(o in COMMAND_LINE, `${name}: --${o}`);
        assert.ok(!COMMON_OPTIONS.includes(o), `${name}: --${o} is common already`);
      }
      for (const o of Object.keys(entry.refuses ?? {})) assert.ok(entry.options.includes(o as never), `${name} refuses values of --${o}, which it does not take`);
    }
  });

  it('parsing, refusing an option and the usage load no server module and not the addon', () => {
    // A fresh process: this one has loaded every architecture above.
    const script = `
      const cli = require(${JSON.stringify(path.join(LIB, 'cli.js'))});
      cli.parseCommandLine(['preforked', '--workers', '2']);
      try { cli.parseCommandLine(['epoll', '--workers', '2']); process.exit(3); } catch (e) { if (!(e instanceof cli.UsageError)) throw e; }
      if (!cli.USAGE.includes('prethreaded')) process.exit(4);
      console.log(JSON.stringify(Object.keys(require.cache)));`;
    const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const loaded: string[] = JSON.parse(r.stdout);
    assert.ok(loaded.some((f) => f.endsWith(path.join('servers', 'index.js'))), 'the registry itself was loaded');
    const servers = loaded.filter((f) => f.startsWith(path.join(LIB, 'servers') + path.sep) && !f.endsWith('index.js'));
    assert.deepEqual(servers, []);
    assert.deepEqual(loaded.filter((f) => f.endsWith('.node') || f.endsWith(path.join('lib', 'sys.js'))), []);
  });
});
