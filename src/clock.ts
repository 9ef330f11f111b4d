/**
 * The clock every safety deadline is read from (a term's lease, a claim session's row locks).
 *
 * `performance.now()` (CLOCK_MONOTONIC) never jumps, but it does not advance while the host is suspended,
 * and may not across a hypervisor pause: after such a pause a deadline read from it would still look far
 * away while the lease and the server-side session are long gone. The wall clock does advance across a
 * suspend (the kernel sets it again on resume), but NTP can step it either way. So this clock advances by
 * the monotonic clock, plus whatever the wall clock ran ahead of it (beyond a small tolerance):
 *
 *   - never slower than the monotonic clock, so a wall clock stepped back cannot extend a deadline;
 *   - a wall clock that leaps forward (a suspend, or an NTP step forward) makes deadlines pass early: safe,
 *     since ending a term early costs a failover, never an overlap.
 *
 * Both sources are injectable, so tests can freeze one of them.
 */
export type Clock = () => number;

export interface ClockSources {
  monotonic: () => number;
  wall: () => number;
}

const SYSTEM: ClockSources = { monotonic: () => performance.now(), wall: () => Date.now() };

/** How far the wall clock may run ahead of the monotonic clock before the difference counts (ms rounding, slew). */
const WALL_TOLERANCE_MS = 20;

export function safeClock(sources: ClockSources = SYSTEM): Clock {
  const monotonic0 = sources.monotonic();
  let wall0 = sources.wall();
  // Time the monotonic clock missed, by the wall clock's account. Only ever grows.
  let missedMs = 0;
  return () => {
    const monotonic = sources.monotonic();
    const skew = sources.wall() - wall0 - (monotonic - monotonic0);
    if (skew > missedMs + WALL_TOLERANCE_MS) missedMs = skew - WALL_TOLERANCE_MS;
    // A wall clock that fell behind (stepped back) is followed down, so that a later leap still shows.
    else if (skew < missedMs) wall0 += skew - missedMs;
    return monotonic + missedMs;
  };
}

/** The process's safe clock: one instance, so that every deadline of a replica lies on one timeline. */
export const systemClock: Clock = safeClock();
