// The architecture registry (lib/servers/index.ts): every entry loads a module whose
// `architecture` has the Architecture shape (test/cli.test.ts checks that parsing and --help load none).
import * as assert from 'node:assert/strict';
import { ARCHITECTURES, COMMON_OPTIONS } from '../lib/servers/index';
import { COMMAND_LINE } from '../lib/options';

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
      for (const o of Object.keys(entry.refuses ?? {}))
        assert.ok(entry.options.includes(o as never), `${name} refuses values of --${o}, which it does not take`);
    }
  });
});
