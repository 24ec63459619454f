// The architecture registry (lib/servers/index.ts): every entry loads a module whose
// `architecture` has the Architecture shape (test/cli.test.ts checks that parsing and --help load none).
import * as assert from 'node:assert/strict';
import { ARCHITECTURES, COMMON_OPTIONS, flag } from '../lib/servers/index';
import { COMMAND_LINE, DEFAULTS, Options } from '../lib/options';

const FLAGS = ['childrenInStats', 'nonBlockingListen', 'forks', 'ownSignals'];
/** Members that are functions of the options: flags that depend on them, and the banner's mode. */
const OF_OPTIONS = ['childrenInStats', 'forks', 'mode'];

describe('architecture registry', () => {
  for (const [name, entry] of Object.entries(ARCHITECTURES)) {
    it(`${name}: load() gives an Architecture (enterServerLoop(listenFd, opts), flags, the banner's mode)`, () => {
      const arch = entry.load();
      assert.equal(typeof arch.enterServerLoop, 'function');
      assert.equal(arch.enterServerLoop.length, 2, 'enterServerLoop(listenFd, opts)');
      assert.ok(['boolean', 'function'].includes(typeof arch.childrenInStats));
      for (const [key, value] of Object.entries(arch)) {
        if (key === 'enterServerLoop') continue;
        if (key === 'forkSafeNodeFlags') {
          assert.ok(Array.isArray(value) && value.every((f) => typeof f === 'string' && f.startsWith('--')), key);
          assert.ok('forks' in arch && arch.forks, `${key}: node flags of the fork-safe re-exec, where it forks`);
          continue;
        }
        assert.ok([...FLAGS, 'mode'].includes(key), `unknown member '${key}'`);
        if (typeof value === 'function') assert.ok(OF_OPTIONS.includes(key), `${key} is a function`);
        else assert.equal(typeof value, 'boolean', key);
      }
      assert.equal(entry.load(), arch, 'loaded once (the module is cached)');
    });
  }

  it('the flags are what start-up relies on: who forks, who counts children, who listens non-blocking, who owns the signals', () => {
    const having = (name: 'childrenInStats' | 'nonBlockingListen' | 'forks' | 'ownSignals', o: Partial<Options> = {}) =>
      Object.keys(ARCHITECTURES).filter((n) =>
        flag(ARCHITECTURES[n].load()[name], { ...DEFAULTS, ...ARCHITECTURES[n].defaults, ...o }),
      );
    assert.deepEqual(having('forks'), ['forking', 'preforked']);
    assert.deepEqual(having('childrenInStats'), ['forking', 'preforked']);
    // poll/epoll --workers N fork N event loops, whose CPU time is the children's.
    assert.deepEqual(having('forks', { workers: 2 }), ['forking', 'preforked', 'poll', 'epoll']);
    assert.deepEqual(having('childrenInStats', { workers: 2 }), ['forking', 'preforked', 'poll', 'epoll']);
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
