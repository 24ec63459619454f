// A test that cannot run here says why: a skip is printed, never silent.

/** Prints `skipped: <reason>` under the test's title, then skips it. */
export function skipBecause(ctx: Mocha.Context, reason: string): never {
  console.log(`      skipped: ${reason}`);
  ctx.skip();
}
