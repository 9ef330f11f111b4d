/**
 * The io workload's ceiling on this machine: `slots` loops, each awaiting a timer of `ms` and doing nothing else,
 * for `seconds`; prints how many timers ended per second. No worker can run io handlers faster on this Node,
 * whatever it does around them: Node fires a timer on the event loop's millisecond clock, at or after its time.
 * Usage: node timer-ceiling.js SECONDS SLOTS MS
 */
import { setTimeout as sleep } from 'node:timers/promises';

const [seconds, slots, ms] = process.argv.slice(2).map(Number) as [number, number, number];
let ended = 0;
const until = performance.now() + seconds * 1000;
const slot = async () => {
  while (performance.now() < until) {
    await sleep(ms);
    ended++;
  }
};
await Promise.all(Array.from({ length: slots }, slot));
process.stdout.write(`${JSON.stringify({ perSecond: ended / seconds })}\n`);
