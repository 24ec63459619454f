// The LIFO accept lock of preforked --accept-lock lifo (native/process.cc), on its own: real
// forked processes in the fork-safe node (test/fixtures/lifo-lock.ts), checked through the
// lock's own state and the order its holders print in, never through timing.
import { strict as assert } from 'node:assert';
import * as child_process from 'node:child_process';
import * as path from 'node:path';
import { FORKSAFE_SO } from '../lib/paths';
import { C, native } from '../lib/sys';

describe('LIFO accept lock (shared memory futex)', function () {
  this.timeout(60_000);
  let lines: string[] = [];
  interface Status {
    exited: boolean;
    code: number;
    signaled: boolean;
    signal: number;
  }
  interface State {
    owner: number;
    waiters: number[];
    handoffs: number;
  }
  let out = {} as {
    parentLock: number;
    waiters: number[];
    parentUnlock: number;
    ownerAfterUnlock: number;
    orderStatus: number[];
    afterOrder: State;
    holderStatus: Status;
    ownerAfterDeath: number | string;
    ownerDied: number;
    waiterStatus: Status;
    afterDeath: State;
    stoppedStatus: Status;
    afterStop: State;
    EINTR: number;
  };

  before(() => {
    const r = child_process.spawnSync(
      process.execPath,
      ['--single-threaded', path.join(__dirname, 'fixtures', 'lifo-lock.js')],
      { env: { ...process.env, LD_PRELOAD: FORKSAFE_SO }, encoding: 'utf8', timeout: 50_000 },
    );
    assert.equal(r.status, 0, `fixture failed: ${r.stderr}${r.stdout}`);
    lines = r.stdout.trim().split('\n');
    out = JSON.parse(lines.pop()!) as typeof out;
  });

  it('wakes the most recent waiter first: three queued in order 1, 2, 3 get it as 3, 2, 1', () => {
    assert.equal(out.parentLock, 0);
    assert.deepEqual(out.waiters, [1, 2, 3], 'the stack, bottom to top');
    assert.equal(out.parentUnlock, 0);
    assert.equal(out.ownerAfterUnlock, 3, 'unlock handed it to the last to arrive');
    assert.deepEqual(lines.slice(0, 3), ['got 3', 'got 2', 'got 1']);
    assert.deepEqual(out.orderStatus, [0, 0, 0]);
    assert.deepEqual(out.afterOrder, { owner: 0, waiters: [], handoffs: 3 });
  });

  it('a holder SIGKILLed while holding it does not wedge it: the reaper passes it to the waiter', () => {
    assert.equal(out.holderStatus.signal, 9);
    assert.equal(out.ownerAfterDeath, 'dead holder', 'nothing but the reaper can know');
    assert.equal(out.ownerDied, 1);
    assert.equal(lines[3], 'waiter got it: 0');
    assert.deepEqual(out.waiterStatus, { exited: true, code: 0, signaled: false, signal: 0 });
    assert.deepEqual(out.afterDeath.waiters, []);
    assert.equal(out.afterDeath.owner, 0);
  });

  it('a waiter asked to stop (SIGTERM) returns -EINTR and leaves the stack', () => {
    assert.deepEqual(out.stoppedStatus, { exited: true, code: out.EINTR, signaled: false, signal: 0 });
    assert.deepEqual(out.afterStop.waiters, []);
  });

  it('bad arguments are a TypeError or RangeError; unlocking a lock one does not hold is -EPERM', () => {
    assert.throws(() => native.shmLifoCreate(0), RangeError);
    assert.throws(() => native.shmLifoLock(1e6), RangeError);
    assert.throws(() => (native.shmLifoLock as (h: unknown) => number)('x'), TypeError);
    const h = native.shmLifoCreate(2);
    assert.ok(h >= 0);
    assert.equal(native.shmLifoUnlock(h), -C.EPERM);
  });
});
