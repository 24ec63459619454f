// A test that cannot run here says why: a skip is printed, never silent.
import { ARCHITECTURES } from '../../lib/servers/index';

/** Prints `skipped: <reason>` under the test's title, then skips it. */
export function skipBecause(ctx: Mocha.Context, reason: string): never {
  console.log(`      skipped: ${reason}`);
  ctx.skip();
}

/**
 * The architectures that can run on this machine, for a test that covers each one (call it
 * inside a describe()); one that cannot (io_uring disabled or missing) gets a describe of its
 * own whose test is skipped with the reason printed.
 */
export function runnableArchitectures(): string[] {
  return Object.keys(ARCHITECTURES).filter((arch) => {
    const why = ARCHITECTURES[arch].unavailable?.();
    if (why)
      describe(arch, () =>
        it('cannot run on this machine', function () {
          skipBecause(this, `${arch}: ${why}`);
        }),
      );
    return !why;
  });
}
