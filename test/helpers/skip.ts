// A test that cannot run here says why: a skip is printed, never silent.
import { ARCHITECTURES } from '../../lib/servers/index';

/** Prints `skipped: <reason>` under the test's title, then skips it. */
export function skipBecause(ctx: Mocha.Context, reason: string): never {
  console.log(`      skipped: ${reason}`);
  ctx.skip();
}

/**
 * Of `items` (an architecture, or a mode of one, under its label), those that can run on this
 * machine, for a test that covers each one (call it inside a describe()); one that cannot
 * (io_uring disabled or missing) gets a describe of its own whose test is skipped with the reason
 * printed.
 */
export function runnable<T extends { label: string; arch: string }>(items: readonly T[]): T[] {
  return items.filter(({ label, arch }) => {
    const why = ARCHITECTURES[arch].unavailable?.();
    if (why)
      describe(label, () =>
        it('cannot run on this machine', function () {
          skipBecause(this, `${label}: ${why}`);
        }),
      );
    return !why;
  });
}

/** runnable() over every registered architecture, by name. */
export function runnableArchitectures(): string[] {
  return runnable(Object.keys(ARCHITECTURES).map((arch) => ({ label: arch, arch }))).map((v) => v.arch);
}
