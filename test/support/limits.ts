import assert from 'node:assert/strict';

// Checks of a kind's limits from the downstream's own record of when each request ran.

/** The most requests in progress at once, from each one's start and end. */
export function mostAtOnce(executions: readonly { start: number; end: number }[]): number {
  const edges = executions.flatMap((e) => [
    [e.start, 1],
    [e.end, -1],
  ]) as [number, number][];
  edges.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let now = 0;
  let most = 0;
  for (const [, d] of edges) most = Math.max(most, (now += d));
  return most;
}

/**
 * Checks start times against a rate of `perSecond` with a bucket of one second's worth: within any window of
 * w ms, at most perSecond + perSecond * w / 1000 starts, plus the window's first; and `starts` taking at least
 * the time the rate needs for those past the first bucket (less 15 %, for the clocks' reading).
 */
export function assertPaced(starts: readonly number[], perSecond: number): void {
  const sorted = [...starts].sort((a, b) => a - b);
  for (let i = 0; i < sorted.length; i++) {
    for (let j = i + 1; j < sorted.length; j++) {
      const allowed = perSecond + (perSecond * (sorted[j]! - sorted[i]!)) / 1000 + 1;
      assert.ok(j - i + 1 <= allowed + 0.5, `${j - i + 1} starts within ${Math.round(sorted[j]! - sorted[i]!)} ms`);
    }
  }
  const needMs = ((sorted.length - perSecond) * 1000 * 0.85) / perSecond;
  const tookMs = sorted.at(-1)! - sorted[0]!;
  assert.ok(
    tookMs >= needMs,
    `${sorted.length} starts at ${perSecond}/s after a burst of ${perSecond} took ${Math.round(tookMs)} ms`,
  );
}
