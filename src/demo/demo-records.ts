import type { NewRecord } from '../db/insert-records.js';
import type { SinkBehaviour } from './demo-sink.js';

/**
 * The demo's failed records, a fixed mix per 20: 10 succeed on their first retry, 4 on the second attempt,
 * 2 on the third, 3 always fail and end dead after 3 attempts, 1 is refused with a 422 and is dead at once.
 */
export function demoRecords(count: number, sinkUrl: string, delayMs: number): NewRecord[] {
  return Array.from({ length: count }, (_, i): NewRecord => {
    const slot = i % 20;
    let body: SinkBehaviour;
    let maxAttempts: number | null = null;
    if (slot < 10) body = { mode: 'ok', delayMs };
    else if (slot < 14) body = { mode: 'fail-until', succeedOnAttempt: 2, delayMs };
    else if (slot < 16) body = { mode: 'fail-until', succeedOnAttempt: 3, delayMs };
    else if (slot < 19) {
      body = { mode: 'always-fail', delayMs };
      maxAttempts = 3;
    } else body = { mode: 'permanent', delayMs };
    return { kind: 'http', payload: { url: sinkUrl, method: 'POST', body }, maxAttempts };
  });
}
